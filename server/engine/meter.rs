//! What a learner uses that no cgroup bounds, measured at an interval: the disk their
//! containers' files, volumes, images and build steps fill, the log output their containers
//! make dockerd write, and whether their workstation sits at its process limit. Past a limit,
//! berth acts (stops what writes, slows down what floods its log) and tells the learner, on
//! the page ([`Notice`]) and in the refusals of their next `docker` commands.
//!
//! Files are measured by walking the engine's own folders (berth runs as root on the engine's
//! host), counting the blocks a file really uses, without following links.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Weak;
use std::time::{Duration, Instant};

use hyper::Method;
use serde::Serialize;
use serde_json::Value;

use super::scope;
use super::server::Scope;

/// How often berth reads the cheap counters (processes, log sizes): files, no engine call.
const FAST_TICK: Duration = Duration::from_secs(1);
/// How often berth measures the disk, and how often while a build runs or the learner is near
/// a limit.
const TICK: Duration = Duration::from_secs(5);
const BUSY_TICK: Duration = Duration::from_secs(1);
/// How often berth looks at a learner who had no container at the last look: nothing of theirs
/// can grow until they make one, and that wakes the meter at once. Two hundred idle learners
/// polled every five seconds kept dockerd at three quarters of a core.
const IDLE_TICK: Duration = Duration::from_secs(60);
/// A container may write this much to its log per second, sustained over a tick.
pub const LOG_RATE: u64 = 256 << 10;
/// Each container's log file is cut at this size (`max-size`), one file kept.
const LOG_FILE_SIZE: u64 = 16 << 20;

/// Files counted per walk; past it the folder is charged as full.
const MAX_FILES: u64 = 200_000;
/// At the process limit for this many looks, the learner hears of it.
const PIDS_TICKS: u32 = 1;

/// Something the learner should know about their sandbox now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// `disk`, `logs` or `processes`.
    pub kind: &'static str,
    pub message: String,
}

/// Bytes in a folder (blocks actually used) and how many files, without following links.
fn usage(root: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut bytes = 0u64;
    let mut files = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            files += 1;
            if files > MAX_FILES {
                return (u64::MAX / 4, files);
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            bytes = bytes.saturating_add(meta.blocks() * 512);
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    (bytes, files)
}

fn mib(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// What the meter remembers between ticks.
#[derive(Default)]
struct State {
    /// Engine folders of containers and volumes (they never move).
    paths: HashMap<String, (Option<PathBuf>, Option<PathBuf>)>,
    /// Last size of each container's files and mounted volumes, to see what grew.
    last: HashMap<String, u64>,
    /// Log file sizes and when they were read, to see the rate.
    logs: HashMap<String, (u64, Instant)>,
    throttled: Vec<String>,
    at_pid_limit: u32,
    images_bytes: u64,
    images_checked: Option<Instant>,
    /// The learner's running containers, from the last disk look: (id, name, log file).
    running: Vec<(String, String, Option<PathBuf>)>,
    /// What the learner is told, by kind.
    notices: std::collections::BTreeMap<&'static str, Notice>,
    last_slow: Option<Instant>,
    busy: bool,
    /// No container at the last look, and no build.
    idle: bool,
}

/// Starts the meter of one learner; it ends with their scope.
pub fn spawn(scope: Weak<Scope>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut state = State::default();
        let Some(mut changes) = scope.upgrade().map(|s| s.changes()) else {
            return;
        };
        let mut changed = true;
        loop {
            {
                let Some(scope) = scope.upgrade() else { return };
                fast(&scope, &mut state).await;
                let every = if state.busy || scope.build_running() {
                    BUSY_TICK
                } else if state.idle {
                    IDLE_TICK
                } else {
                    TICK
                };
                if changed || state.last_slow.is_none_or(|at| at.elapsed() >= every) {
                    state.busy = slow(&scope, &mut state).await;
                    state.last_slow = Some(Instant::now());
                }
                scope.set_notices(state.notices.values().cloned().collect());
            }
            changed = tokio::select! {
                _ = tokio::time::sleep(FAST_TICK) => false,
                result = changes.changed() => result.is_ok(),
            };
        }
    })
}

