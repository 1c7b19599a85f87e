//! The learner's volumes: named ones (`berth-<learner>-<name>` in the engine) and the ones
//! berth makes for anonymous mounts (named with 64 hex digits, as the engine names its own).
//! All carry the learner's labels: they are counted, listed and cleaned up like the rest.

use hyper::{Method, Request, Response};
use serde_json::{Map, Value};

use super::containers::body::{VolumeMount, check_labels};
use super::dispatch::{Call, created};
use super::filters;
use super::gates;
use super::names::{LABEL_ANONYMOUS, valid_name};
use super::refusal::Refusal;
use super::reply::{self, MAX_JSON_BODY};
use super::scope;
use super::server::Scope;
use super::wire::Body;
use super::wire::json::{self, get, is_unset};
use super::wire::unread::Guarded;

/// Rebuilds a `POST /volumes/create` body: the local driver, no options (a local volume with
/// options can bind any host path). Returns the learner's name and the body.
pub fn create_body(raw: &[u8]) -> Result<(String, Map<String, Value>), Refusal> {
    let input = json::parse_object(raw)?;
    let driver = get(&input, "Driver")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(driver, "" | "local") {
        return Err(Refusal::not_available(&format!(
            "the volume driver {driver}"
        )));
    }
    if get(&input, "DriverOpts").is_some_and(|v| !is_unset(v)) {
        return Err(Refusal::not_available("volume driver options (--opt)"));
    }
    let name = match get(&input, "Name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => {
            if !valid_name(name) {
                return Err(Refusal::bad_request(format!(
                    "volume name {name:?} includes invalid characters"
                )));
            }
            name.to_owned()
        }
        _ => crate::session::random_hex(32),
    };
    let labels = match get(&input, "Labels") {
        Some(Value::Object(labels)) => labels.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(Refusal::bad_request("Labels must be an object")),
    };
    check_labels(&labels)?;
    let mut body = Map::new();
    body.insert("Driver".into(), "local".into());
    body.insert("Labels".into(), Value::Object(labels));
    Ok((name, body))
}

/// Host paths of a volume are the host's.
fn hide_host(volume: &mut Value) {
    if volume.get("Mountpoint").is_some() {
        volume["Mountpoint"] = "".into();
    }
}

/// Creates the volume `name` of the learner with their labels and the given ones.
async fn make(scope: &Scope, name: &str, extra: Map<String, Value>) -> Result<Value, Refusal> {
    let mut labels = extra;
    labels.extend(scope.names().labels());
    let body = serde_json::json!({
        "Name": scope.names().object(name),
        "Driver": "local",
        "Labels": labels,
    });
    scope
        .upstream()
        .ok(Method::POST, "/volumes/create", Some(&body))
        .await
}

pub async fn create(call: &Call<'_>, request: Request<Guarded>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let raw = reply::read_body(request, MAX_JSON_BODY as u64).await?;
    let (name, body) = create_body(&raw)?;
    gates::pace(scope, gates::Costly::Create).await?;
    let _quota = scope.quota_lock().await;
    let existing = scope::volume(scope, &name).await;
    if existing.is_err() {
        gates::volume_quota(scope, 1).await?;
        gates::disk(scope, "create a volume").await?;
    }
    let labels = body["Labels"].as_object().cloned().unwrap_or_default();
    let mut answer = make(scope, &name, labels).await?;
    hide_host(&mut answer);
    scope.names().unscope(&mut answer);
    Ok(created(answer))
}

/// How many of these named volumes do not exist yet (they will be made).
pub async fn missing(scope: &Scope, named: &[&VolumeMount]) -> Result<usize, Refusal> {
    let mut missing: Vec<&str> = Vec::new();
    for volume in named {
        let name = volume.name.as_deref().unwrap_or_default();
        if scope::volume(scope, name).await.is_err() && !missing.contains(&name) {
            missing.push(name);
        }
    }
    Ok(missing.len())
}

