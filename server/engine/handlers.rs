//! What each allowed call does: resolve the learner's references in their scope, rebuild the
//! request, forward it, and rewrite the answer back into the learner's names.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, TRANSFER_ENCODING, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};

use super::Scope;
use super::home;
use super::images::{self, split_tag, valid_repository, valid_tag, with_tag};
use super::names::{LABEL_PUBLISH, valid_name};
use super::ports::{self, PortMap};
use super::rewrite::{self, Refusal};
use super::route::{self, ContainerOp, Query, Route, RouteError};
use super::unread::{Guarded, Leftover};
use super::upstream::{Body, BoxError, MAX_ENGINE_JSON, empty, full, read_limited};
use crate::sandbox::docker::LABEL_OWNER;

/// JSON request bodies (create, exec, network and volume bodies) are at most this big.
pub const MAX_JSON_BODY: usize = 1 << 20;
/// A build context or a `docker cp` upload is at most this big.
pub const MAX_UPLOAD: u64 = 64 << 20;

pub async fn handle(scope: &Arc<Scope>, request: Request<Incoming>) -> Response<Body> {
    let leftover = Leftover::default();
    let request = request.map(|body| leftover.guard(body));
    let response = match dispatch(scope, request).await {
        Ok(response) => response,
        Err(refusal) => error_response(scope, refusal),
    };
    leftover.drain();
    response
}

fn error_response(scope: &Scope, refusal: Refusal) -> Response<Body> {
    let message = scope.names.unscope_text(&refusal.message);
    let body = json!({ "message": message }).to_string();
    Response::builder()
        .status(StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST))
        .header(CONTENT_TYPE, "application/json")
        .body(full(body))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn route_refusal(error: RouteError) -> Refusal {
    match error {
        RouteError::NotAllowed(_) => Refusal {
            status: 403,
            message: error.to_string(),
        },
        _ => Refusal::bad_request(error.to_string()),
    }
}

fn not_found(kind: &str, reference: &str) -> Refusal {
    Refusal {
        status: 404,
        message: format!("No such {kind}: {reference}"),
    }
}

/// The request in hand, with the learner's API version prefix and decoded query.
struct Call<'a> {
    scope: &'a Arc<Scope>,
    version: String,
    query: Query,
}

impl Call<'_> {
    fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.version)
    }

    fn path_query(&self, rest: &str, query: &Query) -> String {
        let encoded = query.encode();
        if encoded.is_empty() {
            self.path(rest)
        } else {
            format!("{}?{encoded}", self.path(rest))
        }
    }

    async fn forward(
        &self,
        method: Method,
        path: String,
        content_type: Option<&str>,
        body: Body,
    ) -> Result<Response<Incoming>, Refusal> {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            builder = builder.header(CONTENT_TYPE, content_type);
        }
        let request = builder
            .body(body)
            .map_err(|e| Refusal::bad_request(e.to_string()))?;
        self.scope.upstream().send(request).await
    }

    /// A request without a body.
    async fn send(&self, method: Method, path: String) -> Result<Response<Incoming>, Refusal> {
        self.forward(method, path, None, empty()).await
    }

    async fn forward_json(
        &self,
        method: Method,
        path: String,
        body: &Map<String, Value>,
    ) -> Result<Response<Incoming>, Refusal> {
        let bytes = serde_json::to_vec(body).map_err(|e| Refusal::bad_request(e.to_string()))?;
        self.forward(method, path, Some("application/json"), full(bytes))
            .await
    }
}

async fn dispatch(
    scope: &Arc<Scope>,
    request: Request<Guarded>,
) -> Result<Response<Body>, Refusal> {
    if request.uri().scheme().is_some() || request.uri().authority().is_some() {
        return Err(Refusal::bad_request(
            "berth: malformed request path: absolute-form request targets are not accepted",
        ));
    }
    let matched = route::match_request(
        request.method(),
        request.uri().path(),
        request.uri().query(),
    )
    .map_err(route_refusal)?;
    let call = Call {
        scope,
        version: matched.version,
        query: matched.query,
    };
    match matched.route {
        Route::Ping => ping(&call, request.method().clone()).await,
        Route::Version => {
            let response = call.send(Method::GET, call.path("/version")).await?;
            json_response(scope, response).await
        }
        Route::Info => info(&call).await,
        Route::Events => events(&call).await,
        Route::ContainerList => container_list(&call).await,
        Route::ContainerCreate => container_create(&call, request).await,
        Route::ContainerPrune => {
            let response = container_prune(&call).await;
            ports::sync(scope).await;
            response
        }
        Route::Container(reference, op) => container_op(&call, &reference, op, request).await,
        Route::ExecStart(id) => {
            exec_owned(&call, &id).await?;
            let path = call.path(&format!("/exec/{id}/start"));
            if request.headers().contains_key(UPGRADE) {
                hijack(scope, request, path).await
            } else {
                let body = read_json(request).await?;
                let response = call.forward_json(Method::POST, path, &body).await?;
                passthrough(scope, response).await
            }
        }
        Route::ExecResize(id) => {
            exec_owned(&call, &id).await?;
            let mut query = Query::default();
            for key in ["h", "w"] {
                if let Some(v) = call.query.get(key) {
                    query.set(key, v);
                }
            }
            let path = call.path_query(&format!("/exec/{id}/resize"), &query);
            let response = call.send(Method::POST, path).await?;
            json_response(scope, response).await
        }
        Route::ExecInspect(id) => {
            exec_owned(&call, &id).await?;
            let response = call
                .send(Method::GET, call.path(&format!("/exec/{id}/json")))
                .await?;
            json_response(scope, response).await
        }
        Route::ImageList => image_list(&call).await,
        Route::ImagePull => image_pull(&call).await,
        Route::ImagePrune => image_prune(&call).await,
        Route::ImageInspect(reference) => {
            let engine = resolve_image(scope, &reference, Purpose::Look).await?;
            let path = call.path(&format!("/images/{engine}/json"));
            let response = call.send(Method::GET, path).await?;
            json_response(scope, response).await
        }
        Route::ImageHistory(reference) => {
            let engine = resolve_image(scope, &reference, Purpose::Look).await?;
            let path = call.path(&format!("/images/{engine}/history"));
            let response = call.send(Method::GET, path).await?;
            json_response(scope, response).await
        }
        Route::ImageTag(reference) => image_tag(&call, &reference).await,
        Route::ImageRemove(reference) => image_remove(&call, &reference).await,
        Route::Build => build(&call, request).await,
        Route::BuildPrune => Ok(json_ok(json!({"CachesDeleted": [], "SpaceReclaimed": 0}))),
        Route::VolumeList => {
            let mut filters = parse_filters(&call.query)?;
            filters
                .entry("label".into())
                .or_default()
                .push(scope.names.owner_label());
            if let Some(names) = filters.get_mut("name") {
                for name in names.iter_mut() {
                    *name = scope.names.object(name);
                }
            }
            let mut query = Query::default();
            query.set("filters", encode_filters(&filters));
            let response = call
                .send(Method::GET, call.path_query("/volumes", &query))
                .await?;
            json_response(scope, response).await
        }
        Route::VolumeCreate => {
            let body = read_body(request, MAX_JSON_BODY as u64).await?;
            let (_, body) = rewrite::volume_create(&body, &scope.names)?;
            volume_quota(scope).await?;
            let response = call
                .forward_json(Method::POST, call.path("/volumes/create"), &body)
                .await?;
            json_response(scope, response).await
        }
        Route::VolumePrune => prune(&call, "/volumes/prune", false).await,
        Route::VolumeInspect(name) | Route::VolumeRemove(name) => {
            if !valid_name(&name) {
                return Err(not_found("volume", &name));
            }
            let engine = scope.names.object(&name);
            let (method, query) = if *request.method() == Method::DELETE {
                let mut query = Query::default();
                if call.query.flag("force") {
                    query.set("force", "1");
                }
                (Method::DELETE, query)
            } else {
                (Method::GET, Query::default())
            };
            let path = call.path_query(&format!("/volumes/{engine}"), &query);
            let response = call.send(method, path).await?;
            json_response(scope, response).await
        }
        Route::NetworkList => network_list(&call).await,
        Route::NetworkCreate => network_create(&call, request).await,
        Route::NetworkPrune => network_prune(&call).await,
        Route::NetworkInspect(reference) => {
            let network = resolve_network(scope, &reference).await?;
            let path = call.path(&format!("/networks/{}", network.id));
            let response = call.send(Method::GET, path).await?;
            json_response(scope, response).await
        }
        Route::NetworkRemove(reference) => network_remove(&call, &reference).await,
        Route::NetworkConnect(reference) => network_connect(&call, &reference, request, true).await,
        Route::NetworkDisconnect(reference) => {
            network_connect(&call, &reference, request, false).await
        }
        Route::PluginInspect(name) => Err(Refusal {
            status: 404,
            message: format!("plugin {name} not found"),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies and responses

async fn read_body(request: Request<Guarded>, limit: u64) -> Result<Bytes, Refusal> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        request.into_body().discard();
        return Err(images::too_large(limit));
    }
    read_limited(request.into_body(), limit as usize)
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                images::too_large(limit)
            } else {
                Refusal::bad_request(format!("berth: could not read the request body: {error}"))
            }
        })
}

