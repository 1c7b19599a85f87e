//! A learner's view of the engine: which containers, images, volumes and networks are theirs,
//! and every reference they write (a name, an id, an id prefix, an image name) resolved
//! against that view to the engine's full id.
//!
//! Nothing a learner writes reaches the engine unresolved: the engine only ever sees ids (and
//! the learner's prefixed names) that berth found in the learner's own view. A reference that
//! does not resolve is answered "No such …", exactly as for something that does not exist at
//! all, so the answer says nothing about other learners.

use std::collections::BTreeMap;

use hyper::Method;
use serde_json::{Value, json};

use super::filters::encode_filters;
use super::images::reference::{self, Reference};
use super::names::{LABEL_OWNER, valid_name};
use super::refusal::Refusal;
use super::server::Scope;

/// A list from the engine (`/containers/json`, `/volumes`, `/networks`) with these filters.
pub async fn engine_list(
    scope: &Scope,
    path: &str,
    filters: &BTreeMap<String, Vec<String>>,
    all: bool,
) -> Result<Value, Refusal> {
    let mut pairs = vec![];
    if all {
        pairs.push(("all", "1".to_owned()));
    }
    pairs.push(("filters", encode_filters(filters)));
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let path = super::wire::path_with_query(path, &pairs);
    scope.upstream().ok(Method::GET, &path, None).await
}

fn own_filters(scope: &Scope) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([("label".to_owned(), scope.names().owner_filters())])
}

/// Filters for what carries the learner's owner label, any role (their default network too).
fn owner_filters_any_role(scope: &Scope) -> BTreeMap<String, Vec<String>> {
    let names = scope.names();
    BTreeMap::from([(
        "label".to_owned(),
        vec![
            names.owner_label(),
            format!("{}={}", super::names::LABEL_INSTANCE, names.instance()),
        ],
    )])
}

// ---------------------------------------------------------------------------------------------
// Containers

/// The learner's containers, as the engine lists them.
pub async fn containers(scope: &Scope, all: bool) -> Result<Vec<Value>, Refusal> {
    let value = engine_list(scope, "/containers/json", &own_filters(scope), all).await?;
    Ok(value.as_array().cloned().unwrap_or_default())
}

/// The learner's name for a listed container.
pub fn learner_name(scope: &Scope, container: &Value) -> Option<String> {
    container["Names"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|n| scope.names().unprefix(n).map(str::to_owned))
}

fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One of `candidates` by exact id or unique id prefix; `Err` when the prefix is ambiguous.
fn by_id<'a>(
    candidates: impl Iterator<Item = &'a Value>,
    reference: &str,
) -> Result<Option<&'a Value>, Refusal> {
    let id = reference.strip_prefix("sha256:").unwrap_or(reference);
    if !is_hex(id) {
        return Ok(None);
    }
    let id = id.to_ascii_lowercase();
    let mut found: Option<&Value> = None;
    for candidate in candidates {
        let full = candidate["Id"].as_str().unwrap_or_default();
        let full = full.strip_prefix("sha256:").unwrap_or(full);
        if full == id {
            return Ok(Some(candidate));
        }
        if full.starts_with(&id) {
            if found.is_some_and(|f| f["Id"] != candidate["Id"]) {
                return Err(Refusal::bad_request(format!(
                    "multiple IDs found with provided prefix: {reference}"
                )));
            }
            found = Some(candidate);
        }
    }
    Ok(found)
}

/// A container reference (name, id, id prefix) → the learner's container, as listed.
pub async fn container(scope: &Scope, reference: &str) -> Result<Value, Refusal> {
    let reference = reference.trim_start_matches('/');
    let list = containers(scope, true).await?;
    if let Some(found) = list
        .iter()
        .find(|c| learner_name(scope, c).as_deref() == Some(reference))
    {
        return Ok(found.clone());
    }
    match by_id(list.iter(), reference)? {
        Some(found) => Ok(found.clone()),
        None => Err(Refusal::no_such("container", reference)),
    }
}

/// A container reference → its full id.
pub async fn container_id(scope: &Scope, reference: &str) -> Result<String, Refusal> {
    let found = container(scope, reference).await?;
    Ok(found["Id"].as_str().unwrap_or_default().to_owned())
}

