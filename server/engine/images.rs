//! Image references: which public images a learner may pull, and what a build's Dockerfile may
//! start from.

use std::io::Read;

use super::rewrite::Refusal;

/// Which public images may be pulled (and used): patterns over repository paths, where
/// `library/*` is every official image, `bitnami/*` one namespace, `ghcr.io/org/app` one image.
#[derive(Debug, Clone)]
pub struct PullPolicy {
    patterns: Vec<String>,
    /// The lessons' images (`library/busybox:latest`): pulled ahead for the class, so every
    /// learner may look at them before using them.
    lesson_images: Vec<String>,
}

impl PullPolicy {
    /// The configured patterns (official images when none), plus every image a lesson names.
    pub fn new(configured: &[String], lesson_images: &[String]) -> PullPolicy {
        let mut patterns: Vec<String> = if configured.is_empty() {
            vec!["library/*".to_owned()]
        } else {
            configured.iter().map(|p| pattern_path(p)).collect()
        };
        patterns.extend(lesson_images.iter().map(|i| repository(i)));
        patterns.sort();
        patterns.dedup();
        PullPolicy {
            patterns,
            lesson_images: lesson_images.iter().map(|i| canonical(i)).collect(),
        }
    }

    /// Whether a lesson names this image (tag included).
    pub fn is_lesson_image(&self, reference: &str) -> bool {
        self.lesson_images.contains(&canonical(reference))
    }

    pub fn allows(&self, reference: &str) -> bool {
        let repo = repository(reference);
        self.patterns
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => repo.starts_with(prefix),
                None => repo == *pattern,
            })
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

fn pattern_path(pattern: &str) -> String {
    match pattern.strip_suffix("/*") {
        Some(prefix) => format!("{}/*", repository(prefix)),
        None if pattern == "*" => "*".to_owned(),
        None => repository(pattern),
    }
}

/// `nginx:1.27` → `library/nginx`, `docker.io/bitnami/redis` → `bitnami/redis`,
/// `ghcr.io/org/app@sha256:…` → `ghcr.io/org/app`.
pub fn repository(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or_default();
    let name = match without_digest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => without_digest,
    };
    let name = name.to_ascii_lowercase();
    let name = name
        .strip_prefix("docker.io/")
        .or_else(|| name.strip_prefix("index.docker.io/"))
        .unwrap_or(&name)
        .to_owned();
    if name.contains('/') {
        name
    } else {
        format!("library/{name}")
    }
}

/// `busybox` → `library/busybox:latest`, `docker.io/me/app:2` → `me/app:2`.
fn canonical(reference: &str) -> String {
    let tagged = with_tag(reference);
    let tag = tagged
        .strip_prefix(without_tag(&tagged))
        .unwrap_or_default()
        .to_owned();
    format!("{}{tag}", repository(reference))
}

fn without_tag(reference: &str) -> &str {
    if let Some((name, _)) = reference.split_once('@') {
        return name;
    }
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => reference,
    }
}

/// `nginx` → `nginx:latest`; references with a tag or digest stay as they are.
pub fn with_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || reference.contains('@') {
        reference.to_owned()
    } else {
        format!("{reference}:latest")
    }
}

/// A name a learner may give their own image (`app`, `me/app`), without a registry host.
pub fn valid_repository(repo: &str) -> bool {
    !repo.is_empty()
        && repo.len() <= 200
        && !repo.starts_with("berth")
        && repo.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
                && part
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
        })
        && !repo.split('/').next().unwrap_or_default().contains('.')
}

pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !tag.starts_with(['.', '-'])
}

/// Splits `app:1` into (`app`, `1`), with `latest` when no tag is given.
pub fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

/// What a Dockerfile builds from: `FROM` images and `COPY --from` images, with the line each
/// is on, leaving out earlier stages and `scratch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub line: usize,
    pub reference: String,
}