async fn read_json(request: Request<Guarded>) -> Result<Map<String, Value>, Refusal> {
    let bytes = read_body(request, MAX_JSON_BODY as u64).await?;
    Ok(super::json::parse_object(&bytes)?)
}

fn json_ok(value: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(full(value.to_string()))
        .unwrap_or_else(|_| Response::new(empty()))
}

fn copy_headers(
    from: &Response<Incoming>,
    builder: hyper::http::response::Builder,
    keep_length: bool,
) -> hyper::http::response::Builder {
    let mut builder = builder;
    for (name, value) in from.headers() {
        let hop = name == CONNECTION || name == TRANSFER_ENCODING || name == UPGRADE;
        if hop || (!keep_length && name == CONTENT_LENGTH) {
            continue;
        }
        builder = builder.header(name, value);
    }
    builder
}

/// An engine error, its message rewritten into the learner's names.
async fn engine_error(response: Response<Incoming>) -> Refusal {
    let status = response.status().as_u16();
    let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_owned());
    Refusal { status, message }
}

/// The engine's answer when it succeeded; its error, in the learner's names, when not.
async fn succeeded(response: Response<Incoming>) -> Result<Response<Incoming>, Refusal> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(engine_error(response).await)
    }
}

/// A streamed answer passed on as it comes (logs, archives, waits).
async fn passthrough(
    _scope: &Scope,
    response: Response<Incoming>,
) -> Result<Response<Body>, Refusal> {
    let response = succeeded(response).await?;
    let builder = copy_headers(
        &response,
        Response::builder().status(response.status()),
        true,
    );
    let body = response
        .into_body()
        .map_err(|e| -> BoxError { e.into() })
        .boxed();
    builder
        .body(body)
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

/// A JSON answer, read whole and rewritten for the learner.
async fn json_response(
    scope: &Scope,
    response: Response<Incoming>,
) -> Result<Response<Body>, Refusal> {
    json_response_with(scope, response, |_| {}).await
}

async fn json_response_with(
    scope: &Scope,
    response: Response<Incoming>,
    edit: impl FnOnce(&mut Value),
) -> Result<Response<Body>, Refusal> {
    let response = succeeded(response).await?;
    let status = response.status();
    let builder = copy_headers(&response, Response::builder().status(status), false);
    let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
        .await
        .map_err(|e| Refusal {
            status: 502,
            message: format!("berth: reading the engine's answer: {e}"),
        })?;
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut value) => {
            edit(&mut value);
            scope.names.unscope(&mut value);
            Bytes::from(value.to_string())
        }
        Err(_) => Bytes::from(scope.names.unscope_text(&String::from_utf8_lossy(&bytes))),
    };
    builder
        .body(full(body))
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

type LineEdit = Box<dyn FnMut(&str) -> Vec<String> + Send>;

/// A stream of JSON lines (events, stats, pull and build progress), each line rewritten as it
/// passes; `finish` runs when the stream ends.
fn lines_response(
    response: Response<Incoming>,
    mut edit: LineEdit,
    finish: Option<BoxFuture<'static, ()>>,
) -> Result<Response<Body>, Refusal> {
    let builder = copy_headers(
        &response,
        Response::builder().status(response.status()),
        false,
    );
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<hyper::body::Frame<Bytes>, BoxError>>(8);
    let mut body = response.into_body();
    tokio::spawn(async move {
        let mut pending: Vec<u8> = Vec::new();
        let send_lines = |pending: &mut Vec<u8>, edit: &mut LineEdit, all: bool| {
            let mut out = String::new();
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                for edited in edit(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n'])) {
                    out.push_str(&edited);
                    out.push_str("\r\n");
                }
            }
            if all && !pending.is_empty() {
                let line = String::from_utf8_lossy(pending).into_owned();
                pending.clear();
                for edited in edit(&line) {
                    out.push_str(&edited);
                    out.push_str("\r\n");
                }
            }
            out
        };
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            if pending.len() > MAX_ENGINE_JSON {
                break;
            }
            let out = send_lines(&mut pending, &mut edit, false);
            if !out.is_empty()
                && tx
                    .send(Ok(hyper::body::Frame::data(Bytes::from(out))))
                    .await
                    .is_err()
            {
                return;
            }
        }
        let out = send_lines(&mut pending, &mut edit, true);
        if !out.is_empty() {
            let _ = tx
                .send(Ok(hyper::body::Frame::data(Bytes::from(out))))
                .await;
        }
        if let Some(finish) = finish {
            finish.await;
        }
    });
    let stream = tokio_stream_from(rx);
    let body = http_body_util::StreamBody::new(stream).boxed();
    builder
        .body(body)
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn unscope_lines(scope: &Arc<Scope>) -> LineEdit {
    let names = scope.names.clone();
    Box::new(move |line: &str| {
        if line.is_empty() {
            return Vec::new();
        }
        match serde_json::from_str::<Value>(line) {
            Ok(mut value) => {
                names.unscope(&mut value);
                vec![value.to_string()]
            }
            Err(_) => vec![names.unscope_text(line)],
        }
    })
}

/// Proxies an upgraded connection (attach, interactive exec) both ways, after the checks.
async fn hijack(
    scope: &Scope,
    mut request: Request<Guarded>,
    path: String,
) -> Result<Response<Body>, Refusal> {
    let downstream = hyper::upgrade::on(&mut request);
    let body = read_body(request, MAX_JSON_BODY as u64).await?;
    let body = if body.is_empty() {
        Bytes::new()
    } else {
        let parsed = super::json::parse_object(&body)?;
        let mut out = Map::new();
        for key in ["Detach", "Tty", "ConsoleSize"] {
            if let Some(v) = super::json::get(&parsed, key) {
                out.insert(key.to_owned(), v.clone());
            }
        }
        Bytes::from(Value::Object(out).to_string())
    };
    let upstream_request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(CONTENT_TYPE, "application/json")
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "tcp")
        .body(full(body))
        .map_err(|e| Refusal::bad_request(e.to_string()))?;
    let response = scope.upstream().send(upstream_request).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let response = succeeded(response).await?;
        return passthrough(scope, response).await;
    }
    let content_type =
        response
            .headers()
            .get(CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static(
                "application/vnd.docker.raw-stream",
            ));
    let upstream = hyper::upgrade::on(response);
    tokio::spawn(async move {
        let (Ok(down), Ok(up)) = tokio::join!(downstream, upstream) else {
            return;
        };
        let mut down = TokioIo::new(down);
        let mut up = TokioIo::new(up);
        if let Err(error) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
            tracing::debug!(%error, "hijacked stream ended");
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONTENT_TYPE, content_type)
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "tcp")
        .body(empty())
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Filters

