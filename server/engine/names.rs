//! Every name and label berth writes into the engine, and the learner's names for them.
//!
//! A learner's container `web` is `berth-<learner>-web` in the engine, their network `mynet` is
//! `berth-<learner>-mynet`, their default network (`bridge` to them) is `berth-<learner>`, and
//! the images they build or tag are `berth-<learner>/<name>:<tag>`. Their workstation is
//! `berth-ws-<learner>` and their home `berth-home-<learner>`: outside the names a learner can
//! make, so no command of theirs can reach them. Every response is rewritten back into the
//! learner's names before they see it.

use serde_json::{Map, Value};

/// Who an object belongs to (a learner id).
pub const LABEL_OWNER: &str = "berth.owner";
/// Which berth server made it (so a restart finds what it left behind).
pub const LABEL_INSTANCE: &str = "berth.instance";
/// What it is to berth: [`ROLE_LEARNER`], [`ROLE_WORKSTATION`], [`ROLE_NETWORK`], [`ROLE_HOME`].
pub const LABEL_ROLE: &str = "berth.role";
/// Where berth keeps a container's published ports (`8080:80/tcp,…`): the engine publishes
/// nothing, since the learner's network is internal.
pub const LABEL_PUBLISH: &str = "berth.publish";
/// Which folders of the home a container mounts, as the learner wrote them.
pub const LABEL_BINDS: &str = "berth.binds";
/// The image as the learner wrote it: the engine is given its id.
pub const LABEL_IMAGE: &str = "berth.image";
/// Whether the learner asked for an internal network (berth makes every one internal unless
/// egress is allowed, and shows them as asked).
pub const LABEL_INTERNAL: &str = "berth.internal";
/// Pairs a container with the volumes berth made for its anonymous mounts.
pub const LABEL_ANONYMOUS: &str = "berth.anonymous";
/// A build step berth puts on every base of a learner's Dockerfile, with the owner's id: the
/// builder's cache is the whole engine's, and this keeps every later step the learner's own,
/// so no one's build stands on (or is slowed, sped up or broken by) another learner's steps.
pub const LABEL_CHAIN: &str = "berth.chain";

/// Objects a learner made through their scoped engine (containers, volumes, networks, images).
pub const ROLE_LEARNER: &str = "learner";
pub const ROLE_WORKSTATION: &str = "workstation";
/// The learner's default network.
pub const ROLE_NETWORK: &str = "network";
pub const ROLE_HOME: &str = "home";

/// Labels berth sets on every container it creates for a learner, so that an image's labels
/// (which containers inherit) can never stand in for berth's.
pub const CONTAINER_LABELS: &[&str] = &[
    LABEL_OWNER,
    LABEL_INSTANCE,
    LABEL_ROLE,
    LABEL_PUBLISH,
    LABEL_BINDS,
    LABEL_IMAGE,
    LABEL_ANONYMOUS,
];

/// The learner's workstation container.
pub fn workstation(learner: &str) -> String {
    format!("berth-ws-{learner}")
}

/// The learner's home volume (a tmpfs).
pub fn home_volume(learner: &str) -> String {
    format!("berth-home-{learner}")
}

/// The learner's default network (`bridge`, as they see it).
pub fn bridge(learner: &str) -> String {
    format!("berth-{learner}")
}

/// Prefix of the host interface of every network berth makes: the host firewall matches it.
pub const INTERFACE_PREFIX: &str = "bth";

/// A host interface name for a learner network: `bth` and 12 hex digits (15 bytes, the most
/// Linux allows).
pub fn interface(unique: &str) -> String {
    let tail: String = unique.chars().take(12).collect();
    format!("{INTERFACE_PREFIX}{tail}")
}

/// One learner's names.
#[derive(Debug, Clone)]
pub struct Names {
    learner: String,
    instance: String,
}

impl Names {
    pub fn new(learner: &str, instance: &str) -> Names {
        Names {
            learner: learner.to_owned(),
            instance: instance.to_owned(),
        }
    }

