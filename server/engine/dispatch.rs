//! Route → handler. Each request passes the allowlist ([`super::route`]), then the handler of
//! its resource family resolves, gates, rewrites and forwards it.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response};
use serde_json::{Map, Value};

use super::refusal::Refusal;
use super::reply;
use super::route::{self, Query, Route, RouteError};
use super::server::Scope;
use super::wire::unread::{Guarded, Leftover};
use super::wire::{Body, empty, full};

pub async fn handle(scope: &Arc<Scope>, request: Request<Incoming>) -> Response<Body> {
    let leftover = Leftover::default();
    let request = request.map(|body| leftover.guard(body));
    let response = match dispatch(scope, request).await {
        Ok(response) => response,
        Err(refusal) => reply::refusal_response(scope.names(), refusal),
    };
    leftover.drain();
    response
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

/// The request in hand: the learner's scope, their API version prefix and decoded query.
pub struct Call<'a> {
    pub scope: &'a Arc<Scope>,
    pub version: String,
    pub query: Query,
}

impl Call<'_> {
    /// `/v1.41{rest}`.
    pub fn path(&self, rest: &str) -> String {
        format!("{}{rest}", self.version)
    }

    /// `/v1.41{rest}?{query}`, the query re-encoded from berth's own values.
    pub fn path_query(&self, rest: &str, query: &Query) -> String {
        let encoded = query.encode();
        if encoded.is_empty() {
            self.path(rest)
        } else {
            format!("{}?{encoded}", self.path(rest))
        }
    }

    /// The learner's values for `keys` only: every other parameter is dropped.
    pub fn pass(&self, keys: &[&str]) -> Query {
        let mut query = Query::default();
        for key in keys {
            if let Some(value) = self.query.get(key) {
                query.set(key, value);
            }
        }
        query
    }

    pub async fn forward(
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
    pub async fn send(&self, method: Method, path: String) -> Result<Response<Incoming>, Refusal> {
        self.forward(method, path, None, empty()).await
    }

    /// A JSON body berth built.
    pub async fn forward_json(
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
    use super::{build, containers, exec, images, networks, system, volumes};
    match matched.route {
        Route::Ping => system::ping(&call, request.method().clone()).await,
        Route::Version => system::version(&call).await,
        Route::Info => system::info(&call).await,
        Route::Events => system::events(&call).await,
        Route::ContainerList => containers::list(&call).await,
        Route::ContainerCreate => containers::create(&call, request).await,
        Route::ContainerPrune => containers::prune(&call).await,
        Route::Container(reference, op) => containers::op(&call, &reference, op, request).await,
        Route::ExecStart(id) => exec::start(&call, &id, request).await,
        Route::ExecResize(id) => exec::resize(&call, &id).await,
        Route::ExecInspect(id) => exec::inspect(&call, &id).await,
        Route::ImageList => images::list(&call).await,
        Route::ImagePull => images::pull(&call).await,
        Route::ImagePrune => images::prune(&call).await,
        Route::ImageInspect(reference) => images::inspect(&call, &reference).await,
        Route::ImageHistory(reference) => images::history(&call, &reference).await,
        Route::ImageTag(reference) => images::tag(&call, &reference).await,
        Route::ImageRemove(reference) => images::remove(&call, &reference).await,
        Route::Build => build::build(&call, request).await,
        Route::BuildPrune => Ok(reply::json_ok(
            serde_json::json!({"CachesDeleted": [], "SpaceReclaimed": 0}),
        )),
        Route::VolumeList => volumes::list(&call).await,
        Route::VolumeCreate => volumes::create(&call, request).await,
        Route::VolumePrune => volumes::prune(&call).await,
        Route::VolumeInspect(name) => volumes::inspect(&call, &name).await,
        Route::VolumeRemove(name) => volumes::remove(&call, &name).await,
        Route::NetworkList => networks::list(&call).await,
        Route::NetworkCreate => networks::create(&call, request).await,
        Route::NetworkPrune => networks::prune(&call).await,
        Route::NetworkInspect(reference) => networks::inspect(&call, &reference).await,
        Route::NetworkRemove(reference) => networks::remove(&call, &reference).await,
        Route::NetworkConnect(reference) => {
            networks::connect(&call, &reference, request, true).await
        }
        Route::NetworkDisconnect(reference) => {
            networks::connect(&call, &reference, request, false).await
        }
        Route::PluginInspect(name) => Err(Refusal {
            status: 404,
            message: format!("plugin {name} not found"),
        }),
    }
}

/// A `201 Created` with a JSON body.
pub fn created(value: Value) -> Response<Body> {
    reply::json_status(hyper::StatusCode::CREATED, value)
}
