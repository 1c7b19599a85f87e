//! The terminal: the browser's socket on one side, a shell in the learner's workstation on
//! the other. `protocol` holds the typed messages, `tab` a shell that outlives sockets (so a
//! reload finds it again), `bridge` one socket's loops.

pub mod bridge;
pub mod protocol;
pub mod tab;
pub mod utf8;
