//! One learner's scoped engine: their socket (bind-mounted into the workstation as
//! `/var/run/docker.sock`), the connections on it (bounded, timed out, and an accept loop that
//! survives every error), the engine events that keep their ports and checks current, and the
//! clean-up of everything they made.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use hyper::Method;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::sync::{Semaphore, watch};

use super::containers::ports::{self, PublishedPort};
use super::names::Names;
use super::settings::EngineSettings;
use super::wire::Upstream;

/// Connections one learner may hold open on their socket at once (each `docker` command
/// uses one or two; `logs -f`, `events` and `attach` keep theirs).
pub const MAX_CONNECTIONS: usize = 64;
/// A request's head must arrive within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// After an accept error (out of file descriptors, say), wait this long before the next.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// One learner's scoped engine.
pub struct Scope {
    names: Names,
    settings: EngineSettings,
    socket: PathBuf,
    /// Public images this learner pulled or used, by id: they appear in their `docker images`.
    seen: Mutex<HashSet<String>>,
    /// The learner's workstation container, once it exists (forwarders run in it).
    pub(super) workstation: OnceLock<String>,
    pub(super) ports: watch::Sender<Vec<PublishedPort>>,
    pub(super) forwarders: tokio::sync::Mutex<Vec<PublishedPort>>,
    /// Without a workstation (the local backend), berth itself listens on 127.0.0.1:PORT.
    pub(super) listeners: Mutex<HashMap<u16, tokio::task::JoinHandle<()>>>,
    /// Held while a quota is checked and the object made, so parallel calls cannot both pass.
    quota: tokio::sync::Mutex<()>,
    /// One build at a time per learner.
    builds: Arc<Semaphore>,
    /// Why the learner may not write more to disk now, when they are over their quota.
    disk_over: Mutex<Option<String>>,
    /// The learner's pace of costly requests.
    pace: super::gates::Pace,
    /// The step container of the build running now (`---> Running in …`).
    build_step: Mutex<Option<String>>,
    /// What the learner should know now (past a limit), for the page.
    notices: watch::Sender<Vec<super::meter::Notice>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Counts changes to the learner's containers (started, stopped, died, removed…).
    changes: watch::Sender<u64>,
}

impl Scope {
    /// Makes the learner's socket and starts serving it.
    pub fn start(settings: EngineSettings, learner: &str) -> std::io::Result<Arc<Scope>> {
        // A folder of no meaning: the workstation's mount table shows its path.
        let dir = settings.sockets.join(crate::session::random_hex(8));
        std::fs::create_dir_all(&dir)?;
        // Others may pass through to the socket (a remapped container user is "other" to
        // the host) but not list the folder.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))?;
        let socket = dir.join("docker.sock");
        match std::fs::remove_file(&socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = UnixListener::bind(&socket)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))?;
        let (ports, _) = watch::channel(Vec::new());
        let (changes, _) = watch::channel(0);
        let scope = Arc::new(Scope {
            names: Names::new(learner, &settings.instance),
            settings,
            socket,
            seen: Mutex::new(HashSet::new()),
            workstation: OnceLock::new(),
            ports,
            forwarders: tokio::sync::Mutex::new(Vec::new()),
            listeners: Mutex::new(HashMap::new()),
            quota: tokio::sync::Mutex::new(()),
            builds: Arc::new(Semaphore::new(1)),
            disk_over: Mutex::new(None),
            pace: super::gates::Pace::default(),
            build_step: Mutex::new(None),
            notices: watch::channel(Vec::new()).0,
            tasks: Mutex::new(Vec::new()),
            changes,
        });
        let server = tokio::spawn(serve(Arc::downgrade(&scope), listener));
        let watcher = tokio::spawn(watch_events(Arc::downgrade(&scope)));
        let meter = super::meter::spawn(Arc::downgrade(&scope));
        scope.tasks().extend([server, watcher, meter]);
        Ok(scope)
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    pub fn upstream(&self) -> &Upstream {
        &self.settings.upstream
    }

