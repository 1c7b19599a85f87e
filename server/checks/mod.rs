//! Checks: what an exercise requires of the learner's work.
//!
//! A lesson declares each exercise in a ```` ```check ```` block of TOML; [`model`] parses and
//! validates it into a [`Check`]. Running a check against a learner's sandbox comes later.

pub mod model;

pub use self::model::{Check, CheckError, CheckKind, ParsedCheck};
