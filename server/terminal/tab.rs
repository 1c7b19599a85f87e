//! A terminal tab: one shell, kept alive between sockets. It remembers the last
//! [`SCROLLBACK_BYTES`] of output so a reconnecting browser sees where it was, and hands live
//! output to at most one socket at a time (the newest; an older one is told and let go).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};

use super::utf8::{Utf8Carry, skip_partial_start};
use crate::sandbox::{Shell, ShellEvent, ShellInput, TermSize};

/// Output replayed to a socket that (re)attaches.
pub const SCROLLBACK_BYTES: usize = 64 * 1024;

/// What the workstation's shell prints before each prompt (images/workstation/bash.bashrc): an
/// OSC sequence no terminal shows. berth takes it out of the output and counts it, so checks
/// can look again the moment a command has finished.
pub const PROMPT_MARK: &[u8] = b"\x1b]777;berth-prompt\x07";

/// Output chunks queued for one socket; when full, the shell waits for the browser.
const SUBSCRIBER_CHUNKS: usize = 8;

#[derive(Debug)]
pub enum TabEvent {
    Output(Bytes),
    /// The shell exited (with its code when known).
    Exit(Option<i64>),
    /// The sandbox was removed; the reason is for the learner.
    Ended(String),
}

struct Subscriber {
    id: u64,
    events: mpsc::Sender<TabEvent>,
}

#[derive(Default)]
struct TabState {
    scrollback: VecDeque<u8>,
    subscriber: Option<Subscriber>,
    exited: Option<Option<i64>>,
    ended: Option<String>,
    next_id: u64,
}

pub struct Tab {
    input: Mutex<Option<mpsc::Sender<ShellInput>>>,
    /// What marks the processes of this tab's shell.
    mark: Option<String>,
    state: Mutex<TabState>,
    subscriber_changed: Notify,
    /// How many prompts the shell has shown.
    prompts: tokio::sync::watch::Sender<u64>,
}

/// A socket's view of a tab: the replay, then live events. Dropping it lets go of the tab.
pub struct Subscription {
    pub replay: Bytes,
    pub events: mpsc::Receiver<TabEvent>,
    id: u64,
    tab: Arc<Tab>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut state = self.tab.lock_state();
        if state.subscriber.as_ref().is_some_and(|s| s.id == self.id) {
            state.subscriber = None;
        }
    }
}

impl Tab {
    /// Takes over a freshly started shell.
    pub fn start(shell: Shell) -> Arc<Tab> {
        let tab = Arc::new(Tab {
            input: Mutex::new(Some(shell.input)),
            mark: shell.mark,
            state: Mutex::new(TabState::default()),
            subscriber_changed: Notify::new(),
            prompts: tokio::sync::watch::Sender::new(0),
        });
        tokio::spawn(pump(tab.clone(), shell.events));
        tab
    }

