//! A learner's names and the engine's names for the same objects.
//!
//! A learner's container `web` is `berth-<learner>-web` in the engine, their network `mynet` is
//! `berth-<learner>-mynet`, their default network (`bridge` to them) is `berth-<learner>`, and
//! the images they build or tag are `berth-<learner>/<name>:<tag>`. Every name a learner writes
//! is prefixed before the engine sees it, so the engine's own name lookups can only ever find
//! this learner's objects; every response is rewritten back before the learner sees it.

use serde_json::{Map, Value};

use crate::sandbox::docker::{LABEL_INSTANCE, LABEL_OWNER, LABEL_ROLE};

/// Role label of objects a learner made through their scoped engine.
pub const ROLE_LEARNER: &str = "learner";
/// Where berth keeps a container's published ports (`8080:80/tcp,…`): the engine publishes
/// nothing, since the learner's network is internal.
pub const LABEL_PUBLISH: &str = "berth.publish";

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
        format!("berth-{}", self.learner)
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
        format!("berth-{}/{reference}", self.learner)
    }

    pub fn image_prefix(&self) -> String {
        format!("berth-{}/", self.learner)
    }

    /// Labels every object made on the learner's behalf carries.
    pub fn labels(&self) -> Map<String, Value> {
        let mut labels = Map::new();
        labels.insert(LABEL_OWNER.into(), self.learner.clone().into());
        labels.insert(LABEL_INSTANCE.into(), self.instance.clone().into());
        labels.insert(LABEL_ROLE.into(), ROLE_LEARNER.into());
        labels
    }

    /// `berth.owner=<learner>`, as a `label` filter value.
    pub fn owner_label(&self) -> String {
        format!("{LABEL_OWNER}={}", self.learner)
    }

    /// `label` filter values that keep a list to this learner's own objects (not their
    /// workstation).
    pub fn owner_filters(&self) -> Vec<String> {
        vec![self.owner_label(), format!("{LABEL_ROLE}={ROLE_LEARNER}")]
    }

    /// Whether an object's labels say it is this learner's (and not their workstation).
    pub fn owns(&self, labels: Option<&Value>) -> bool {
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        label(LABEL_OWNER) == Some(self.learner.as_str()) && label(LABEL_ROLE) == Some(ROLE_LEARNER)
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
