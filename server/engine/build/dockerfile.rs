//! A Dockerfile read the way the engine's classic builder reads it, and the canonical
//! Dockerfile berth writes for the engine instead: one instruction per line, no parser
//! directives, no byte-order mark, no comments, continuations resolved, and every image it
//! names replaced by the id berth resolved in the learner's view.
//!
//! The rules mirror moby 20.10's parser (buildkit's `frontend/dockerfile/parser`): lines split
//! on `\n` with one trailing `\r` dropped, a BOM on the first line, `# escape=`/`# syntax=`
//! directives at the top, `\` continuations with comment and blank lines skipped inside them,
//! builder flags (`--from=…`) with quotes and backslashes, and `FROM` names expanded as shell
//! words. What berth writes is parsed again and must come out the same, or the build is
//! refused: the engine never builds from a file berth read differently.

use super::super::names::LABEL_CHAIN;
use super::super::refusal::Refusal;

/// The engine's longest line (`bufio.MaxScanTokenSize - 1`).
const MAX_LINE: usize = 64 * 1024 - 1;

/// One instruction as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The first line of the instruction in the learner's file (1-based).
    pub line: usize,
    /// The whole instruction, continuations joined, leading whitespace removed.
    pub text: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `FROM [--platform=…] base [AS stage]`.
    From {
        flags: Vec<String>,
        base: Base,
        stage: Option<String>,
    },
    /// `COPY`/`ADD` with `--from=…` (`keyword` is `COPY` or `ADD`).
    CopyFrom {
        keyword: String,
        flags: Vec<String>,
        from: Base,
        rest: String,
    },
    /// Anything else, written back as it is.
    Other,
}

/// What a `FROM` or `--from` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An earlier stage, by name (lowercase) or index, as written.
    Stage(String),
    /// An image reference, still to be resolved in the learner's view.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub instructions: Vec<Instruction>,
}

fn refuse(line: usize, why: impl std::fmt::Display) -> Refusal {
    Refusal::bad_request(format!("Dockerfile line {line}: {why}"))
}

fn refuse_here(line: usize, why: impl std::fmt::Display) -> Refusal {
    Refusal::forbidden(format!("Dockerfile line {line}: {why}"))
}

/// Go's `unicode.IsSpace` is the Unicode White_Space property, as Rust's.
fn trim_left(text: &str) -> &str {
    text.trim_start_matches(char::is_whitespace)
}

/// The line continuation of the default escape token: `([^\\])\\[ \t]*$|^\\[ \t]*$`.
fn trim_continuation(line: &str) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix('\\')
        && !before.ends_with('\\')
    {
        return (before.to_owned(), false);
    }
    (line.to_owned(), true)
}

/// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (RE2's `\s` is ASCII `[\t\n\f\r ]`).
fn directive(line: &str) -> Option<(String, String)> {
    let space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let rest = line.strip_prefix('#')?.trim_start_matches(space);
    let name_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let value = rest
        .trim_start_matches(space)
        .strip_prefix('=')?
        .trim_start_matches(space)
        .trim_end_matches(space);
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_owned()))
}

struct Directives {
    done: bool,
    seen: Vec<String>,
}

