//! The TOML of a ```` ```check ```` block, parsed and validated into a [`Check`].
//!
//! ```toml
//! id = "web-running"
//! title = "A container named web serves nginx on port 8080"
//! solution = "docker run -d --name web -p 8080:80 nginx:1.27"
//! [container]
//! name = "web"
//! running = true
//! publish = ["8080:80"]
//! hint = "Start it detached with -d, and publish with -p 8080:80."
//! ```
//!
//! Unknown keys are errors (a typo must not silently make a check pass), and every error carries
//! the line, within the block, that caused it.

use std::ops::Range;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use toml::Spanned;

/// How long a probe may run when the check does not say.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than this and the learner would think the check hangs.
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// One exercise: what must be true, in words and as a [`CheckKind`].
///
/// Serializes to the same shape as the TOML it came from (`{"id": …, "container": {…}}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// `[a-z0-9-]+`, unique within a lesson, the same in every language.
    pub id: String,
    pub title: String,
    /// Shown one at a time behind a "Hint" button, from a nudge to the answer. Written
    /// `hints = ["…", "…"]`, or `hint = "…"` for one (at the top or inside the kind table).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// An unguided task: no Run block carries its commands, and its hints go in steps.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub challenge: bool,
    /// Counts only once this exercise (of the same lesson) has passed: a check of an absence
    /// ("remove your containers") must not pass before anything was there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Shell commands that make the check pass; the test suite runs them end to end.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub solution: Vec<String>,
    #[serde(flatten)]
    pub kind: CheckKind,
}

/// What a check looks at: exactly one per check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    Container(ContainerCheck),
    Image(ImageCheck),
    Volume(VolumeCheck),
    Network(NetworkCheck),
    Probe(ProbeCheck),
    History(HistoryCheck),
}

impl CheckKind {
    /// The table name, as written in the lesson.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Container(_) => "container",
            CheckKind::Image(_) => "image",
            CheckKind::Volume(_) => "volume",
            CheckKind::Network(_) => "network",
            CheckKind::Probe(_) => "probe",
            CheckKind::History(_) => "history",
        }
    }
}

/// The learner's containers, as their own `docker ps -a` shows them.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerCheck {
    /// The name the learner gave it (`web`), not the engine's prefixed name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Image reference or repository (`nginx` matches `nginx:1.27`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<bool>,
    /// `false`: the container must be gone (an exercise about `docker rm`).
    #[serde(default = "yes")]
    pub present: bool,
    /// `HOST:CONTAINER[/tcp|/udp]`, e.g. `8080:80`.
    #[serde(
        default,
        deserialize_with = "port_mappings",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub publish: Vec<String>,
    /// `KEY=value`.
    #[serde(
        default,
        deserialize_with = "env_vars",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// `SOURCE:/path[:ro]`, the source a volume name or a path.
    #[serde(
        default,
        deserialize_with = "volume_mounts",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// How many containers must match (with `image`: "start three nginx containers").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Moved to [`Check::hint`] by [`parse`]; always `None` afterwards.
    #[serde(default, skip_serializing)]
    pub(crate) hint: Option<String>,
}

/// An image in the learner's `docker images`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImageCheck {
    /// Repository or full reference (`nginx`, `myapp:1.0`).
    #[serde(alias = "reference")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default = "yes")]
    pub present: bool,
    #[serde(default, skip_serializing)]
    pub(crate) hint: Option<String>,
}

/// A volume in the learner's `docker volume ls`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeCheck {
    pub name: String,
    #[serde(default = "yes")]
    pub present: bool,
    #[serde(default, skip_serializing)]
    pub(crate) hint: Option<String>,
}

/// A network in the learner's `docker network ls`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkCheck {
    pub name: String,
    #[serde(default = "yes")]
    pub present: bool,
    #[serde(default, skip_serializing)]
    pub(crate) hint: Option<String>,
}

/// A command run in the learner's workstation: passes on exit 0; its stdout is the message.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeCheck {
    pub command: String,
    #[serde(
        default = "default_probe_timeout",
        deserialize_with = "probe_timeout",
        serialize_with = "duration_text"
    )]
    pub timeout: Duration,
    /// When set, stdout must also contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) hint: Option<String>,
}

