//! What each learner has passed, kept in the store's `passed` table, so progress survives berth
//! restarts and replaced sandboxes. Learners are the ids the store assigned to their sessions.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::eval::Outcome;
use crate::session::LearnerId;
use crate::store::Store;

pub struct Progress {
    store: Arc<Store>,
    /// (learner, lesson, exercise) already written, so live re-runs cost no writes.
    known: Mutex<HashSet<(String, String, String)>>,
}

impl Progress {
    pub fn new(store: Arc<Store>) -> Progress {
        Progress {
            store,
            known: Mutex::new(HashSet::new()),
        }
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.store.db()
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