/// A `filters` query, in either of the engine's two shapes (`{"k":["v"]}`, `{"k":{"v":true}}`).
fn parse_filters(query: &Query) -> Result<BTreeMap<String, Vec<String>>, Refusal> {
    let mut out = BTreeMap::new();
    let Some(raw) = query.get("filters").filter(|f| !f.is_empty()) else {
        return Ok(out);
    };
    let object = super::json::parse_object(raw.as_bytes())
        .map_err(|e| Refusal::bad_request(format!("invalid filters: {e}")))?;
    for (key, value) in object {
        let values: Vec<String> = match value {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
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

fn encode_filters(filters: &BTreeMap<String, Vec<String>>) -> String {
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

/// Docker's name filter is a regular expression over `/name`; berth understands the forms
/// people type (`web`, `^web$`, `^/web`) and matches them on the learner's own names.
fn name_matches(pattern: &str, name: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------
// System

async fn ping(call: &Call<'_>, method: Method) -> Result<Response<Body>, Refusal> {
    let response = call.send(method, call.path("/_ping")).await?;
    let status = response.status();
    let mut builder = copy_headers(&response, Response::builder().status(status), false);
    // The classic builder: BuildKit needs /session, which is not offered.
    if let Some(headers) = builder.headers_mut() {
        headers.insert("Builder-Version", HeaderValue::from_static("1"));
    }
    let bytes = read_limited(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    builder
        .body(full(bytes))
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

async fn info(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let containers = list_containers(scope, true).await?;
    let state = |s: &str| containers.iter().filter(|c| c["State"] == s).count();
    let (running, paused) = (state("running"), state("paused"));
    let images = visible_images(scope).await?.len();
    let response = call.send(Method::GET, call.path("/info")).await?;
    json_response_with(scope, response, |info| {
        let counts = [
            ("Containers", containers.len()),
            ("ContainersRunning", running),
            ("ContainersPaused", paused),
            ("ContainersStopped", containers.len() - running - paused),
            ("Images", images),
        ];
        for (key, count) in counts {
            info[key] = count.into();
        }
        for key in ["ID", "DockerRootDir", "HttpProxy", "HttpsProxy", "NoProxy"] {
            info[key] = "".into();
        }
        info["Name"] = "berth".into();
        info["Labels"] = json!([]);
        info["Warnings"] = json!([]);
        info["Swarm"] = json!({"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": ""});
        if let Some(registry) = info.get_mut("RegistryConfig") {
            registry["Mirrors"] = json!([]);
            registry["InsecureRegistryCIDRs"] = json!([]);
        }
    })
    .await
}

async fn events(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = parse_filters(&call.query)?;
    filters
        .entry("label".into())
        .or_default()
        .extend(scope.names.owner_filters());
    let mut query = Query::default();
    query.set("filters", encode_filters(&filters));
    for key in ["since", "until"] {
        if let Some(v) = call.query.get(key) {
            query.set(key, v);
        }
    }
    let response = call
        .send(Method::GET, call.path_query("/events", &query))
        .await?;
    let response = succeeded(response).await?;
    lines_response(response, unscope_lines(scope), None)
}

async fn prune(call: &Call<'_>, path: &str, with_role: bool) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = parse_filters(&call.query)?;
    let label = filters.entry("label".into()).or_default();
    if label.iter().any(|l| l.starts_with("berth.")) {
        return Err(Refusal::forbidden(
            "labels starting with berth. are reserved",
        ));
    }
    if with_role {
        label.extend(scope.names.owner_filters());
    } else {
        label.push(scope.names.owner_label());
    }
    let mut query = Query::default();
    query.set("filters", encode_filters(&filters));
    let response = call
        .send(Method::POST, call.path_query(path, &query))
        .await?;
    json_response(scope, response).await
}

// ---------------------------------------------------------------------------------------------
// Containers

/// A list from the engine (`/containers/json`, `/volumes`, `/networks`) with these filters.
async fn engine_list(
    scope: &Scope,
    path: &str,
    filters: &BTreeMap<String, Vec<String>>,
    all: bool,
) -> Result<Value, Refusal> {
    let mut query = Query::default();
    if all {
        query.set("all", "1");
    }
    query.set("filters", encode_filters(filters));
    let path = format!("{path}?{}", query.encode());
    scope.upstream().ok(Method::GET, &path, None).await
}

/// Filters for what carries the learner's owner label (volumes, networks: any role).
fn owned_by(scope: &Scope) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([("label".to_owned(), vec![scope.names.owner_label()])])
}

/// The learner's containers, as the engine lists them.
pub(super) async fn list_containers(scope: &Scope, all: bool) -> Result<Vec<Value>, Refusal> {
    let filters = BTreeMap::from([("label".to_owned(), scope.names.owner_filters())]);
    let value = engine_list(scope, "/containers/json", &filters, all).await?;
    Ok(value.as_array().cloned().unwrap_or_default())
}

fn learner_name(scope: &Scope, container: &Value) -> Option<String> {
    container["Names"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|n| scope.names.unprefix(n).map(str::to_owned))
}

/// A container reference (name, id, id prefix) resolved among the learner's containers.
pub(super) async fn resolve_container(scope: &Scope, reference: &str) -> Result<Value, Refusal> {
    let reference = reference.trim_start_matches('/');
    let containers = list_containers(scope, true).await?;
    if let Some(found) = containers
        .iter()
        .find(|c| learner_name(scope, c).as_deref() == Some(reference))
    {
        return Ok(found.clone());
    }
    let hex = !reference.is_empty() && reference.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        let matches: Vec<&Value> = containers
            .iter()
            .filter(|c| c["Id"].as_str().is_some_and(|id| id.starts_with(reference)))
            .collect();
        match matches.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            _ => {
                return Err(Refusal::bad_request(format!(
                    "multiple IDs found with provided prefix: {reference}"
                )));
            }
        }
    }
    Err(not_found("container", reference))
}

/// `docker container prune`: the learner's stopped containers, removed with their unnamed
/// volumes (see [`ContainerOp::Remove`]).
async fn container_prune(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = parse_filters(&call.query)?;
    let label = filters.entry("label".into()).or_default();
    if label.iter().any(|l| l.starts_with("berth.")) {
        return Err(Refusal::forbidden(
            "labels starting with berth. are reserved",
        ));
    }
    label.extend(scope.names.owner_filters());
    filters.insert(
        "status".into(),
        vec!["created".into(), "exited".into(), "dead".into()],
    );
    let stopped = engine_list(scope, "/containers/json", &filters, true).await?;
    let mut deleted = Vec::new();
    for container in stopped.as_array().into_iter().flatten() {
        let Some(id) = container["Id"].as_str() else {
            continue;
        };
        let removed = scope
            .upstream()
            .call(Method::DELETE, &format!("/containers/{id}?v=1"), None)
            .await?;
        if removed.0.is_success() {
            deleted.push(Value::from(id));
        }
    }
    Ok(json_ok(
        json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}

async fn container_list(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let names = &scope.names;
    let mut filters = parse_filters(&call.query)?;
    let name_patterns = filters.remove("name").unwrap_or_default();
    for (key, map) in [
        (
            "network",
            &(|v: &str| names.network(v)) as &dyn Fn(&str) -> String,
        ),
        ("volume", &|v: &str| names.object(v)),
        ("before", &|v: &str| names.object(v)),
        ("since", &|v: &str| names.object(v)),
    ] {
        if let Some(values) = filters.get_mut(key) {
            for value in values.iter_mut() {
                if valid_name(value) {
                    *value = map(value);
                }
            }
        }
    }
    if let Some(ancestors) = filters.get_mut("ancestor") {
        let mut resolved = Vec::new();
        for ancestor in ancestors.iter() {
            resolved.push(
                resolve_image(scope, ancestor, Purpose::Look)
                    .await
                    .unwrap_or_else(|_| ancestor.clone()),
            );
        }
        *ancestors = resolved;
    }
    filters
        .entry("label".into())
        .or_default()
        .extend(names.owner_filters());
    let mut query = Query::default();
    for key in ["all", "limit", "size", "latest"] {
        if let Some(v) = call.query.get(key) {
            query.set(key, v);
        }
    }
    query.set("filters", encode_filters(&filters));
    let response = call
        .send(Method::GET, call.path_query("/containers/json", &query))
        .await?;
    json_response_with(scope, response, |list| {
        if let Value::Array(items) = list {
            items.retain(|c| {
                let name = c["Names"]
                    .as_array()
                    .and_then(|n| n.first())
                    .and_then(Value::as_str)
                    .and_then(|n| names.unprefix(n))
                    .unwrap_or_default();
                name_patterns.iter().all(|p| name_matches(p, name))
            });
            for item in items.iter_mut() {
                ports::show_in_list(item);
            }
        }
    })
    .await
}

async fn container_create(
    call: &Call<'_>,
    request: Request<Guarded>,
) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let raw = read_body(request, MAX_JSON_BODY as u64).await?;
    let plan = rewrite::create(
        &raw,
        call.query.get("name"),
        &scope.names,
        &scope.settings.policy,
    )?;
    let existing = list_containers(scope, true).await?;
    let quota = scope.settings.quotas.containers;
    if existing.len() >= quota {
        return Err(Refusal::forbidden(format!(
            "you already have {} containers, the most this sandbox allows; remove one with docker rm",
            existing.len()
        )));
    }
    let network_mode = plan.body["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap_or_default();
    if let Some(target) = network_mode.strip_prefix("container:") {
        // The engine checks only at start; the learner hears about a typo now.
        let learner_name = scope.names.unprefix(target).unwrap_or(target);
        resolve_container(scope, learner_name).await?;
    }
    let image = resolve_image(scope, &plan.image, Purpose::Use).await?;
    let mut body = plan.body;
    let mut publish = plan.publish;
    if plan.publish_all {
        let info = scope
            .upstream()
            .ok(Method::GET, &format!("/images/{image}/json"), None)
            .await?;
        let mut exposed: Vec<String> = info["Config"]["ExposedPorts"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(own) = body.get("ExposedPorts").and_then(Value::as_object) {
            exposed.extend(own.keys().cloned());
        }
        for port in exposed {
            let (container, proto) = rewrite::parse_port(&port)?;
            if !publish
                .iter()
                .any(|p| p.container == container && p.proto == proto)
            {
                publish.push(PortMap {
                    host: 0,
                    container,
                    proto,
                });
            }
        }
    }
    if !publish.is_empty() {
        ports::allocate(&mut publish, &existing);
        let exposed = body.entry("ExposedPorts").or_insert_with(|| json!({}));
        if let Value::Object(exposed) = exposed {
            for port in &publish {
                exposed.insert(format!("{}/{}", port.container, port.proto), json!({}));
            }
        }
        body["Labels"][LABEL_PUBLISH] = ports::encode(&publish).into();
    }
    for volume in &plan.volumes {
        ensure_volume(scope, volume).await?;
    }
    body.insert("Image".into(), image.into());
    let mut query = Query::default();
    query.set("name", scope.names.object(&plan.name));
    if plan.home.is_empty() {
        let response = call
            .forward_json(
                Method::POST,
                call.path_query("/containers/create", &query),
                &body,
            )
            .await?;
        return json_response(scope, response).await;
    }
    home::make_folders(scope, &plan.home).await?;
    let mut created = scope
        .upstream()
        .ok(
            Method::POST,
            &call.path_query("/containers/create", &query),
            Some(&Value::Object(body)),
        )
        .await?;
    let id = created["Id"].as_str().unwrap_or_default().to_owned();
    if let Err(refusal) = home::write_links(scope, &id, &plan.home).await {
        let _ = scope
            .upstream()
            .call(Method::DELETE, &format!("/containers/{id}?force=1"), None)
            .await;
        return Err(refusal);
    }
    scope.names.unscope(&mut created);
    let mut response = json_ok(created);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// The learner's named volume, made with berth's labels before a container mounts it (the
/// engine would otherwise make it without them).
async fn ensure_volume(scope: &Scope, engine_name: &str) -> Result<(), Refusal> {
    let (status, existing) = scope
        .upstream()
        .call(Method::GET, &format!("/volumes/{engine_name}"), None)
        .await?;
    if status.is_success() {
        if scope.names.owns(existing.get("Labels"))
            || existing["Labels"][LABEL_OWNER] == scope.names.learner()
        {
            return Ok(());
        }
        return Err(Refusal::forbidden("that volume name is taken"));
    }
    volume_quota(scope).await?;
    let mut body = Map::new();
    body.insert("Name".into(), engine_name.into());
    body.insert("Driver".into(), "local".into());
    body.insert("Labels".into(), Value::Object(scope.names.labels()));
    scope
        .upstream()
        .ok(Method::POST, "/volumes/create", Some(&Value::Object(body)))
        .await?;
    Ok(())
}

async fn volume_quota(scope: &Scope) -> Result<(), Refusal> {
    let list = engine_list(scope, "/volumes", &owned_by(scope), false).await?;
    let count = list["Volumes"].as_array().map_or(0, Vec::len);
    if count >= scope.settings.quotas.volumes {
        return Err(Refusal::forbidden(format!(
            "you already have {count} volumes, the most this sandbox allows; remove one with docker volume rm"
        )));
    }
    Ok(())
}

async fn container_op(
    call: &Call<'_>,
    reference: &str,
    op: ContainerOp,
    request: Request<Guarded>,
) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let container = resolve_container(scope, reference).await?;
    let id = container["Id"].as_str().unwrap_or_default().to_owned();
    let base = format!("/containers/{id}");
    let mut query = call.query.clone();
    let response = match op {
        ContainerOp::Inspect => {
            let response = call
                .send(Method::GET, call.path(&format!("{base}/json")))
                .await?;
            return json_response_with(scope, response, |container| {
                ports::show_in_inspect(container);
                home::show_in_inspect(container);
            })
            .await;
        }
        ContainerOp::Top | ContainerOp::Changes => {
            let part = if op == ContainerOp::Top {
                "top"
            } else {
                "changes"
            };
            let response = call
                .send(
                    Method::GET,
                    call.path_query(&format!("{base}/{part}"), &query),
                )
                .await?;
            return json_response(scope, response).await;
        }
        ContainerOp::Stats => {
            let response = call
                .send(
                    Method::GET,
                    call.path_query(&format!("{base}/stats"), &query),
                )
                .await?;
            let response = succeeded(response).await?;
            return lines_response(response, unscope_lines(scope), None);
        }
        ContainerOp::Logs => {
            let response = call
                .send(
                    Method::GET,
                    call.path_query(&format!("{base}/logs"), &query),
                )
                .await?;
            return passthrough(scope, response).await;
        }
        ContainerOp::ArchiveHead | ContainerOp::ArchiveGet => {
            let method = if op == ContainerOp::ArchiveHead {
                Method::HEAD
            } else {
                Method::GET
            };
            let response = call
                .send(method, call.path_query(&format!("{base}/archive"), &query))
                .await?;
            return passthrough(scope, response).await;
        }
        ContainerOp::ArchivePut => {
            let body =
                http_body_util::Limited::new(request.into_body(), MAX_UPLOAD as usize).boxed();
            let response = call
                .forward(
                    Method::PUT,
                    call.path_query(&format!("{base}/archive"), &query),
                    Some("application/x-tar"),
                    body,
                )
                .await?;
            return passthrough(scope, response).await;
        }
        ContainerOp::Attach => {
            return hijack(
                scope,
                request,
                call.path_query(&format!("{base}/attach"), &query),
            )
            .await;
        }
        ContainerOp::Exec => {
            let raw = read_body(request, MAX_JSON_BODY as u64).await?;
            let body = rewrite::exec(&raw)?;
            let response = call
                .forward_json(Method::POST, call.path(&format!("{base}/exec")), &body)
                .await?;
            return json_response(scope, response).await;
        }
        ContainerOp::Start => {
            ports::check_free(scope, &container).await?;
            call.send(Method::POST, call.path(&format!("{base}/start")))
                .await?
        }
        ContainerOp::Rename => {
            let new = query
                .get("name")
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned();
            if !valid_name(&new) {
                return Err(Refusal::bad_request(format!(
                    "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            query.set("name", scope.names.object(&new));
            let response = call
                .send(
                    Method::POST,
                    call.path_query(&format!("{base}/rename"), &query),
                )
                .await?;
            if response.status().is_success() {
                realias(scope, &id, &container, &new).await;
            }
            response
        }
        ContainerOp::Remove => {
            query.remove("link");
            // The volumes an image declares are made without a name or berth's labels: the
            // learner can neither see nor reuse them, so they go with their container.
            query.set("v", "1");
            call.send(Method::DELETE, call.path_query(&base, &query))
                .await?
        }
        ContainerOp::Wait => {
            let response = call
                .send(
                    Method::POST,
                    call.path_query(&format!("{base}/wait"), &query),
                )
                .await?;
            return passthrough(scope, response).await;
        }
        ContainerOp::Stop
        | ContainerOp::Restart
        | ContainerOp::Kill
        | ContainerOp::Pause
        | ContainerOp::Unpause
        | ContainerOp::Resize => {
            let part = match op {
                ContainerOp::Stop => "stop",
                ContainerOp::Restart => "restart",
                ContainerOp::Kill => "kill",
                ContainerOp::Pause => "pause",
                ContainerOp::Unpause => "unpause",
                _ => "resize",
            };
            call.send(
                Method::POST,
                call.path_query(&format!("{base}/{part}"), &query),
            )
            .await?
        }
    };
    let result = passthrough(scope, response).await;
    // The events watcher would catch this too, a moment later; syncing here means the port
    // forwarder is up before the CLI returns, so `curl localhost:8080` right after works.
    if op.changes_state() {
        ports::sync(scope).await;
    }
    result
}

/// After a rename, the learner's new name resolves on their networks (the old one stops).
async fn realias(scope: &Scope, id: &str, container: &Value, new: &str) {
    let networks: Vec<String> = container["NetworkSettings"]["Networks"]
        .as_object()
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    for network in networks {
        let disconnect = json!({"Container": id, "Force": true});
        let connect = json!({"Container": id, "EndpointConfig": {"Aliases": [new]}});
        let upstream = scope.upstream();
        let done = upstream
            .ok(
                Method::POST,
                &format!("/networks/{network}/disconnect"),
                Some(&disconnect),
            )
            .await
            .and(
                upstream
                    .ok(
                        Method::POST,
                        &format!("/networks/{network}/connect"),
                        Some(&connect),
                    )
                    .await,
            );
        if let Err(error) = done {
            tracing::debug!(error = %error.message, "could not move a renamed container's alias");
        }
    }
}

/// An exec belongs to the learner when its container does.
async fn exec_owned(call: &Call<'_>, id: &str) -> Result<(), Refusal> {
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found("exec instance", id));
    }
    let (status, exec) = call
        .scope
        .upstream()
        .call(Method::GET, &format!("/exec/{id}/json"), None)
        .await?;
    let container = exec["ContainerID"].as_str().unwrap_or_default();
    if !status.is_success() || container.is_empty() {
        return Err(not_found("exec instance", id));
    }
    match resolve_container(call.scope, container).await {
        Ok(found) if found["Id"] == container => Ok(()),
        _ => Err(not_found("exec instance", id)),
    }
}

// ---------------------------------------------------------------------------------------------
// Images

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Inspecting: the image must already be in the learner's view.
    Look,
    /// Running or building from it: an allowed public image on the host comes into view.
    Use,
}

fn valid_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= 512
        && reference.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/' | b':' | b'@')
        })
        && !reference
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
}

/// The tags of `image` in the learner's namespace (`berth-<learner>/…`).
fn own_tags(scope: &Scope, image: &Value) -> Vec<String> {
    let prefix = scope.names.image_prefix();
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

fn image_owned(scope: &Scope, image: &Value) -> bool {
    !own_tags(scope, image).is_empty()
        || image["Id"]
            .as_str()
            .is_some_and(|id| scope.built().contains(id))
}

/// Images in the learner's view: built or tagged by them, or public ones they pulled or used.
async fn visible_images(scope: &Scope) -> Result<Vec<Value>, Refusal> {
    let list = scope
        .upstream()
        .ok(Method::GET, "/images/json", None)
        .await?;
    let seen = scope.seen().clone();
    Ok(list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|image| {
            image_owned(scope, image) || image["Id"].as_str().is_some_and(|id| seen.contains(id))
        })
        .collect())
}

/// An image reference → the engine's reference for it in the learner's scope.
async fn resolve_image(
    scope: &Scope,
    reference: &str,
    purpose: Purpose,
) -> Result<String, Refusal> {
    if !valid_reference(reference) {
        return Err(Refusal::bad_request(format!(
            "invalid reference format: {reference}"
        )));
    }
    let id = reference.strip_prefix("sha256:").unwrap_or(reference);
    if id.len() >= 4
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        let visible = visible_images(scope).await?;
        let matches: Vec<&str> = visible
            .iter()
            .filter_map(|i| i["Id"].as_str())
            .filter(|full| full.trim_start_matches("sha256:").starts_with(id))
            .collect();
        if let [one] = matches.as_slice() {
            return Ok((*one).to_owned());
        }
    }
    if !reference.contains('@') {
        let own = scope.names.image(&with_tag(reference));
        let (status, _) = scope
            .upstream()
            .call(Method::GET, &format!("/images/{own}/json"), None)
            .await?;
        if status.is_success() {
            return Ok(own);
        }
    }
    let (status, info) = scope
        .upstream()
        .call(Method::GET, &format!("/images/{reference}/json"), None)
        .await?;
    let image_id = info["Id"].as_str().unwrap_or_default().to_owned();
    if !status.is_success() || image_id.is_empty() || reference.starts_with("berth") {
        return Err(not_found("image", reference));
    }
    if scope.seen().contains(&image_id) {
        return Ok(reference.to_owned());
    }
    // The lessons' images were pulled for the class: anyone may look at them, and then has them.
    if scope.settings.pulls.is_lesson_image(reference) {
        scope.seen().insert(image_id);
        return Ok(reference.to_owned());
    }
    if purpose == Purpose::Use {
        if !scope.settings.pulls.allows(reference) {
            return Err(pull_refusal(reference));
        }
        scope.seen().insert(image_id);
        return Ok(reference.to_owned());
    }
    Err(not_found("image", reference))
}

fn pull_refusal(reference: &str) -> Refusal {
    Refusal::forbidden(format!(
        "the image {reference} is not on this sandbox's list; it offers official images and the images its lessons use"
    ))
}

async fn mark_seen(scope: &Scope, reference: &str) -> bool {
    let Ok(info) = scope
        .upstream()
        .ok(Method::GET, &format!("/images/{reference}/json"), None)
        .await
    else {
        return false;
    };
    if let Some(id) = info["Id"].as_str() {
        scope.seen().insert(id.to_owned());
        return true;
    }
    false
}

async fn image_list(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = parse_filters(&call.query)?;
    if let Some(references) = filters.get_mut("reference") {
        let own: Vec<String> = references.iter().map(|r| scope.names.image(r)).collect();
        references.extend(own);
    }
    let mut query = Query::default();
    if call.query.flag("all") {
        query.set("all", "1");
    }
    if !filters.is_empty() {
        query.set("filters", encode_filters(&filters));
    }
    let response = call
        .send(Method::GET, call.path_query("/images/json", &query))
        .await?;
    let seen = scope.seen().clone();
    let owned = |image: &Value| image_owned(scope, image);
    let prefix = scope.names.image_prefix();
    json_response_with(scope, response, |list| {
        if let Value::Array(items) = list {
            items.retain(|image| {
                owned(image) || image["Id"].as_str().is_some_and(|id| seen.contains(id))
            });
            for image in items.iter_mut() {
                let public_seen = image["Id"].as_str().is_some_and(|id| seen.contains(id));
                if let Some(Value::Array(tags)) = image.get_mut("RepoTags") {
                    tags.retain(|t| {
                        t.as_str().is_some_and(|t| {
                            t.starts_with(&prefix) || (public_seen && !t.starts_with("berth"))
                        })
                    });
                    if tags.is_empty() {
                        tags.push("<none>:<none>".into());
                    }
                }
            }
        }
    })
    .await
}

async fn image_pull(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    if call.query.get("fromSrc").is_some() {
        return Err(Refusal::not_available("docker import"));
    }
    let image = call.query.get("fromImage").unwrap_or_default();
    let tag = call.query.get("tag").unwrap_or_default();
    let reference = match tag {
        "" => with_tag(image),
        t if t.starts_with("sha256:") => format!("{image}@{t}"),
        t => format!("{image}:{t}"),
    };
    if !valid_reference(&reference) || image.starts_with("berth") {
        return Err(Refusal::bad_request(format!(
            "invalid reference format: {reference}"
        )));
    }
    if !scope.settings.pulls.allows(&reference) {
        return Err(pull_refusal(&reference));
    }
    let mut query = Query::default();
    query.set("fromImage", image);
    if !tag.is_empty() {
        query.set("tag", tag);
    }
    if let Some(platform) = call.query.get("platform").filter(|p| !p.is_empty()) {
        query.set("platform", platform);
    }
    let response = call
        .send(Method::POST, call.path_query("/images/create", &query))
        .await?;
    let local = scope
        .upstream()
        .call(Method::GET, &format!("/images/{reference}/json"), None)
        .await
        .map(|(status, _)| status.is_success())
        .unwrap_or(false);
    if !response.status().is_success() {
        let refusal = engine_error(response).await;
        if local {
            mark_seen(scope, &reference).await;
            let lines = offline_lines(&reference, &refusal.message);
            return Ok(json_lines(lines));
        }
        return Err(refusal);
    }
    let unscope = unscope_lines(scope);
    let mut unscope = unscope;
    let reference_for_edit = reference.clone();
    let edit: LineEdit = Box::new(move |line: &str| {
        let is_error = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("errorDetail").or(v.get("error")).cloned())
            .is_some();
        if is_error && local {
            return offline_lines(&reference_for_edit, line);
        }
        unscope(line)
    });
    let finish_scope = scope.clone();
    let finish = async move {
        mark_seen(&finish_scope, &reference).await;
    }
    .boxed();
    lines_response(response, edit, Some(finish))
}

/// Offline classrooms: the registry cannot be reached, but the image is here already.
fn offline_lines(reference: &str, why: &str) -> Vec<String> {
    tracing::info!(reference, why, "pull failed; using the local copy");
    vec![
        json!({"status": format!("berth: the registry cannot be reached, so this uses the copy of {reference} already on this machine")}).to_string(),
        json!({"status": format!("Status: Image is up to date for {reference}")}).to_string(),
    ]
}

fn json_lines(lines: Vec<String>) -> Response<Body> {
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(full(text))
        .unwrap_or_else(|_| Response::new(empty()))
}

async fn image_tag(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let source = resolve_image(scope, reference, Purpose::Look).await?;
    let repo = call.query.get("repo").unwrap_or_default();
    let tag = call
        .query
        .get("tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    if !valid_repository(repo) {
        return Err(Refusal::forbidden(format!(
            "{repo:?} cannot be used as an image name here: use lowercase letters, digits, . _ - and /, without a registry (push is not available)"
        )));
    }
    if !valid_tag(tag) {
        return Err(Refusal::bad_request(format!("invalid tag {tag:?}")));
    }
    let mut query = Query::default();
    query.set("repo", scope.names.image(repo));
    query.set("tag", tag);
    let response = call
        .send(
            Method::POST,
            call.path_query(&format!("/images/{source}/tag"), &query),
        )
        .await?;
    succeeded(response).await?;
    Ok(Response::builder()
        .status(StatusCode::CREATED)
        .body(empty())
        .unwrap_or_else(|_| Response::new(empty())))
}

async fn image_remove(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let engine = resolve_image(scope, reference, Purpose::Look).await?;
    let info = scope
        .upstream()
        .ok(Method::GET, &format!("/images/{engine}/json"), None)
        .await?;
    let id = info["Id"].as_str().unwrap_or_default().to_owned();
    let prefix = scope.names.image_prefix();
    let own_tags = own_tags(scope, &info);
    let mut query = Query::default();
    for key in ["force", "noprune"] {
        if call.query.flag(key) {
            query.set(key, "1");
        }
    }
    let targets: Vec<String> = if engine.starts_with(&prefix) {
        vec![engine.clone()]
    } else if engine.starts_with("sha256:") && !own_tags.is_empty() {
        own_tags.clone()
    } else if engine.starts_with("sha256:") && scope.built().contains(&id) {
        vec![id.clone()]
    } else {
        Vec::new()
    };
    let mut answer = Vec::new();
    for target in targets {
        let response = call
            .send(
                Method::DELETE,
                call.path_query(&format!("/images/{target}"), &query),
            )
            .await?;
        let response = succeeded(response).await?;
        let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
            .await
            .unwrap_or_default();
        if let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(&bytes) {
            answer.extend(items);
        }
    }
    // A public image leaves the learner's view; the shared copy stays for everyone else. As
    // with the engine, not while one of their containers uses it (unless forced).
    if !engine.starts_with(&prefix) && !call.query.flag("force") {
        let user = list_containers(scope, true)
            .await?
            .into_iter()
            .find(|c| c["ImageID"] == id.as_str());
        if let Some(user) = user {
            let container: String = user["Id"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(12)
                .collect();
            return Err(Refusal {
                status: 409,
                message: format!(
                    "conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {}",
                    id.trim_start_matches("sha256:")
                        .chars()
                        .take(12)
                        .collect::<String>()
                ),
            });
        }
    }
    let was_seen = scope.seen().remove(&id);
    if was_seen && !engine.starts_with(&prefix) {
        let shown = if engine.starts_with("sha256:") {
            id.clone()
        } else {
            with_tag(&engine)
        };
        answer.push(json!({"Untagged": shown}));
    }
    if answer.is_empty() {
        return Err(not_found("image", reference));
    }
    let mut value = Value::Array(answer);
    scope.names.unscope(&mut value);
    Ok(json_ok(value))
}

async fn image_prune(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let filters = parse_filters(&call.query)?;
    // `docker image prune -a` sends dangling=false: every image no container uses.
    let all = filters
        .get("dangling")
        .is_some_and(|d| d.iter().any(|v| v == "false" || v == "0"));
    let used: Vec<String> = list_containers(scope, true)
        .await?
        .iter()
        .filter_map(|c| c["ImageID"].as_str().map(str::to_owned))
        .collect();
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for image in visible_images(scope).await? {
        let id = image["Id"].as_str().unwrap_or_default().to_owned();
        if used.contains(&id) || !image_owned(scope, &image) {
            continue;
        }
        let own_tags = own_tags(scope, &image);
        let dangling = own_tags.is_empty();
        if !dangling && !all {
            continue;
        }
        let targets = if dangling { vec![id.clone()] } else { own_tags };
        for target in targets {
            if let Ok(Value::Array(items)) = scope
                .upstream()
                .ok(Method::DELETE, &format!("/images/{target}"), None)
                .await
            {
                if items.iter().any(|i| i.get("Deleted").is_some()) {
                    reclaimed += image["Size"].as_u64().unwrap_or(0);
                }
                deleted.extend(items);
            }
        }
    }
    if all {
        scope.seen().retain(|id| used.contains(id));
    }
    let mut value = json!({"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed});
    scope.names.unscope(&mut value);
    Ok(json_ok(value))
}

async fn build(call: &Call<'_>, request: Request<Guarded>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let policy = &scope.settings.policy;
    let q = &call.query;
    if q.get("version").is_some_and(|v| v == "2") {
        return Err(Refusal::not_available(
            "BuildKit (the classic builder is used instead)",
        ));
    }
    for (key, what) in [
        ("remote", "building from a remote context"),
        ("outputs", "build outputs"),
    ] {
        if q.get(key).is_some_and(|v| !v.is_empty()) {
            return Err(Refusal::not_available(what));
        }
    }
    let mut query = Query::default();
    let mut tags = Vec::new();
    for t in q.all("t") {
        let (repo, tag) = split_tag(t);
        if !valid_repository(repo) || !valid_tag(tag) {
            return Err(Refusal::forbidden(format!(
                "{t:?} cannot be used as an image name here: use lowercase letters, digits, . _ - and /, without a registry"
            )));
        }
        tags.push(scope.names.image(&format!("{repo}:{tag}")));
    }
    query.set_all("t", tags);
    // berth's labels are not added: the classic builder would show them as extra steps. The
    // learner's images are known by their tags, and untagged ones by the id the build reports.
    if let Some(labels) = q.get("labels").filter(|l| !l.is_empty()) {
        let labels = super::json::parse_object(labels.as_bytes())?;
        if labels
            .keys()
            .any(|k| k.to_ascii_lowercase().starts_with("berth."))
        {
            return Err(Refusal::forbidden(
                "labels starting with berth. are reserved",
            ));
        }
        query.set("labels", Value::Object(labels).to_string());
    }
    let network = match q.get("networkmode").unwrap_or_default() {
        "" | "default" | "bridge" if policy.allow_egress => "default",
        "" | "default" | "bridge" | "none" => "none",
        other => {
            return Err(Refusal::not_available(&format!(
                "docker build --network {other}"
            )));
        }
    };
    query.set("networkmode", network);
    query.set("memory", policy.memory_bytes.to_string());
    query.set("memswap", policy.memory_bytes.to_string());
    for key in [
        "dockerfile",
        "q",
        "nocache",
        "rm",
        "forcerm",
        "buildargs",
        "target",
        "platform",
        "cpushares",
    ] {
        if let Some(v) = q.get(key) {
            query.set(key, v);
        }
    }
    let dockerfile = q
        .get("dockerfile")
        .filter(|d| !d.is_empty())
        .unwrap_or("Dockerfile")
        .to_owned();
    let body = read_body(request, MAX_UPLOAD).await?;
    let context = images::open_context(&body, MAX_UPLOAD * 4)?;
    let text = images::find_dockerfile(&context, &dockerfile)?;
    let mut replacements = Vec::new();
    for base in images::base_images(&text)? {
        match resolve_image(scope, &base.reference, Purpose::Use).await {
            Ok(engine) if engine != base.reference => replacements.push((base, engine)),
            Ok(_) => {}
            // Not on this host yet: the classic builder pulls it, if the list allows.
            Err(refusal)
                if refusal.status == 404 && scope.settings.pulls.allows(&base.reference) => {}
            Err(refusal) => return Err(refusal),
        }
    }
    let context = if replacements.is_empty() {
        context
    } else {
        let rewritten = images::rewrite_dockerfile(&text, &replacements);
        images::replace_dockerfile(&context, &dockerfile, &rewritten)?
    };
    let response = call
        .forward(
            Method::POST,
            call.path_query("/build", &query),
            Some("application/x-tar"),
            full(context),
        )
        .await?;
    let response = succeeded(response).await?;
    let mut unscope = unscope_lines(scope);
    let built = scope.clone();
    let edit: LineEdit = Box::new(move |line: &str| {
        if let Some(id) = built_image_id(line) {
            built.built().insert(id);
        }
        unscope(line)
    });
    lines_response(response, edit, None)
}

/// The image id a classic build reports at its end (`{"aux":{"ID":"sha256:…"}}`).
fn built_image_id(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    value["aux"]["ID"].as_str().map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Networks

struct NetworkRef {
    id: String,
    name: String,
}

async fn list_networks(scope: &Scope) -> Result<Vec<Value>, Refusal> {
    let list = engine_list(scope, "/networks", &owned_by(scope), false).await?;
    Ok(list.as_array().cloned().unwrap_or_default())
}

async fn resolve_network(scope: &Scope, reference: &str) -> Result<NetworkRef, Refusal> {
    let networks = list_networks(scope).await?;
    let engine_name = scope.names.network(reference);
    let found = networks
        .iter()
        .find(|n| n["Name"] == engine_name.as_str())
        .or_else(|| networks.iter().find(|n| n["Id"] == reference))
        .or_else(|| {
            let hex = reference.len() >= 3 && reference.bytes().all(|b| b.is_ascii_hexdigit());
            let matches: Vec<&Value> = networks
                .iter()
                .filter(|n| hex && n["Id"].as_str().is_some_and(|id| id.starts_with(reference)))
                .collect();
            (matches.len() == 1).then(|| matches[0])
        });
    match found {
        Some(network) => Ok(NetworkRef {
            id: network["Id"].as_str().unwrap_or_default().to_owned(),
            name: network["Name"].as_str().unwrap_or_default().to_owned(),
        }),
        None => Err(Refusal {
            status: 404,
            message: format!("network {reference} not found"),
        }),
    }
}

async fn network_list(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = parse_filters(&call.query)?;
    if let Some(names) = filters.get_mut("name") {
        for name in names.iter_mut() {
            *name = scope.names.network(name);
        }
    }
    filters
        .entry("label".into())
        .or_default()
        .push(scope.names.owner_label());
    let mut query = Query::default();
    query.set("filters", encode_filters(&filters));
    let response = call
        .send(Method::GET, call.path_query("/networks", &query))
        .await?;
    json_response(scope, response).await
}

async fn network_create(
    call: &Call<'_>,
    request: Request<Guarded>,
) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let raw = read_body(request, MAX_JSON_BODY as u64).await?;
    let (_, body) = rewrite::network_create(&raw, &scope.names, &scope.settings.policy)?;
    let own = list_networks(scope).await?.len().saturating_sub(1);
    if own >= scope.settings.quotas.networks {
        return Err(Refusal::forbidden(format!(
            "you already have {own} networks, the most this sandbox allows; remove one with docker network rm"
        )));
    }
    let response = call
        .forward_json(Method::POST, call.path("/networks/create"), &body)
        .await?;
    let response = succeeded(response).await?;
    let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
        .await
        .unwrap_or_default();
    let mut created: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    // The workstation joins every network of the learner, so published ports reach them.
    if let (Some(workstation), Some(id)) = (scope.workstation.get(), created["Id"].as_str()) {
        let connect = json!({"Container": workstation});
        if let Err(error) = scope
            .upstream()
            .ok(
                Method::POST,
                &format!("/networks/{id}/connect"),
                Some(&connect),
            )
            .await
        {
            tracing::warn!(error = %error.message, "could not connect the workstation to a network");
        }
    }
    scope.names.unscope(&mut created);
    Ok(Response::builder()
        .status(StatusCode::CREATED)
        .header(CONTENT_TYPE, "application/json")
        .body(full(created.to_string()))
        .unwrap_or_else(|_| Response::new(empty())))
}

async fn network_remove(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let network = resolve_network(scope, reference).await?;
    if network.name == scope.names.bridge() {
        return Err(Refusal::forbidden(
            "bridge is a pre-defined network and cannot be removed",
        ));
    }
    if let Some(workstation) = scope.workstation.get() {
        let disconnect = json!({"Container": workstation, "Force": true});
        let _ = scope
            .upstream()
            .call(
                Method::POST,
                &format!("/networks/{}/disconnect", network.id),
                Some(&disconnect),
            )
            .await;
    }
    let response = call
        .send(
            Method::DELETE,
            call.path(&format!("/networks/{}", network.id)),
        )
        .await?;
    passthrough(scope, response).await
}

async fn network_prune(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut deleted = Vec::new();
    for network in list_networks(scope).await? {
        let name = network["Name"].as_str().unwrap_or_default();
        if name == scope.names.bridge() {
            continue;
        }
        let id = network["Id"].as_str().unwrap_or_default();
        let detail = scope
            .upstream()
            .ok(Method::GET, &format!("/networks/{id}"), None)
            .await?;
        let in_use = detail["Containers"].as_object().is_some_and(|members| {
            members.values().any(|m| {
                m["Name"]
                    .as_str()
                    .is_some_and(|n| !n.starts_with("berth-ws-"))
            })
        });
        if in_use {
            continue;
        }
        if let Some(workstation) = scope.workstation.get() {
            let disconnect = json!({"Container": workstation, "Force": true});
            let _ = scope
                .upstream()
                .call(
                    Method::POST,
                    &format!("/networks/{id}/disconnect"),
                    Some(&disconnect),
                )
                .await;
        }
        if scope
            .upstream()
            .ok(Method::DELETE, &format!("/networks/{id}"), None)
            .await
            .is_ok()
        {
            deleted.push(Value::from(name));
        }
    }
    let mut value = json!({"NetworksDeleted": deleted});
    scope.names.unscope(&mut value);
    Ok(json_ok(value))
}

async fn network_connect(
    call: &Call<'_>,
    reference: &str,
    request: Request<Guarded>,
    connect: bool,
) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let network = resolve_network(scope, reference).await?;
    let body = read_json(request).await?;
    let container_ref = super::json::get(&body, "Container")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let container = resolve_container(scope, container_ref).await?;
    let id = container["Id"].as_str().unwrap_or_default();
    let out = if connect {
        let name = learner_name(scope, &container).unwrap_or_default();
        let mut aliases = vec![Value::from(name)];
        let given = super::json::get(&body, "EndpointConfig")
            .and_then(Value::as_object)
            .and_then(|e| super::json::get(e, "Aliases"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for alias in given {
            match alias.as_str() {
                Some(a) if valid_name(a) => aliases.push(alias.clone()),
                _ => return Err(Refusal::bad_request(format!("invalid alias {alias}"))),
            }
        }
        json!({"Container": id, "EndpointConfig": {"Aliases": aliases}})
    } else {
        let force = super::json::get(&body, "Force").is_some_and(|f| f.as_bool() == Some(true));
        json!({"Container": id, "Force": force})
    };
    let part = if connect { "connect" } else { "disconnect" };
    let response = call
        .forward_json(
            Method::POST,
            call.path(&format!("/networks/{}/{part}", network.id)),
            out.as_object().unwrap_or(&Map::new()),
        )
        .await?;
    passthrough(scope, response).await
}

// ---------------------------------------------------------------------------------------------
// Clean-up

/// Removes every object of the learner (not their workstation and default network, which the
/// backend removes after).
pub(super) async fn remove_everything(scope: &Scope) -> Result<(), Refusal> {
    let upstream = scope.upstream();
    for container in list_containers(scope, true).await? {
        if let Some(id) = container["Id"].as_str() {
            let _ = upstream
                .call(
                    Method::DELETE,
                    &format!("/containers/{id}?force=1&v=1"),
                    None,
                )
                .await;
        }
    }
    for network in list_networks(scope).await? {
        let name = network["Name"].as_str().unwrap_or_default();
        let id = network["Id"].as_str().unwrap_or_default();
        if name == scope.names.bridge() {
            continue;
        }
        if let Some(workstation) = scope.workstation.get() {
            let disconnect = json!({"Container": workstation, "Force": true});
            let _ = upstream
                .call(
                    Method::POST,
                    &format!("/networks/{id}/disconnect"),
                    Some(&disconnect),
                )
                .await;
        }
        let _ = upstream
            .call(Method::DELETE, &format!("/networks/{id}"), None)
            .await;
    }
    let volumes = engine_list(scope, "/volumes", &owned_by(scope), false).await?;
    for volume in volumes["Volumes"].as_array().cloned().unwrap_or_default() {
        if let Some(name) = volume["Name"].as_str() {
            let _ = upstream
                .call(Method::DELETE, &format!("/volumes/{name}?force=1"), None)
                .await;
        }
    }
    let images = upstream.ok(Method::GET, "/images/json", None).await?;
    for image in images.as_array().cloned().unwrap_or_default() {
        for tag in own_tags(scope, &image) {
            let _ = upstream
                .call(Method::DELETE, &format!("/images/{tag}"), None)
                .await;
        }
        if let Some(id) = image["Id"]
            .as_str()
            .filter(|id| scope.built().contains(*id))
        {
            let _ = upstream
                .call(Method::DELETE, &format!("/images/{id}?force=1"), None)
                .await;
        }
    }
    Ok(())
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
        let filters = parse_filters(&query).unwrap();
        assert_eq!(filters["label"], ["a=b"]);
        assert_eq!(filters["name"], ["web"]);
        assert_eq!(
            encode_filters(&filters),
            r#"{"label":{"a=b":true},"name":{"web":true}}"#
        );
        query.set("filters", r#"{"label":["a"],"LABEL":["b"]}"#);
        assert!(parse_filters(&query).is_err());
    }
}
