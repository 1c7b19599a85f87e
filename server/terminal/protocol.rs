//! The control messages of the terminal socket (text frames, JSON tagged by `type`). Terminal
//! bytes travel in binary frames and never pass through here.

use serde::{Deserialize, Serialize};

/// Text frames longer than this are not control messages.
pub const MAX_CONTROL_MESSAGE: usize = 4096;

/// Browser → server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Resize {
        cols: u16,
        rows: u16,
    },
    /// The learner closed this tab: its shell ends, with everything started from it.
    Close {},
    /// "Stop everything in this tab": every process started from this tab's shell ends, the
    /// shell stays (this works at the process limit, where the shell cannot fork).
    EndProcesses {},
}

/// Server → browser.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The shell is attached; recent output follows as binary frames, `replay` bytes of it.
    /// The page writes those to the screen but answers nothing they ask (a cursor-position
    /// query replayed would be typed into the shell as `;5R`).
    Ready {
        backend: &'static str,
        tab: u32,
        replay: usize,
        /// Seconds until the sandbox reaches its maximum lifetime.
        expires_in: u64,
    },
    Exit {
        code: Option<i64>,
    },
    Error {
        message: String,
    },
    Ports {
        ports: Vec<serde_json::Value>,
    },
    Check {
        exercise: String,
        passed: bool,
        message: String,
    },
    /// What the learner should know about their sandbox now (a limit reached); an empty list
    /// clears what was shown.
    Notices {
        notices: Vec<crate::engine::meter::Notice>,
    },
    /// The answer to `end_processes`: how many processes ended.
    Ended {
        processes: usize,
    },
}

impl ServerMessage {
    pub fn error(message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            message: message.into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"type":"error"}"#.to_owned())
    }
}

/// Reads a control message, or says in one sentence what is wrong with it.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, String> {
    if text.len() > MAX_CONTROL_MESSAGE {
        return Err(format!(
            "control message too large ({} bytes, at most {MAX_CONTROL_MESSAGE})",
            text.len()
        ));
    }
    let message: ClientMessage = serde_json::from_str(text)
        .map_err(|error| format!("not a control message this terminal understands: {error}"))?;
    match message {
        ClientMessage::Resize { cols, rows }
            if !(2..=1000).contains(&cols) || !(1..=500).contains(&rows) =>
        {
            Err(format!(
                "resize to {cols}x{rows} is out of range (2–1000 columns, 1–500 rows)"
            ))
        }
        message => Ok(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_reads_and_bad_input_says_why() {
        assert_eq!(
            parse_client_message(r#"{"type":"resize","cols":120,"rows":40}"#),
            Ok(ClientMessage::Resize {
                cols: 120,
                rows: 40
            })
        );
        assert!(
            parse_client_message("{nope")
                .unwrap_err()
                .contains("control message")
        );
        assert_eq!(
            parse_client_message(r#"{"type":"close"}"#),
            Ok(ClientMessage::Close {})
        );
        assert!(parse_client_message(r#"{"type":"close","tab":3}"#).is_err());
        assert!(parse_client_message(r#"{"type":"launch"}"#).is_err());
        assert!(
            parse_client_message(r#"{"type":"resize","cols":0,"rows":40}"#)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            parse_client_message(&" ".repeat(5000))
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn server_messages_are_tagged_by_type() {
        assert_eq!(
            ServerMessage::Exit { code: Some(0) }.to_json(),
            r#"{"type":"exit","code":0}"#
        );
        assert_eq!(
            ServerMessage::error("x").to_json(),
            r#"{"type":"error","message":"x"}"#
        );
    }
}
