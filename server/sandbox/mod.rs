//! Sandboxes: each learner's workstation and the shells in it.
//!
//! A [`Backend`] makes workstations (a hardened container, or this machine for `local`); the
//! [`Manager`] owns the live ones: one per learner, at most `max_sandboxes`, removed when idle,
//! when their lifetime is over, and all of them when berth stops.

pub mod docker;
pub mod firewall;
pub mod local;
pub mod pool;
mod reaper;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{OnceCell, mpsc};

use crate::config::{Config, SandboxKind};
use crate::session::LearnerId;
use crate::terminal::tab::Tab;

/// Terminal tabs a learner may open at once (`?tab=0` … `?tab=7`).
pub const MAX_TABS: u32 = 8;

/// A sandbox started ahead of a page's terminal that no terminal ever attaches to is removed
/// after this long (a prefetch, a crawler with cookies, a closed tab).
pub const UNCLAIMED_TIMEOUT: Duration = Duration::from_secs(90);

/// How often berth looks for objects of sandboxes that no longer exist (see
/// [`Manager::remove_orphans`]), and how long such a sandbox must have been seen gone before
/// its objects are removed: longer than any creation takes, so none is taken from under one.
pub const ORPHAN_LOOK: Duration = Duration::from_secs(60);
pub const ORPHAN_AGE: Duration = Duration::from_secs(5 * 60);

/// Sandboxes created at once when no warm one is ready (the engine is the limit).
pub const COLD_CREATIONS_AT_ONCE: usize = 8;

/// The id of one sandbox: 12 random hex digits that name everything it has in the engine
/// (`berth-ws-<id>`, `berth-<id>-web`, …). Bound to a learner when they claim it; a learner
/// who resets gets a sandbox with a new id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxId(String);

impl SandboxId {
    pub fn random() -> SandboxId {
        SandboxId(crate::session::random_hex(6))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SandboxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Bytes a backend may hold between the shell and berth, per shell. Small on purpose: when the
/// browser is slow, the shell itself has to wait.
pub const SHELL_CHANNEL_CHUNKS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    pub cols: u16,
    pub rows: u16,
}

impl Default for TermSize {
    fn default() -> Self {
        TermSize { cols: 80, rows: 24 }
    }
}

/// What berth sends to a shell.
#[derive(Debug)]
pub enum ShellInput {
    Data(Bytes),
    Resize(TermSize),
}

/// What a shell sends back. After `Exit` the channel closes.
#[derive(Debug)]
pub enum ShellEvent {
    Output(Bytes),
    Exit(Option<i64>),
}

/// A running shell: input goes in, output and finally the exit come out.
pub struct Shell {
    pub input: mpsc::Sender<ShellInput>,
    pub events: mpsc::Receiver<ShellEvent>,
    /// What marks the processes started from this shell (see [`Workstation::end_processes`]).
    pub mark: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("berth is full right now: {0} learners are practising. Try again in a minute.")]
    Full(usize),
    #[error(
        "the workstation image {image} is missing; build it with: sudo images/workstation/build-offline.sh {image}"
    )]
    ImageMissing { image: String },
    #[error("the Docker engine is not answering: {0}")]
    Engine(String),
    #[error("the Docker engine refused: {0}")]
    EngineRefused(String),
    #[error("berth is full: no network addresses are left. Try again in a minute.")]
    NoAddresses,
    #[error(
        "berth could not close the host's ports to learners' networks ({0}); run berth as root with iptables installed, or pass --host-firewall false when the host is protected another way"
    )]
    Firewall(String),
    #[error(
        "the local sandbox runs shells on this machine, so berth only allows it on a loopback address (listening on {0}); use --sandbox docker or --listen 127.0.0.1:8080"
    )]
    LocalNotOnLoopback(std::net::SocketAddr),
    #[error("tab must be a number from 0 to {}", MAX_TABS - 1)]
    BadTab,
    #[error("this sandbox has ended")]
    Ended,
    #[error("cannot start a shell: {0}")]
    Shell(String),
}

