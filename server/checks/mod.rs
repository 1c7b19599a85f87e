//! Checks: what an exercise requires of the learner's work.
//!
//! A lesson declares each exercise in a ```` ```check ```` block of TOML; [`model`] parses and
//! validates it into a [`Check`]; [`eval`] evaluates it in a learner's sandbox; [`api`] answers
//! the page's Check buttons and [`live`] re-runs a lesson's checks while its terminal is open.
//! [`progress`] remembers what each learner passed.

pub mod api;
pub mod eval;
pub mod live;
pub mod model;
pub mod progress;

pub use self::model::{Check, CheckError, CheckKind, ParsedCheck};
