//! The reaper: removes sandboxes that sat idle (no terminal attached, no input) past the idle
//! timeout, and any that reached the maximum lifetime.

use std::sync::Weak;

use super::Manager;

/// Runs until the manager is dropped.
pub(super) fn spawn(manager: Weak<Manager>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
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
        }
    })
}
