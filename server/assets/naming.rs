//! How an asset's content hash goes into its URL. Shared with `build.rs` (included by path), so
//! the build and the server can never disagree about a name.

use sha2::{Digest, Sha256};

/// Length of the content hash in a URL: 10 hex digits (40 bits) is plenty for a few dozen files.
pub const HASH_LEN: usize = 10;

/// The short content hash of an asset: the first [`HASH_LEN`] hex digits of its SHA-256.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(HASH_LEN);
    for byte in digest.iter().take(HASH_LEN.div_ceil(2)) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex.truncate(HASH_LEN);
    hex
}

/// `css/berth.css` with hash `3f2a9c1b7e` → `css/berth.3f2a9c1b7e.css`: the hash goes before the
/// extension so the served name keeps its extension, and after it when there is none.
pub fn hashed_name(path: &str, hash: &str) -> String {
    let file_start = path.rfind('/').map_or(0, |slash| slash + 1);
    match path[file_start..].rfind('.') {
        Some(dot) if dot > 0 => {
            let dot = file_start + dot;
            format!("{}.{hash}{}", &path[..dot], &path[dot..])
        }
        _ => format!("{path}.{hash}"),
    }
}

/// The inverse of [`hashed_name`]: `css/berth.3f2a9c1b7e.css` → (`css/berth.css`, `3f2a9c1b7e`).
/// `None` when the name carries no hash-shaped segment.
pub fn split_hashed(name: &str) -> Option<(String, &str)> {
    let file_start = name.rfind('/').map_or(0, |slash| slash + 1);
    let file = &name[file_start..];
    let is_hash = |segment: &str| {
        segment.len() == HASH_LEN
            && segment
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let (stem, last) = file.rsplit_once('.')?;
    // `name.HASH.ext`
    if let Some((base, hash)) = stem.rsplit_once('.') {
        if !base.is_empty() && is_hash(hash) {
            return Some((format!("{}{base}.{last}", &name[..file_start]), hash));
        }
    }
    // `name.HASH` (no extension)
    if !stem.is_empty() && !stem.contains('.') && is_hash(last) {
        return Some((format!("{}{stem}", &name[..file_start]), last));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_goes_before_the_extension_and_comes_back_out() {
        for path in [
            "css/berth.css",
            "vendor/xterm/xterm.js",
            "img/a.b.svg",
            "LICENSE",
        ] {
            let named = hashed_name(path, "0123456789");
            assert_eq!(
                split_hashed(&named),
                Some((path.to_owned(), "0123456789")),
                "{named}"
            );
        }
        assert_eq!(
            hashed_name("css/berth.css", "0123456789"),
            "css/berth.0123456789.css"
        );
        assert_eq!(hashed_name(".hidden", "0123456789"), ".hidden.0123456789");
    }

    #[test]
    fn names_without_a_hash_are_not_split() {
        assert_eq!(split_hashed("css/berth.css"), None);
        assert_eq!(
            split_hashed("css/berth.0123456789"),
            Some(("css/berth".into(), "0123456789"))
        );
        assert_eq!(split_hashed("css/berth.0123456789X.css"), None);
        assert_eq!(split_hashed("css/berth.ABCDEF0123.css"), None);
        assert_eq!(split_hashed("css/.0123456789.css"), None);
    }

    #[test]
    fn hash_is_short_sha256_hex() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924…
        assert_eq!(content_hash(b""), "e3b0c44298");
        assert_ne!(content_hash(b"a"), content_hash(b"b"));
    }
}