/// Reads the instructions that name images. Refuses what would let a build reach past the
/// learner's scope: variables in image names, and `ADD` from a URL (fetched by the engine
/// itself, from the host's network).
pub fn base_images(dockerfile: &str) -> Result<Vec<BaseImage>, Refusal> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for (line, instruction) in instructions(dockerfile) {
        let mut words = instruction.split_whitespace();
        let keyword = words.next().unwrap_or_default().to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        let flags = args.iter().take_while(|a| a.starts_with("--"));
        match keyword.as_str() {
            "FROM" => {
                let rest: Vec<&str> = args
                    .iter()
                    .copied()
                    .skip_while(|a| a.starts_with("--"))
                    .collect();
                let Some(image) = rest.first() else {
                    return Err(Refusal::bad_request(format!(
                        "Dockerfile line {line}: FROM needs an image"
                    )));
                };
                if image.contains('$') {
                    return Err(Refusal::forbidden(format!(
                        "Dockerfile line {line}: FROM with a variable is not available in this sandbox; write the image name"
                    )));
                }
                if !stages.iter().any(|s| s.eq_ignore_ascii_case(image))
                    && !image.eq_ignore_ascii_case("scratch")
                {
                    images.push(BaseImage {
                        line,
                        reference: (*image).to_owned(),
                    });
                }
                if let [_, as_word, stage] = rest.as_slice()
                    && as_word.eq_ignore_ascii_case("as")
                {
                    stages.push((*stage).to_owned());
                }
            }
            "COPY" | "ADD" => {
                for flag in flags {
                    if let Some(from) = flag.strip_prefix("--from=") {
                        if from.contains('$') {
                            return Err(Refusal::forbidden(format!(
                                "Dockerfile line {line}: --from with a variable is not available in this sandbox"
                            )));
                        }
                        let is_stage = stages.iter().any(|s| s.eq_ignore_ascii_case(from))
                            || from.parse::<usize>().is_ok();
                        if !is_stage {
                            images.push(BaseImage {
                                line,
                                reference: from.to_owned(),
                            });
                        }
                    }
                }
                if keyword == "ADD"
                    && args.iter().any(|a| {
                        let a = a.trim_matches(['"', '[', ']', ',']).to_ascii_lowercase();
                        a.starts_with("http://")
                            || a.starts_with("https://")
                            || a.starts_with("git@")
                    })
                {
                    return Err(Refusal::forbidden(format!(
                        "Dockerfile line {line}: ADD from a URL is not available in this sandbox; download with curl in the workstation and COPY the file"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(images)
}

/// Logical instructions with their first line number: comments dropped, continuations joined.
fn instructions(dockerfile: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in dockerfile.lines().enumerate() {
        let trimmed = raw.trim();
        if current.is_none() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        let (start, mut text) = current.take().unwrap_or((index + 1, String::new()));
        if trimmed.starts_with('#') {
            current = Some((start, text));
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                text.push_str(part);
                text.push(' ');
                current = Some((start, text));
            }
            None => {
                text.push_str(trimmed);
                out.push((start, text));
            }
        }
    }
    if let Some(last) = current {
        out.push(last);
    }
    out
}

/// Replaces image references on the given lines (the learner's own images get their engine
/// names), leaving everything else as written.
pub fn rewrite_dockerfile(dockerfile: &str, replacements: &[(BaseImage, String)]) -> String {
    let mut lines: Vec<String> = dockerfile.lines().map(str::to_owned).collect();
    for (base, engine) in replacements {
        if let Some(line) = lines.get_mut(base.line - 1) {
            let from_flag = format!("--from={}", base.reference);
            *line = if line.contains(&from_flag) {
                line.replacen(&from_flag, &format!("--from={engine}"), 1)
            } else {
                replace_word(line, &base.reference, engine)
            };
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn replace_word(line: &str, word: &str, with: &str) -> String {
    let mut out = Vec::new();
    let mut done = false;
    for part in line.split(' ') {
        if !done && part == word {
            out.push(with.to_owned());
            done = true;
        } else {
            out.push(part.to_owned());
        }
    }
    out.join(" ")
}

/// A build context: an uncompressed tar, or a gzipped one (`docker build` sends either).
pub fn open_context(body: &[u8], limit: u64) -> Result<Vec<u8>, Refusal> {
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| {
                Refusal::bad_request(format!("the build context is not valid gzip: {e}"))
            })?;
        if out.len() as u64 > limit {
            return Err(too_large(limit));
        }
        Ok(out)
    } else {
        Ok(body.to_vec())
    }
}

pub fn too_large(limit: u64) -> Refusal {
    Refusal {
        status: 413,
        message: format!(
            "berth: the request body is larger than {} MiB, the most this sandbox takes",
            limit >> 20
        ),
    }
}

/// The Dockerfile in a context tar.
pub fn find_dockerfile(context: &[u8], path: &str) -> Result<String, Refusal> {
    let wanted = path.trim_start_matches("./");
    let mut archive = tar::Archive::new(context);
    let entries = archive
        .entries()
        .map_err(|e| Refusal::bad_request(format!("the build context is not a tar: {e}")))?;
    for entry in entries {
        let mut entry = entry
            .map_err(|e| Refusal::bad_request(format!("the build context is damaged: {e}")))?;
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().trim_start_matches("./").to_owned())
            .unwrap_or_default();
        if name == wanted {
            let mut text = String::new();
            entry
                .by_ref()
                .take(1 << 20)
                .read_to_string(&mut text)
                .map_err(|_| Refusal::bad_request("the Dockerfile is not UTF-8 text"))?;
            return Ok(text);
        }
    }
    Err(Refusal::bad_request(format!(
        "Cannot locate specified Dockerfile: {path}"
    )))
}

/// The context with its Dockerfile replaced.
pub fn replace_dockerfile(context: &[u8], path: &str, text: &str) -> Result<Vec<u8>, Refusal> {
    let wanted = path.trim_start_matches("./");
    let damaged =
        |e: std::io::Error| Refusal::bad_request(format!("the build context is damaged: {e}"));
    let mut archive = tar::Archive::new(context);
    let mut builder = tar::Builder::new(Vec::new());
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let mut header = entry.header().clone();
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().trim_start_matches("./").to_owned())
            .unwrap_or_default();
        if name == wanted {
            header.set_size(text.len() as u64);
            header.set_cksum();
            builder.append(&header, text.as_bytes()).map_err(damaged)?;
        } else {
            let mut data = Vec::new();
            entry.read_to_end(&mut data).map_err(damaged)?;
            builder.append(&header, data.as_slice()).map_err(damaged)?;
        }
    }
    builder.into_inner().map_err(damaged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_images_are_allowed_by_default() {
        let policy = PullPolicy::new(&[], &["bitnami/redis:7".to_owned()]);
        assert!(policy.allows("nginx"));
        assert!(policy.allows("nginx:1.27"));
        assert!(policy.allows("docker.io/library/mysql:8"));
        assert!(policy.allows("bitnami/redis:7.2"));
        assert!(!policy.allows("bitnami/mysql"));
        assert!(!policy.allows("evil/miner"));
        assert!(!policy.allows("ghcr.io/evil/x"));
        assert!(!policy.allows("berth/workstation"));
        assert!(policy.is_lesson_image("bitnami/redis:7"));
        assert!(policy.is_lesson_image("docker.io/bitnami/redis:7"));
        assert!(!policy.is_lesson_image("bitnami/redis:8"));
        let busybox = PullPolicy::new(&[], &["busybox:latest".to_owned()]);
        assert!(busybox.is_lesson_image("busybox"));
        assert!(busybox.is_lesson_image("library/busybox:latest"));
    }

    #[test]
    fn dockerfiles_name_their_bases() {
        let text = "# c\nFROM busybox AS build\nRUN echo \\\n  hi\nFROM app:1\nCOPY --from=build /a /b\nCOPY --from=nginx:1.27 /x /y\nFROM scratch\n";
        let bases = base_images(text).unwrap();
        assert_eq!(
            bases,
            [
                BaseImage {
                    line: 2,
                    reference: "busybox".into()
                },
                BaseImage {
                    line: 5,
                    reference: "app:1".into()
                },
                BaseImage {
                    line: 7,
                    reference: "nginx:1.27".into()
                },
            ]
        );
        let rewritten = rewrite_dockerfile(text, &[(bases[1].clone(), "berth-x/app:1".into())]);
        assert!(rewritten.contains("FROM berth-x/app:1\n"), "{rewritten}");
    }

    #[test]
    fn reaching_out_of_scope_is_refused() {
        assert!(base_images("ARG B=x\nFROM $B\n").is_err());
        assert!(base_images("FROM busybox\nADD https://example.org/x /x\n").is_err());
        assert!(base_images("FROM busybox\nCOPY --from=${X} /a /b\n").is_err());
    }

    #[test]
    fn names() {
        assert_eq!(repository("nginx:1.27"), "library/nginx");
        assert_eq!(repository("localhost:5000/app:1"), "localhost:5000/app");
        assert_eq!(with_tag("app"), "app:latest");
        assert_eq!(with_tag("me/app:2"), "me/app:2");
        assert!(valid_repository("me/app"));
        assert!(!valid_repository("registry.example.org/app"));
        assert!(!valid_repository("berth-x/app"));
        assert!(!valid_repository("App"));
        assert_eq!(split_tag("app:1"), ("app", "1"));
        assert_eq!(split_tag("app"), ("app", "latest"));
    }
}
