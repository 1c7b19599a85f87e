//! What every learner's scoped engine shares: the engine, the limits of a learner's objects,
//! the pull allowlist, and where sockets live.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::budget::Budgets;
use super::images::reference::PullPolicy;
use super::networks::addresses::AddressPool;
use super::wire::Upstream;

/// The caps of one learner's containers and builds (from DESIGN.md's limits).
#[derive(Debug, Clone)]
pub struct Policy {
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids: i64,
    pub max_restarts: i64,
    pub allow_egress: bool,
    /// Health checks run at most this often (each one is an exec in the engine).
    pub healthcheck_floor: Duration,
    /// Ports one container may publish (each is a forwarder in the workstation).
    pub max_ports: usize,
}

/// DESIGN.md's default limits of a learner's container: 512 MiB, 1 CPU, 256 processes.
impl Default for Policy {
    fn default() -> Policy {
        Policy {
            memory_bytes: 512 << 20,
            nano_cpus: 1_000_000_000,
            pids: 256,
            max_restarts: 3,
            allow_egress: false,
            healthcheck_floor: Duration::from_secs(5),
            max_ports: 16,
        }
    }
}

/// How many objects of each kind one learner may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub containers: usize,
    pub volumes: usize,
    pub networks: usize,
}

/// What every learner's engine shares: the engine, the policy, the pull allowlist.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub upstream: Upstream,
    pub instance: String,
    pub policy: Policy,
    pub quotas: Quotas,
    pub pulls: Arc<PullPolicy>,
    /// Folder holding one sub-folder per learner with their socket.
    pub sockets: PathBuf,
    /// Where builds keep their contexts while they run.
    pub scratch: PathBuf,
    /// Subnets for learners' networks.
    pub addresses: Arc<AddressPool>,
    /// Builds running at once, for all learners together.
    pub builds: Arc<Semaphore>,
    /// Learners' budgets (cgroups), when berth can make them.
    pub budgets: Option<Budgets>,
    /// Disk one learner may fill with containers' files, volumes and built images, in bytes.
    pub disk_quota: u64,
}

impl EngineSettings {
    /// The cgroup parent of everything a learner runs: their workstation, their containers and
    /// their builds share its limits.
    pub fn budget_parent(&self, learner: &str) -> Option<String> {
        self.budgets
            .as_ref()
            .map(|budgets| format!("{}/{learner}", budgets.parent()))
    }
}