/// Makes and removes workstations.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `docker` or `local`, as the page and the log say it.
    fn name(&self) -> &'static str;
    /// Whether the backend can make workstations now (for `/readyz`).
    async fn ping(&self) -> Result<(), SandboxError>;
    /// Makes and starts a workstation; everything of it in the engine is named by `id`.
    async fn create(&self, id: &SandboxId) -> Result<Box<dyn Workstation>, SandboxError>;
    /// Removes what an earlier run of this instance left behind; returns how many objects.
    async fn remove_leftovers(&self) -> Result<usize, SandboxError>;
    /// Starts pulling the images lessons name, in the background, so a class does not wait.
    fn prefetch(&self, _images: Vec<String>) {}
    /// Undoes what the backend set up on the host (after every sandbox is gone).
    async fn stop(&self) {}
    /// The sandboxes (by id) that have objects of this instance on the engine.
    async fn owners(&self) -> Result<std::collections::HashSet<String>, SandboxError> {
        Ok(Default::default())
    }
    /// Removes every object of these sandboxes, which no longer exist; returns how many.
    async fn remove_owned_by(&self, _sandboxes: &[String]) -> usize {
        0
    }
}

/// One learner's workstation.
#[async_trait]
pub trait Workstation: Send + Sync + 'static {
    /// The container id, or a description for `local`.
    fn id(&self) -> &str;
    async fn attach_shell(&self, size: TermSize) -> Result<Shell, SandboxError>;
    async fn remove(&self) -> Result<(), SandboxError>;
    /// Whether it still runs (asked before a warm one is handed out).
    async fn alive(&self) -> bool {
        true
    }
    /// The learner's scoped Docker engine, when the backend gives them one.
    fn scope(&self) -> Option<Arc<crate::engine::Scope>> {
        None
    }
    /// Runs a command as the learner, without a terminal (checks' probes): its exit code and
    /// the start of its output. `SandboxError::Shell("timeout")` when it takes too long.
    async fn run(&self, command: &str, timeout: Duration) -> Result<(i64, String), SandboxError>;
    /// Ends every process a shell started (the shell itself stays): it must work while the
    /// workstation is at its process limit. Returns how many ended.
    async fn end_processes(&self, _mark: &str) -> Result<usize, SandboxError> {
        Err(SandboxError::Shell(
            "this sandbox cannot end a tab's processes".to_owned(),
        ))
    }
}

/// What a check reads of a command's output.
pub const MAX_RUN_OUTPUT: usize = 64 * 1024;

/// A learner's live workstation and its terminal tabs.
pub struct Sandbox {
    pub learner: LearnerId,
    /// What names it in the engine.
    pub id: SandboxId,
    workstation: Box<dyn Workstation>,
    created: Instant,
    deadline: Instant,
    last_activity: Mutex<Instant>,
    attached: AtomicUsize,
    ever_attached: AtomicBool,
    tabs: tokio::sync::Mutex<HashMap<u32, Arc<Tab>>>,
    /// Signalled when the learner presses Enter in any tab: the lesson's checks look again.
    entered: Arc<tokio::sync::Notify>,
}

impl Sandbox {
    pub fn workstation_id(&self) -> &str {
        self.workstation.id()
    }

    /// The learner's scoped Docker engine (the docker backend has one).
    pub fn scope(&self) -> Option<Arc<crate::engine::Scope>> {
        self.workstation.scope()
    }

    /// Runs a command as the learner (see [`Workstation::run`]).
    pub async fn run(
        &self,
        command: &str,
        timeout: Duration,
    ) -> Result<(i64, String), SandboxError> {
        self.workstation.run(command, timeout).await
    }

