//! The reaper: removes sandboxes that sat idle (no terminal attached, no input) past the idle
//! timeout, and any that reached the maximum lifetime; now and then, what sandboxes that no
//! longer exist left on the engine.

use std::sync::Weak;
use std::time::Instant;

use super::{Manager, ORPHAN_AGE, ORPHAN_LOOK};

/// Runs until the manager is dropped.
pub(super) fn spawn(manager: Weak<Manager>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut looked = Instant::now();
        loop {
            let Some(tick) = manager.upgrade().map(|m| m.tick()) else {
                return;
            };
            tokio::time::sleep(tick).await;
            let Some(manager) = manager.upgrade() else {
                return;
            };
            for (learner, reason) in manager.due() {
                manager.remove(&learner, reason).await;
            }
            if looked.elapsed() >= ORPHAN_LOOK {
                looked = Instant::now();
                manager.remove_orphans(ORPHAN_AGE).await;
            }
        }
    })
}
