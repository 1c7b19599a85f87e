//! Which sandbox each learner was given. A sandbox is made under a random id before anyone
//! claims it (the warm pool); the claim binds that id to the learner here. The engine's
//! objects carry only the sandbox id, so this table is how an operator finds whose they are.

use super::{Store, unix_now};

impl Store {
    /// Records that `learner` now has the sandbox `id`. A failure is logged, never fatal: the
    /// learner's terminal matters more than the record.
    pub fn bind_sandbox(&self, id: &str, learner: &str) {
        let bound = self.db().execute(
            "INSERT INTO sandboxes (id, learner, claimed_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO NOTHING",
            (id, learner, unix_now()),
        );
        if let Err(error) = bound {
            tracing::warn!(%error, sandbox = id, learner, "could not record a claimed sandbox");
        }
    }

    /// Records that the sandbox `id` was removed.
    pub fn end_sandbox(&self, id: &str) {
        let ended = self.db().execute(
            "UPDATE sandboxes SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL",
            (id, unix_now()),
        );
        if let Err(error) = ended {
            tracing::warn!(%error, sandbox = id, "could not record a removed sandbox");
        }
    }

    /// The learner a sandbox was given to, if it was claimed.
    pub fn sandbox_learner(&self, id: &str) -> Option<String> {
        use rusqlite::OptionalExtension;
        self.db()
            .query_row("SELECT learner FROM sandboxes WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()
            .ok()
            .flatten()
    }

    /// At start: nothing of an earlier run is alive (its objects are swept).
    pub(super) fn end_all_sandboxes(&self) {
        let _ = self.db().execute(
            "UPDATE sandboxes SET ended_at = ?1 WHERE ended_at IS NULL",
            [unix_now()],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_is_recorded_once_and_ended() {
        let dir = std::env::temp_dir().join(format!(
            "berth-store-sandboxes-{}-{}",
            std::process::id(),
            crate::session::random_hex(4)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir).unwrap();
        store.bind_sandbox("0123456789ab", "learner-a");
        store.bind_sandbox("0123456789ab", "learner-b");
        assert_eq!(
            store.sandbox_learner("0123456789ab").as_deref(),
            Some("learner-a")
        );
        store.end_sandbox("0123456789ab");
        let ended: Option<i64> = store
            .db()
            .query_row(
                "SELECT ended_at FROM sandboxes WHERE id = '0123456789ab'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(ended.is_some());
        assert_eq!(store.sandbox_learner("ffffffffffff"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