/// The engine's folders of a container (its writable files, its log) or a volume.
async fn paths_of(scope: &Scope, kind: &str, id: &str) -> (Option<PathBuf>, Option<PathBuf>) {
    let path = match kind {
        "volume" => format!("/volumes/{id}"),
        _ => format!("/containers/{id}/json"),
    };
    let Ok(info) = scope.upstream().ok(Method::GET, &path, None).await else {
        return (None, None);
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(PathBuf::from);
    match kind {
        "volume" => (text(&info["Mountpoint"]), None),
        _ => (
            text(&info["GraphDriver"]["Data"]["UpperDir"]),
            text(&info["LogPath"]),
        ),
    }
}

async fn measure(path: Option<PathBuf>) -> u64 {
    match path {
        Some(path) => tokio::task::spawn_blocking(move || usage(&path).0)
            .await
            .unwrap_or(0),
        None => 0,
    }
}

/// The layers of the learner's built images, each counted once, down to the public images
/// they were built on (those are shared, and not the learner's to pay for).
async fn images_bytes(scope: &Scope) -> u64 {
    let Ok(list) = scope
        .upstream()
        .ok(Method::GET, "/images/json?all=1", None)
        .await
    else {
        return 0;
    };
    struct Image {
        parent: String,
        size: u64,
        public: bool,
        owned: bool,
    }
    let images: HashMap<String, Image> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let public = i["RepoTags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .any(|t| !t.starts_with("berth") && t != "<none>:<none>");
            Some((
                i["Id"].as_str()?.to_owned(),
                Image {
                    parent: i["ParentId"].as_str().unwrap_or_default().to_owned(),
                    size: i["Size"].as_u64().unwrap_or(0),
                    public,
                    owned: scope.names().owns(i.get("Labels")),
                },
            ))
        })
        .collect();
    let mut counted = std::collections::HashSet::new();
    let mut total = 0u64;
    for (id, image) in &images {
        if !image.owned {
            continue;
        }
        let mut cursor = Some((id, image));
        let mut steps = 0;
        while let Some((id, image)) = cursor {
            if image.public || !counted.insert(id.clone()) || steps > 1000 {
                break;
            }
            let parent = images.get_key_value(&image.parent);
            let below = parent.map_or(0, |(_, p)| p.size);
            total = total.saturating_add(image.size.saturating_sub(below));
            cursor = parent;
            steps += 1;
        }
    }
    total
}

/// Every second: the process limit and log floods, from files alone.
async fn fast(scope: &Scope, state: &mut State) {
    let mut notices = Vec::new();
    processes(scope, state, &mut notices);
    match notices.pop() {
        Some(notice) => state.notices.insert("processes", notice),
        None => state.notices.remove("processes"),
    };
    let mut flooding = None;
    for (id, name, log) in state.running.clone() {
        if let Some(notice) = logs(scope, state, &id, &name, log.as_deref()).await {
            flooding = Some(notice);
        }
    }
    match flooding {
        Some(notice) => state.notices.insert("logs", notice),
        None => state.notices.remove("logs"),
    };
}

