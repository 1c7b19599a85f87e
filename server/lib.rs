//! berth: lessons beside a real terminal in each learner's own sandbox.
//!
//! `main.rs` only wires things; [`app`] builds the whole HTTP router from an [`AppState`], so
//! tests drive the real thing on a socket bound to port 0.

pub mod assets;
pub mod checks;
pub mod config;
pub mod engine;
pub mod error;
pub mod i18n;
pub mod lessons;
pub mod sandbox;
pub mod session;
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
}

/// The whole HTTP surface of berth.
pub fn app(state: AppState) -> Router {
    let pages = lessons::routes().layer(axum::middleware::from_fn(session::ensure_session));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/ws/terminal", get(terminal::bridge::upgrade))
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

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.sandboxes.backend().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(error) => (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.sandboxes.stats();
    let body = format!(
        "# HELP berth_sandboxes Sandboxes alive now.\n# TYPE berth_sandboxes gauge\nberth_sandboxes {}\n\
         # HELP berth_sandboxes_max Sandboxes allowed at once.\n# TYPE berth_sandboxes_max gauge\nberth_sandboxes_max {}\n\
         # HELP berth_terminals_attached Terminal sockets attached now.\n# TYPE berth_terminals_attached gauge\nberth_terminals_attached {}\n\
         # HELP berth_sandboxes_created_total Sandboxes created since start.\n# TYPE berth_sandboxes_created_total counter\nberth_sandboxes_created_total {}\n\
         # HELP berth_sandboxes_refused_total Learners told berth is full.\n# TYPE berth_sandboxes_refused_total counter\nberth_sandboxes_refused_total {}\n",
        stats.alive, stats.max, stats.attached, stats.created_total, stats.refused_total,
    );
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
    Progress(#[from] checks::progress::ProgressError),
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
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, removes all sandboxes, and waits for the server to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        self.state.sandboxes.remove_all().await;
        match tokio::time::timeout(std::time::Duration::from_secs(5), self.server).await {
            Ok(Ok(Err(error))) => tracing::warn!(%error, "server ended with an error"),
            Ok(_) => {}
            Err(_) => tracing::warn!("open connections did not close within 5s"),
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
    let progress = Arc::new(checks::progress::Progress::open(&config.data_dir)?);
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
    let sandboxes = Manager::new(backend, &config);
    sandboxes.spawn_reaper();
    let state = AppState {
        config: Arc::new(config),
        lessons,
        sandboxes,
        progress,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = app(state.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!("berth is serving on http://{local_addr}");
    Ok(Running {
        local_addr,
        state,
        stop,
        server,
    })
}
