//! `docker exec`: an exec is created in one of the learner's containers (never privileged,
//! never as root), and later calls on an exec id pass only when that exec's container is
//! theirs.

use hyper::header::UPGRADE;
use hyper::{Method, Request, Response};
use serde_json::{Map, Value};

use super::dispatch::Call;
use super::refusal::Refusal;
use super::reply::{self, MAX_JSON_BODY};
use super::scope;
use super::wire::json::{self, get, is_unset};
use super::wire::unread::Guarded;
use super::wire::{Body, full};

/// Rebuilds a `POST /containers/{id}/exec` body: never privileged, never as root.
pub fn body(raw: &[u8]) -> Result<Map<String, Value>, Refusal> {
    let input = json::parse_object(raw)?;
    if get(&input, "Privileged").is_some_and(|v| !is_unset(v)) {
        return Err(Refusal::not_available("docker exec --privileged"));
    }
    let user = get(&input, "User")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let account = user.split(':').next().unwrap_or_default();
    if account == "root" || account.parse::<u32>() == Ok(0) {
        return Err(Refusal::not_available("docker exec --user root"));
    }
    let mut out = Map::new();
    for field in [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "DetachKeys",
        "Tty",
        "Env",
        "Cmd",
        "WorkingDir",
        "ConsoleSize",
        "User",
    ] {
        if let Some(value) = get(&input, field)
            && !value.is_null()
        {
            out.insert(field.to_owned(), value.clone());
        }
    }
    out.insert("Privileged".into(), false.into());
    Ok(out)
}

/// `POST /containers/{id}/exec`, the container already resolved.
pub async fn create(
    call: &Call<'_>,
    container: &str,
    request: Request<Guarded>,
) -> Result<Response<Body>, Refusal> {
    let raw = reply::read_body(request, MAX_JSON_BODY as u64).await?;
    let body = body(&raw)?;
    super::gates::pace(call.scope, super::gates::Costly::Create).await?;
    let response = call
        .forward_json(
            Method::POST,
            call.path(&format!("/containers/{container}/exec")),
            &body,
        )
        .await?;
    reply::json_response(call.scope.names(), response).await
}

/// An exec belongs to the learner when its container does. Anything else is "no such exec".
async fn owned(call: &Call<'_>, id: &str) -> Result<(), Refusal> {
    let missing = || Refusal::no_such("exec instance", id);
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let (status, exec) = call
        .scope
        .upstream()
        .call(Method::GET, &format!("/exec/{id}/json"), None)
        .await?;
    let container = exec["ContainerID"].as_str().unwrap_or_default();
    if !status.is_success() || container.len() != 64 {
        return Err(missing());
    }
    match scope::container(call.scope, container).await {
        Ok(found) if found["Id"] == container => Ok(()),
        _ => Err(missing()),
    }
}

pub async fn start(
    call: &Call<'_>,
    id: &str,
    request: Request<Guarded>,
) -> Result<Response<Body>, Refusal> {
    owned(call, id).await?;
    let path = call.path(&format!("/exec/{id}/start"));
    if request.headers().contains_key(UPGRADE) {
        super::containers::hijack(call, request, path).await
    } else {
        let input = reply::read_json(request).await?;
        let mut out = Map::new();
        for key in ["Detach", "Tty", "ConsoleSize"] {
            if let Some(value) = get(&input, key) {
                out.insert(key.to_owned(), value.clone());
            }
        }
        let response = call.forward_json(Method::POST, path, &out).await?;
        reply::passthrough(response).await
    }
}

pub async fn resize(call: &Call<'_>, id: &str) -> Result<Response<Body>, Refusal> {
    owned(call, id).await?;
    let query = call.pass(&["h", "w"]);
    let path = call.path_query(&format!("/exec/{id}/resize"), &query);
    let response = call.send(Method::POST, path).await?;
    reply::json_response(call.scope.names(), response).await
}

pub async fn inspect(call: &Call<'_>, id: &str) -> Result<Response<Body>, Refusal> {
    owned(call, id).await?;
    let response = call
        .send(Method::GET, call.path(&format!("/exec/{id}/json")))
        .await?;
    reply::json_response_with(call.scope.names(), response, |exec| {
        // The host's process id of the exec says nothing the learner needs.
        exec["Pid"] = 0.into();
    })
    .await
}

/// An empty JSON body, for execs that start detached.
pub fn detached() -> Body {
    full(r#"{"Detach":true}"#)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_as_root_or_privileged_is_refused() {
        assert!(body(br#"{"Cmd":["sh"],"Privileged":true}"#).is_err());
        assert!(body(br#"{"Cmd":["sh"],"User":"root"}"#).is_err());
        assert!(body(br#"{"Cmd":["sh"],"user":"0:0"}"#).is_err());
        let out = body(br#"{"Cmd":["sh"],"User":"www-data","Tty":true}"#).unwrap();
        assert_eq!(out["Privileged"], false);
    }
}