impl Directives {
    /// The engine's `possibleParserDirective`, refusing the escape token berth does not take.
    fn see(&mut self, token: &str, line: usize) -> Result<(), Refusal> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(token) else {
            self.done = true;
            return Ok(());
        };
        if name != "escape" && name != "syntax" {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&name) {
            return Err(refuse(
                line,
                format!("only one {name} parser directive can be used"),
            ));
        }
        self.seen.push(name.clone());
        if name == "escape" {
            match value.as_str() {
                "\\" => {}
                "`" => {
                    return Err(refuse_here(
                        line,
                        "the escape parser directive is not available in this sandbox; use the default escape character \\",
                    ));
                }
                other => {
                    return Err(refuse(
                        line,
                        format!("invalid escape token '{other}' does not match ` or \\"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The physical lines, as Go's `bufio.ScanLines` gives them.
fn physical_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect()
}

/// Splits a Dockerfile into instructions exactly as the engine's parser joins them: the
/// starting line number and the joined text of each.
fn join_lines(text: &str) -> Result<Vec<(usize, String)>, Refusal> {
    let mut directives = Directives {
        done: false,
        seen: Vec::new(),
    };
    let lines = physical_lines(text);
    let mut out = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let number = index + 1;
        let mut raw = lines[index];
        if raw.len() > MAX_LINE {
            return Err(refuse(number, "the line is longer than the engine reads"));
        }
        if index == 0 {
            raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        }
        index += 1;
        let token = trim_left(raw);
        directives.see(token, number)?;
        if token.starts_with('#') {
            continue;
        }
        let (mut line, mut end) = trim_continuation(token);
        if end && line.is_empty() {
            continue;
        }
        while !end && index < lines.len() {
            let raw = lines[index];
            if raw.len() > MAX_LINE {
                return Err(refuse(
                    index + 1,
                    "the line is longer than the engine reads",
                ));
            }
            index += 1;
            directives.see(raw, index)?;
            if trim_left(raw).starts_with('#') || trim_left(raw).is_empty() {
                continue;
            }
            let (piece, piece_end) = trim_continuation(raw);
            line.push_str(&piece);
            end = piece_end;
        }
        out.push((number, line));
    }
    Ok(out)
}

/// The engine's `reWhitespace`: `[\t\v\f\r ]+`.
fn is_split_space(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// `splitCommand`: the keyword (lowercase) and what follows it. Keywords outside ASCII are
/// refused: the engine lowercases them with Unicode rules, and no instruction needs that.
fn split_command(line: &str, number: usize) -> Result<(String, &str), Refusal> {
    let trimmed = line.trim_matches(char::is_whitespace);
    let (keyword, rest) = match trimmed.find(is_split_space) {
        Some(at) => (
            &trimmed[..at],
            trimmed[at..].trim_start_matches(is_split_space),
        ),
        None => (trimmed, ""),
    };
    if !keyword.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(refuse_here(
            number,
            format!(
                "unknown instruction: {}",
                keyword.chars().take(40).collect::<String>()
            ),
        ));
    }
    Ok((keyword.to_ascii_lowercase(), rest))
}

/// Go's `unicode.IsSpace` on a byte read as a rune (the engine's flag parser reads bytes).
fn byte_is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// `extractBuilderFlags`: the `--flags` at the start of an instruction's arguments (quotes
/// and backslashes as the engine reads them), and the rest. Non-ASCII bytes in flags are
/// refused: the engine reads them byte by byte, which no learner means.
fn builder_flags(line: &str, number: usize) -> Result<(Vec<String>, String), Refusal> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word: Vec<u8> = Vec::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    let push = |words: &mut Vec<String>, word: &[u8]| -> Result<(), Refusal> {
        if !word.is_ascii() {
            return Err(refuse_here(
                number,
                "flags with characters outside ASCII are not available in this sandbox",
            ));
        }
        words.push(String::from_utf8_lossy(word).into_owned());
        Ok(())
    };
    loop {
        let at_end = pos >= bytes.len();
        let ch = if at_end { 0 } else { bytes[pos] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if byte_is_space(ch) {
                pos += 1;
                continue;
            }
            if ch != b'-' || pos + 1 == bytes.len() || bytes[pos + 1] != b'-' {
                return Ok((words, rest_of(line, pos)));
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != b"--" && (blank_ok || !word.is_empty()) {
                push(&mut words, &word)?;
            }
            break;
        }
        if phase == Phase::Word {
            if byte_is_space(ch) {
                phase = Phase::Spaces;
                if word == b"--" {
                    return Ok((words, rest_of(line, pos)));
                }
                if blank_ok || !word.is_empty() {
                    push(&mut words, &word)?;
                }
                word.clear();
                blank_ok = false;
                pos += 1;
                continue;
            }
            if ch == b'\'' || ch == b'"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                pos += 1;
                continue;
            }
            let mut c = ch;
            if c == b'\\' {
                if pos + 1 == bytes.len() {
                    pos += 1;
                    continue;
                }
                pos += 1;
                c = bytes[pos];
            }
            word.push(c);
            pos += 1;
            continue;
        }
        // In quotes.
        if ch == quote {
            phase = Phase::Word;
            pos += 1;
            continue;
        }
        let mut c = ch;
        if c == b'\\' {
            if pos + 1 == bytes.len() {
                phase = Phase::Word;
                pos += 1;
                continue;
            }
            pos += 1;
            c = bytes[pos];
        }
        word.push(c);
        pos += 1;
    }
    Ok((words, String::new()))
}

fn rest_of(line: &str, pos: usize) -> String {
    // The engine slices bytes; a flag word never ends inside a multi-byte character here,
    // since flag bytes are ASCII and the rest starts at a non-space ASCII byte or after one.
    line.get(pos..).unwrap_or_default().to_owned()
}

/// Shell-word processing of a `FROM` name (`ProcessWord`), without variables: quotes
/// removed, backslash escapes applied.
fn process_word(word: &str, number: usize) -> Result<String, Refusal> {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => loop {
                match chars.next() {
                    None => {
                        return Err(refuse(
                            number,
                            "unexpected end of statement while looking for matching single-quote",
                        ));
                    }
                    Some('\'') => break,
                    Some(c) => out.push(c),
                }
            },
            '"' => loop {
                match chars.next() {
                    None => {
                        return Err(refuse(
                            number,
                            "unexpected end of statement while looking for matching double-quote",
                        ));
                    }
                    Some('"') => break,
                    Some('\\') => match chars.peek() {
                        Some('"' | '$' | '\\') => out.push(chars.next().unwrap_or_default()),
                        None => {}
                        Some(_) => out.push('\\'),
                    },
                    Some(c) => out.push(c),
                }
            },
            '\\' => match chars.next() {
                Some(next) => out.push(next),
                None => break,
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

fn no_variables(text: &str, number: usize, what: &str) -> Result<(), Refusal> {
    if text.contains('$') {
        return Err(refuse_here(
            number,
            format!(
                "{what} with a variable is not available in this sandbox; write the image name"
            ),
        ));
    }
    Ok(())
}

/// `FROM` arguments: split on the engine's whitespace.
fn parse_from(
    flags: Vec<String>,
    args: &str,
    stages: &[String],
    number: usize,
) -> Result<Kind, Refusal> {
    let words: Vec<&str> = args
        .split(is_split_space)
        .filter(|w| !w.is_empty())
        .collect();
    for flag in &flags {
        if !flag.starts_with("--platform=") {
            return Err(refuse(
                number,
                format!("Unknown flag: {}", flag.trim_start_matches('-')),
            ));
        }
        no_variables(flag, number, "--platform")?;
    }
    let stage = match words.as_slice() {
        [_] => None,
        [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
            let name = name.to_ascii_lowercase();
            let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
            if !valid {
                return Err(refuse(
                    number,
                    format!(
                        "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                    ),
                ));
            }
            Some(name)
        }
        _ => {
            return Err(refuse(
                number,
                "FROM requires either one or three arguments",
            ));
        }
    };
    no_variables(words[0], number, "FROM")?;
    let name = process_word(words[0], number)?;
    if name.is_empty() {
        return Err(refuse(number, "the base name should not be blank"));
    }
    let base = if stages.contains(&name.to_ascii_lowercase()) {
        Base::Stage(name.to_ascii_lowercase())
    } else if name == "scratch" {
        Base::Scratch
    } else {
        Base::Image(name)
    };
    Ok(Kind::From { flags, base, stage })
}

/// `COPY`/`ADD` flags: `--from` names an earlier stage (case-insensitively), an index, or an
/// image (not expanded: the engine takes the value as written).
fn parse_copy(
    keyword: &str,
    flags: Vec<String>,
    rest: String,
    stages: &[String],
    number: usize,
) -> Result<Kind, Refusal> {
    let froms: Vec<&String> = flags
        .iter()
        .filter(|f| f.as_str() == "--from" || f.starts_with("--from="))
        .collect();
    let value = match froms.as_slice() {
        [] => return Ok(Kind::Other),
        [one] => one.strip_prefix("--from=").unwrap_or_default().to_owned(),
        _ => return Err(refuse(number, "Duplicate flag specified: from")),
    };
    if value.is_empty() {
        return Ok(Kind::Other);
    }
    no_variables(&value, number, "--from")?;
    let from = if stages.contains(&value.to_ascii_lowercase()) || value.parse::<i64>().is_ok() {
        Base::Stage(value)
    } else {
        Base::Image(value)
    };
    let flags = flags
        .into_iter()
        .filter(|f| !(f.as_str() == "--from" || f.starts_with("--from=")))
        .collect();
    Ok(Kind::CopyFrom {
        keyword: keyword.to_ascii_uppercase(),
        flags,
        from,
        rest,
    })
}

/// `ADD` of a URL is fetched by the engine itself, from the host's network: refused, as is
/// a variable that could become one.
fn check_add(rest: &str, number: usize) -> Result<(), Refusal> {
    let lower = rest.to_ascii_lowercase();
    if lower.contains("://") || lower.contains("git@") {
        return Err(refuse_here(
            number,
            "ADD from a URL is not available in this sandbox; download with curl in the workstation and COPY the file",
        ));
    }
    if rest.contains('$') {
        return Err(refuse_here(
            number,
            "ADD with a variable is not available in this sandbox; write the path, or use COPY",
        ));
    }
    Ok(())
}

/// `ONBUILD COPY --from=…` would copy from an image only when someone builds on this one,
/// where berth cannot resolve it: refused, as is anything the engine would not accept.
pub fn check_trigger(trigger: &str, number: usize) -> Result<(), Refusal> {
    let (keyword, args) = split_command(trigger, number)?;
    if keyword == "copy" || keyword == "add" {
        let (flags, rest) = builder_flags(args, number)?;
        if keyword == "add" {
            check_add(&rest, number)?;
        }
        if flags
            .iter()
            .any(|f| f.as_str() == "--from" || f.starts_with("--from="))
        {
            return Err(refuse_here(
                number,
                "ONBUILD with COPY --from is not available in this sandbox",
            ));
        }
    }
    Ok(())
}

/// Reads a Dockerfile.
pub fn parse(bytes: &[u8]) -> Result<Dockerfile, Refusal> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Refusal::bad_request("the Dockerfile is not UTF-8 text"))?;
    let mut stages: Vec<String> = Vec::new();
    let mut instructions = Vec::new();
    for (number, text) in join_lines(text)? {
        let (keyword, args) = split_command(&text, number)?;
        let kind = match keyword.as_str() {
            "from" => {
                if !text.is_ascii() {
                    return Err(refuse_here(
                        number,
                        "FROM lines are written in ASCII in this sandbox",
                    ));
                }
                let (flags, rest) = builder_flags(args, number)?;
                let kind = parse_from(flags, rest.trim(), &stages, number)?;
                if let Kind::From {
                    stage: Some(name), ..
                } = &kind
                {
                    stages.push(name.clone());
                }
                kind
            }
            "copy" | "add" => {
                let (flags, rest) = builder_flags(args, number)?;
                if keyword == "add" {
                    check_add(&rest, number)?;
                }
                parse_copy(&keyword, flags, rest, &stages, number)?
            }
            "onbuild" => {
                let (_, rest) = builder_flags(args, number)?;
                check_trigger(rest.trim_matches(char::is_whitespace), number)?;
                Kind::Other
            }
            _ => Kind::Other,
        };
        instructions.push(Instruction {
            line: number,
            text,
            kind,
        });
    }
    if instructions.is_empty() {
        return Err(Refusal::bad_request(
            "the Dockerfile has no instructions (file with no instructions)",
        ));
    }
    Ok(Dockerfile { instructions })
}

/// A flag as berth writes it: quoted when its value needs it.
fn write_flag(flag: &str) -> String {
    let needs_quotes = flag
        .bytes()
        .any(|b| byte_is_space(b) || matches!(b, b'"' | b'\'' | b'\\'));
    if !needs_quotes {
        return flag.to_owned();
    }
    let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{name}=\"{escaped}\"")
}

impl Dockerfile {
    /// The images it names (`FROM` and `--from`), in order, each once.
    pub fn images(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for instruction in &self.instructions {
            let name = match &instruction.kind {
                Kind::From {
                    base: Base::Image(name),
                    ..
                }
                | Kind::CopyFrom {
                    from: Base::Image(name),
                    ..
                } => name,
                _ => continue,
            };
            if !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// Whether a stage of this name exists (for `--target`), as the engine compares them.
    pub fn has_stage(&self, target: &str) -> bool {
        self.instructions.iter().any(|i| {
            matches!(&i.kind, Kind::From { stage: Some(name), .. } if name.eq_ignore_ascii_case(target))
        })
    }

    /// How many bases the engine builds: every stage's, or those up to stage `target` (the
    /// classic builder runs every stage before its target).
    pub fn bases_built(&self, target: Option<&str>) -> usize {
        let target = target.filter(|t| !t.is_empty());
        let mut bases = 0;
        for instruction in &self.instructions {
            if let Kind::From { stage, .. } = &instruction.kind {
                bases += 1;
                if let (Some(target), Some(stage)) = (target, stage)
                    && stage.eq_ignore_ascii_case(target)
                {
                    break;
                }
            }
        }
        bases
    }

    /// The canonical Dockerfile, with each image replaced by `resolve(name)`. It is parsed
    /// again and must give the same instructions, else the build is refused.
    pub fn canonical(
        &self,
        resolve: impl Fn(&str) -> Option<String>,
        chain: Option<&str>,
    ) -> Result<String, Refusal> {
        let mut out = String::new();
        let mut expected = Vec::new();
        for instruction in &self.instructions {
            let from = matches!(instruction.kind, Kind::From { .. });
            let line = match &instruction.kind {
                Kind::From { flags, base, stage } => {
                    let base = match base {
                        Base::Scratch => "scratch".to_owned(),
                        Base::Stage(name) => name.clone(),
                        Base::Image(name) => {
                            resolve(name).ok_or_else(|| Refusal::no_such("image", name))?
                        }
                    };
                    let mut words: Vec<String> = flags.iter().map(|f| write_flag(f)).collect();
                    words.push(base);
                    if let Some(stage) = stage {
                        words.push("AS".to_owned());
                        words.push(stage.clone());
                    }
                    format!("FROM {}", words.join(" "))
                }
                Kind::CopyFrom {
                    keyword,
                    flags,
                    from,
                    rest,
                } => {
                    let from = match from {
                        Base::Scratch => "scratch".to_owned(),
                        Base::Stage(name) => name.clone(),
                        Base::Image(name) => {
                            resolve(name).ok_or_else(|| Refusal::no_such("image", name))?
                        }
                    };
                    let mut words = vec![write_flag(&format!("--from={from}"))];
                    words.extend(flags.iter().map(|f| write_flag(f)));
                    format!("{keyword} {} {}", words.join(" "), rest)
                }
                Kind::Other => instruction.text.clone(),
            };
            expected.push(line.clone());
            out.push_str(&line);
            out.push('\n');
            // The learner's own step on every base: no step after it is ever another
            // learner's (the classic builder's cache is the whole engine's).
            if let Some(chain) = chain.filter(|_| from) {
                let label = format!("LABEL {LABEL_CHAIN}={chain}");
                out.push_str(&label);
                out.push('\n');
                expected.push(label);
            }
        }
        let again = join_lines(&out)?;
        let same = again.len() == expected.len()
            && again
                .iter()
                .zip(&expected)
                .all(|((_, read), written)| read == written);
        if !same {
            return Err(Refusal::forbidden(
                "berth could not write this Dockerfile so that Docker reads it as berth does; simplify its line breaks and escapes",
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(text: &str) -> Vec<String> {
        parse(text.as_bytes()).unwrap().images()
    }

    #[test]
    fn bases_and_copy_sources_are_found() {
        let text = "# c\nFROM busybox AS build\nRUN echo \\\n  hi\nFROM app:1\nCOPY --from=build /a /b\nCOPY --from=nginx:1.27 /x /y\nCOPY --from=0 /x /y\nFROM scratch\n";
        assert_eq!(images(text), ["busybox", "app:1", "nginx:1.27"]);
        let parsed = parse(text.as_bytes()).unwrap();
        let canonical = parsed
            .canonical(|name| Some(format!("sha256:{name}")), None)
            .unwrap();
        assert_eq!(
            canonical,
            "FROM sha256:busybox AS build\nRUN echo   hi\nFROM sha256:app:1\nCOPY --from=build /a /b\nCOPY --from=sha256:nginx:1.27 /x /y\nCOPY --from=0 /x /y\nFROM scratch\n"
        );
        assert!(parsed.has_stage("BUILD"));
        assert!(!parsed.has_stage("other"));
    }

    #[test]
    fn the_engine_s_tricks_are_read_as_the_engine_reads_them() {
        // A byte-order mark before FROM.
        assert_eq!(images("\u{feff}FROM victim\n"), ["victim"]);
        // Quotes and escapes in a FROM name are shell words.
        assert_eq!(images("FROM 'vic'\"tim\"\n"), ["victim"]);
        assert_eq!(images("FROM vi\\ctim\n"), ["victim"]);
        // Flags with quotes and escapes.
        assert_eq!(
            images("FROM a\nCOPY --\"from\"=victim /a /b\n"),
            ["a", "victim"]
        );
        assert_eq!(
            images("FROM a\nCOPY --fr\\om=victim /a /b\n"),
            ["a", "victim"]
        );
        // Continuations with comments and blank lines inside.
        assert_eq!(images("FROM \\\n# x\n\n victim\n"), ["victim"]);
        // CRLF line ends.
        assert_eq!(
            images("FROM busybox\r\nCOPY --from=v /a /b\r\n"),
            ["busybox", "v"]
        );
        // A stage named like an image is a stage; a later one is not.
        assert_eq!(
            images("FROM busybox AS nginx\nFROM nginx\nCOPY --from=later /a /b\nFROM x AS later\n"),
            ["busybox", "later", "x"]
        );
    }

    #[test]
    fn what_berth_cannot_follow_is_refused() {
        for text in [
            "# escape=`\nFROM busybox\n",
            "ARG B=x\nFROM $B\n",
            "FROM busybox\nCOPY --from=${X} /a /b\n",
            "FROM busybox\nONBUILD COPY --from=victim /a /b\n",
            "FROM busybox\nADD https://example.org/x /x\n",
            "FROM busybox\nADD [\"HTTP://example.org/x\", \"/x\"]\n",
            "FROM busybox\nARG U\nADD $U /x\n",
            "FROM busybox\nONBUILD ADD http://example.org/x /x\n",
            "FROM busybox\nONBUILD copy --\"from\"=victim /a /b\n",
            "FROM busybox\nCOPY --from=a --from=b /a /b\n",
            "FROM busy\u{0430}box\n",
            "# escape=\\\n# escape=\\\nFROM busybox\n",
            "\n# just a comment\n",
            "FROM a b\n",
        ] {
            assert!(parse(text.as_bytes()).is_err(), "{text:?}");
        }
        assert!(parse(&[0xff, 0xfe]).is_err());
        // The default escape directive is fine, and goes.
        let parsed = parse(b"# escape=\\\n# syntax=docker/dockerfile:1\nFROM busybox\n").unwrap();
        assert_eq!(
            parsed.canonical(|_| Some("sha256:x".into()), None).unwrap(),
            "FROM sha256:x\n"
        );
    }

    #[test]
    fn a_canonical_file_that_would_read_differently_is_refused() {
        // The joined line ends in a backslash and a vertical tab: written out, the engine
        // would still read it as one line, so it is kept as is.
        let parsed = parse(b"FROM busybox\nRUN echo a\\\x0b\n").unwrap();
        assert!(parsed.canonical(|_| Some("sha256:x".into()), None).is_ok());
        // A carriage return before the newline would be dropped and turn the line into a
        // continuation: refused rather than built differently.
        let parsed = parse(b"FROM busybox\nRUN echo a\\\r\r\nRUN b\n").unwrap();
        assert!(parsed.canonical(|_| Some("sha256:x".into()), None).is_err());
    }

    #[test]
    fn directives_are_parsed_as_the_engine_does() {
        assert_eq!(directive("# escape=`"), Some(("escape".into(), "`".into())));
        assert_eq!(
            directive("#ESCAPE = \\ "),
            Some(("escape".into(), "\\".into()))
        );
        assert_eq!(directive("# not a directive"), None);
        assert_eq!(directive("#escape="), None);
    }
}
