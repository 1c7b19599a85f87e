//! The `filters` query of list calls, in either of the engine's two shapes
//! (`{"k":["v"]}`, `{"k":{"v":true}}`), and name patterns matched as the engine would.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::refusal::Refusal;
use super::route::Query;

pub type Filters = BTreeMap<String, Vec<String>>;

/// The learner's `filters`, parsed; only the keys in `allowed` are accepted (the engine's own
/// refusal of an unknown key reads the same).
pub fn parse(query: &Query, allowed: &[&str]) -> Result<Filters, Refusal> {
    let mut out = BTreeMap::new();
    let Some(raw) = query.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(out);
    };
    let object = super::wire::json::parse_object(raw.as_bytes())
        .map_err(|e| Refusal::bad_request(format!("invalid filters: {e}")))?;
    for (key, value) in object {
        if !allowed.contains(&key.as_str()) {
            return Err(Refusal::bad_request(format!("invalid filter '{key}'")));
        }
        let values: Vec<String> = match value {
            Value::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| Refusal::bad_request(format!("invalid filter {key:?}")))
                })
                .collect::<Result<_, _>>()?,
            Value::Object(map) => map
                .into_iter()
                .filter(|(_, v)| v.as_bool() == Some(true))
                .map(|(k, _)| k)
                .collect(),
            _ => return Err(Refusal::bad_request(format!("invalid filter {key:?}"))),
        };
        out.insert(key, values);
    }
    Ok(out)
}

pub fn encode_filters(filters: &Filters) -> String {
    let object: Map<String, Value> = filters
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(key, values)| {
            let set: Map<String, Value> = values
                .iter()
                .map(|v| (v.clone(), Value::Bool(true)))
                .collect();
            (key.clone(), Value::Object(set))
        })
        .collect();
    Value::Object(object).to_string()
}

/// Label filters the learner writes may not name berth's own labels.
pub fn refuse_berth_labels(filters: &Filters) -> Result<(), Refusal> {
    let berth = filters
        .get("label")
        .into_iter()
        .flatten()
        .any(|l| l.to_ascii_lowercase().starts_with("berth."));
    if berth {
        return Err(Refusal::forbidden(
            "labels starting with berth. are reserved",
        ));
    }
    Ok(())
}

/// Docker's name filter is a regular expression over `/name`; berth understands the forms
/// people type (`web`, `^web$`, `^/web`) and matches them on the learner's own names.
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let anchored_start = pattern.starts_with('^');
    let anchored_end = pattern.ends_with('$') && !pattern.ends_with("\\$");
    let core = pattern.trim_start_matches('^').trim_end_matches('$');
    let full = format!("/{name}");
    match (anchored_start, anchored_end) {
        (true, true) => full == core || name == core,
        (true, false) => full.starts_with(core) || name.starts_with(core),
        (false, true) => full.ends_with(core),
        (false, false) => full.contains(core),
    }
}

/// A label filter value (`key` or `key=value`) against an object's labels.
pub fn label_matches(filter: &str, labels: &Value) -> bool {
    match filter.split_once('=') {
        Some((key, value)) => labels.get(key).and_then(Value::as_str) == Some(value),
        None => labels.get(filter).is_some(),
    }
}

/// A `reference` filter (`app`, `app:*`, `*/app`) against a tag: shell-style `*` and `?`.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    fn matches(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                // `*` does not cross a `/`, as in Go's path.Match.
                matches(&p[1..], t)
                    || (t.first().is_some_and(|c| *c != b'/') && matches(p, &t[1..]))
            }
            (Some(b'?'), Some(c)) => *c != b'/' && matches(&p[1..], &t[1..]),
            (Some(a), Some(b)) => a == b && matches(&p[1..], &t[1..]),
            _ => false,
        }
    }
    pattern.len() <= 256 && matches(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_filters_match_as_the_engine_would() {
        assert!(name_matches("web", "web"));
        assert!(name_matches("we", "web"));
        assert!(name_matches("^web$", "web"));
        assert!(name_matches("^/web$", "web"));
        assert!(!name_matches("^web$", "web2"));
        assert!(!name_matches("berth", "web"));
    }

    #[test]
    fn filters_parse_in_both_shapes() {
        let mut query = Query::default();
        query.set("filters", r#"{"label":{"a=b":true},"name":["web"]}"#);
        let filters = parse(&query, &["label", "name"]).unwrap();
        assert_eq!(filters["label"], ["a=b"]);
        assert_eq!(filters["name"], ["web"]);
        assert_eq!(
            encode_filters(&filters),
            r#"{"label":{"a=b":true},"name":{"web":true}}"#
        );
        query.set("filters", r#"{"label":["a"],"LABEL":["b"]}"#);
        assert!(parse(&query, &["label"]).is_err());
        query.set("filters", r#"{"before":["x"]}"#);
        assert!(parse(&query, &["label"]).is_err());
    }

    #[test]
    fn globs_do_not_cross_slashes() {
        assert!(glob_matches("app*", "app:1"));
        assert!(glob_matches("*:1", "app:1"));
        assert!(!glob_matches("*", "me/app:1"));
        assert!(glob_matches("*/*", "me/app:1"));
        assert!(glob_matches("a?p:1", "app:1"));
    }
}
