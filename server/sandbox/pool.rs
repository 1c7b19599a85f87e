//! The warm pool: workstations started ahead of time, with a shell already at its prompt, that
//! belong to no learner yet. Each is made under a fresh random sandbox id (which names
//! everything it has in the engine: container, network, home, socket, budget); a learner who
//! arrives claims one and the id is bound to them in the store. Nothing is renamed, and a
//! claimed slot is never handed out again: a reset means a fresh slot.
//!
//! The pool keeps `--warm` slots ready, plus one for every learner who arrived in the last few
//! minutes (a class arriving at once draws the pool down and it grows back behind them), never
//! more than berth has room for. It refills in the background, a few at a time; while the
//! engine does not answer it waits, says so once, and goes on when the engine is back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use super::{Manager, SandboxId, TermSize, Workstation};
use crate::terminal::tab::Tab;

/// Arrivals this recent count towards how many slots to keep ready.
const DEMAND_WINDOW: Duration = Duration::from_secs(180);
/// Slots made at once while refilling.
const REFILLS_AT_ONCE: usize = 4;
/// After a failed refill (the engine away), wait this long before the next try.
const REFILL_BACKOFF: Duration = Duration::from_secs(5);

/// A slot: a started workstation and the shell of its first tab, at its prompt.
pub struct Warm {
    pub id: SandboxId,
    pub workstation: Box<dyn Workstation>,
    pub tab: Arc<Tab>,
}

#[derive(Default)]
pub struct Pool {
    /// `--warm`: slots kept ready even when no one arrives.
    floor: usize,
    ready: Mutex<VecDeque<Warm>>,
    filling: AtomicUsize,
    arrivals: Mutex<VecDeque<Instant>>,
    wake: Notify,
    pub claims: AtomicU64,
    pub misses: AtomicU64,
    pub discarded: AtomicU64,
    refills: AtomicU64,
    refill_ms: AtomicU64,
    engine_away: std::sync::atomic::AtomicBool,
}

/// What `/metrics` says of the pool.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStats {
    pub ready: usize,
    pub filling: usize,
    pub target: usize,
    pub claims: u64,
    pub misses: u64,
    pub discarded: u64,
    pub refills: u64,
    pub refill_seconds: f64,
}

impl Pool {
    pub fn new(floor: usize) -> Pool {
        Pool {
            floor,
            ..Pool::default()
        }
    }

    fn ready(&self) -> std::sync::MutexGuard<'_, VecDeque<Warm>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A learner arrived (claimed or not): demand for the next minutes.
    pub fn arrive(&self) {
        let mut arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        arrivals.push_back(now);
        while arrivals
            .front()
            .is_some_and(|at| now.duration_since(*at) > DEMAND_WINDOW)
        {
            arrivals.pop_front();
        }
        drop(arrivals);
        self.wake.notify_one();
    }

    fn recent_arrivals(&self) -> usize {
        let arrivals = self.arrivals.lock().unwrap_or_else(|e| e.into_inner());
        arrivals
            .iter()
            .filter(|at| at.elapsed() <= DEMAND_WINDOW)
            .count()
    }

    /// How many slots to keep ready now, with `room` sandboxes left in berth.
    pub fn target(&self, room: usize) -> usize {
        if self.floor == 0 {
            return 0;
        }
        (self.floor + self.recent_arrivals()).min(room)
    }

    /// A ready slot whose shell is still alive; dead ones are discarded on the way.
    pub fn take(&self) -> Option<Warm> {
        loop {
            let warm = self.ready().pop_front()?;
            if warm.tab.has_exited() {
                self.discard(warm);
                continue;
            }
            self.wake.notify_one();
            return Some(warm);
        }
    }

    /// Throws a dead slot away (removed from the engine in the background).
    pub fn discard(&self, warm: Warm) {
        self.discarded.fetch_add(1, Ordering::Relaxed);
        tracing::info!(sandbox = %warm.id, "a warm workstation died; discarded");
        tokio::spawn(async move {
            warm.tab.end("the warm slot was discarded");
            let _ = warm.workstation.remove().await;
        });
    }

