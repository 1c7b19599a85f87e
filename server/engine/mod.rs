//! The scoped engine: a Docker Engine API endpoint per learner, on a unix socket that is
//! bind-mounted into their workstation as `/var/run/docker.sock`. The unmodified docker CLI
//! talks to it; it passes an allowlisted subset of the API to the real engine and makes the
//! learner see only their own containers, images, volumes and networks.
//!
//! Identity is which socket was dialled. Each request goes through a chain:
//! route allowlist ([`route`]) → gates and mutators ([`rewrite`], [`handlers`]) → forward
//! ([`upstream`]) → response filters ([`names::Names::unscope`]).

#[doc(hidden)]
pub mod fuzz;
mod handlers;
pub mod home;
pub mod images;
pub mod json;
pub mod names;
pub mod ports;
pub mod rewrite;
pub mod route;
mod unread;
pub mod upstream;

use std::collections::HashSet;
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::UnixListener;
use tokio::sync::watch;

use self::images::PullPolicy;
use self::names::Names;
use self::ports::PublishedPort;
use self::rewrite::Policy;
use self::upstream::Upstream;

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
}

/// One learner's scoped engine.
pub struct Scope {
    names: Names,
    settings: EngineSettings,
    socket: PathBuf,
    /// Public images this learner pulled or used, by id: they appear in their `docker images`.
    seen: Mutex<HashSet<String>>,
    /// Images this learner built, by id (tagged or not).
    built: Mutex<HashSet<String>>,
    /// The learner's workstation container, once it exists (forwarders run in it).
    workstation: OnceLock<String>,
    ports: watch::Sender<Vec<PublishedPort>>,
    forwarders: tokio::sync::Mutex<Vec<PublishedPort>>,
    /// Without a workstation (the local backend), berth itself listens on 127.0.0.1:PORT.
    listeners: Mutex<std::collections::HashMap<u16, tokio::task::JoinHandle<()>>>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Follows the engine's events for this learner's containers.
    watcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Counts changes to the learner's containers (started, stopped, died, removed…).
    changes: watch::Sender<u64>,
}

impl Scope {
    /// Makes the learner's socket and starts serving it.
    pub fn start(settings: EngineSettings, learner: &str) -> std::io::Result<Arc<Scope>> {
        let dir = settings.sockets.join(learner);
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
            built: Mutex::new(HashSet::new()),
            workstation: OnceLock::new(),
            ports,
            forwarders: tokio::sync::Mutex::new(Vec::new()),
            listeners: Mutex::new(std::collections::HashMap::new()),
            server: Mutex::new(None),
            watcher: Mutex::new(None),
            changes,
        });
        let server = tokio::spawn(serve(Arc::downgrade(&scope), listener));
        *scope.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(server);
        let watcher = tokio::spawn(watch_events(Arc::downgrade(&scope)));
        *scope.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(watcher);
        Ok(scope)
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    pub fn upstream(&self) -> &Upstream {
        &self.settings.upstream
    }

    /// Tells the scope which container is the learner's workstation.
    pub fn set_workstation(&self, id: &str) {
        let _ = self.workstation.set(id.to_owned());
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

    fn built(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.built.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The learner's default network, for backends without a workstation to make it.
    pub async fn ensure_bridge(&self) {
        let mut labels = self.names.labels();
        labels.insert(crate::sandbox::docker::LABEL_ROLE.into(), "network".into());
        let body = serde_json::json!({
            "Name": self.names.bridge(),
            "Driver": "bridge",
            "CheckDuplicate": true,
            "Internal": !self.settings.policy.allow_egress,
            "Labels": labels,
        });
        let created = self
            .upstream()
            .call(hyper::Method::POST, "/networks/create", Some(&body))
            .await;
        if let Ok((status, answer)) = created
            && !status.is_success()
            && status != hyper::StatusCode::CONFLICT
        {
            tracing::warn!(%answer, "could not make the learner's network");
        }
    }

    pub async fn remove_bridge(&self) {
        let path = format!("/networks/{}", self.names.bridge());
        let _ = self
            .upstream()
            .call(hyper::Method::DELETE, &path, None)
            .await;
    }

    /// Stops serving and removes everything the learner made: containers, networks, volumes
    /// and the images they built or tagged.
    pub async fn remove_everything(&self) {
        for task in [&self.server, &self.watcher] {
            if let Some(task) = task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
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
        if let Err(error) = handlers::remove_everything(self).await {
            tracing::warn!(learner = self.names.learner(), error = %error.message,
                "could not remove all of a learner's objects");
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        for task in [&self.server, &self.watcher] {
            if let Some(task) = task.lock().unwrap_or_else(|e| e.into_inner()).take() {
                task.abort();
            }
        }
    }
}

/// Follows the engine's container events for one learner: published ports follow containers
/// that exit by themselves, and [`Scope::changes`] ticks. Reconnects when the engine restarts.
async fn watch_events(scope: std::sync::Weak<Scope>) {
    use http_body_util::BodyExt;
    loop {
        let Some(strong) = scope.upgrade() else {
            return;
        };
        let filters = serde_json::json!({
            "type": {"container": true},
            "label": {strong.names.owner_label(): true},
        });
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("filters", &filters.to_string())
            .finish();
        let request = hyper::Request::builder()
            .uri(format!("/events?{query}"))
            .body(upstream::empty());
        let upstream = strong.upstream().clone();
        drop(strong);
        let response = match request {
            Ok(request) => upstream.send(request).await,
            Err(_) => return,
        };
        if let Ok(response) = response {
            let mut body = response.into_body();
            let mut open = true;
            while open && matches!(body.frame().await, Some(Ok(_))) {
                // A burst of events (create, attach, start…) settles into one update.
                loop {
                    let quiet = std::time::Duration::from_millis(150);
                    match tokio::time::timeout(quiet, body.frame()).await {
                        Ok(Some(Ok(_))) => continue,
                        Ok(_) => open = false,
                        Err(_) => {}
                    }
                    break;
                }
                let Some(strong) = scope.upgrade() else {
                    return;
                };
                ports::sync(&strong).await;
                strong.changes.send_modify(|count| *count += 1);
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn serve(scope: std::sync::Weak<Scope>, listener: UnixListener) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "scoped engine socket failed");
                return;
            }
        };
        let Some(scope) = scope.upgrade() else { return };
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let scope = scope.clone();
                async move { Ok::<_, Infallible>(handlers::handle(&scope, request).await) }
            });
            let served = http1::Builder::new()
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