// ---------------------------------------------------------------------------------------------
// Networks

/// A learner's network: its engine id and name.
#[derive(Debug, Clone)]
pub struct NetworkRef {
    pub id: String,
    pub name: String,
}

/// The learner's networks (their default network included).
pub async fn networks(scope: &Scope) -> Result<Vec<Value>, Refusal> {
    let list = engine_list(scope, "/networks", &owner_filters_any_role(scope), false).await?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

/// A network reference (learner name, `bridge`, id, id prefix) → the learner's network.
pub async fn network(scope: &Scope, reference: &str) -> Result<NetworkRef, Refusal> {
    let list = networks(scope).await?;
    let engine_name = scope.names().network(reference);
    let found = match list.iter().find(|n| n["Name"] == engine_name.as_str()) {
        Some(found) => Some(found),
        None => by_id(list.iter(), reference)?,
    };
    match found {
        Some(network) => Ok(NetworkRef {
            id: network["Id"].as_str().unwrap_or_default().to_owned(),
            name: network["Name"].as_str().unwrap_or_default().to_owned(),
        }),
        None => Err(Refusal::no_such_network(reference)),
    }
}

// ---------------------------------------------------------------------------------------------
// Volumes

/// The learner's volumes (named, and those berth made for anonymous mounts).
pub async fn volumes(scope: &Scope) -> Result<Vec<Value>, Refusal> {
    let list = engine_list(scope, "/volumes", &own_filters(scope), false).await?;
    Ok(list["Volumes"].as_array().cloned().unwrap_or_default())
}

/// A volume the learner names → its engine name, when it is theirs.
pub async fn volume(scope: &Scope, name: &str) -> Result<String, Refusal> {
    if !valid_name(name) {
        return Err(Refusal::no_such_volume(name));
    }
    let engine = scope.names().object(name);
    let (status, found) = scope
        .upstream()
        .call(Method::GET, &format!("/volumes/{engine}"), None)
        .await?;
    if status.is_success() && scope.names().owns(found.get("Labels")) {
        Ok(engine)
    } else {
        Err(Refusal::no_such_volume(name))
    }
}

// ---------------------------------------------------------------------------------------------
// Images

/// Why an image is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Inspecting: the image must already be in the learner's view.
    Look,
    /// Running or building from it: an allowed public image on the host comes into view (once
    /// the operation succeeds).
    Use,
}

/// An image resolved in the learner's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The engine's id, `sha256:…`.
    pub id: String,
    /// A public image (shared by everyone), as opposed to one the learner built or tagged.
    pub public: bool,
    /// The name the learner used, normalised (`busybox:latest`, `app:1`), or the id.
    pub shown: String,
    /// The reference exactly as the learner wrote it (what `docker ps` shows).
    pub written: String,
}

/// Whether an image's labels say no learner made it: public images are pulled, never built.
fn is_public(image: &Value) -> bool {
    image["Labels"].get(LABEL_OWNER).is_none()
}