    pub fn learner(&self) -> &str {
        &self.learner
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// `web` → `berth-<learner>-web`.
    pub fn object(&self, name: &str) -> String {
        format!("berth-{}-{name}", self.learner)
    }

    /// The learner's own name for an engine name, when it is theirs.
    pub fn unprefix<'a>(&self, engine: &'a str) -> Option<&'a str> {
        engine
            .trim_start_matches('/')
            .strip_prefix("berth-")?
            .strip_prefix(self.learner.as_str())?
            .strip_prefix('-')
    }

    /// The learner's default network (`bridge`, as they see it).
    pub fn bridge(&self) -> String {
        bridge(&self.learner)
    }

    /// The learner's workstation container.
    pub fn workstation(&self) -> String {
        workstation(&self.learner)
    }

    /// The learner's home volume.
    pub fn home(&self) -> String {
        home_volume(&self.learner)
    }

    /// A network name as the learner writes it → the engine's.
    pub fn network(&self, name: &str) -> String {
        match name {
            "" | "bridge" | "default" => self.bridge(),
            other => self.object(other),
        }
    }

    /// `app:1` → `berth-<learner>/app:1`.
    pub fn image(&self, reference: &str) -> String {
        format!("{}{reference}", self.image_prefix())
    }

    pub fn image_prefix(&self) -> String {
        format!("berth-{}/", self.learner)
    }

    /// Labels every object made on the learner's behalf carries.
    pub fn labels(&self) -> Map<String, Value> {
        self.labels_with_role(ROLE_LEARNER)
    }

    /// The owner and instance labels with a role of berth's choosing.
    pub fn labels_with_role(&self, role: &str) -> Map<String, Value> {
        let mut labels = Map::new();
        labels.insert(LABEL_OWNER.into(), self.learner.clone().into());
        labels.insert(LABEL_INSTANCE.into(), self.instance.clone().into());
        labels.insert(LABEL_ROLE.into(), role.into());
        labels
    }

    /// `berth.owner=<learner>`, as a `label` filter value.
    pub fn owner_label(&self) -> String {
        format!("{LABEL_OWNER}={}", self.learner)
    }

    /// `label` filter values that keep a list to this learner's own objects (not their
    /// workstation).
    pub fn owner_filters(&self) -> Vec<String> {
        vec![
            self.owner_label(),
            format!("{LABEL_INSTANCE}={}", self.instance),
            format!("{LABEL_ROLE}={ROLE_LEARNER}"),
        ]
    }

    /// Whether an object's labels say berth made it for this learner (not their workstation).
    pub fn owns(&self, labels: Option<&Value>) -> bool {
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        label(LABEL_OWNER) == Some(self.learner.as_str())
            && label(LABEL_INSTANCE) == Some(self.instance.as_str())
            && label(LABEL_ROLE) == Some(ROLE_LEARNER)
    }

    /// Rewrites an engine response for the learner: engine names back to theirs, berth's
    /// labels and other learners' image tags removed, the workstation left out.
    pub fn unscope(&self, value: &mut Value) {
        self.strip(value);
        let text = value.to_string();
        let text = self.unscope_text(&text);
        if let Ok(rewritten) = serde_json::from_str(&text) {
            *value = rewritten;
        }
    }

    /// Name rewriting on text (error messages, JSON lines of a stream).
    pub fn unscope_text(&self, text: &str) -> String {
        let bridge = format!("\"{}\"", self.bridge());
        text.replace(&bridge, "\"bridge\"")
            .replace(&format!("berth-{}-", self.learner), "")
            .replace(&self.image_prefix(), "")
            .replace(&self.bridge(), "bridge")
    }

    fn strip(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    match (key.as_str(), &mut *inner) {
                        ("Labels" | "Attributes", Value::Object(labels)) => {
                            labels.retain(|k, _| !k.starts_with("berth."));
                        }
                        ("RepoTags" | "RepoDigests", Value::Array(tags)) => {
                            let own = self.image_prefix();
                            tags.retain(|t| {
                                t.as_str()
                                    .is_some_and(|t| t.starts_with(&own) || !t.starts_with("berth"))
                            });
                        }
                        // A network's members: the workstation is not the learner's container.
                        ("Containers", Value::Object(members)) => {
                            members.retain(|_, m| {
                                m.get("Name")
                                    .and_then(Value::as_str)
                                    .is_none_or(|n| !n.starts_with("berth-ws-"))
                            });
                            for member in members.values_mut() {
                                self.strip(member);
                            }
                        }
                        _ => self.strip(inner),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.strip(item)),
            _ => {}
        }
    }
}