    /// Time left before the lifetime limit removes this sandbox.
    pub fn expires_in(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub fn touch(&self) {
        *self.last_activity.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_activity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// Counts a terminal socket as attached until the guard drops.
    pub fn attach_guard(self: &Arc<Self>) -> AttachGuard {
        self.attached.fetch_add(1, Ordering::SeqCst);
        self.ever_attached.store(true, Ordering::SeqCst);
        self.touch();
        AttachGuard(self.clone())
    }

    /// The shell of tab `number`, started when there is none (or the last one exited).
    pub async fn tab(&self, number: u32, size: TermSize) -> Result<Arc<Tab>, SandboxError> {
        if number >= MAX_TABS {
            return Err(SandboxError::BadTab);
        }
        let mut tabs = self.tabs.lock().await;
        if let Some(tab) = tabs.get(&number).filter(|tab| !tab.has_exited()) {
            // A shell started ahead (the warm pool) or by another window: fit it to this one.
            tab.resize(size).await;
            return Ok(tab.clone());
        }
        let shell = self.workstation.attach_shell(size).await?;
        let tab = Tab::start(shell);
        tabs.insert(number, tab.clone());
        Ok(tab)
    }

    /// Ends what the shell of tab `number` started, keeping the shell.
    pub async fn end_processes(&self, number: u32) -> Result<usize, SandboxError> {
        let mark = self
            .tabs
            .lock()
            .await
            .get(&number)
            .and_then(|tab| tab.mark().map(str::to_owned));
        match mark {
            Some(mark) => self.workstation.end_processes(&mark).await,
            None => Ok(0),
        }
    }

    /// Ends the shell of tab `number` and what runs in it, as closing a terminal window does.
    pub async fn close_tab(&self, number: u32) {
        if let Some(tab) = self.tabs.lock().await.remove(&number) {
            tab.end("the tab was closed");
        }
    }

    /// Wakes whoever waits for [`Sandbox::entered`]: the learner ran a command in some tab.
    pub fn enter_pressed(&self) {
        self.entered.notify_one();
    }

    /// The signal of [`Sandbox::enter_pressed`].
    pub fn entered(&self) -> Arc<tokio::sync::Notify> {
        self.entered.clone()
    }

    async fn end(&self, reason: &str) {
        for (_, tab) in self.tabs.lock().await.drain() {
            tab.end(reason);
        }
        if let Err(error) = self.workstation.remove().await {
            tracing::warn!(learner = %self.learner, sandbox = %self.id, %error, "could not remove workstation");
        }
    }
}

/// While alive, the sandbox has a terminal attached and is not idle.
pub struct AttachGuard(Arc<Sandbox>);

impl Drop for AttachGuard {
    fn drop(&mut self) {
        self.0.touch();
        self.0.attached.fetch_sub(1, Ordering::SeqCst);
    }
}

type Slot = Arc<OnceCell<Arc<Sandbox>>>;

/// A workstation for a learner: its sandbox id, the workstation, its first shell when it came
/// from the warm pool, and whether it did.
type Claimed = (SandboxId, Box<dyn Workstation>, Option<Arc<Tab>>, bool);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub alive: usize,
    pub max: usize,
    pub attached: usize,
    pub created_total: u64,
    pub refused_total: u64,
}

/// Owns every live sandbox, and the warm pool of sandboxes no one has claimed yet.
pub struct Manager {
    backend: Arc<dyn Backend>,
    pool: pool::Pool,
    /// Creations when the pool is empty: in parallel, up to a bound.
    cold: tokio::sync::Semaphore,
    /// Where claims are recorded (sandbox id → learner).
    store: Option<Arc<crate::store::Store>>,
    stopping: AtomicBool,
    max_sandboxes: usize,
    idle_timeout: Duration,
    max_lifetime: Duration,
    slots: Mutex<HashMap<LearnerId, Slot>>,
    created_total: AtomicU64,
    /// Creations under way: shutdown waits for them, so none finishes after it and leaks.
    creating: tokio::sync::watch::Sender<usize>,
    /// Removals under way (the reaper's, a reset's): shutdown waits for them too, or the
    /// process could end halfway through one and leave its network and home behind.
    removing: tokio::sync::watch::Sender<usize>,
    refused_total: AtomicU64,
    /// Sandboxes with objects on the engine but no place in berth, and when each was first
    /// seen so.
    orphans: Mutex<HashMap<String, Instant>>,
    /// Sandboxes berth removed, and when: what the engine still has of them is an orphan at
    /// once (no creation can be under way for them).
    ended: Mutex<HashMap<String, Instant>>,
}

/// Counts one piece of work under way for as long as it lives, even when its future is
/// dropped halfway.
struct Busy(tokio::sync::watch::Sender<usize>);

impl Busy {
    fn new(counter: &tokio::sync::watch::Sender<usize>) -> Busy {
        counter.send_modify(|n| *n += 1);
        Busy(counter.clone())
    }

