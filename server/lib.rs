//! berth: lessons beside a real terminal in each learner's own sandbox.
//!
//! `main.rs` only wires things; [`app`] builds the whole HTTP router from an [`AppState`], so
//! tests drive the real thing on a socket bound to port 0.

#![recursion_limit = "256"]

pub mod admission;
pub mod assets;
pub mod checks;
pub mod config;
pub mod engine;
pub mod error;
pub mod http;
pub mod i18n;
pub mod lessons;
pub mod sandbox;
pub mod session;
pub mod store;
pub mod terminal;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};

use crate::config::Config;
use crate::lessons::LessonStore;
use crate::sandbox::{Manager, SandboxError};

/// Everything a request handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub lessons: LessonStore,
    pub sandboxes: Arc<Manager>,
    pub progress: Arc<checks::progress::Progress>,
    /// Learners, sessions and progress, in SQLite.
    pub store: Arc<store::Store>,
    /// Sandboxes started per client address.
    pub starts: Arc<admission::StartLimiter>,
    /// How a request's client address is found.
    pub clients: Arc<http::client::ClientIp>,
    /// Connections open on the HTTP port.
    pub connections: Arc<http::conns::Connections>,
}

/// The whole HTTP surface of berth.
pub fn app(state: AppState) -> Router {
    let pages = lessons::routes().layer(axum::middleware::from_fn_with_state(
        state.clone(),
        session::ensure_session,
    ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ws/terminal", get(terminal::bridge::upgrade))
        .route("/api/sandbox/reset", post(reset_sandbox))
        .route("/api/checks/{lang}/{slug}", post(checks::api::all))
        .route(
            "/api/checks/{lang}/{slug}/{exercise}",
            post(checks::api::one),
        )
        .route("/ports/{port}", any(engine::ports::proxy_root))
        .route("/ports/{port}/", any(engine::ports::proxy_root))
        .route("/ports/{port}/{*rest}", any(engine::ports::proxy))
        .merge(assets::routes())
        .merge(pages)
        .with_state(state)
}

/// "Reset my sandbox": the learner's sandbox goes, whatever state it is in (at its process
/// limit, say); the page's terminals reconnect to a fresh one.
async fn reset_sandbox(
    State(state): State<AppState>,
    learner: session::Learner,
    headers: axum::http::HeaderMap,
) -> impl IntoResponse {
    if !terminal::bridge::origin_allowed(&headers, &state.config.allowed_origins) {
        return (
            StatusCode::FORBIDDEN,
            "this page's origin may not reset a sandbox\n",
        );
    }
    state
        .sandboxes
        .remove(&learner.id, "the learner reset it")
        .await;
    (StatusCode::OK, "reset\n")
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.sandboxes.backend().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.sandboxes.stats();
    let mut body = format!(
        "# HELP berth_sandboxes Sandboxes alive now.\n# TYPE berth_sandboxes gauge\nberth_sandboxes {}\n\
         # HELP berth_sandboxes_max Sandboxes allowed at once.\n# TYPE berth_sandboxes_max gauge\nberth_sandboxes_max {}\n\
         # HELP berth_terminals_attached Terminal sockets attached now.\n# TYPE berth_terminals_attached gauge\nberth_terminals_attached {}\n\
         # HELP berth_sandboxes_created_total Sandboxes created since start.\n# TYPE berth_sandboxes_created_total counter\nberth_sandboxes_created_total {}\n\
         # HELP berth_sandboxes_refused_total Learners told berth is full.\n# TYPE berth_sandboxes_refused_total counter\nberth_sandboxes_refused_total {}\n",
        stats.alive, stats.max, stats.attached, stats.created_total, stats.refused_total,
    );
    body.push_str(&format!(
        "# HELP berth_sandbox_starts_limited_total Sandbox starts refused by the per-address limit.\n# TYPE berth_sandbox_starts_limited_total counter\nberth_sandbox_starts_limited_total {}\n\
         # HELP berth_http_connections HTTP connections open now.\n# TYPE berth_http_connections gauge\nberth_http_connections {}\n\
         # HELP berth_http_connections_max HTTP connections berth holds at most (from the open-file limit).\n# TYPE berth_http_connections_max gauge\nberth_http_connections_max {}\n\
         # HELP berth_http_connections_refused_total Connections refused: too many from one address, or in all.\n# TYPE berth_http_connections_refused_total counter\nberth_http_connections_refused_total {}\n",
        state.starts.limited_total(),
        state.connections.open_now(),
        state.connections.total_max(),
        state.connections.refused_total(),
    ));
    let pool = state.sandboxes.pool_stats();
    let average_refill = if pool.refills == 0 {
        0.0
    } else {
        pool.refill_seconds / pool.refills as f64
    };
    body.push_str(&format!(
        "# HELP berth_warm_ready Warm workstations started and waiting for a learner.
# TYPE berth_warm_ready gauge
berth_warm_ready {}
         # HELP berth_warm_filling Warm workstations being started now.
# TYPE berth_warm_filling gauge
berth_warm_filling {}
         # HELP berth_warm_target Warm workstations wanted now (--warm plus recent arrivals, within room).
# TYPE berth_warm_target gauge
berth_warm_target {}
         # HELP berth_warm_claims_total Learners who got a warm workstation.
# TYPE berth_warm_claims_total counter
berth_warm_claims_total {}
         # HELP berth_warm_misses_total Learners who found the pool empty and waited for a new workstation.
# TYPE berth_warm_misses_total counter
berth_warm_misses_total {}
         # HELP berth_warm_discarded_total Warm workstations thrown away because they died.
# TYPE berth_warm_discarded_total counter
berth_warm_discarded_total {}
         # HELP berth_warm_refills_total Warm workstations started.
# TYPE berth_warm_refills_total counter
berth_warm_refills_total {}
         # HELP berth_warm_refill_seconds_total Time spent starting them.
# TYPE berth_warm_refill_seconds_total counter
berth_warm_refill_seconds_total {:.3}
         # HELP berth_warm_refill_seconds Average time to start one.
# TYPE berth_warm_refill_seconds gauge
berth_warm_refill_seconds {:.3}
",
        pool.ready,
        pool.filling,
        pool.target,
        pool.claims,
        pool.misses,
        pool.discarded,
        pool.refills,
        pool.refill_seconds,
        average_refill,
    ));
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Why berth could not start; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("lessons: {0}")]
    Lessons(#[from] lessons::LessonError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("data dir {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// A berth that is serving. [`Running::shutdown`] stops it and removes every sandbox.
pub struct Running {
    pub local_addr: SocketAddr,
    pub state: AppState,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops serving at once and cleans nothing up: what a crash leaves behind, for tests of
    /// what the next start finds.
    pub fn abandon(self) {
        // As in a crash, nothing new is made from now on, and nothing is cleaned up.
        self.state.sandboxes.halt();
        self.server.abort();
    }

    /// Stops accepting, removes all sandboxes, and waits for the server to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        self.state.sandboxes.shutdown().await;
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.server)
            .await
            .is_err()
        {
            tracing::warn!("open connections did not close within 5s");
        }
    }
}

/// The id of this berth server, kept in the data dir so a restart finds what the last run
/// left behind.
pub fn instance_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if is_instance_id(id.trim()) => Ok(id.trim().to_owned()),
        _ => {
            std::fs::create_dir_all(data_dir)?;
            let id = session::random_hex(6);
            std::fs::write(&path, &id)?;
            Ok(id)
        }
    }
}