/// The disk: what the learner's containers, volumes, images and build fill. Returns whether
/// to look again soon.
async fn slow(scope: &Scope, state: &mut State) -> bool {
    let Ok(containers) = scope::containers(scope, true).await else {
        return false;
    };
    state.idle = containers.is_empty() && !scope.build_running();
    let mut notices = Vec::new();
    let quota = scope.settings().disk_quota;
    let mut parts: Vec<(String, u64)> = Vec::new();
    let mut grew: Vec<String> = Vec::new();
    let mut running = Vec::new();
    for container in &containers {
        let id = container["Id"].as_str().unwrap_or_default().to_owned();
        if !state.paths.contains_key(&id) {
            let paths = paths_of(scope, "container", &id).await;
            state.paths.insert(id.clone(), paths);
        }
        let (upper, log) = state.paths[&id].clone();
        let mut bytes = measure(upper).await;
        for mount in container["Mounts"].as_array().into_iter().flatten() {
            let Some(name) = mount["Name"].as_str().filter(|_| mount["Type"] == "volume") else {
                continue;
            };
            if !state.paths.contains_key(name) {
                let paths = paths_of(scope, "volume", name).await;
                state.paths.insert(name.to_owned(), paths);
            }
            bytes = bytes.saturating_add(measure(state.paths[name].0.clone()).await);
        }
        let name = scope::learner_name(scope, container).unwrap_or_else(|| id.clone());
        if bytes > state.last.get(&id).copied().unwrap_or(0) + (1 << 20) {
            grew.push(id.clone());
        }
        state.last.insert(id.clone(), bytes);
        parts.push((name.clone(), bytes));
        if container["State"] == "running" || container["State"] == "paused" {
            running.push((id.clone(), name, log));
        }
    }
    state.running = running;
    // Volumes no container mounts now.
    if let Ok(volumes) = scope::volumes(scope).await {
        let mounted: Vec<&str> = containers
            .iter()
            .flat_map(|c| c["Mounts"].as_array().into_iter().flatten())
            .filter_map(|m| m["Name"].as_str())
            .collect();
        let mut idle = 0u64;
        for volume in volumes {
            let Some(name) = volume["Name"].as_str() else {
                continue;
            };
            if mounted.contains(&name) {
                continue;
            }
            if !state.paths.contains_key(name) {
                let paths = paths_of(scope, "volume", name).await;
                state.paths.insert(name.to_owned(), paths);
            }
            idle = idle.saturating_add(measure(state.paths[name].0.clone()).await);
        }
        if idle > 0 {
            parts.push(("volumes no container uses".to_owned(), idle));
        }
    }
    let images_due = state
        .images_checked
        .is_none_or(|at| at.elapsed() > Duration::from_secs(30));
    if images_due || scope.build_running() {
        state.images_bytes = images_bytes(scope).await;
        state.images_checked = Some(Instant::now());
    }
    if state.images_bytes > 0 {
        parts.push(("images you built".to_owned(), state.images_bytes));
    }
    let building = scope.build_step();
    if let Some(step) = &building {
        let (upper, _) = paths_of(scope, "container", step).await;
        let bytes = measure(upper).await;
        parts.push(("the build running now".to_owned(), bytes));
        grew.push(step.clone());
    }
    let total: u64 = parts.iter().map(|(_, b)| *b).sum();
    if total > quota {
        parts.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
        let detail: Vec<String> = parts
            .iter()
            .filter(|(_, b)| *b >= 1 << 20)
            .take(4)
            .map(|(what, b)| format!("{what}: {} MiB", mib(*b)))
            .collect();
        let report = format!(
            "you are using {} MiB of disk, more than the {} MiB this sandbox allows ({}); remove something with docker rm, docker volume rm or docker rmi",
            mib(total),
            mib(quota),
            detail.join(", ")
        );
        for id in &grew {
            stop(scope, id, building.as_deref() == Some(id.as_str())).await;
        }
        scope.set_disk_over(Some(report.clone()));
        notices.push(Notice {
            kind: "disk",
            message: format!("berth stopped what was writing: {report}."),
        });
    } else if total < quota.saturating_mul(19) / 20 {
        scope.set_disk_over(None);
    } else if let Some(report) = scope.disk_over() {
        notices.push(Notice {
            kind: "disk",
            message: format!("berth stopped what was writing: {report}."),
        });
    }
    match notices.pop() {
        Some(notice) => state.notices.insert("disk", notice),
        None => state.notices.remove("disk"),
    };
    total > quota / 2 || building.is_some()
}

