//! Keeps multi-byte UTF-8 characters whole across reads: a read may end in the middle of a
//! Korean syllable, and the browser should never receive half of one in a frame.

/// Length of the prefix of `bytes` that does not end inside an incomplete UTF-8 sequence.
/// Bytes that are not UTF-8 at all are let through as they are.
pub fn complete_prefix_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(4) {
        let byte = bytes[len - back];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: look further back for the leading byte
        }
        let needed = match byte {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return len,
        };
        return if needed > back { len - back } else { len };
    }
    len
}

/// Splits a stream of chunks at character boundaries, holding back at most 3 bytes.
#[derive(Debug, Default)]
pub struct Utf8Carry {
    pending: Vec<u8>,
}

impl Utf8Carry {
    /// The part of `chunk` (after what was held back) that can be sent now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut data = std::mem::take(&mut self.pending);
        data.extend_from_slice(chunk);
        let keep = complete_prefix_len(&data);
        self.pending = data.split_off(keep);
        data
    }

    /// Whatever is held back, when the stream ends.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

/// Skips continuation bytes at the start (where a cut through a character left them).
pub fn skip_partial_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .take(3)
        .take_while(|b| *b & 0b1100_0000 == 0b1000_0000)
        .count();
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_split_anywhere_arrives_whole() {
        let text = "안녕하세요, berth! 도커를 배워요.".as_bytes();
        for cut in 0..text.len() {
            let mut carry = Utf8Carry::default();
            let mut first = carry.push(&text[..cut]);
            assert!(std::str::from_utf8(&first).is_ok(), "cut at {cut}");
            let second = carry.push(&text[cut..]);
            assert!(std::str::from_utf8(&second).is_ok(), "cut at {cut}");
            first.extend(second);
            first.extend(carry.finish());
            assert_eq!(first, text);
        }
    }

    #[test]
    fn binary_garbage_passes_through() {
        let mut carry = Utf8Carry::default();
        assert_eq!(carry.push(&[0xff, 0xfe, b'a']), vec![0xff, 0xfe, b'a']);
        assert_eq!(skip_partial_start(&[0x95, 0x88, b'x']), b"x");
    }
}