/// The learner's named volume, made with berth's labels before a container mounts it (the
/// engine would otherwise make it without them). Returns its engine name.
pub async fn ensure(scope: &Scope, name: &str) -> Result<String, Refusal> {
    if let Ok(engine) = scope::volume(scope, name).await {
        return Ok(engine);
    }
    let engine = scope.names().object(name);
    let (status, existing) = scope
        .upstream()
        .call(Method::GET, &format!("/volumes/{engine}"), None)
        .await?;
    if status.is_success() && !scope.names().owns(existing.get("Labels")) {
        return Err(Refusal::forbidden("that volume name is taken"));
    }
    make(scope, name, Map::new()).await?;
    Ok(engine)
}

/// A volume for an anonymous mount, paired with its container by `token`.
pub async fn make_anonymous(scope: &Scope, token: &str) -> Result<String, Refusal> {
    let name = crate::session::random_hex(32);
    let mut labels = Map::new();
    labels.insert(LABEL_ANONYMOUS.into(), token.into());
    make(scope, &name, labels).await?;
    Ok(scope.names().object(&name))
}

/// Removes the volumes berth made for a container's anonymous mounts (`docker rm -v`, and
/// `--rm` containers), when nothing else uses them.
pub async fn remove_anonymous(scope: &Scope, token: &str) {
    if token.is_empty() {
        return;
    }
    let filters = std::collections::BTreeMap::from([(
        "label".to_owned(),
        vec![format!("{LABEL_ANONYMOUS}={token}")],
    )]);
    let filters = scope::with_owner(scope, filters, false);
    let Ok(list) = scope::engine_list(scope, "/volumes", &filters, false).await else {
        return;
    };
    for volume in list["Volumes"].as_array().into_iter().flatten() {
        let Some(name) = volume["Name"].as_str() else {
            continue;
        };
        // The engine lets go of a removed container's volumes a moment after it says so.
        for attempt in 0..10 {
            match scope.upstream().remove(&format!("/volumes/{name}")).await {
                Err(refusal) if refusal.status == 409 && attempt < 9 => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                _ => break,
            }
        }
    }
}

pub async fn list(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = filters::parse(&call.query, &["dangling", "driver", "label", "name"])?;
    filters::refuse_berth_labels(&filters)?;
    if let Some(names) = filters.get_mut("name") {
        for name in names.iter_mut() {
            *name = scope.names().object(name);
        }
    }
    let filters = scope::with_owner(scope, filters, false);
    let mut query = super::route::Query::default();
    query.set("filters", filters::encode_filters(&filters));
    let response = call
        .send(Method::GET, call.path_query("/volumes", &query))
        .await?;
    reply::json_response_with(scope.names(), response, |list| {
        for volume in list["Volumes"].as_array_mut().into_iter().flatten() {
            hide_host(volume);
        }
    })
    .await
}

pub async fn inspect(call: &Call<'_>, name: &str) -> Result<Response<Body>, Refusal> {
    let engine = scope::volume(call.scope, name).await?;
    let response = call
        .send(Method::GET, call.path(&format!("/volumes/{engine}")))
        .await?;
    reply::json_response_with(call.scope.names(), response, hide_host).await
}

pub async fn remove(call: &Call<'_>, name: &str) -> Result<Response<Body>, Refusal> {
    let engine = scope::volume(call.scope, name).await?;
    let query = call.pass(&["force"]);
    let response = call
        .send(
            Method::DELETE,
            call.path_query(&format!("/volumes/{engine}"), &query),
        )
        .await?;
    reply::passthrough(response).await
}

pub async fn prune(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let filters = filters::parse(&call.query, &["label"])?;
    filters::refuse_berth_labels(&filters)?;
    let filters = scope::with_owner(scope, filters, false);
    let mut query = super::route::Query::default();
    query.set("filters", filters::encode_filters(&filters));
    let response = call
        .send(Method::POST, call.path_query("/volumes/prune", &query))
        .await?;
    reply::json_response(scope.names(), response).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_stay_plain() {
        assert!(
            create_body(br#"{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#)
                .is_err()
        );
        assert!(create_body(br#"{"Name":"v","Labels":{"berth.owner":"x"}}"#).is_err());
        let (name, body) = create_body(br#"{"Name":"v"}"#).unwrap();
        assert_eq!(name, "v");
        assert_eq!(body["Driver"], "local");
    }
}
