//! Error types shared across domains. Each domain with its own failures keeps its own enum
//! (lessons, sandbox); this file holds the ones the whole server speaks.

use std::path::PathBuf;

/// A configuration that cannot be used, said so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{key}: {reason}")]
    Value { key: &'static str, reason: String },
}