    /// Tells the scope which container is the learner's workstation.
    pub fn set_workstation(&self, id: &str) {
        let _ = self.workstation.set(id.to_owned());
    }

    pub fn workstation(&self) -> Option<&str> {
        self.workstation.get().map(String::as_str)
    }

    /// Ticks whenever one of the learner's containers changes state, whoever changed it (the
    /// learner, or the container exiting by itself).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The learner's published ports, updated whenever they change.
    pub fn ports(&self) -> watch::Receiver<Vec<PublishedPort>> {
        self.ports.subscribe()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the learner pulled or used this public image.
    pub fn has_seen(&self, id: &str) -> bool {
        self.seen().contains(id)
    }

    /// A public image comes into the learner's view (after a pull, run or build succeeded).
    pub fn mark_seen(&self, id: &str) {
        if !id.is_empty() {
            self.seen().insert(id.to_owned());
        }
    }

    /// The image leaves the learner's view; true when it was in it.
    pub fn forget_seen(&self, id: &str) -> bool {
        self.seen().remove(id)
    }

    /// Keeps only the public images for which `keep` says yes.
    pub fn retain_seen(&self, keep: impl Fn(&str) -> bool) {
        self.seen().retain(|id| keep(id));
    }

    /// The learner's one build slot, when it is free.
    pub fn builds_permit(
        &self,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::TryAcquireError> {
        self.builds.clone().try_acquire_owned()
    }

    /// What the learner is told while they are over their disk quota.
    pub fn disk_over(&self) -> Option<String> {
        self.disk_over
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set_disk_over(&self, report: Option<String>) {
        *self.disk_over.lock().unwrap_or_else(|e| e.into_inner()) = report;
    }

    pub fn pace(&self) -> &super::gates::Pace {
        &self.pace
    }

    /// A build's step container started (or the build ended: `None`).
    pub fn set_build_step(&self, id: Option<String>) {
        *self.build_step.lock().unwrap_or_else(|e| e.into_inner()) = id;
    }

    pub fn build_step(&self) -> Option<String> {
        self.build_step
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether one of the learner's builds runs now.
    pub fn build_running(&self) -> bool {
        self.builds.available_permits() == 0
    }

    /// What the learner should know now; the page shows it.
    pub fn notices(&self) -> watch::Receiver<Vec<super::meter::Notice>> {
        self.notices.subscribe()
    }

    pub fn set_notices(&self, notices: Vec<super::meter::Notice>) {
        self.notices.send_if_modified(|shown| {
            let changed = *shown != notices;
            if changed {
                *shown = notices;
            }
            changed
        });
    }

    /// The lock under which a quota is checked and the object made.
    pub async fn quota_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.quota.lock().await
    }

    /// Stops serving and removes everything the learner made: containers, networks, volumes
    /// and the images they built or tagged.
    pub async fn remove_everything(&self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
        for (_, listener) in self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            listener.abort();
        }
        let _ = std::fs::remove_file(&self.socket);
        if let Some(dir) = self.socket.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        if let Err(error) = remove_objects(self).await {
            tracing::warn!(learner = self.names.learner(), error = %error.message,
                "could not remove all of a learner's objects");
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        for task in self.tasks().drain(..) {
            task.abort();
        }
    }
}

/// Removes every object of the learner (not their workstation, default network and home,
/// which the backend removes after). Only what carries their labels or their tags.
async fn remove_objects(scope: &Scope) -> Result<(), super::refusal::Refusal> {
    let upstream = scope.upstream();
    for container in super::scope::containers(scope, true).await? {
        if let Some(id) = container["Id"].as_str() {
            let _ = upstream
                .remove(&format!("/containers/{id}?force=1&v=1"))
                .await;
        }
    }
    for network in super::scope::networks(scope).await? {
        let name = network["Name"].as_str().unwrap_or_default();
        let id = network["Id"].as_str().unwrap_or_default();
        if name == scope.names.bridge() {
            continue;
        }
        super::networks::detach_workstation(scope, id).await;
        let _ = upstream.remove(&format!("/networks/{id}")).await;
    }
    for volume in super::scope::volumes(scope).await? {
        if let Some(name) = volume["Name"].as_str() {
            let _ = upstream.remove(&format!("/volumes/{name}?force=1")).await;
        }
    }
    super::images::remove_owned(scope).await
}

/// Follows the engine's container events for one learner: published ports follow containers
/// that exit by themselves, volumes of `--rm` containers go with them, and [`Scope::changes`]
/// ticks. Reconnects when the engine restarts.
async fn watch_events(scope: Weak<Scope>) {
    use http_body_util::BodyExt;
    loop {
        let Some(strong) = scope.upgrade() else {
            return;
        };
        let filters = json!({
            "type": {"container": true},
            // The learner's own containers: not the workstation, whose execs (every check's
            // probe) would otherwise count as changes and set the checks off again.
            "label": {
                strong.names.owner_label(): true,
                format!("{}={}", super::names::LABEL_ROLE, super::names::ROLE_LEARNER): true,
            },
        });
        let path = super::wire::path_with_query("/events", &[("filters", &filters.to_string())]);
        let request = hyper::Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(super::wire::empty());
        let upstream = strong.upstream().clone();
        drop(strong);
        let response = match request {
            Ok(request) => upstream.send(request).await,
            Err(_) => return,
        };
        if let Ok(response) = response {
            let mut body = response.into_body();
            let mut pending: Vec<u8> = Vec::new();
            let mut open = true;
            while open {
                let Some(Ok(frame)) = body.frame().await else {
                    break;
                };
                pending.extend(frame.into_data().unwrap_or_default());
                // A burst of events (create, attach, start…) settles into one update, and a
                // steady stream of them (execs, a restart loop) still gets one every half second.
                let settle_by = tokio::time::Instant::now() + Duration::from_millis(500);
                loop {
                    let quiet = Duration::from_millis(150)
                        .min(settle_by.saturating_duration_since(tokio::time::Instant::now()));
                    match tokio::time::timeout(quiet, body.frame()).await {
                        Ok(Some(Ok(frame))) => {
                            pending.extend(frame.into_data().unwrap_or_default());
                            if pending.len() > 1 << 20 {
                                pending.clear();
                            }
                            continue;
                        }
                        Ok(_) => open = false,
                        Err(_) => {}
                    }
                    break;
                }
                let Some(strong) = scope.upgrade() else {
                    return;
                };
                let events = std::mem::take(&mut pending);
                super::containers::after_events(&strong, &events).await;
                ports::sync(&strong).await;
                strong.changes.send_modify(|count| *count += 1);
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The answer to a connection over the learner's limit.
fn too_many() -> Vec<u8> {
    let body = json!({"message": format!(
        "berth: more than {MAX_CONNECTIONS} connections to your Docker socket at once; close some and try again"
    )})
    .to_string();
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(scope: Weak<Scope>, listener: UnixListener) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors, or a connection reset before it was accepted: the
                // socket stays open for the next one.
                tracing::debug!(%error, "scoped engine accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(strong) = scope.upgrade() else {
            return;
        };
        drop(strong);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let mut stream = stream;
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.write_all(&too_many()))
                    .await;
            });
            continue;
        };
        let scope = scope.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |request| {
                let scope = scope.clone();
                async move {
                    let response = match scope.upgrade() {
                        Some(scope) => super::dispatch::handle(&scope, request).await,
                        None => hyper::Response::new(super::wire::empty()),
                    };
                    Ok::<_, Infallible>(response)
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(256 * 1024)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "scoped engine connection ended");
            }
        });
    }
}
