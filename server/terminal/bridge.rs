//! One terminal socket: checks who is asking, finds (or starts) the learner's sandbox and the
//! tab's shell, then runs two loops: browser → shell in this task, shell → browser in a
//! writer task, so a browser that reads slowly never delays its own Ctrl-C.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::protocol::{ClientMessage, ServerMessage, parse_client_message};
use super::tab::{Subscription, Tab, TabEvent};
use crate::AppState;
use crate::lessons::Lang;
use crate::sandbox::{Sandbox, SandboxError, TermSize};
use crate::session::{Learner, LearnerId};

/// Largest message a browser may send (a big paste); larger ones close the socket.
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Keystrokes are handed to the shell in pieces no larger than this.
const INPUT_PIECE: usize = 16 * 1024;

/// A browser that neither reads nor answers for this long is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// WebSocket close codes (RFC 6455 and the IANA registry).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_INTERNAL: u16 = 1011;
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;
/// Ours (4000–4999 are for applications): the tab was opened in another window. The page
/// must not reconnect by itself, or two windows would take the shell from each other forever.
const CLOSE_REPLACED: u16 = 4000;

#[derive(Debug, Deserialize)]
pub struct TerminalQuery {
    tab: Option<String>,
    /// `en/02-what-docker-does`: the lesson beside this terminal, whose checks update live.
    lesson: Option<String>,
    cols: Option<u16>,
    rows: Option<u16>,
}

/// `GET /ws/terminal`: 403 from a foreign origin, 401 without a session the store knows, else
/// the socket.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    learner: Result<Learner, Response>,
    Query(query): Query<TerminalQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.config.allowed_origins) {
        return (
            StatusCode::FORBIDDEN,
            "this page's origin may not open a terminal\n",
        )
            .into_response();
    }
    let learner = match learner {
        Ok(learner) => learner,
        Err(unauthorized) => return unauthorized,
    };
    let tab = query.tab.as_deref().unwrap_or("0").parse::<u32>().ok();
    let lesson = query.lesson.as_deref().and_then(|lesson| {
        let (lang, slug) = lesson.split_once('/')?;
        Some((Lang::from_code(lang)?, slug.to_owned()))
    });
    let size = match (query.cols, query.rows) {
        (Some(cols), Some(rows)) if (2..=1000).contains(&cols) && (1..=500).contains(&rows) => {
            TermSize { cols, rows }
        }
        _ => TermSize::default(),
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(socket, state, learner, tab, size, lesson))
}

/// The Origin of a browser's request must be this server (or a configured origin). Clients
/// that are not browsers send no Origin and cannot be tricked into using a cookie anyway.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

type Sink = SplitSink<WebSocket, Message>;

async fn send_control(sink: &mut Sink, message: &ServerMessage) -> bool {
    let text = Message::Text(Utf8Bytes::from(message.to_json()));
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(text)).await,
        Ok(Ok(()))
    )
}

async fn close(sink: &mut Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.chars().take(100).collect::<String>()),
    };
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
}

