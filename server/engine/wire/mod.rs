//! The one client berth speaks to the real engine with: HTTP/1.1 over hyper, one fresh
//! connection per request, so a learner's request never shares a connection (or its framing)
//! with another's. Workstations, shells, checks and the scoped engine all go through it.

pub mod json;
pub mod unread;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};

use super::refusal::Refusal;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type Body = BoxBody<Bytes, BoxError>;

/// JSON the engine answers with is read up to this size (an image list of a busy host fits).
pub const MAX_ENGINE_JSON: usize = 32 << 20;

/// A call berth makes and reads itself gives up after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Connecting to the engine's socket takes no time at all when the engine is there.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|e| match e {}).boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

/// Where the Docker engine listens.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

impl Endpoint {
    /// `DOCKER_HOST` (`unix://…` or `tcp://…`), else the engine's usual socket.
    pub fn from_env() -> Endpoint {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if host.starts_with("tcp://") => {
                Endpoint::Tcp(host.trim_start_matches("tcp://").to_owned())
            }
            Ok(host) if host.starts_with("unix://") => {
                Endpoint::Unix(PathBuf::from(host.trim_start_matches("unix://")))
            }
            _ => Endpoint::Unix(PathBuf::from("/var/run/docker.sock")),
        }
    }

    pub async fn connect(&self) -> std::io::Result<Box<dyn Duplex>> {
        let connect = async {
            Ok::<Box<dyn Duplex>, std::io::Error>(match self {
                Endpoint::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
                Endpoint::Tcp(address) => Box::new(tokio::net::TcpStream::connect(address).await?),
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
    }
}

/// An upgraded connection (attach, exec with a terminal): raw bytes both ways.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

#[derive(Debug, Clone)]
pub struct Upstream {
    endpoint: Endpoint,
}

impl Upstream {
    pub fn new(endpoint: Endpoint) -> Upstream {
        Upstream { endpoint }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Sends one request on a new connection. Upgrades (attach, exec) work on the response.
    pub async fn send(&self, mut request: Request<Body>) -> Result<Response<Incoming>, Refusal> {
        request
            .headers_mut()
            .insert(HOST, hyper::header::HeaderValue::from_static("docker"));
        let stream = self
            .endpoint
            .connect()
            .await
            .map_err(Refusal::engine_unreachable)?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Refusal::engine_unreachable)?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "engine connection ended");
            }
        });
        sender
            .send_request(request)
            .await
            .map_err(Refusal::engine_unreachable)
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
        self.exchange(builder.body(body).map_err(Refusal::engine_unreachable)?)
            .await
    }

    /// Sends, and reads the answer as JSON (Null when it is not).
    async fn exchange(&self, request: Request<Body>) -> Result<(StatusCode, Value), Refusal> {
        let exchange = async {
            let response = self.send(request).await?;
            let status = response.status();
            let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
                .await
                .map_err(Refusal::engine_unreachable)?;
            Ok((
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ))
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .map_err(|_| Refusal::engine_unreachable("timed out"))?
    }

    /// Unpacks a tar into a container (`PUT /containers/{id}/archive`).
    pub async fn upload(&self, path_and_query: &str, archive: Vec<u8>) -> Result<(), Refusal> {
        let request = Request::builder()
            .method(Method::PUT)
            .uri(path_and_query)
            .header(CONTENT_TYPE, "application/x-tar")
            .body(full(archive))
            .map_err(Refusal::engine_unreachable)?;
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

    /// A removal, where "no such object" counts as done.
    pub async fn remove(&self, path: &str) -> Result<(), Refusal> {
        match self.ok(Method::DELETE, path, None).await {
            Ok(_) => Ok(()),
            Err(refusal) if refusal.is_not_found() => Ok(()),
            Err(refusal) => Err(refusal),
        }
    }

    /// Starts an upgraded exchange (`/exec/{id}/start`, `/containers/{id}/attach`) and hands
    /// back the raw stream. `Err` carries the engine's answer when it did not upgrade.
    pub async fn upgrade(&self, path: &str, body: &Value) -> Result<Upgraded, Refusal> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(CONTENT_TYPE, "application/json")
            .header(CONNECTION, "Upgrade")
            .header(UPGRADE, "tcp")
            .body(full(body.to_string()))
            .map_err(Refusal::engine_unreachable)?;
        let response = self.send(request).await?;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
                .await
                .unwrap_or_default();
            let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            return Err(ok_or_refused(status, value).err().unwrap_or(Refusal {
                status: status.as_u16(),
                message: "the engine did not start the stream".to_owned(),
            }));
        }
        let upgraded = hyper::upgrade::on(response)
            .await
            .map_err(Refusal::engine_unreachable)?;
        Ok(TokioIo::new(upgraded))
    }
}

/// The engine's answer, or its error as a refusal carrying the engine's message.
pub fn ok_or_refused(status: StatusCode, value: Value) -> Result<Value, Refusal> {
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

/// `path?query` with the query encoded from pairs (values are never passed through raw).
pub fn path_with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    format!("{path}?{}", query.finish())
}