/// Names the engine accepts for containers, volumes and networks.
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && name.len() <= 128
}

/// A name in the style the engine picks (`eager_turing`) for containers created without one.
pub fn random_name() -> String {
    use rand::seq::IndexedRandom;
    const ADJECTIVES: &[&str] = &[
        "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nifty",
        "proud", "quiet", "sharp", "swift", "tidy", "vivid", "wise", "zealous",
    ];
    const NAMES: &[&str] = &[
        "curie",
        "darwin",
        "euler",
        "gauss",
        "hopper",
        "kepler",
        "lovelace",
        "noether",
        "pascal",
        "ramanujan",
        "ritchie",
        "sejong",
        "shannon",
        "thompson",
        "turing",
        "wozniak",
    ];
    let mut rng = rand::rng();
    format!(
        "{}_{}",
        ADJECTIVES.choose(&mut rng).unwrap_or(&"calm"),
        NAMES.choose(&mut rng).unwrap_or(&"turing")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_round_trip() {
        let names = Names::new("0123456789ab", "inst");
        assert_eq!(names.object("web"), "berth-0123456789ab-web");
        assert_eq!(names.unprefix("/berth-0123456789ab-web"), Some("web"));
        assert_eq!(names.unprefix("/berth-ffffffffffff-web"), None);
        assert_eq!(names.network("bridge"), "berth-0123456789ab");
        assert_eq!(names.network("mynet"), "berth-0123456789ab-mynet");
        assert_eq!(names.workstation(), "berth-ws-0123456789ab");
        assert_eq!(interface("0123456789abcdef"), "bth0123456789ab");
        assert!(interface("0123456789abcdef").len() <= 15);
    }

    #[test]
    fn ownership_needs_owner_instance_and_role() {
        let names = Names::new("0123456789ab", "inst");
        let labels = Value::Object(names.labels());
        assert!(names.owns(Some(&labels)));
        let other_instance =
            json!({LABEL_OWNER: "0123456789ab", LABEL_INSTANCE: "x", LABEL_ROLE: ROLE_LEARNER});
        assert!(!names.owns(Some(&other_instance)));
        let workstation = Value::Object(names.labels_with_role(ROLE_WORKSTATION));
        assert!(!names.owns(Some(&workstation)));
    }

    #[test]
    fn responses_lose_engine_names_labels_and_foreign_tags() {
        let names = Names::new("0123456789ab", "inst");
        let mut value = json!({
            "Names": ["/berth-0123456789ab-web"],
            "Labels": {"berth.owner": "0123456789ab", "app": "x"},
            "RepoTags": ["berth-0123456789ab/app:1", "berth-ffffffffffff/app:1", "nginx:1.27"],
            "NetworkSettings": {"Networks": {"berth-0123456789ab": {}}},
            "Containers": {"a": {"Name": "berth-ws-0123456789ab"}, "b": {"Name": "berth-0123456789ab-db"}}
        });
        names.unscope(&mut value);
        assert_eq!(
            value,
            json!({
                "Names": ["/web"],
                "Labels": {"app": "x"},
                "RepoTags": ["app:1", "nginx:1.27"],
                "NetworkSettings": {"Networks": {"bridge": {}}},
                "Containers": {"b": {"Name": "db"}}
            })
        );
    }

    #[test]
    fn valid_names() {
        assert!(valid_name("web"));
        assert!(valid_name("my_db.1-a"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("a/b"));
        assert!(!valid_name(""));
        assert!(!valid_name("a:b"));
    }
}
