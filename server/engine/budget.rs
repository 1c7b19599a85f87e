//! One budget per learner: a cgroup (`/berth/<instance>/<learner>`) that berth makes with the
//! learner's limits of memory, CPU and processes, and that the engine places the learner's
//! workstation, containers and build steps under (`CgroupParent`). However a learner splits
//! their work, or weighs their containers (`--cpu-shares`), together they never get more than
//! the budget, and every learner weighs the same against every other.
//!
//! This needs the engine's `cgroupfs` driver (cgroup v1 or v2) and berth on the same host as
//! root. With the `systemd` driver, or without access, berth says so at start and falls back
//! to the per-container limits alone.

use std::path::{Path, PathBuf};

use hyper::Method;

use crate::engine::wire::Upstream;

/// The limits of one learner's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids: i64,
}

#[derive(Debug, Clone)]
enum Layout {
    /// cgroup v1: one hierarchy per controller.
    V1 { root: PathBuf },
    /// cgroup v2: one unified hierarchy.
    V2 { root: PathBuf },
}

/// Where budgets live, when berth can make them.
#[derive(Debug, Clone)]
pub struct Budgets {
    layout: Layout,
    /// `/berth/<instance>`: the cgroup path the engine is given, without the learner.
    parent: String,
}

/// The budget's CPU period: short, so a learner whose containers burst on every core is held
/// back within milliseconds, not after a tenth of a second of everyone else waiting.
const CPU_PERIOD: i64 = 10_000;

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

impl Budgets {
    /// Finds out whether the engine uses cgroupfs and berth can write the same hierarchy.
    pub async fn detect(upstream: &Upstream, instance: &str) -> Option<Budgets> {
        let info = upstream.ok(Method::GET, "/info", None).await.ok()?;
        let driver = info["CgroupDriver"].as_str().unwrap_or_default();
        let version = info["CgroupVersion"].as_str().unwrap_or("1");
        if driver != "cgroupfs" {
            tracing::warn!(
                driver,
                "the engine's cgroup driver is not cgroupfs: learners' budgets are not shared between their containers (see README, Deploying)"
            );
            return None;
        }
        let root = PathBuf::from("/sys/fs/cgroup");
        let layout = if version == "2" {
            Layout::V2 { root }
        } else {
            Layout::V1 { root }
        };
        let budgets = Budgets {
            layout,
            parent: format!("/berth/{instance}"),
        };
        match budgets.prepare_root() {
            Ok(()) => Some(budgets),
            Err(error) => {
                tracing::warn!(%error, "cannot make cgroups for learners' budgets: each container keeps its own limits only (berth needs root on the engine's host)");
                None
            }
        }
    }

    /// The cgroup parent the engine is given for this learner.
    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// The controllers berth writes limits into (v1), or the unified directory (v2).
    fn dirs(&self, learner: Option<&str>) -> Vec<PathBuf> {
        let tail = match learner {
            Some(learner) => format!("{}/{learner}", self.parent),
            None => self.parent.clone(),
        };
        let tail = tail.trim_start_matches('/').to_owned();
        match &self.layout {
            Layout::V1 { root } => ["memory", "cpu", "pids"]
                .iter()
                .map(|c| root.join(c).join(&tail))
                .collect(),
            Layout::V2 { root } => vec![root.join(&tail)],
        }
    }

    fn prepare_root(&self) -> std::io::Result<()> {
        for dir in self.dirs(None) {
            std::fs::create_dir_all(&dir)?;
        }
        if let Layout::V2 { root } = &self.layout {
            // Each level hands the controllers down to the next.
            let mut at = root.clone();
            for part in self.parent.trim_start_matches('/').split('/') {
                write(&at.join("cgroup.subtree_control"), "+memory +cpu +pids")?;
                at = at.join(part);
            }
            write(&at.join("cgroup.subtree_control"), "+memory +cpu +pids")?;
        }
        Ok(())
    }