    /// Whether all the work `counter` counts has ended, waiting up to `within` for it.
    async fn all_ended(counter: &tokio::sync::watch::Sender<usize>, within: Duration) -> bool {
        let mut count = counter.subscribe();
        tokio::time::timeout(within, count.wait_for(|n| *n == 0))
            .await
            .is_ok()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Manager {
    pub fn new(
        backend: Arc<dyn Backend>,
        config: &Config,
        store: Option<Arc<crate::store::Store>>,
    ) -> Arc<Manager> {
        Arc::new(Manager {
            backend,
            pool: pool::Pool::new(config.warm),
            cold: tokio::sync::Semaphore::new(COLD_CREATIONS_AT_ONCE),
            store,
            stopping: AtomicBool::new(false),
            max_sandboxes: config.max_sandboxes,
            idle_timeout: config.idle_timeout,
            max_lifetime: config.max_lifetime,
            slots: Mutex::new(HashMap::new()),
            created_total: AtomicU64::new(0),
            creating: tokio::sync::watch::channel(0).0,
            removing: tokio::sync::watch::channel(0).0,
            refused_total: AtomicU64::new(0),
            orphans: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
        })
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<LearnerId, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when this learner has no sandbox and a new one would be refused.
    pub fn would_refuse(&self, learner: &LearnerId) -> bool {
        let slots = self.slots();
        !slots.contains_key(learner) && slots.len() >= self.max_sandboxes
    }

    /// The learner's live sandbox, if any.
    pub fn get(&self, learner: &LearnerId) -> Option<Arc<Sandbox>> {
        self.slots()
            .get(learner)
            .and_then(|slot| slot.get().cloned())
    }

    /// The learner's sandbox, created on first use. Concurrent callers for one learner share
    /// one creation.
    pub async fn get_or_create(
        self: &Arc<Self>,
        learner: &LearnerId,
    ) -> Result<Arc<Sandbox>, SandboxError> {
        // Counted before looking at `stopping`: either shutdown sees this creation and waits
        // for it, or this creation sees that berth is stopping and makes nothing (one begun
        // after shutdown's wait would outlive its sweep).
        let busy = Busy::new(&self.creating);
        if self.stopping() {
            return Err(SandboxError::Ended);
        }
        let slot = {
            let mut slots = self.slots();
            match slots.get(learner) {
                Some(slot) => slot.clone(),
                None if slots.len() >= self.max_sandboxes => {
                    self.refused_total.fetch_add(1, Ordering::Relaxed);
                    return Err(SandboxError::Full(slots.len()));
                }
                None => {
                    let slot = Slot::default();
                    slots.insert(learner.clone(), slot.clone());
                    slot
                }
            }
        };
        if let Some(sandbox) = slot.get() {
            return Ok(sandbox.clone());
        }
        // The rest runs in a task of its own. The caller may go away halfway (a page closed, a
        // request given up), but the engine carries out what it was asked all the same:
        // dropping the requests would leave a network made a moment later behind. The task
        // sees the creation through to a sandbox in its slot or removed, and is counted in
        // `creating` until then, so shutdown waits for it.
        let manager = self.clone();
        let learner = learner.clone();
        tokio::spawn(async move {
            let _busy = busy;
            manager.fill(&learner, &slot).await
        })
        .await
        .unwrap_or(Err(SandboxError::Ended))
    }

    /// Creates the sandbox of `slot` (or waits for the creation under way) and hands it out
    /// if the slot is still the learner's; removes it if not.
    async fn fill(&self, learner: &LearnerId, slot: &Slot) -> Result<Arc<Sandbox>, SandboxError> {
        let created = slot
            .get_or_try_init(|| async {
                let started = Instant::now();
                self.pool.arrive();
                let (id, workstation, first_tab, warm) = self.claim_or_create().await?;
                self.created_total.fetch_add(1, Ordering::Relaxed);
                if let Some(store) = &self.store {
                    store.bind_sandbox(id.as_str(), learner.as_str());
                }
                tracing::info!(
                    %learner,
                    sandbox = %id,
                    warm,
                    took_ms = started.elapsed().as_millis() as u64,
                    "sandbox ready"
                );
                let now = Instant::now();
                let tabs = first_tab.map(|tab| (0, tab)).into_iter().collect();
                Ok(Arc::new(Sandbox {
                    learner: learner.clone(),
                    id,
                    workstation,
                    created: now,
                    deadline: now + self.max_lifetime,
                    last_activity: Mutex::new(now),
                    attached: AtomicUsize::new(0),
                    ever_attached: AtomicBool::new(false),
                    tabs: tokio::sync::Mutex::new(tabs),
                    entered: Arc::default(),
                }))
            })
            .await;
        match created {
            Ok(sandbox) => {
                let still_wanted = self
                    .slots()
                    .get(learner)
                    .is_some_and(|s| Arc::ptr_eq(s, slot));
                if !still_wanted {
                    // Removed (shutdown, reaper) while it was being created: do not leak it.
                    sandbox.end("the sandbox was removed while starting").await;
                    return Err(SandboxError::Ended);
                }
                Ok(sandbox.clone())
            }
            Err(error) => {
                let mut slots = self.slots();
                if slots.get(learner).is_some_and(|s| Arc::ptr_eq(s, slot)) {
                    slots.remove(learner);
                }
                Err(error)
            }
        }
    }

    /// A warm slot when one is ready, else a workstation made now (a few at a time).
    async fn claim_or_create(&self) -> Result<Claimed, SandboxError> {
        while let Some(warm) = self.pool.take() {
            // Its shell may not have noticed yet that the container died.
            if !warm.workstation.alive().await {
                self.pool.discard(warm);
                continue;
            }
            self.pool.claims.fetch_add(1, Ordering::Relaxed);
            return Ok((warm.id, warm.workstation, Some(warm.tab), true));
        }
        self.pool.misses.fetch_add(1, Ordering::Relaxed);
        let _permit = self.cold.acquire().await.map_err(|_| SandboxError::Ended)?;
        let id = SandboxId::random();
        let workstation = self.backend.create(&id).await?;
        Ok((id, workstation, None, false))
    }

    /// Sandboxes that may still be made (claimed ones count, the pool's do not).
    fn room(&self) -> usize {
        self.max_sandboxes.saturating_sub(self.slots().len())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Starts keeping `--warm` slots ready (and more while learners arrive).
    pub fn spawn_pool(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        pool::spawn_refills(Arc::downgrade(self))
    }

    /// The warm pool's figures, for `/metrics`.
    pub fn pool_stats(&self) -> pool::PoolStats {
        self.pool.stats(self.room())
    }

    /// Starts the learner's sandbox in the background, so that the terminal a page is about to
    /// open finds it ready. Does nothing when berth is full or the sandbox exists.
    pub fn prewarm(self: &Arc<Self>, learner: &LearnerId) {
        if self.would_refuse(learner) || self.slots().contains_key(learner) {
            return;
        }
        let manager = self.clone();
        let learner = learner.clone();
        tokio::spawn(async move {
            if let Err(error) = manager.get_or_create(&learner).await {
                tracing::debug!(%learner, %error, "prewarm failed");
            }
        });
    }

    /// Removes the learner's sandbox (its terminals are told why).
    pub async fn remove(&self, learner: &LearnerId, reason: &str) {
        let slot = self.slots().remove(learner);
        if let Some(sandbox) = slot.and_then(|slot| slot.get().cloned()) {
            tracing::info!(%learner, sandbox = %sandbox.id, reason, "removing sandbox");
            {
                let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
                ended.retain(|_, at| at.elapsed() < ORPHAN_AGE);
                ended.insert(sandbox.id.as_str().to_owned(), Instant::now());
            }
            // In a task of its own, as creation is: a caller that goes away halfway (a reset
            // whose page was closed) does not leave the sandbox half removed.
            let busy = Busy::new(&self.removing);
            let store = self.store.clone();
            let reason = reason.to_owned();
            let removal = tokio::spawn(async move {
                let _busy = busy;
                sandbox.end(&reason).await;
                if let Some(store) = &store {
                    store.end_sandbox(sandbox.id.as_str());
                }
            });
            let _ = removal.await;
        }
    }

    /// Removes every sandbox; called on shutdown.
    pub async fn remove_all(&self) {
        let learners: Vec<LearnerId> = self.slots().keys().cloned().collect();
        let removals = learners
            .iter()
            .map(|learner| self.remove(learner, "berth is shutting down"));
        futures_util::future::join_all(removals).await;
    }

    /// Removes what sandboxes that no longer exist left on the engine: at once for those berth
    /// removed itself, for others once they have been seen gone for `min_age`. A removal
    /// leaves such things when a request of the learner's was still under way at the engine:
    /// the engine carries it out though berth stopped listening, and a container created a
    /// moment after the removal would otherwise stay, outside every quota, until berth
    /// restarts. Returns how many objects went.
    pub async fn remove_orphans(&self, min_age: Duration) -> usize {
        // Counted before looking at `stopping`, as a creation is.
        let _busy = Busy::new(&self.removing);
        if self.stopping() {
            return 0;
        }
        let Ok(present) = self.backend.owners().await else {
            return 0;
        };
        // Looked at after the engine: a sandbox made since is young, not gone.
        let mut live: std::collections::HashSet<String> = self
            .slots()
            .values()
            .filter_map(|slot| slot.get().map(|sandbox| sandbox.id.as_str().to_owned()))
            .collect();
        live.extend(self.pool.ids());
        let now = Instant::now();
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let due: Vec<String> = {
            let mut orphans = self.orphans.lock().unwrap_or_else(|e| e.into_inner());
            orphans.retain(|id, _| present.contains(id) && !live.contains(id));
            for id in present.difference(&live) {
                orphans.entry(id.clone()).or_insert(now);
            }
            orphans
                .iter()
                .filter(|(id, seen)| {
                    ended.contains_key(*id) || now.duration_since(**seen) >= min_age
                })
                .map(|(id, _)| id.clone())
                .collect()
        };
        if due.is_empty() {
            return 0;
        }
        let removed = self.backend.remove_owned_by(&due).await;
        tracing::info!(
            sandboxes = ?due,
            removed,
            "removed what sandboxes that no longer exist left behind"
        );
        let mut orphans = self.orphans.lock().unwrap_or_else(|e| e.into_inner());
        for id in &due {
            orphans.remove(id);
        }
        removed
    }

    /// Makes nothing new from now on, and removes nothing: what a crash leaves.
    pub fn halt(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Removes every sandbox, then what the backend set up on the host; called on shutdown.
    /// Sandboxes still being created are waited for, and whatever this instance left on the
    /// engine is swept, so a stop never leaves anything behind.
    pub async fn shutdown(&self) {
        self.halt();
        self.remove_all().await;
        for warm in self.pool.drain() {
            warm.tab.end("berth is shutting down");
            let _ = warm.workstation.remove().await;
        }
        let within = Duration::from_secs(60);
        if !Busy::all_ended(&self.creating, within).await || !self.pool.settled(within).await {
            tracing::warn!("sandboxes were still being created at shutdown");
        }
        if !Busy::all_ended(&self.removing, within).await {
            tracing::warn!("sandboxes were still being removed at shutdown");
        }
        self.remove_all().await;
        for warm in self.pool.drain() {
            let _ = warm.workstation.remove().await;
        }
        match self.backend.remove_leftovers().await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "swept what was left at shutdown"),
            Err(error) => tracing::warn!(%error, "could not sweep at shutdown"),
        }
        self.backend.stop().await;
    }

    pub fn stats(&self) -> Stats {
        let slots = self.slots();
        let attached = slots
            .values()
            .filter_map(|slot| slot.get())
            .map(|sandbox| sandbox.attached.load(Ordering::SeqCst))
            .sum();
        Stats {
            alive: slots.len(),
            max: self.max_sandboxes,
            attached,
            created_total: self.created_total.load(Ordering::Relaxed),
            refused_total: self.refused_total.load(Ordering::Relaxed),
        }
    }

    /// Starts the task that removes idle and expired sandboxes.
    pub fn spawn_reaper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        reaper::spawn(Arc::downgrade(self))
    }

    /// Sandboxes that are due for removal now, with the reason.
    fn due(&self) -> Vec<(LearnerId, &'static str)> {
        self.slots()
            .iter()
            .filter_map(|(learner, slot)| slot.get().map(|sandbox| (learner, sandbox)))
            .filter_map(|(learner, sandbox)| {
                if sandbox.created.elapsed() >= self.max_lifetime {
                    Some((learner.clone(), "the sandbox reached its maximum lifetime"))
                } else if sandbox.attached.load(Ordering::SeqCst) > 0 {
                    None
                } else if sandbox.idle_for() >= self.idle_timeout {
                    Some((learner.clone(), "the sandbox was idle too long"))
                } else if !sandbox.ever_attached.load(Ordering::SeqCst)
                    && sandbox.idle_for() >= UNCLAIMED_TIMEOUT.min(self.idle_timeout)
                {
                    Some((learner.clone(), "no terminal ever attached to the sandbox"))
                } else {
                    None
                }
            })
            .collect()
    }

    fn tick(&self) -> Duration {
        let shortest = self.idle_timeout.min(self.max_lifetime);
        (shortest / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
    }
}

/// Picks and prepares the backend the configuration asks for.
pub async fn backend_for(
    config: &Config,
    instance: &str,
    lesson_images: &[String],
) -> Result<Arc<dyn Backend>, SandboxError> {
    // A local shell gets a scoped engine too, when an engine answers.
    let local = || async {
        if !config.listen.ip().is_loopback() {
            return Err(SandboxError::LocalNotOnLoopback(config.listen));
        }
        let endpoint = crate::engine::wire::Endpoint::from_env();
        let engine = match endpoint.connect().await {
            Ok(_) => Some(docker::engine_settings(
                config,
                instance,
                lesson_images,
                &endpoint,
            )?),
            Err(_) => None,
        };
        Ok(Arc::new(local::LocalBackend::new(engine)) as Arc<dyn Backend>)
    };
    match config.sandbox {
        SandboxKind::Local => local().await,
        SandboxKind::Docker => Ok(Arc::new(
            docker::DockerBackend::connect(config, instance, lesson_images).await?,
        )),
        SandboxKind::Auto => {
            match docker::DockerBackend::connect(config, instance, lesson_images).await {
                Ok(backend) => Ok(Arc::new(backend)),
                Err(reason) => {
                    tracing::warn!(%reason, "docker backend unavailable, trying local");
                    local().await.map_err(|_| reason)
                }
            }
        }
    }
}