/// A command the learner ran in their terminal.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryCheck {
    /// A command line that starts with these words (`ps` matches `ps aux`, not `psql`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A command line that contains this text anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Only a command that exited 0 counts (the workstation records each command's exit
    /// status). Required: typing a command is not the skill, running it is.
    #[serde(default)]
    pub succeeded: bool,
    #[serde(default, skip_serializing)]
    pub(crate) hint: Option<String>,
}

/// A check that cannot be used, and the line (1-based, within the block's TOML) that says so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct CheckError {
    pub line: usize,
    pub reason: String,
}

/// A valid check and where its `id` is written, for errors that span blocks (duplicate ids).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedCheck {
    pub check: Check,
    /// 1-based, within the block.
    pub id_line: usize,
}

/// Parses and validates the TOML of one check block.
pub fn parse(text: &str) -> Result<ParsedCheck, CheckError> {
    let at = |span: Range<usize>, reason: String| CheckError {
        line: line_of(text, span.start),
        reason,
    };
    let raw: RawCheck = toml::from_str(text).map_err(|error| CheckError {
        line: error.span().map_or(1, |span| line_of(text, span.start)),
        reason: error.message().trim().to_owned(),
    })?;

    let id_span = raw.id.span();
    let id = raw.id.into_inner();
    if let Err(reason) = valid_id(&id) {
        return Err(at(id_span, reason));
    }
    if raw.title.trim().is_empty() {
        return Err(at(id_span, "`title` is empty".to_owned()));
    }

    let mut kinds: Vec<(Range<usize>, CheckKind)> = Vec::new();
    let mut push = |spanned: Option<Spanned<CheckKind>>| {
        if let Some(kind) = spanned {
            kinds.push((kind.span(), kind.into_inner()));
        }
    };
    push(raw.container.map(|t| map_spanned(t, CheckKind::Container)));
    push(raw.image.map(|t| map_spanned(t, CheckKind::Image)));
    push(raw.volume.map(|t| map_spanned(t, CheckKind::Volume)));
    push(raw.network.map(|t| map_spanned(t, CheckKind::Network)));
    push(raw.probe.map(|t| map_spanned(t, CheckKind::Probe)));
    push(raw.history.map(|t| map_spanned(t, CheckKind::History)));
    kinds.sort_by_key(|(span, _)| span.start);

    let (kind_span, mut kind) = match kinds.len() {
        1 => kinds.remove(0),
        0 => {
            return Err(CheckError {
                line: 1,
                reason: format!(
                    "check `{id}` says nothing to check: add one table of {KIND_NAMES}"
                ),
            });
        }
        _ => {
            let (span, second) = &kinds[1];
            return Err(at(
                span.clone(),
                format!(
                    "check `{id}` has both [{}] and [{}]: a check looks at exactly one thing \
                     (split it into two checks)",
                    kinds[0].1.name(),
                    second.name()
                ),
            ));
        }
    };

    let kind_hint = take_hint(&mut kind);
    let hints = match (raw.hint, kind_hint, raw.hints) {
        (Some(_), Some(_), _) => {
            return Err(at(
                kind_span,
                format!("`hint` is given twice, at the top and in [{}]", kind.name()),
            ));
        }
        (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            return Err(at(
                id_span,
                "both `hint` and `hints`: write every hint in `hints`".to_owned(),
            ));
        }
        (None, None, Some(hints)) => hints,
        (top, inner, None) => top.or(inner).into_iter().collect(),
    };
    if hints.iter().any(|hint| hint.trim().is_empty()) {
        return Err(at(id_span, "a hint is empty".to_owned()));
    }
    validate_kind(&kind).map_err(|reason| at(kind_span.clone(), reason))?;
    if raw.challenge {
        if hints.len() < 2 {
            return Err(at(
                id_span,
                format!(
                    "challenge `{id}` needs at least two `hints`, from a nudge to the answer \
                     (it has {})",
                    hints.len()
                ),
            ));
        }
        if matches!(kind, CheckKind::History(_)) {
            return Err(at(
                kind_span,
                format!("challenge `{id}` must check the state it leaves, not [history]"),
            ));
        }
    }
    if raw.after.as_deref() == Some(id.as_str()) {
        return Err(at(id_span, format!("`after` of `{id}` names itself")));
    }

    Ok(ParsedCheck {
        check: Check {
            id,
            title: raw.title,
            hints,
            challenge: raw.challenge,
            after: raw.after,
            solution: raw.solution,
            kind,
        },
        id_line: line_of(text, id_span.start),
    })
}