/// Log output past [`LOG_RATE`]: dockerd's work grows with every line a container prints, so
/// the container is paused (even a sliver of CPU lets `yes` print millions of lines a
/// second); the learner hears why and can unpause it.
async fn logs(
    scope: &Scope,
    state: &mut State,
    id: &str,
    name: &str,
    log: Option<&Path>,
) -> Option<Notice> {
    if state.throttled.iter().any(|t| t == id) {
        // Told until the learner lets it go on (a rate read again from then).
        let paused = scope
            .upstream()
            .ok(Method::GET, &format!("/containers/{id}/json"), None)
            .await
            .is_ok_and(|info| info["State"]["Paused"] == true);
        if paused {
            return Some(log_notice(name));
        }
        state.throttled.retain(|t| t != id);
        state.logs.remove(id);
    }
    let size = log
        .and_then(|l| std::fs::metadata(l).ok())
        .map(|m| m.len())?;
    let now = Instant::now();
    let (last, at) = state.logs.insert(id.to_owned(), (size, now))?;
    // The log is cut at 16 MiB; a smaller size means it was cut and started again.
    let written = if size >= last {
        size - last
    } else {
        (LOG_FILE_SIZE - last.min(LOG_FILE_SIZE)) + size
    };
    let seconds = now.duration_since(at).as_secs_f64().max(0.5);
    if (written as f64 / seconds) <= LOG_RATE as f64 {
        return None;
    }
    let done = scope
        .upstream()
        .ok(Method::POST, &format!("/containers/{id}/pause"), None)
        .await;
    match done {
        Ok(_) => {
            tracing::info!(
                learner = scope.names().learner(),
                container = name,
                "log flood: paused"
            );
            state.throttled.push(id.to_owned());
            Some(log_notice(name))
        }
        Err(error) => {
            tracing::warn!(error = %error.message, "could not pause a log flood");
            None
        }
    }
}

fn log_notice(name: &str) -> Notice {
    Notice {
        kind: "logs",
        message: format!(
            "berth paused the container {name}: it printed more than {} KiB a second, and every line it prints costs every learner. docker unpause {name} lets it go on; it is paused again if it keeps printing that much.",
            LOG_RATE >> 10
        ),
    }
}

/// A container (or a build step) that kept writing past the quota is stopped.
async fn stop(scope: &Scope, id: &str, build_step: bool) {
    if build_step {
        // A build step is the learner's only when it runs in their budget.
        let Ok(info) = scope
            .upstream()
            .ok(Method::GET, &format!("/containers/{id}/json"), None)
            .await
        else {
            return;
        };
        let parent = scope.settings().budget_parent(scope.names().learner());
        if parent.is_none() || info["HostConfig"]["CgroupParent"].as_str() != parent.as_deref() {
            return;
        }
    }
    let _ = scope
        .upstream()
        .call(Method::POST, &format!("/containers/{id}/kill"), None)
        .await;
}

/// The workstation at its process limit: the learner hears what will help. Returns whether
/// it is close to the limit (to look again soon).
fn processes(scope: &Scope, state: &mut State, notices: &mut Vec<Notice>) -> bool {
    let (Some(budgets), Some(workstation)) = (&scope.settings().budgets, scope.workstation())
    else {
        return false;
    };
    let dir = budgets.container_dir(scope.names().learner(), workstation);
    let read = |name: &str| {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .and_then(|t| t.trim().parse::<i64>().ok())
    };
    let (Some(current), Some(max)) = (read("pids.current"), read("pids.max")) else {
        return false;
    };
    if current + 2 >= max {
        state.at_pid_limit += 1;
    } else {
        state.at_pid_limit = 0;
    }
    if state.at_pid_limit >= PIDS_TICKS {
        notices.push(Notice {
            kind: "processes",
            message: format!(
                "Your workstation is at its limit of {max} processes, so new commands cannot start. Stop everything in this tab, or reset your sandbox."
            ),
        });
    }
    current * 5 >= max * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_blocks_not_lengths_and_no_links() {
        let dir = std::env::temp_dir().join(format!("berth-meter-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a"), vec![1u8; 64 << 10]).unwrap();
        // A sparse file: long, but no blocks.
        let sparse = std::fs::File::create(dir.join("sparse")).unwrap();
        sparse.set_len(1 << 30).unwrap();
        std::os::unix::fs::symlink("/usr", dir.join("link")).unwrap();
        let (bytes, files) = usage(&dir);
        assert!((64 << 10..1 << 20).contains(&bytes), "{bytes}");
        assert_eq!(files, 4);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
