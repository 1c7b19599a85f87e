//! The real engine, spoken to over HTTP/1.1 with hyper: one fresh connection per request, so
//! a learner's request can never share a connection (or its framing) with another's.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::rewrite::Refusal;
use crate::sandbox::docker::Endpoint;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

/// JSON the engine answers with is read up to this size (an image list of a busy host fits).
pub const MAX_ENGINE_JSON: usize = 32 << 20;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

#[derive(Debug, Clone)]
pub struct Upstream {
    endpoint: Endpoint,
}

fn unreachable(error: impl std::fmt::Display) -> Refusal {
    Refusal {
        status: 502,
        message: format!("berth: the Docker engine is not answering: {error}"),
    }
}

impl Upstream {
    pub fn new(endpoint: Endpoint) -> Upstream {
        Upstream { endpoint }
    }

    /// Sends one request on a new connection. Upgrades (attach, exec) work on the response.
    pub async fn send(&self, mut request: Request<Body>) -> Result<Response<Incoming>, Refusal> {
        request
            .headers_mut()
            .insert(HOST, hyper::header::HeaderValue::from_static("docker"));
        let stream = self.endpoint.connect().await.map_err(unreachable)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(unreachable)?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "engine connection ended");
            }
        });
        sender.send_request(request).await.map_err(unreachable)
    }

    /// A request whose answer berth reads itself: status and JSON (Null when the body is not).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Refusal> {
        let mut builder = Request::builder().method(method).uri(path);
        let body = match body {
            Some(value) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                full(value.to_string())
            }
            None => empty(),
        };
        self.exchange(builder.body(body).map_err(unreachable)?)
            .await
    }

    /// Sends, and reads the answer as JSON (Null when it is not).
    async fn exchange(&self, request: Request<Body>) -> Result<(StatusCode, Value), Refusal> {
        let response = tokio::time::timeout(Duration::from_secs(120), self.send(request))
            .await
            .map_err(|_| unreachable("timed out"))??;
        let status = response.status();
        let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
            .await
            .map_err(unreachable)?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Unpacks a tar into a container (`PUT /containers/{id}/archive`).
    pub async fn upload(&self, path_and_query: &str, archive: Vec<u8>) -> Result<(), Refusal> {
        let request = Request::builder()
            .method(Method::PUT)
            .uri(path_and_query)
            .header(CONTENT_TYPE, "application/x-tar")
            .body(full(archive))
            .map_err(unreachable)?;
        let (status, value) = self.exchange(request).await?;
        ok_or_refused(status, value).map(drop)
    }

    /// Like [`Upstream::call`], but an engine error becomes a refusal carrying its message.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, Refusal> {
        let (status, value) = self.call(method, path, body).await?;
        ok_or_refused(status, value)
    }
}

/// The engine's answer, or its error as a refusal carrying the engine's message.
fn ok_or_refused(status: StatusCode, value: Value) -> Result<Value, Refusal> {
    if status.is_success() {
        return Ok(value);
    }
    Err(Refusal {
        status: status.as_u16(),
        message: value
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the engine refused")
            .to_owned(),
    })
}

/// Reads a whole body, failing once it passes `limit` bytes.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, BoxError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, limit);
    Ok(limited.collect().await?.to_bytes())
}
