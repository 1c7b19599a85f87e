//! berth's own records, in one SQLite file in the data dir (`berth.sqlite3`): learners, their
//! sessions and their progress. This is the only place that opens SQLite and changes its
//! schema; everything else asks the [`Store`].
//!
//! - [`sessions`]: who a cookie belongs to. Learner ids are random, assigned here.
//! - `passed` (read and written by `checks::progress`): the exercises each learner passed.
//! - [`sandboxes`]: which sandbox each learner was given (a warm slot's id is bound late).
//!
//! The schema grows by [`MIGRATIONS`], applied in order and counted in `PRAGMA user_version`.
//! Progress kept by earlier versions in `progress.sqlite3` is copied in once.

pub mod sandboxes;
pub mod sessions;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension};

pub use self::sessions::{KnownSession, SessionKey};

/// The database file, in the data dir.
pub const FILE_NAME: &str = "berth.sqlite3";

/// Where berth kept progress before there was a store; imported once.
const LEGACY_PROGRESS_FILE: &str = "progress.sqlite3";

/// Each entry moves the schema one version on; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 1: progress as progress.sqlite3 had it, learners with random ids, their sessions.
    "CREATE TABLE passed (
         learner TEXT NOT NULL,
         lesson TEXT NOT NULL,
         exercise TEXT NOT NULL,
         at INTEGER NOT NULL,
         PRIMARY KEY (learner, lesson, exercise)
     );
     CREATE TABLE learners (
         id TEXT PRIMARY KEY,
         created_at INTEGER NOT NULL
     );
     CREATE TABLE sessions (
         secret_hash BLOB PRIMARY KEY,
         learner TEXT NOT NULL REFERENCES learners (id),
         created_at INTEGER NOT NULL,
         cookie_sent_at INTEGER NOT NULL
     );
     CREATE INDEX sessions_by_learner ON sessions (learner);
     CREATE TABLE meta (
         key TEXT PRIMARY KEY,
         value TEXT NOT NULL
     );",
    // 2: which sandbox (its random id names it in the engine) each learner was given, and when.
    "CREATE TABLE sandboxes (
         id TEXT PRIMARY KEY,
         learner TEXT NOT NULL,
         claimed_at INTEGER NOT NULL,
         ended_at INTEGER
     );
     CREATE INDEX sandboxes_by_learner ON sandboxes (learner);",
];

#[derive(Debug, thiserror::Error)]
#[error("database {path}: {source}")]
pub struct StoreError {
    path: PathBuf,
    source: rusqlite::Error,
}

/// The one owner of berth's SQLite connection, and of sessions issued but not yet kept.
pub struct Store {
    db: Mutex<Connection>,
    pending: Mutex<sessions::Pending>,
}

impl Store {
    /// Opens (or creates) `<data-dir>/berth.sqlite3`, brings its schema up to date and imports
    /// the progress an earlier berth kept in `progress.sqlite3`.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(FILE_NAME);
        let error = |source| StoreError {
            path: path.clone(),
            source,
        };
        let mut db = Connection::open(&path).map_err(error)?;
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(error)?;
        migrate(&mut db).map_err(error)?;
        let store = Store {
            db: Mutex::new(db),
            pending: Mutex::default(),
        };
        store.import_legacy_progress(&data_dir.join(LEGACY_PROGRESS_FILE));
        store.prune();
        store.end_all_sandboxes();
        Ok(store)
    }

    /// The connection, for the modules whose tables live here.
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn meta(&self, key: &str) -> Option<String> {
        self.db()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .ok()
            .flatten()
    }

    fn set_meta(db: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        .map(drop)
    }

    /// Copies `progress.sqlite3` of an earlier berth in, once. Its learners are the ids that
    /// berth derived from their cookies; [`sessions`] adopts them when those cookies return.
    /// The old file stays where it is (an older berth could still use it).
    fn import_legacy_progress(&self, path: &Path) {
        if !path.exists() || self.meta("imported-progress").is_some() {
            return;
        }
        let imported = (|| -> rusqlite::Result<usize> {
            let mut db = self.db();
            db.execute("ATTACH DATABASE ?1 AS legacy", [path.to_string_lossy()])?;
            let copied = (|| {
                let tx = db.transaction()?;
                let copied = tx.execute(
                    "INSERT OR IGNORE INTO passed (learner, lesson, exercise, at)
                     SELECT learner, lesson, exercise, at FROM legacy.passed",
                    [],
                )?;
                let now = unix_now().to_string();
                Store::set_meta(&tx, "imported-progress", &now)?;
                if copied > 0 {
                    let until = unix_now() + sessions::LEGACY_COOKIE_LIFETIME.as_secs() as i64;
                    Store::set_meta(&tx, sessions::LEGACY_UNTIL_KEY, &until.to_string())?;
                }
                tx.commit()?;
                Ok(copied)
            })();
            db.execute("DETACH DATABASE legacy", [])?;
            copied
        })();
        match imported {
            Ok(rows) => tracing::info!(
                rows,
                from = %path.display(),
                "imported the progress an earlier berth kept (that file is no longer used)"
            ),
            Err(error) => tracing::warn!(
                %error,
                from = %path.display(),
                "could not import earlier progress; will try again at the next start"
            ),
        }
    }

    /// Forgets what can no longer be used: sessions whose cookie has expired in every browser,
    /// pending sessions nobody came back with. Cheap; run at start and now and then.
    pub fn prune(&self) {
        let removed = self.db().execute(
            "DELETE FROM sessions WHERE cookie_sent_at < ?1",
            [unix_now() - sessions::COOKIE_LIFETIME.as_secs() as i64],
        );
        match removed {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "forgot sessions whose cookie expired"),
            Err(error) => tracing::warn!(%error, "could not prune sessions"),
        }
        self.pending().expire();
    }

    /// Prunes every hour while the store is alive.
    pub fn spawn_pruning(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let store = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(3600));
            every.tick().await;
            loop {
                every.tick().await;
                let Some(store) = store.upgrade() else { return };
                store.prune();
            }
        })
    }
}

fn migrate(db: &mut Connection) -> rusqlite::Result<()> {
    let version: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = db.transaction()?;
        tx.execute_batch(migration)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Seconds since 1970, as the tables keep time.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "berth-store-{name}-{}-{}",
            std::process::id(),
            crate::session::random_hex(4)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn migrations_run_once_and_reopening_keeps_the_data() {
        let dir = temp_dir("migrate");
        let store = Store::open(&dir).unwrap();
        store
            .db()
            .execute(
                "INSERT INTO passed VALUES ('aaaaaaaaaaaa', 'lesson', 'ex', 1)",
                [],
            )
            .unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap();
        let version: i64 = store
            .db()
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let rows: i64 = store
            .db()
            .query_row("SELECT count(*) FROM passed", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
