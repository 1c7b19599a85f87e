//! What each learner has passed, kept in SQLite in the data dir, so progress survives berth
//! restarts. Learners are the ids derived from their session cookie; nothing else is stored.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

use super::eval::Outcome;
use crate::session::LearnerId;

pub struct Progress {
    db: Mutex<Connection>,
    /// (learner, lesson, exercise) already written, so live re-runs cost no writes.
    known: Mutex<HashSet<(String, String, String)>>,
}

#[derive(Debug, thiserror::Error)]
#[error("progress database {path}: {source}")]
pub struct ProgressError {
    path: String,
    source: rusqlite::Error,
}

impl Progress {
    /// Opens (or creates) `<data-dir>/progress.sqlite3`.
    pub fn open(data_dir: &Path) -> Result<Progress, ProgressError> {
        let path = data_dir.join("progress.sqlite3");
        let error = |source| ProgressError {
            path: path.display().to_string(),
            source,
        };
        let db = Connection::open(&path).map_err(error)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS passed (
                 learner TEXT NOT NULL,
                 lesson TEXT NOT NULL,
                 exercise TEXT NOT NULL,
                 at INTEGER NOT NULL,
                 PRIMARY KEY (learner, lesson, exercise)
             );",
        )
        .map_err(error)?;
        Ok(Progress {
            db: Mutex::new(db),
            known: Mutex::new(HashSet::new()),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers a passed exercise (a later failure does not take it back).
    pub fn record(&self, learner: &LearnerId, lesson: &str, outcome: &Outcome) {
        if !outcome.passed {
            return;
        }
        let key = (
            learner.to_string(),
            lesson.to_owned(),
            outcome.exercise.clone(),
        );
        if !self
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
        {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let written = self.db().execute(
            "INSERT OR IGNORE INTO passed (learner, lesson, exercise, at) VALUES (?1, ?2, ?3, ?4)",
            (&key.0, &key.1, &key.2, now),
        );
        if let Err(error) = written {
            tracing::warn!(%error, "could not record progress");
        }
    }

    /// Forgets a pass: the learner asked to check it again, and it no longer holds.
    pub fn forget(&self, learner: &LearnerId, lesson: &str, exercise: &str) {
        let key = (learner.to_string(), lesson.to_owned(), exercise.to_owned());
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let removed = self.db().execute(
            "DELETE FROM passed WHERE learner = ?1 AND lesson = ?2 AND exercise = ?3",
            (&key.0, &key.1, &key.2),
        );
        if let Err(error) = removed {
            tracing::warn!(%error, "could not forget progress");
        }
    }

    /// The exercises of one lesson this learner passed, with when they first passed (seconds
    /// since the Unix epoch).
    pub fn passed_at(&self, learner: &LearnerId, lesson: &str) -> HashMap<String, i64> {
        let db = self.db();
        let Ok(mut query) =
            db.prepare_cached("SELECT exercise, at FROM passed WHERE learner = ?1 AND lesson = ?2")
        else {
            return HashMap::new();
        };
        query
            .query_map((learner.as_str(), lesson), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })
            .map(|rows| rows.filter_map(Result::ok).collect())
            .unwrap_or_default()
    }

    /// For every lesson, the exercises this learner passed.
    pub fn by_lesson(&self, learner: &LearnerId) -> HashMap<String, HashSet<String>> {
        let db = self.db();
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        let Ok(mut query) =
            db.prepare_cached("SELECT lesson, exercise FROM passed WHERE learner = ?1")
        else {
            return out;
        };
        if let Ok(rows) = query.query_map([learner.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        }) {
            for (lesson, exercise) in rows.filter_map(Result::ok) {
                out.entry(lesson).or_default().insert(exercise);
            }
        }
        out
    }
}
