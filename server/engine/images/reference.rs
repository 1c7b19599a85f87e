//! Image references as the engine reads them (`busybox`, `docker.io/library/busybox:1.36`,
//! `ghcr.io/org/app@sha256:…`), and which public images a learner may pull.
//!
//! A reference is judged by its repository name. Something that only looks like an id
//! (`sha256:…`, 64 hex digits) is never read as a repository.

/// A parsed image name: `[domain/]path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `ghcr.io`, `localhost:5000`…; `None` means Docker Hub.
    pub domain: Option<String>,
    /// `library/busybox`, `bitnami/redis`, `org/app`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:…`
    pub digest: Option<String>,
}

/// Whether the text is an image id rather than a name: `sha256:…`, or 64 hex digits (which
/// the engine refuses as a repository name).
pub fn looks_like_id(text: &str) -> bool {
    text.starts_with("sha256:") || (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn path_component(part: &str) -> bool {
    // [a-z0-9]+ joined by `.`, `_`, `__` or runs of `-`.
    let bytes = part.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_lowercase() && !bytes[0].is_ascii_digit()
        || !bytes[bytes.len() - 1].is_ascii_lowercase() && !bytes[bytes.len() - 1].is_ascii_digit()
    {
        return false;
    }
    let mut previous_separator: Option<u8> = None;
    let mut run = 0;
    for &b in bytes {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            previous_separator = None;
            run = 0;
        } else if matches!(b, b'.' | b'_' | b'-') {
            run += 1;
            let allowed = match (previous_separator, b) {
                (None, _) => true,
                (Some(b'_'), b'_') => run == 2,
                (Some(b'-'), b'-') => true,
                _ => false,
            };
            if !allowed {
                return false;
            }
            previous_separator = Some(b);
        } else {
            return false;
        }
    }
    true
}

fn domain_like(part: &str) -> bool {
    part.contains('.') || part.contains(':') || part == "localhost"
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
        && !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !tag.starts_with(['.', '-'])
}

fn valid_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Reference {
    /// Parses a reference the way the engine normalises one, or `None` when it is not a valid
    /// name (ids included: see [`looks_like_id`]).
    pub fn parse(text: &str) -> Option<Reference> {
        if text.is_empty() || text.len() > 512 || looks_like_id(text) {
            return None;
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_owned())),
            None => (text, None),
        };
        if digest.as_deref().is_some_and(|d| !valid_digest(d)) {
            return None;
        }
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag.to_owned())),
            _ => (rest, None),
        };
        if tag.as_deref().is_some_and(|t| !valid_tag(t)) {
            return None;
        }
        let mut parts: Vec<&str> = name.split('/').collect();
        let domain = if parts.len() > 1 && domain_like(parts[0]) {
            let domain = parts.remove(0);
            if !valid_domain(domain) {
                return None;
            }
            Some(domain.to_owned())
        } else {
            None
        };
        if parts.is_empty() || !parts.iter().all(|p| path_component(p)) {
            return None;
        }
        let hub = matches!(
            domain.as_deref(),
            None | Some("docker.io" | "index.docker.io")
        );
        let mut path = parts.join("/");
        if hub && parts.len() == 1 {
            path = format!("library/{path}");
        }
        if path.len() == 64 && path.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        Some(Reference {
            domain: domain.filter(|_| !hub),
            path,
            tag,
            digest,
        })
    }

    /// The repository as the pull allowlist reads it: `library/busybox`, `bitnami/redis`,
    /// `ghcr.io/org/app`.
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(domain) => format!("{domain}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// The name as the engine lists it in `RepoTags`/`RepoDigests`: `busybox:latest`,
    /// `bitnami/redis:7`, `busybox@sha256:…`.
    pub fn familiar(&self) -> String {
        let name = match &self.domain {
            Some(domain) => format!("{domain}/{}", self.path),
            None => self
                .path
                .strip_prefix("library/")
                .filter(|rest| !rest.contains('/'))
                .unwrap_or(&self.path)
                .to_owned(),
        };
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{name}@{digest}"),
            (None, Some(tag)) => format!("{name}:{tag}"),
            (None, None) => format!("{name}:latest"),
        }
    }

    /// Whether this could name an image of the learner's own (`app`, `me/app:2`): no registry.
    pub fn is_learner_name(&self) -> bool {
        self.domain.is_none()
    }
}