    /// What marks the processes of this tab's shell, when the backend marks them.
    pub fn mark(&self) -> Option<&str> {
        self.mark.as_deref()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, TabState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ticks each time the shell shows its prompt: the command before it has finished.
    pub fn prompts(&self) -> tokio::sync::watch::Receiver<u64> {
        self.prompts.subscribe()
    }

    pub fn has_exited(&self) -> bool {
        let state = self.lock_state();
        state.exited.is_some() || state.ended.is_some()
    }

    /// Attaches a socket: the replay of recent output and the live events from now on.
    pub fn subscribe(self: &Arc<Self>) -> Subscription {
        let (sender, events) = mpsc::channel(SUBSCRIBER_CHUNKS);
        let mut state = self.lock_state();
        state.next_id += 1;
        let id = state.next_id;
        let (front, back) = state.scrollback.as_slices();
        let replay = Bytes::from(skip_partial_start(&[front, back].concat()).to_vec());
        if let Some(code) = state.exited {
            let _ = sender.try_send(TabEvent::Exit(code));
        } else if let Some(reason) = state.ended.clone() {
            let _ = sender.try_send(TabEvent::Ended(reason));
        } else {
            state.subscriber = Some(Subscriber { id, events: sender });
        }
        drop(state);
        self.subscriber_changed.notify_waiters();
        Subscription {
            replay,
            events,
            id,
            tab: self.clone(),
        }
    }

    fn input(&self) -> Option<mpsc::Sender<ShellInput>> {
        self.input.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends keystrokes to the shell; waits while the shell is not taking input.
    pub async fn write(&self, bytes: Bytes) {
        if let Some(input) = self.input() {
            let _ = input.send(ShellInput::Data(bytes)).await;
        }
    }

    pub async fn resize(&self, size: TermSize) {
        if let Some(input) = self.input() {
            let _ = input.send(ShellInput::Resize(size)).await;
        }
    }

    /// Ends the tab because its sandbox is going away: the socket hears why, the shell's input
    /// closes.
    pub fn end(&self, reason: &str) {
        self.input.lock().unwrap_or_else(|e| e.into_inner()).take();
        let subscriber = {
            let mut state = self.lock_state();
            state.ended = Some(reason.to_owned());
            state.subscriber.take()
        };
        self.subscriber_changed.notify_waiters();
        if let Some(subscriber) = subscriber {
            let reason = reason.to_owned();
            tokio::spawn(async move {
                let _ = subscriber.events.send(TabEvent::Ended(reason)).await;
            });
        }
    }
}

/// Moves the shell's output into the scrollback and to the current socket.
async fn pump(tab: Arc<Tab>, mut events: mpsc::Receiver<ShellEvent>) {
    let mut carry = Utf8Carry::default();
    while let Some(event) = events.recv().await {
        let chunk = match event {
            ShellEvent::Output(bytes) => carry.push(&bytes),
            ShellEvent::Exit(code) => {
                let tail = carry.finish();
                if !tail.is_empty() {
                    deliver(&tab, Bytes::from(tail)).await;
                }
                let subscriber = {
                    let mut state = tab.lock_state();
                    state.exited = Some(code);
                    state.subscriber.take()
                };
                if let Some(subscriber) = subscriber {
                    let _ = subscriber.events.send(TabEvent::Exit(code)).await;
                }
                return;
            }
        };
        let (chunk, prompts) = take_prompt_marks(chunk);
        if !chunk.is_empty() {
            deliver(&tab, Bytes::from(chunk)).await;
        }
        if prompts > 0 {
            tab.prompts.send_modify(|count| *count += prompts);
        }
    }
    // The shell's stream ended without an exit status (the workstation went away).
    let mut state = tab.lock_state();
    if state.exited.is_none() {
        state.exited = Some(None);
    }
    if let Some(subscriber) = state.subscriber.take() {
        let _ = subscriber.events.try_send(TabEvent::Exit(None));
    }
}

/// The chunk without its prompt marks, and how many there were. A mark split between two
/// chunks passes through (the terminal ignores it) and is not counted: Enter still wakes the
/// checks.
fn take_prompt_marks(chunk: Vec<u8>) -> (Vec<u8>, u64) {
    let mut count = 0;
    let mut out = Vec::with_capacity(chunk.len());
    let mut rest = chunk.as_slice();
    while let Some(at) = rest
        .windows(PROMPT_MARK.len())
        .position(|window| window == PROMPT_MARK)
    {
        out.extend_from_slice(&rest[..at]);
        rest = &rest[at + PROMPT_MARK.len()..];
        count += 1;
    }
    if count == 0 {
        return (chunk, 0);
    }
    out.extend_from_slice(rest);
    (out, count)
}

/// Records a chunk and hands it to the current socket. Recording and reading the subscriber
/// happen under one lock, so a socket that attaches gets each chunk exactly once: in its
/// replay or live.
async fn deliver(tab: &Tab, chunk: Bytes) {
    let subscriber = {
        let mut state = tab.lock_state();
        state.scrollback.extend(chunk.iter());
        let excess = state.scrollback.len().saturating_sub(SCROLLBACK_BYTES);
        state.scrollback.drain(..excess);
        state.subscriber.as_ref().map(|s| s.events.clone())
    };
    let Some(subscriber) = subscriber else {
        return;
    };
    // Waits for a slow browser, but not for one that has been replaced meanwhile.
    tokio::select! {
        _ = subscriber.send(TabEvent::Output(chunk)) => {}
        _ = tab.subscriber_changed.notified() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_marks_are_counted_and_taken_out() {
        let mut chunk = b"done\r\n".to_vec();
        chunk.extend_from_slice(PROMPT_MARK);
        chunk.extend_from_slice(b"$ ");
        assert_eq!(take_prompt_marks(chunk), (b"done\r\n$ ".to_vec(), 1));
        assert_eq!(take_prompt_marks(b"plain".to_vec()), (b"plain".to_vec(), 0));
    }
}
