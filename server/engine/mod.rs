//! The scoped engine: a Docker Engine API endpoint per learner, on a unix socket that is
//! bind-mounted into their workstation as `/var/run/docker.sock`. The unmodified docker CLI
//! talks to it; it passes an allowlisted subset of the API to the real engine and makes the
//! learner see only their own containers, images, volumes and networks.
//!
//! Identity is which socket was dialled. Each request goes through a chain: the route
//! allowlist ([`route`]) → the learner's view, where every reference is resolved to an id
//! ([`scope`]) → rules that refuse ([`gates`]) → bodies, contexts and queries rebuilt by berth
//! (`containers::body`, `build::dockerfile`, …) → the one engine client ([`wire`]) → answers
//! rewritten into the learner's names ([`names`], [`reply`]).

pub mod budget;
pub mod build;
pub mod containers;
mod dispatch;
pub mod exec;
pub mod filters;
#[doc(hidden)]
pub mod fuzz;
pub mod gates;
pub mod images;
pub mod meter;
pub mod names;
pub mod networks;
pub mod refusal;
pub mod reply;
pub mod route;
pub mod scope;
pub mod server;
pub mod settings;
pub mod system;
pub mod volumes;
pub mod wire;

pub use self::containers::ports;
pub use self::server::Scope;
pub use self::settings::{EngineSettings, Policy, Quotas};