    /// Makes (or updates) the learner's budget.
    pub fn prepare(&self, learner: &str, limits: Limits) -> std::io::Result<()> {
        let quota = (limits.nano_cpus * CPU_PERIOD / 1_000_000_000).max(1000);
        match &self.layout {
            Layout::V1 { .. } => {
                let dirs = self.dirs(Some(learner));
                for dir in &dirs {
                    std::fs::create_dir_all(dir)?;
                }
                let (memory, cpu, pids) = (&dirs[0], &dirs[1], &dirs[2]);
                write(
                    &memory.join("memory.limit_in_bytes"),
                    &limits.memory_bytes.to_string(),
                )?;
                let swap = memory.join("memory.memsw.limit_in_bytes");
                if swap.exists() {
                    write(&swap, &limits.memory_bytes.to_string())?;
                }
                write(&cpu.join("cpu.cfs_period_us"), &CPU_PERIOD.to_string())?;
                write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
                write(&pids.join("pids.max"), &limits.pids.to_string())?;
            }
            Layout::V2 { .. } => {
                let dir = &self.dirs(Some(learner))[0];
                std::fs::create_dir_all(dir)?;
                write(&dir.join("cgroup.subtree_control"), "+memory +cpu +pids")?;
                write(&dir.join("memory.max"), &limits.memory_bytes.to_string())?;
                let _ = write(&dir.join("memory.swap.max"), "0");
                write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD}"))?;
                write(&dir.join("pids.max"), &limits.pids.to_string())?;
            }
        }
        Ok(())
    }

    /// The processes the learner's budget holds now, and how many it allows.
    pub fn pids(&self, learner: &str) -> Option<(i64, i64)> {
        let dir = match &self.layout {
            Layout::V1 { .. } => self.dirs(Some(learner)).remove(2),
            Layout::V2 { .. } => self.dirs(Some(learner)).remove(0),
        };
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok())
        };
        Some((read("pids.current")?, read("pids.max")?))
    }

    /// The cgroup directory of one container of the learner, in the processes controller.
    pub fn container_dir(&self, learner: &str, container: &str) -> PathBuf {
        let base = match &self.layout {
            Layout::V1 { .. } => self.dirs(Some(learner)).remove(2),
            Layout::V2 { .. } => self.dirs(Some(learner)).remove(0),
        };
        base.join(container)
    }

    /// Removes the learner's budget once nothing runs in it (every hierarchy the engine made
    /// it in, not only the three berth writes).
    pub fn remove(&self, learner: &str) {
        let tail = format!("{}/{learner}", self.parent);
        let tail = tail.trim_start_matches('/');
        match &self.layout {
            Layout::V1 { root } => {
                if let Ok(controllers) = std::fs::read_dir(root) {
                    for controller in controllers.flatten() {
                        remove_tree(&controller.path().join(tail));
                    }
                }
            }
            Layout::V2 { root } => remove_tree(&root.join(tail)),
        }
    }

    /// Stop: this instance's folder of budgets goes (its learners' went with their sandboxes).
    pub fn remove_root(&self) {
        self.sweep();
        let tail = self.parent.trim_start_matches('/');
        match &self.layout {
            Layout::V1 { root } => {
                if let Ok(controllers) = std::fs::read_dir(root) {
                    for controller in controllers.flatten() {
                        remove_tree(&controller.path().join(tail));
                    }
                }
            }
            Layout::V2 { root } => remove_tree(&root.join(tail)),
        }
    }

    /// Start-up: budgets of learners of an earlier run of this instance.
    pub fn sweep(&self) {
        let tail = self.parent.trim_start_matches('/').to_owned();
        let roots: Vec<PathBuf> = match &self.layout {
            Layout::V1 { root } => std::fs::read_dir(root)
                .map(|entries| entries.flatten().map(|e| e.path().join(&tail)).collect())
                .unwrap_or_default(),
            Layout::V2 { root } => vec![root.join(&tail)],
        };
        for root in roots {
            if let Ok(learners) = std::fs::read_dir(&root) {
                for learner in learners.flatten().filter(|e| e.path().is_dir()) {
                    remove_tree(&learner.path());
                }
            }
        }
        let _ = self.prepare_root();
    }
}

/// cgroup directories are removed with `rmdir`, deepest first.
fn remove_tree(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.flatten().filter(|e| e.path().is_dir()) {
            remove_tree(&child.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}