async fn refuse(mut sink: Sink, error: &SandboxError) {
    let code = match error {
        SandboxError::Full(_) => CLOSE_TRY_AGAIN_LATER,
        SandboxError::BadTab => CLOSE_NORMAL,
        _ => CLOSE_INTERNAL,
    };
    send_control(&mut sink, &ServerMessage::error(error.to_string())).await;
    close(&mut sink, code, "").await;
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    learner: Learner,
    tab: Option<u32>,
    size: TermSize,
    lesson: Option<(Lang, String)>,
) {
    let (mut sink, mut stream) = socket.split();
    let Some(tab_number) = tab else {
        return refuse(sink, &SandboxError::BadTab).await;
    };
    if let Err(limited) = state.may_start_sandbox(&learner) {
        tracing::info!(learner = %learner.id, client = %learner.client, "sandbox start refused: per-address limit");
        let lang = lesson.as_ref().map_or(Lang::En, |(lang, _)| *lang);
        send_control(&mut sink, &ServerMessage::error(limited.message(lang))).await;
        return close(&mut sink, CLOSE_TRY_AGAIN_LATER, "").await;
    }
    let learner = learner.id;
    let (sandbox, tab) = match open_tab(&state, &learner, tab_number, size).await {
        Ok(opened) => opened,
        Err(error) => {
            tracing::info!(%learner, %error, "terminal refused");
            return refuse(sink, &error).await;
        }
    };
    let _attached = sandbox.attach_guard();
    let ready = ServerMessage::Ready {
        backend: state.sandboxes.backend_name(),
        tab: tab_number,
        replay: 0,
        expires_in: sandbox.expires_in().as_secs(),
    };
    let (control, control_rx) = mpsc::channel(16);
    // Only the first tab keeps the lesson's cards up to date; Enter in any tab wakes its checks.
    let checks = lesson.filter(|_| tab_number == 0).map(|(lang, slug)| {
        tokio::spawn(crate::checks::live::run(crate::checks::live::Watch {
            state: state.clone(),
            sandbox: sandbox.clone(),
            learner: learner.clone(),
            lang,
            slug,
            control: control.downgrade(),
        }))
    });
    let _checks = AbortOnDrop(checks);
    let notices = sandbox.scope().map(|scope| {
        let mut notices = scope.notices();
        let control = control.downgrade();
        tokio::spawn(async move {
            let mut shown = Vec::new();
            loop {
                let current = notices.borrow_and_update().clone();
                if current != shown {
                    let Some(control) = control.upgrade() else {
                        return;
                    };
                    let message = ServerMessage::Notices {
                        notices: current.clone(),
                    };
                    if control.send(message).await.is_err() {
                        return;
                    }
                    shown = current;
                }
                if notices.changed().await.is_err() {
                    return;
                }
            }
        })
    });
    let _notices = AbortOnDrop(notices);
    // A prompt means a command finished: the checks look again at once.
    let mut prompts = tab.prompts();
    let prompted = sandbox.clone();
    let _prompts = AbortOnDrop(Some(tokio::spawn(async move {
        while prompts.changed().await.is_ok() {
            prompted.enter_pressed();
        }
    })));
    let ports = sandbox.scope().map(|scope| scope.ports());
    let mut writer = tokio::spawn(write_to_browser(
        sink,
        ready,
        tab.subscribe(),
        control_rx,
        ports,
    ));

    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            _ = &mut writer => return,
        };
        match message {
            Some(Ok(Message::Binary(bytes))) => {
                sandbox.touch();
                if bytes.contains(&b'\r') {
                    sandbox.enter_pressed();
                }
                for piece in bytes.chunks(INPUT_PIECE) {
                    tab.write(bytes.slice_ref(piece)).await;
                }
            }
            Some(Ok(Message::Text(text))) => match parse_client_message(text.as_str()) {
                Ok(ClientMessage::Resize { cols, rows }) => {
                    tab.resize(TermSize { cols, rows }).await;
                }
                Ok(ClientMessage::Close {}) => {
                    sandbox.close_tab(tab_number).await;
                    break;
                }
                Ok(ClientMessage::EndProcesses {}) => {
                    let answer = match sandbox.end_processes(tab_number).await {
                        Ok(processes) => ServerMessage::Ended { processes },
                        Err(error) => ServerMessage::error(format!(
                            "Could not stop what runs in this tab: {error}. Reset the sandbox instead."
                        )),
                    };
                    let _ = control.send(answer).await;
                }
                Err(reason) => {
                    let _ = control.send(ServerMessage::error(reason)).await;
                }
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(Message::Close(_))) | None => break,
            Some(Err(error)) => {
                // Oversized or malformed frames end up here; the shell stays for a reconnect.
                tracing::debug!(%learner, %error, "terminal socket error");
                let message = format!("The terminal connection broke: {error}.");
                let _ = control.send(ServerMessage::error(message)).await;
                break;
            }
        }
    }
    // Closing the control channel tells the writer to say goodbye; a browser that does not
    // read does not get to keep this task.
    drop(control);
    if tokio::time::timeout(Duration::from_secs(2), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

/// The learner's sandbox and the shell of tab `number`. A workstation that can no longer start
/// a shell (its container died, the engine restarted) is replaced by a fresh one at once,
/// rather than leaving the learner in front of an error until the idle timeout.
async fn open_tab(
    state: &AppState,
    learner: &LearnerId,
    number: u32,
    size: TermSize,
) -> Result<(Arc<Sandbox>, Arc<Tab>), SandboxError> {
    let sandbox = state.sandboxes.get_or_create(learner).await?;
    match sandbox.tab(number, size).await {
        Ok(tab) => Ok((sandbox, tab)),
        Err(SandboxError::BadTab) => Err(SandboxError::BadTab),
        Err(error) => {
            tracing::warn!(%learner, %error, "workstation cannot start a shell; replacing it");
            state
                .sandboxes
                .remove(learner, "its workstation stopped working")
                .await;
            let sandbox = state.sandboxes.get_or_create(learner).await?;
            let tab = sandbox.tab(number, size).await?;
            Ok((sandbox, tab))
        }
    }
}

/// Sends `ready`, the replay, then live output and control messages until the shell ends.
async fn write_to_browser(
    mut sink: Sink,
    mut ready: ServerMessage,
    mut subscription: Subscription,
    mut control: mpsc::Receiver<ServerMessage>,
    mut ports: Option<PortsWatch>,
) {
    let replay = std::mem::take(&mut subscription.replay);
    if let ServerMessage::Ready { replay: length, .. } = &mut ready {
        *length = replay.len();
    }
    if !send_control(&mut sink, &ready).await {
        return;
    }
    if let Some(ports) = ports.as_mut() {
        let current = ports_message(ports);
        if !send_control(&mut sink, &current).await {
            return;
        }
    }
    if !replay.is_empty() && !send_binary(&mut sink, replay).await {
        return;
    }
    loop {
        tokio::select! {
            biased;
            message = control.recv() => match message {
                Some(message) => {
                    if !send_control(&mut sink, &message).await {
                        return;
                    }
                }
                None => return close(&mut sink, CLOSE_NORMAL, "").await,
            },
            changed = ports_changed(&mut ports) => {
                match changed {
                    Some(message) => {
                        if !send_control(&mut sink, &message).await {
                            return;
                        }
                    }
                    None => ports = None,
                }
            }
            event = subscription.events.recv() => match event {
                Some(TabEvent::Output(bytes)) => {
                    if !send_binary(&mut sink, bytes).await {
                        return;
                    }
                }
                Some(TabEvent::Exit(code)) => {
                    send_control(&mut sink, &ServerMessage::Exit { code }).await;
                    return close(&mut sink, CLOSE_NORMAL, "shell exited").await;
                }
                Some(TabEvent::Ended(reason)) => {
                    send_control(&mut sink, &ServerMessage::error(format!("Sandbox ended: {reason}."))).await;
                    send_control(&mut sink, &ServerMessage::Exit { code: None }).await;
                    return close(&mut sink, CLOSE_NORMAL, "sandbox ended").await;
                }
                None => {
                    let message = "This terminal was opened in another window.";
                    send_control(&mut sink, &ServerMessage::error(message)).await;
                    return close(&mut sink, CLOSE_REPLACED, "replaced").await;
                }
            },
        }
    }
}

/// Stops the live checks when the terminal goes.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

type PortsWatch = tokio::sync::watch::Receiver<Vec<crate::engine::ports::PublishedPort>>;

fn ports_message(ports: &mut PortsWatch) -> ServerMessage {
    let current = ports.borrow_and_update().clone();
    ServerMessage::Ports {
        ports: current
            .iter()
            .filter_map(|port| serde_json::to_value(port).ok())
            .collect(),
    }
}

/// The next change of the learner's published ports; never, without a scoped engine.
async fn ports_changed(ports: &mut Option<PortsWatch>) -> Option<ServerMessage> {
    match ports {
        Some(ports) => match ports.changed().await {
            Ok(()) => Some(ports_message(ports)),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

async fn send_binary(sink: &mut Sink, bytes: bytes::Bytes) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Binary(bytes))).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn origin_must_be_this_server_or_configured() {
        let none: Vec<String> = Vec::new();
        assert!(origin_allowed(
            &headers(Some("http://127.0.0.1:8080"), "127.0.0.1:8080"),
            &none
        ));
        assert!(origin_allowed(
            &headers(Some("https://learn.example.org"), "learn.example.org"),
            &none
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.example"), "127.0.0.1:8080"),
            &none
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "127.0.0.1:8080"),
            &none
        ));
        assert!(origin_allowed(&headers(None, "127.0.0.1:8080"), &none));
        let configured = vec!["https://learn.example.org".to_owned()];
        assert!(origin_allowed(
            &headers(Some("https://learn.example.org"), "berth:8080"),
            &configured
        ));
    }
}