/// Which public images may be pulled (and used): patterns over repository paths, where
/// `library/*` is every official image, `bitnami/*` one namespace, `ghcr.io/org/app` one image.
#[derive(Debug, Clone)]
pub struct PullPolicy {
    patterns: Vec<String>,
    /// The lessons' images (`busybox:latest`): pulled ahead for the class, so every learner
    /// may look at them before using them.
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
        patterns.extend(
            lesson_images
                .iter()
                .filter_map(|i| Reference::parse(i))
                .map(|r| r.repository()),
        );
        patterns.sort();
        patterns.dedup();
        PullPolicy {
            patterns,
            lesson_images: lesson_images
                .iter()
                .filter_map(|i| Reference::parse(i))
                .map(|r| r.familiar())
                .collect(),
        }
    }

    /// Whether a lesson names this image (tag included).
    pub fn is_lesson_image(&self, reference: &str) -> bool {
        Reference::parse(reference).is_some_and(|r| self.lesson_images.contains(&r.familiar()))
    }

    /// Whether the image may be pulled: judged by its repository name only.
    pub fn allows(&self, reference: &str) -> bool {
        let Some(parsed) = Reference::parse(reference) else {
            return false;
        };
        let repo = parsed.repository();
        if repo.starts_with("berth") {
            return false;
        }
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
        Some(prefix) => match Reference::parse(prefix) {
            Some(parsed) if !prefix.contains('/') && parsed.domain.is_none() => {
                format!("{prefix}/*")
            }
            Some(parsed) => format!("{}/*", parsed.repository()),
            None => format!("{prefix}/*"),
        },
        None if pattern == "*" => "*".to_owned(),
        None => Reference::parse(pattern).map_or_else(|| pattern.to_owned(), |r| r.repository()),
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
    let looks_like_id = repo.len() == 64 && repo.bytes().all(|b| b.is_ascii_hexdigit());
    !repo.is_empty()
        && repo.len() <= 200
        && !repo.starts_with("berth")
        && !domain_like(repo.split('/').next().unwrap_or_default())
        && repo.split('/').all(path_component)
        && !looks_like_id
}

/// Splits `app:1` into (`app`, `1`), with `latest` when no tag is given.
pub fn split_tag(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
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
    fn ids_are_never_repositories() {
        let policy = PullPolicy::new(&[], &[]);
        let id = "a".repeat(64);
        assert!(!policy.allows(&id));
        assert!(!policy.allows(&format!("sha256:{id}")));
        assert!(looks_like_id(&id));
        assert!(looks_like_id("sha256:abc"));
        assert_eq!(Reference::parse(&id), None);
        assert_eq!(Reference::parse("sha256:abc"), None);
        // A short hex name is a name (the engine reads it as one first), and an allowed one.
        assert!(policy.allows("abc123"));
    }

    #[test]
    fn references_normalise_as_the_engine_lists_them() {
        let parse = |t: &str| Reference::parse(t).map(|r| r.familiar());
        assert_eq!(parse("busybox").as_deref(), Some("busybox:latest"));
        assert_eq!(
            parse("docker.io/library/busybox:1.36").as_deref(),
            Some("busybox:1.36")
        );
        assert_eq!(parse("library/busybox").as_deref(), Some("busybox:latest"));
        assert_eq!(parse("bitnami/redis:7").as_deref(), Some("bitnami/redis:7"));
        assert_eq!(
            parse("localhost:5000/app").as_deref(),
            Some("localhost:5000/app:latest")
        );
        let digest = format!("busybox@sha256:{}", "b".repeat(64));
        assert_eq!(parse(&digest).as_deref(), Some(digest.as_str()));
        for bad in [
            "Busybox",
            "a//b",
            "-a",
            "a:",
            "a@sha256:xyz",
            "a b",
            "a:b:c/d",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(
            Reference::parse("nginx:1.27").unwrap().repository(),
            "library/nginx"
        );
        assert_eq!(
            Reference::parse(&format!("ghcr.io/org/app@sha256:{}", "c".repeat(64)))
                .unwrap()
                .repository(),
            "ghcr.io/org/app"
        );
    }

    #[test]
    fn names() {
        assert_eq!(with_tag("app"), "app:latest");
        assert_eq!(with_tag("me/app:2"), "me/app:2");
        assert!(valid_repository("me/app"));
        assert!(!valid_repository("registry.example.org/app"));
        assert!(!valid_repository("berth-x/app"));
        assert!(!valid_repository("App"));
        assert!(!valid_repository(&"a".repeat(64)));
        assert_eq!(split_tag("app:1"), ("app", "1"));
        assert_eq!(split_tag("app"), ("app", "latest"));
    }
}