const KIND_NAMES: &str = "[container], [image], [volume], [network], [probe] or [history]";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: Spanned<String>,
    title: String,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default)]
    hints: Option<Vec<String>>,
    #[serde(default)]
    challenge: bool,
    #[serde(default)]
    after: Option<String>,
    #[serde(default, deserialize_with = "commands")]
    solution: Vec<String>,
    container: Option<Spanned<ContainerCheck>>,
    image: Option<Spanned<ImageCheck>>,
    volume: Option<Spanned<VolumeCheck>>,
    network: Option<Spanned<NetworkCheck>>,
    probe: Option<Spanned<ProbeCheck>>,
    history: Option<Spanned<HistoryCheck>>,
}

fn map_spanned<T>(spanned: Spanned<T>, wrap: fn(T) -> CheckKind) -> Spanned<CheckKind> {
    let span = spanned.span();
    Spanned::new(span, wrap(spanned.into_inner()))
}

fn take_hint(kind: &mut CheckKind) -> Option<String> {
    match kind {
        CheckKind::Container(check) => check.hint.take(),
        CheckKind::Image(check) => check.hint.take(),
        CheckKind::Volume(check) => check.hint.take(),
        CheckKind::Network(check) => check.hint.take(),
        CheckKind::Probe(check) => check.hint.take(),
        CheckKind::History(check) => check.hint.take(),
    }
}

/// Rules that involve more than one field (single values are checked while deserializing, so
/// their errors point at their own line).
fn validate_kind(kind: &CheckKind) -> Result<(), String> {
    let blank = |value: &str| value.trim().is_empty();
    match kind {
        CheckKind::Container(check) => {
            if check.name.is_none() && check.image.is_none() {
                return Err("[container] needs `name` or `image` to know which one".to_owned());
            }
            if check.name.as_deref().is_some_and(blank) {
                return Err("[container] `name` is empty".to_owned());
            }
        }
        CheckKind::Image(ImageCheck { name, .. })
        | CheckKind::Volume(VolumeCheck { name, .. })
        | CheckKind::Network(NetworkCheck { name, .. }) => {
            if blank(name) {
                return Err(format!("[{}] `name` is empty", kind.name()));
            }
        }
        CheckKind::Probe(check) => {
            if blank(&check.command) {
                return Err("[probe] `command` is empty".to_owned());
            }
        }
        CheckKind::History(check) => {
            let given = [&check.command, &check.contains];
            if given.iter().all(|value| value.as_deref().is_none_or(blank)) {
                return Err(
                    "[history] needs `command` (how the command line starts) or \
                            `contains` (text anywhere in it)"
                        .to_owned(),
                );
            }
            if !check.succeeded {
                return Err(
                    "[history] needs `succeeded = true`: a command that was only \
                            typed, or that failed, is not the skill (better still, check the \
                            state it leaves with [container], [image] or a [probe])"
                        .to_owned(),
                );
            }
        }
    }
    Ok(())
}

fn valid_id(id: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
    if id.is_empty() || !id.bytes().all(allowed) {
        return Err(format!(
            "id `{id}` may use only lowercase letters, digits and `-` (like `web-running`)"
        ));
    }
    Ok(())
}

/// 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn yes() -> bool {
    true
}

fn default_probe_timeout() -> Duration {
    DEFAULT_PROBE_TIMEOUT
}

/// `solution = "one command"` or `solution = ["first", "second"]`.
fn commands<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Commands;
    impl<'de> de::Visitor<'de> for Commands {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a command, or an array of commands")
        }
        fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(vec![value.to_owned()])
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut commands = Vec::new();
            while let Some(command) = seq.next_element::<String>()? {
                commands.push(command);
            }
            Ok(commands)
        }
    }
    deserializer.deserialize_any(Commands)
}

/// Deserializes a list of strings, each checked by `valid`.
fn checked_list<'de, D: Deserializer<'de>>(
    deserializer: D,
    valid: fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, D::Error> {
    let items = Vec::<String>::deserialize(deserializer)?;
    for item in &items {
        valid(item).map_err(de::Error::custom)?;
    }
    Ok(items)
}

fn port_mappings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    checked_list(deserializer, |mapping| {
        let ports = mapping
            .strip_suffix("/tcp")
            .or_else(|| mapping.strip_suffix("/udp"))
            .unwrap_or(mapping);
        let port = |text: &str| text.parse::<u16>().is_ok_and(|port| port > 0);
        match ports.split_once(':') {
            Some((host, container)) if port(host) && port(container) => Ok(()),
            _ => Err(format!(
                "publish `{mapping}` should be HOST:CONTAINER, like \"8080:80\" (ports 1-65535)"
            )),
        }
    })
}