/// 12 lowercase hex digits, as [`instance_id`] writes them.
fn is_instance_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Loads lessons, prepares the sandbox backend, removes this instance's leftovers and starts
/// serving on `config.listen` (port 0 picks a free one).
pub async fn start(config: Config) -> Result<Running, StartError> {
    let lessons = LessonStore::load(config.lessons.as_deref())?;
    lessons.watch();
    let data_dir_error = |source| StartError::DataDir {
        path: config.data_dir.clone(),
        source,
    };
    let instance = instance_id(&config.data_dir).map_err(data_dir_error)?;
    let store = Arc::new(store::Store::open(&config.data_dir)?);
    store.spawn_pruning();
    let progress = Arc::new(checks::progress::Progress::new(store.clone()));
    let lesson_images = lessons.images();
    let backend = sandbox::backend_for(&config, &instance, &lesson_images).await?;
    match backend.remove_leftovers().await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "removed what an earlier run left behind"),
        Err(error) => tracing::warn!(%error, "could not remove leftovers"),
    }
    tracing::info!(backend = backend.name(), instance, "sandbox backend ready");
    backend.prefetch(lesson_images);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| StartError::Listen {
            address: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| StartError::Listen {
        address: config.listen,
        source,
    })?;
    let sandboxes = Manager::new(backend, &config, Some(store.clone()));
    sandboxes.spawn_reaper();
    sandboxes.spawn_pool();
    let open_files = http::raise_open_file_limit();
    let budget = http::connection_budget(open_files);
    if budget < 1024 {
        tracing::warn!(
            open_files,
            connections = budget,
            "the open-file limit is low, so berth holds few connections; raise it \
             (systemd: LimitNOFILE=65536, a shell: ulimit -Hn 65536)"
        );
    }
    let connections = http::conns::Connections::new(config.connections_per_address, budget);
    let clients = Arc::new(http::client::ClientIp::from_config(&config));
    let settings = http::Settings {
        header_timeout: config.header_timeout,
        connections: connections.clone(),
        clients: clients.clone(),
    };
    let state = AppState {
        starts: Arc::new(admission::StartLimiter::new(config.sandboxes_per_address)),
        config: Arc::new(config),
        lessons,
        sandboxes,
        progress,
        store,
        clients,
        connections,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    let server = tokio::spawn(http::serve(listener, router, settings, async {
        let _ = stopped.await;
    }));
    tracing::info!("berth is serving on http://{local_addr}");
    Ok(Running {
        local_addr,
        state,
        stop,
        server,
    })
}