/// The learner's own tags of an image (`berth-<learner>/…`).
pub fn own_tags(scope: &Scope, image: &Value) -> Vec<String> {
    let prefix = scope.names().image_prefix();
    image["RepoTags"]
        .as_array()
        .map(|tags| {
            tags.iter()
                .filter_map(Value::as_str)
                .filter(|t| t.starts_with(&prefix))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The learner built it (berth's labels) or tagged it.
pub fn image_owned(scope: &Scope, image: &Value) -> bool {
    scope.names().owns(image.get("Labels")) || !own_tags(scope, image).is_empty()
}

/// Images in the learner's view: built or tagged by them, or public ones they pulled or used.
pub async fn images(scope: &Scope) -> Result<Vec<Value>, Refusal> {
    let list = scope
        .upstream()
        .ok(Method::GET, "/images/json", None)
        .await?;
    Ok(list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|image| visible(scope, image))
        .collect())
}

/// Whether a listed image is in the learner's view.
pub fn visible(scope: &Scope, image: &Value) -> bool {
    image_owned(scope, image)
        || (is_public(image) && image["Id"].as_str().is_some_and(|id| scope.has_seen(id)))
}

/// The images the engine lists under exactly this name (never an id lookup).
async fn named(scope: &Scope, name: &str) -> Result<Vec<Value>, Refusal> {
    let filters = BTreeMap::from([("reference".to_owned(), vec![name.to_owned()])]);
    let filters = encode_filters(&filters);
    let path = super::wire::path_with_query("/images/json", &[("filters", &filters)]);
    let list = scope.upstream().ok(Method::GET, &path, None).await?;
    Ok(list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|image| {
            let tags = image["RepoTags"].as_array().into_iter().flatten();
            let digests = image["RepoDigests"].as_array().into_iter().flatten();
            tags.chain(digests).any(|t| t.as_str() == Some(name))
        })
        .collect())
}

fn image_ref(image: &Value, public: bool, shown: String, written: &str) -> ImageRef {
    ImageRef {
        id: image["Id"].as_str().unwrap_or_default().to_owned(),
        public,
        shown,
        written: written.to_owned(),
    }
}

/// An image reference → the image in the learner's view.
///
/// The order is the engine's: a name first (the learner's own tag, then a public image), then
/// an id or id prefix, among the images the learner can see. Public images are judged by their
/// repository name; something that only looks like an id is never read as a repository.
pub async fn image(scope: &Scope, written: &str, purpose: Purpose) -> Result<ImageRef, Refusal> {
    let id_like = reference::looks_like_id(written);
    let parsed =
        if id_like {
            None
        } else {
            Some(Reference::parse(written).ok_or_else(|| {
                Refusal::bad_request(format!("invalid reference format: {written}"))
            })?)
        };
    if let Some(parsed) = &parsed {
        if parsed.digest.is_none() && parsed.is_learner_name() {
            let own = scope.names().image(&parsed.familiar());
            if let Some(image) = named(scope, &own).await?.first() {
                return Ok(image_ref(image, false, parsed.familiar(), written));
            }
        }
        let public = parsed.familiar();
        let found = named(scope, &public).await?;
        if let Some(image) = found.iter().find(|i| is_public(i)) {
            let id = image["Id"].as_str().unwrap_or_default();
            let allowed = scope.has_seen(id)
                || scope.settings().pulls.is_lesson_image(&public)
                || (purpose == Purpose::Use && scope.settings().pulls.allows(&public));
            if allowed {
                return Ok(image_ref(image, true, public, written));
            }
            if purpose == Purpose::Use {
                return Err(super::images::pull_refusal(written));
            }
        }
    }
    // An id or id prefix (a hex name that is no tag is one too, as for the engine).
    let hex = written.strip_prefix("sha256:").unwrap_or(written);
    if is_hex(hex) {
        let visible = images(scope).await?;
        if let Some(image) = by_id(visible.iter(), written)? {
            let public = !image_owned(scope, image);
            let id = image["Id"].as_str().unwrap_or_default().to_owned();
            return Ok(image_ref(image, public, id, written));
        }
    }
    let shown = parsed.map_or_else(|| written.to_owned(), |p| p.familiar());
    Err(Refusal::no_such("image", &shown))
}

/// The image's details, by id (after it was resolved).
pub async fn inspect_image(scope: &Scope, id: &str) -> Result<Value, Refusal> {
    scope
        .upstream()
        .ok(Method::GET, &format!("/images/{id}/json"), None)
        .await
}

/// Filters that keep an engine list to what carries this learner's labels: for lists whose
/// own filters the learner may add to.
pub fn with_owner(
    scope: &Scope,
    mut filters: BTreeMap<String, Vec<String>>,
    any_role: bool,
) -> BTreeMap<String, Vec<String>> {
    let own = if any_role {
        owner_filters_any_role(scope)
    } else {
        own_filters(scope)
    };
    for (key, values) in own {
        filters.entry(key).or_default().extend(values);
    }
    filters
}

/// `{"Id": …}`, as the engine answers a create.
pub fn created(id: &str) -> Value {
    json!({"Id": id, "Warnings": []})
}
