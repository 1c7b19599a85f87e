//! JSON bodies read the way the engine reads them, and then more strictly.
//!
//! The engine (Go's encoding/json) matches object keys to fields case-insensitively and lets
//! the last duplicate win. So `{"Privileged":false,"privileged":true}` is privileged to the
//! engine. berth refuses any object with two keys that are equal ignoring case, and looks
//! fields up ignoring case, so it sees what the engine would see.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Nesting deeper than this is not a Docker request.
const MAX_DEPTH: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonError {
    #[error("berth: the request body is not valid JSON: {0}")]
    Syntax(String),
    #[error("berth: the request body has the key {0:?} twice (keys are matched ignoring case)")]
    Duplicate(String),
    #[error("berth: the request body is nested too deeply")]
    TooDeep,
    #[error("berth: the request body must be a JSON object")]
    NotObject,
}

/// Parses an object, refusing duplicate keys (ignoring case) at every level.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut deserializer).map_err(classify)?;
    deserializer.end().map_err(classify)?;
    match value.0 {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotObject),
    }
}

fn classify(error: serde_json::Error) -> JsonError {
    let text = error.to_string();
    if let Some(rest) = text.strip_prefix("duplicate key ") {
        let key = rest.split(" at line").next().unwrap_or(rest);
        return JsonError::Duplicate(key.trim_matches('`').to_owned());
    }
    if text.starts_with("nested too deeply") {
        return JsonError::TooDeep;
    }
    JsonError::Syntax(text)
}

struct StrictValue(Value);

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

struct DepthGuard;

impl DepthGuard {
    fn enter<E: de::Error>() -> Result<DepthGuard, E> {
        let depth = DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let guard = DepthGuard;
        if depth > MAX_DEPTH {
            return Err(E::custom("nested too deeply"));
        }
        Ok(guard)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::from(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_none<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let _guard = DepthGuard::enter::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(StrictValue(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictValue, A::Error> {
        let _guard = DepthGuard::enter::<A::Error>()?;
        let mut map = Map::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = access.next_key::<String>()? {
            if !seen.insert(key.to_lowercase()) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(StrictValue(Value::Object(map)))
    }
}

/// The value of `key`, matched ignoring case as the engine does.
pub fn get<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Removes and returns `key`, matched ignoring case.
pub fn take(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let found = map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned()?;
    map.remove(&found)
}

/// Whether a value is what the engine treats as "not set": null, false, 0, "", [] or {}.
pub fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_ignoring_case_at_any_depth() {
        let error = parse_object(br#"{"Privileged":false,"privileged":true}"#).unwrap_err();
        assert_eq!(error, JsonError::Duplicate("privileged".to_owned()));
        assert!(matches!(
            parse_object(br#"{"HostConfig":{"CapAdd":[],"CAPADD":["ALL"]}}"#),
            Err(JsonError::Duplicate(_))
        ));
        assert!(parse_object(br#"{"A":{"x":1},"B":{"x":1}}"#).is_ok());
    }

    #[test]
    fn lookups_ignore_case() {
        let map = parse_object(br#"{"hostconfig":{"PRIVILEGED":true}}"#).unwrap();
        let host = get(&map, "HostConfig").unwrap().as_object().unwrap();
        assert_eq!(get(host, "Privileged"), Some(&Value::Bool(true)));
    }

    #[test]
    fn junk_and_depth_are_refused() {
        assert!(matches!(parse_object(b"{"), Err(JsonError::Syntax(_))));
        assert!(matches!(parse_object(b"[1]"), Err(JsonError::NotObject)));
        assert!(matches!(
            parse_object(br#"{"a":1} {"b":2}"#),
            Err(JsonError::Syntax(_))
        ));
        let deep = format!("{}{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        assert!(parse_object(deep.as_bytes()).is_err());
        assert_eq!(parse_object(b"  ").unwrap(), Map::new());
    }
}