fn env_vars<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    checked_list(deserializer, |pair| match pair.split_once('=') {
        Some((key, _)) if !key.is_empty() && !key.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!("env `{pair}` should be KEY=value")),
    })
}

fn volume_mounts<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    checked_list(deserializer, |mount| {
        let mut parts = mount.split(':');
        let source = parts.next().unwrap_or("");
        let target = parts.next().unwrap_or("");
        let mode_ok = match parts.next() {
            None => true,
            Some(mode) => matches!(mode, "ro" | "rw") && parts.next().is_none(),
        };
        if source.is_empty() || !target.starts_with('/') || !mode_ok {
            return Err(format!(
                "volume `{mount}` should be SOURCE:/path[:ro], like \"data:/var/lib/data\""
            ));
        }
        Ok(())
    })
}

fn probe_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    let timeout = crate::config::parse_duration(&text).map_err(de::Error::custom)?;
    if timeout.is_zero() || timeout > MAX_PROBE_TIMEOUT {
        return Err(de::Error::custom(format!(
            "timeout `{text}` should be more than 0s and at most 5m"
        )));
    }
    Ok(timeout)
}

fn duration_text<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&humantime::format_duration(*duration).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> CheckError {
        parse(text).expect_err("should be rejected")
    }

    #[test]
    fn the_design_example_parses_with_its_hint_inside_the_kind() {
        let parsed = parse(
            "id = \"web-running\"\n\
             title = \"A container named web serves nginx on port 8080\"\n\
             [container]\n\
             name = \"web\"\n\
             image = \"nginx\"\n\
             running = true\n\
             publish = [\"8080:80\"]\n\
             hint = \"Start it detached with -d, and publish with -p 8080:80.\"\n",
        )
        .unwrap();
        assert_eq!(parsed.id_line, 1);
        let check = parsed.check;
        assert_eq!(check.id, "web-running");
        assert_eq!(
            check.hints,
            ["Start it detached with -d, and publish with -p 8080:80."]
        );
        let CheckKind::Container(container) = &check.kind else {
            panic!("{check:?}");
        };
        assert_eq!(container.name.as_deref(), Some("web"));
        assert_eq!(container.running, Some(true));
        assert!(container.present);
        assert_eq!(container.publish, ["8080:80"]);
        assert_eq!(container.hint, None);

        let json = serde_json::to_value(&check).unwrap();
        assert_eq!(json["container"]["publish"][0], "8080:80");
        assert_eq!(
            json["hints"][0],
            "Start it detached with -d, and publish with -p 8080:80."
        );
        assert!(json["container"].get("hint").is_none(), "{json}");
    }

    #[test]
    fn probes_read_their_timeout_and_solutions_take_one_or_many_commands() {
        let check = parse(
            "id = \"note-created\"\ntitle = \"t\"\nhint = \"h\"\nsolution = \"echo hi > ~/note.txt\"\n\
             [probe]\ncommand = \"test -f ~/note.txt\"\ntimeout = \"3s\"\n",
        )
        .unwrap()
        .check;
        assert_eq!(check.solution, ["echo hi > ~/note.txt"]);
        let CheckKind::Probe(probe) = &check.kind else {
            panic!("{check:?}")
        };
        assert_eq!(probe.timeout, Duration::from_secs(3));
        assert_eq!(
            serde_json::to_value(&check).unwrap()["probe"]["timeout"],
            "3s"
        );

        let check = parse(
            "id = \"a\"\ntitle = \"t\"\nsolution = [\"one\", \"two\"]\n[image]\nreference = \"nginx\"\n",
        )
        .unwrap()
        .check;
        assert_eq!(check.solution, ["one", "two"]);
        let CheckKind::Image(image) = &check.kind else {
            panic!("{check:?}")
        };
        assert_eq!(image.name, "nginx");
        assert!(image.present);
    }

    #[test]
    fn a_typo_is_reported_on_its_own_line() {
        let e = error("id = \"a\"\ntitle = \"t\"\n[container]\nname = \"web\"\nruning = true\n");
        assert_eq!(e.line, 5, "{e:?}");
        assert!(e.reason.contains("runing"), "{e:?}");
    }

    #[test]
    fn bad_values_point_at_their_line() {
        let e = error("id = \"Web Running\"\ntitle = \"t\"\n[volume]\nname = \"v\"\n");
        assert_eq!(e.line, 1, "{e:?}");
        assert!(e.reason.contains("lowercase"), "{e:?}");

        let e =
            error("id = \"a\"\ntitle = \"t\"\n[container]\nname = \"web\"\npublish = [\"80\"]\n");
        assert_eq!(e.line, 5, "{e:?}");
        assert!(e.reason.contains("HOST:CONTAINER"), "{e:?}");

        let e =
            error("id = \"a\"\ntitle = \"t\"\n[probe]\ncommand = \"true\"\ntimeout = \"soon\"\n");
        assert_eq!(e.line, 5, "{e:?}");
        assert!(e.reason.contains("90s"), "{e:?}");

        let e = error("id = \"a\"\ntitle = \"t\"\n\n[container]\nrunning = true\n");
        assert_eq!(e.line, 4, "{e:?}");
        assert!(e.reason.contains("`name` or `image`"), "{e:?}");
    }

    #[test]
    fn toml_syntax_errors_carry_their_line() {
        let e = error("id = \"a\"\ntitle = \"t\n[probe]\n");
        assert_eq!(e.line, 2, "{e:?}");
    }

    #[test]
    fn a_check_has_exactly_one_kind() {
        let e = error("id = \"a\"\ntitle = \"t\"\n");
        assert!(e.reason.contains("nothing to check"), "{e:?}");

        let e =
            error("id = \"a\"\ntitle = \"t\"\n[volume]\nname = \"v\"\n[network]\nname = \"n\"\n");
        assert_eq!(e.line, 5, "{e:?}");
        assert!(e.reason.contains("[volume] and [network]"), "{e:?}");
    }

    #[test]
    fn missing_required_fields_are_named() {
        let e = error("title = \"t\"\n[volume]\nname = \"v\"\n");
        assert!(e.reason.contains("id"), "{e:?}");
        let e = error("id = \"a\"\ntitle = \"t\"\n[history]\n");
        assert!(e.reason.contains("`command`"), "{e:?}");
        let e = error(
            "id = \"a\"\ntitle = \"t\"\nhint = \"x\"\n[history]\ncommand = \"ps\"\nsucceeded = true\nhint = \"y\"\n",
        );
        assert!(e.reason.contains("twice"), "{e:?}");
    }

    #[test]
    fn history_checks_must_require_success() {
        let e = error("id = \"a\"\ntitle = \"t\"\n[history]\ncommand = \"ps\"\n");
        assert_eq!(e.line, 3, "{e:?}");
        assert!(e.reason.contains("succeeded = true"), "{e:?}");
        let ok =
            parse("id = \"a\"\ntitle = \"t\"\n[history]\ncommand = \"ps\"\nsucceeded = true\n");
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn hints_come_in_steps_and_challenges_need_them() {
        let check = parse(
            "id = \"a\"\ntitle = \"t\"\nchallenge = true\nafter = \"b\"\nhints = [\"nudge\", \"answer\"]\n[volume]\nname = \"v\"\n",
        )
        .unwrap()
        .check;
        assert_eq!(check.hints, ["nudge", "answer"]);
        assert!(check.challenge);
        assert_eq!(check.after.as_deref(), Some("b"));

        let e = error(
            "id = \"a\"\ntitle = \"t\"\nchallenge = true\nhint = \"all of it\"\n[volume]\nname = \"v\"\n",
        );
        assert!(e.reason.contains("at least two `hints`"), "{e:?}");
        let e = error(
            "id = \"a\"\ntitle = \"t\"\nchallenge = true\nhints = [\"x\", \"y\"]\n[history]\ncommand = \"ps\"\nsucceeded = true\n",
        );
        assert!(e.reason.contains("not [history]"), "{e:?}");
        let e = error(
            "id = \"a\"\ntitle = \"t\"\nhint = \"x\"\nhints = [\"y\"]\n[volume]\nname = \"v\"\n",
        );
        assert!(e.reason.contains("both `hint` and `hints`"), "{e:?}");
    }
}
