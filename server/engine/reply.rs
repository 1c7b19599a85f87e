//! What goes back to the learner: the engine's answers rewritten into their names (whole JSON
//! documents, streams of JSON lines, raw streams), berth's own answers, and refusals.
//! Headers are berth's: only the content type and the API version pass, never `Server`.

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::names::Names;
use super::refusal::Refusal;
use super::wire::unread::Guarded;
use super::wire::{Body, BoxError, MAX_ENGINE_JSON, empty, full, read_limited};

/// JSON request bodies (create, exec, network and volume bodies) are at most this big.
pub const MAX_JSON_BODY: usize = 1 << 20;

pub fn refusal_response(names: &Names, refusal: Refusal) -> Response<Body> {
    let message = names.unscope_text(&refusal.message);
    let body = json!({ "message": message }).to_string();
    Response::builder()
        .status(StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST))
        .header(CONTENT_TYPE, "application/json")
        .body(full(body))
        .unwrap_or_else(|_| Response::new(empty()))
}

pub fn json_ok(value: Value) -> Response<Body> {
    json_status(StatusCode::OK, value)
}

pub fn json_status(status: StatusCode, value: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(full(value.to_string()))
        .unwrap_or_else(|_| Response::new(empty()))
}

pub fn no_content(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(empty())
        .unwrap_or_else(|_| Response::new(empty()))
}

/// The headers the learner gets from an engine answer.
fn builder_from(from: &Response<Incoming>, keep_length: bool) -> hyper::http::response::Builder {
    let mut builder = Response::builder().status(from.status());
    for name in [CONTENT_TYPE, CONTENT_LENGTH] {
        if name == CONTENT_LENGTH && !keep_length {
            continue;
        }
        if let Some(value) = from.headers().get(&name) {
            builder = builder.header(name, value);
        }
    }
    if let Some(version) = from.headers().get("api-version") {
        builder = builder.header("Api-Version", version);
    }
    builder
}

/// Reads a request body up to `limit` bytes (refused with 413 past it).
pub async fn read_body(request: Request<Guarded>, limit: u64) -> Result<Bytes, Refusal> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        request.into_body().discard();
        return Err(Refusal::too_large(limit));
    }
    read_limited(request.into_body(), limit as usize)
        .await
        .map_err(|error| {
            if error.is::<http_body_util::LengthLimitError>() {
                Refusal::too_large(limit)
            } else {
                Refusal::bad_request(format!("berth: could not read the request body: {error}"))
            }
        })
}

/// A JSON object body (an empty body is an empty object).
pub async fn read_json(request: Request<Guarded>) -> Result<Map<String, Value>, Refusal> {
    let bytes = read_body(request, MAX_JSON_BODY as u64).await?;
    Ok(super::wire::json::parse_object(&bytes)?)
}

/// An engine error, its message as the engine wrote it (rewritten on the way out).
pub async fn engine_error(response: Response<Incoming>) -> Refusal {
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

/// The engine's answer when it succeeded; its error when not.
pub async fn succeeded(response: Response<Incoming>) -> Result<Response<Incoming>, Refusal> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(engine_error(response).await)
    }
}

/// A raw stream passed on as it comes (logs, archives, waits): no names in it to rewrite.
pub async fn passthrough(response: Response<Incoming>) -> Result<Response<Body>, Refusal> {
    let response = succeeded(response).await?;
    let mut builder = builder_from(&response, true);
    for name in ["x-docker-container-path-stat"] {
        if let Some(value) = response.headers().get(name) {
            builder = builder.header(name, value);
        }
    }
    let body = response
        .into_body()
        .map_err(|e| -> BoxError { e.into() })
        .boxed();
    builder
        .body(body)
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

/// A JSON answer, read whole and rewritten for the learner.
pub async fn json_response(
    names: &Names,
    response: Response<Incoming>,
) -> Result<Response<Body>, Refusal> {
    json_response_with(names, response, |_| {}).await
}

pub async fn json_response_with(
    names: &Names,
    response: Response<Incoming>,
    edit: impl FnOnce(&mut Value),
) -> Result<Response<Body>, Refusal> {
    let response = succeeded(response).await?;
    let builder = builder_from(&response, false);
    let bytes = read_limited(response.into_body(), MAX_ENGINE_JSON)
        .await
        .map_err(|e| Refusal {
            status: 502,
            message: format!("berth: reading the engine's answer: {e}"),
        })?;
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut value) => {
            edit(&mut value);
            names.unscope(&mut value);
            Bytes::from(value.to_string())
        }
        Err(_) => Bytes::from(names.unscope_text(&String::from_utf8_lossy(&bytes))),
    };
    builder
        .body(full(body))
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

/// Rewrites one line of a stream into zero or more lines for the learner.
pub type LineEdit = Box<dyn FnMut(&str) -> Vec<String> + Send>;

/// A stream of JSON lines (events, stats, pull and build progress), each line rewritten as it
/// passes; `finish` runs when the stream ends and may add last lines.
pub fn lines_response(
    response: Response<Incoming>,
    mut edit: LineEdit,
    finish: Option<BoxFuture<'static, Vec<String>>>,
) -> Result<Response<Body>, Refusal> {
    let builder = builder_from(&response, false);
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
        let mut client_gone = false;
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
                client_gone = true;
                break;
            }
        }
        let mut out = send_lines(&mut pending, &mut edit, true);
        if let Some(finish) = finish {
            for line in finish.await {
                out.push_str(&line);
                out.push_str("\r\n");
            }
        }
        if !out.is_empty() && !client_gone {
            let _ = tx
                .send(Ok(hyper::body::Frame::data(Bytes::from(out))))
                .await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let body = http_body_util::StreamBody::new(stream).boxed();
    builder
        .body(body)
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

/// Lines berth writes itself, as a finished stream.
pub fn json_lines(lines: Vec<String>) -> Response<Body> {
    let mut text = lines.join("\r\n");
    text.push_str("\r\n");
    Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(full(text))
        .unwrap_or_else(|_| Response::new(empty()))
}

/// Each JSON line rewritten into the learner's names.
pub fn unscope_lines(names: &Names) -> LineEdit {
    let names = names.clone();
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