    /// Removes slots whose shell ended (their container died, the engine restarted) and
    /// those beyond `keep` (berth filled up with claimed sandboxes).
    fn prune(&self, keep: usize) {
        let mut dead = Vec::new();
        let mut gone = Vec::new();
        {
            let mut ready = self.ready();
            let mut index = 0;
            while index < ready.len() {
                if ready[index].tab.has_exited() {
                    dead.extend(ready.remove(index));
                } else {
                    index += 1;
                }
            }
            while ready.len() > keep {
                gone.extend(ready.pop_back());
            }
        }
        for warm in dead {
            self.discard(warm);
        }
        for warm in gone {
            tokio::spawn(async move {
                warm.tab.end("the warm slot was discarded");
                let _ = warm.workstation.remove().await;
            });
        }
    }

    pub fn len(&self) -> usize {
        self.ready().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until no slot is being made (at shutdown, after refills stopped), up to `limit`.
    pub async fn settled(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.filling.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }

    /// The ids of the slots ready now.
    pub fn ids(&self) -> Vec<String> {
        self.ready()
            .iter()
            .map(|warm| warm.id.as_str().to_owned())
            .collect()
    }

    /// Every ready slot, for removal (shutdown).
    pub fn drain(&self) -> Vec<Warm> {
        self.ready().drain(..).collect()
    }

    pub fn stats(&self, room: usize) -> PoolStats {
        let refills = self.refills.load(Ordering::Relaxed);
        PoolStats {
            ready: self.len(),
            filling: self.filling.load(Ordering::Relaxed),
            target: self.target(room),
            claims: self.claims.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
            refills,
            refill_seconds: self.refill_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

/// Makes one slot: a workstation under a fresh id, and its first shell.
async fn make(manager: &Manager) -> Result<Warm, super::SandboxError> {
    let id = SandboxId::random();
    let workstation = manager.backend.create(&id).await?;
    match workstation.attach_shell(TermSize::default()).await {
        Ok(shell) => Ok(Warm {
            id,
            tab: Tab::start(shell),
            workstation,
        }),
        Err(error) => {
            let _ = workstation.remove().await;
            Err(error)
        }
    }
}

/// Keeps the pool filled while the manager lives.
pub fn spawn_refills(manager: Weak<Manager>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let permits = Arc::new(Semaphore::new(REFILLS_AT_ONCE));
        loop {
            let Some(strong) = manager.upgrade() else {
                return;
            };
            let pool = &strong.pool;
            pool.prune(strong.room());
            let wanted = pool.target(strong.room());
            let have = pool.len() + pool.filling.load(Ordering::SeqCst);
            if have < wanted && !strong.stopping() {
                if let Ok(permit) = permits.clone().try_acquire_owned() {
                    pool.filling.fetch_add(1, Ordering::SeqCst);
                    let weak = manager.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        let Some(manager) = weak.upgrade() else {
                            return;
                        };
                        let started = Instant::now();
                        let made = make(&manager).await;
                        let pool = &manager.pool;
                        match made {
                            Ok(warm) if !manager.stopping() => {
                                pool.refills.fetch_add(1, Ordering::Relaxed);
                                pool.refill_ms.fetch_add(
                                    started.elapsed().as_millis() as u64,
                                    Ordering::Relaxed,
                                );
                                if pool.engine_away.swap(false, Ordering::SeqCst) {
                                    tracing::info!(
                                        "the engine answers again: the warm pool refills"
                                    );
                                }
                                pool.ready().push_back(warm);
                            }
                            Ok(warm) => {
                                warm.tab.end("berth is shutting down");
                                let _ = warm.workstation.remove().await;
                            }
                            Err(error) => {
                                if !pool.engine_away.swap(true, Ordering::SeqCst) {
                                    tracing::warn!(%error, "the warm pool cannot refill; trying again every few seconds");
                                }
                                tokio::time::sleep(REFILL_BACKOFF).await;
                            }
                        }
                        pool.filling.fetch_sub(1, Ordering::SeqCst);
                        pool.wake.notify_one();
                    });
                    continue;
                }
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), pool.wake.notified()).await;
        }
    })
}
