//! One error vocabulary for the scoped engine: what the docker CLI prints after
//! "Error response from daemon:", with the status it expects.
//!
//! Anything outside the learner's view is answered exactly as something that does not exist,
//! so an answer never tells a learner about another learner's objects.

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    /// A rule of this sandbox said no.
    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 403,
            message: format!("berth: {}", message.into()),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            message: message.into(),
        }
    }

    pub fn not_available(what: &str) -> Refusal {
        Refusal::forbidden(format!("{what} is not available in this sandbox"))
    }

    /// `No such container: web`, the engine's words for something it does not have.
    pub fn no_such(kind: &str, reference: &str) -> Refusal {
        Refusal {
            status: 404,
            message: format!("No such {kind}: {reference}"),
        }
    }

    /// The engine's words for a network it does not have.
    pub fn no_such_network(reference: &str) -> Refusal {
        Refusal {
            status: 404,
            message: format!("network {reference} not found"),
        }
    }

    /// The engine's words for a volume it does not have.
    pub fn no_such_volume(reference: &str) -> Refusal {
        Refusal {
            status: 404,
            message: format!("get {reference}: no such volume"),
        }
    }

    /// A limit of this sandbox was reached: berth is full, or this learner's share is used.
    pub fn limit(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 403,
            message: format!("berth: {}", message.into()),
        }
    }

    pub fn too_large(limit: u64) -> Refusal {
        Refusal {
            status: 413,
            message: format!(
                "berth: the request body is larger than {} MiB, the most this sandbox takes",
                limit >> 20
            ),
        }
    }

    /// The engine could not be reached, or did not answer in time.
    pub fn engine_unreachable(error: impl std::fmt::Display) -> Refusal {
        Refusal {
            status: 502,
            message: format!("berth: the Docker engine is not answering: {error}"),
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

impl From<super::wire::json::JsonError> for Refusal {
    fn from(error: super::wire::json::JsonError) -> Refusal {
        Refusal::bad_request(error.to_string())
    }
}
