//! Sessions: which learner a `berth_session` cookie belongs to.
//!
//! The cookie is a random secret; the store keeps only its hash. The learner id (12 hex digits,
//! the name Docker objects carry) is random too, assigned here, and unrelated to the cookie.
//!
//! A session lives in memory from the page that issued its cookie until the learner's first
//! sandbox starts; then it is written down ([`Store::keep_session`]), before the id appears in
//! any Docker name. So a flood of cookie-less requests costs bounded memory and no disk, and a
//! restart forgets only visitors who never started anything.
//!
//! Before the store existed, the learner id was derived from the cookie. A cookie of that kind
//! whose learner has progress is adopted once, with its progress moved to a fresh random id.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;
use sha2::{Digest, Sha256};

use super::{Store, unix_now};
use crate::http::client::ClientAddr;
use crate::session::LearnerId;

/// How long a browser keeps the cookie after berth last sent it; pages send it again once a day,
/// so it lasts while the learner keeps coming back.
pub const COOKIE_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// A page sends a kept session's cookie again (with a fresh lifetime) after this long.
const COOKIE_REFRESH_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Cookies of berth before the store lasted a week; no browser has one after this (a day added
/// for clocks). Only until then are such cookies adopted.
pub(super) const LEGACY_COOKIE_LIFETIME: Duration = Duration::from_secs(8 * 24 * 3600);
pub(super) const LEGACY_UNTIL_KEY: &str = "legacy-sessions-until";

/// A session issued but never used to start a sandbox is forgotten after this long.
const PENDING_TTL: Duration = Duration::from_secs(24 * 3600);
/// Sessions issued but not yet kept, per client address: one address issuing more forgets its
/// own oldest, never another address's.
const PENDING_PER_CLIENT: usize = 1000;
/// And in all (about 200 bytes each).
const PENDING_MAX: usize = 50_000;

/// The hash of a session secret: what the store keeps instead of the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    fn of(secret: &str) -> SessionKey {
        SessionKey(Sha256::digest(format!("berth-session:{secret}").as_bytes()).into())
    }
}

/// A session the store knows.
#[derive(Debug, Clone)]
pub struct KnownSession {
    pub key: SessionKey,
    pub learner: LearnerId,
    /// Written to the database (else only in memory, until the learner's first sandbox).
    pub kept: bool,
    /// The browser should be sent the cookie again, with a fresh lifetime.
    pub refresh_cookie: bool,
}

impl Store {
    /// A new visitor's session: a fresh secret for the cookie and a fresh learner id, held in
    /// memory until [`Store::keep_session`].
    pub fn issue_session(&self, client: ClientAddr) -> (String, KnownSession) {
        let secret = crate::session::random_hex(32);
        let key = SessionKey::of(&secret);
        let learner = self.unused_learner_id();
        self.pending().insert(key, learner.clone(), client);
        let session = KnownSession {
            key,
            learner,
            kept: false,
            refresh_cookie: false,
        };
        (secret, session)
    }

    /// The session of a cookie secret, if the store knows it (or it is a cookie of berth before
    /// the store, with progress to keep).
    pub fn find_session(&self, secret: &str) -> Option<KnownSession> {
        let key = SessionKey::of(secret);
        if let Some(learner) = self.pending().get(&key) {
            return Some(KnownSession {
                key,
                learner,
                kept: false,
                refresh_cookie: false,
            });
        }
        let row = self
            .db()
            .query_row(
                "SELECT learner, cookie_sent_at FROM sessions WHERE secret_hash = ?1",
                [&key.0[..]],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
            )
            .optional();
        match row {
            Ok(Some((learner, sent_at))) => {
                let learner = LearnerId::parse(&learner)?;
                let refresh_cookie = unix_now() - sent_at >= COOKIE_REFRESH_AFTER.as_secs() as i64;
                Some(KnownSession {
                    key,
                    learner,
                    kept: true,
                    refresh_cookie,
                })
            }
            Ok(None) => self.adopt_legacy(secret, key),
            Err(error) => {
                tracing::warn!(%error, "could not read sessions");
                None
            }
        }
    }

    /// Writes a session down, so it outlives a restart. Called before the learner's id is
    /// first used for something that lasts (a sandbox); does nothing for a kept session.
    pub fn keep_session(&self, session: &KnownSession) {
        if session.kept {
            return;
        }
        let now = unix_now();
        let written = (|| -> rusqlite::Result<()> {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT OR IGNORE INTO learners (id, created_at) VALUES (?1, ?2)",
                (session.learner.as_str(), now),
            )?;
            tx.execute(
                "INSERT OR IGNORE INTO sessions (secret_hash, learner, created_at, cookie_sent_at)
                 VALUES (?1, ?2, ?3, ?3)",
                (&session.key.0[..], session.learner.as_str(), now),
            )?;
            tx.commit()
        })();
        match written {
            // Only now: a lookup in between finds it in one place or the other.
            Ok(()) => self.pending().remove(&session.key),
            Err(error) => {
                tracing::warn!(%error, learner = %session.learner, "could not keep a session")
            }
        }
    }

    /// Notes that the browser was just sent the cookie of a kept session again.
    pub fn cookie_sent(&self, session: &KnownSession) {
        if !session.kept {
            return;
        }
        let written = self.db().execute(
            "UPDATE sessions SET cookie_sent_at = ?2 WHERE secret_hash = ?1",
            (&session.key.0[..], unix_now()),
        );
        if let Err(error) = written {
            tracing::warn!(%error, "could not note a refreshed cookie");
        }
    }

    /// The learner behind a cookie secret, for tests and tools: what a request with it gets.
    pub fn learner_of(&self, secret: &str) -> Option<LearnerId> {
        self.find_session(secret).map(|session| session.learner)
    }

    /// A random id that no learner has (and that no progress carries).
    fn unused_learner_id(&self) -> LearnerId {
        loop {
            let id = LearnerId::random();
            let taken = self
                .db()
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM learners WHERE id = ?1)
                         OR EXISTS (SELECT 1 FROM passed WHERE learner = ?1)",
                    [id.as_str()],
                    |row| row.get::<_, bool>(0),
                )
                .unwrap_or(false);
            if !taken {
                return id;
            }
        }
    }

    /// A cookie from before the store, whose derived learner has progress: the learner gets a
    /// session and a fresh random id, and their progress moves with them. Only while such
    /// cookies can still exist in browsers.
    fn adopt_legacy(&self, secret: &str, key: SessionKey) -> Option<KnownSession> {
        let until: i64 = self.meta(LEGACY_UNTIL_KEY)?.parse().ok()?;
        if unix_now() > until {
            return None;
        }
        let legacy = legacy_learner_id(secret);
        let has_progress = self
            .db()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM passed WHERE learner = ?1)",
                [legacy.as_str()],
                |row| row.get::<_, bool>(0),
            )
            .unwrap_or(false);
        if !has_progress {
            return None;
        }
        let learner = self.unused_learner_id();
        let now = unix_now();
        let adopted = (|| -> rusqlite::Result<()> {
            let mut db = self.db();
            let tx = db.transaction()?;
            tx.execute(
                "INSERT INTO learners (id, created_at) VALUES (?1, ?2)",
                (learner.as_str(), now),
            )?;
            // Sent a day ago, as far as the store knows: the next page sends the cookie again with
            // a fresh lifetime, and pruning leaves the session alone until then.
            tx.execute(
                "INSERT INTO sessions (secret_hash, learner, created_at, cookie_sent_at)
                 VALUES (?1, ?2, ?3, ?4)",
                (
                    &key.0[..],
                    learner.as_str(),
                    now,
                    now - COOKIE_REFRESH_AFTER.as_secs() as i64,
                ),
            )?;
            tx.execute(
                "UPDATE passed SET learner = ?2 WHERE learner = ?1",
                (legacy.as_str(), learner.as_str()),
            )?;
            tx.commit()
        })();
        match adopted {
            Ok(()) => {
                tracing::info!(%learner, "a learner from before berth kept sessions came back; progress kept");
                Some(KnownSession {
                    key,
                    learner,
                    kept: true,
                    refresh_cookie: true,
                })
            }
            Err(error) => {
                // Two requests with the same cookie at once: the other one adopted it.
                tracing::debug!(%error, "adoption lost a race or failed");
                self.find_session_kept(key)
            }
        }
    }

    fn find_session_kept(&self, key: SessionKey) -> Option<KnownSession> {
        let learner: String = self
            .db()
            .query_row(
                "SELECT learner FROM sessions WHERE secret_hash = ?1",
                [&key.0[..]],
                |row| row.get(0),
            )
            .ok()?;
        Some(KnownSession {
            key,
            learner: LearnerId::parse(&learner)?,
            kept: true,
            refresh_cookie: true,
        })
    }

    pub(super) fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The id berth used to derive from a session secret, before it kept learner ids.
fn legacy_learner_id(secret: &str) -> LearnerId {
    let digest = Sha256::digest(format!("berth-learner:{secret}").as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    LearnerId::parse(&hex).expect("12 hex digits")
}

/// Sessions issued and not yet kept, bounded per client address and in all.
#[derive(Default)]
pub(crate) struct Pending {
    sessions: HashMap<SessionKey, PendingSession>,
    /// Issue order, for expiry and for the overall bound.
    order: BTreeMap<u64, SessionKey>,
    by_client: HashMap<ClientAddr, VecDeque<u64>>,
    next: u64,
}

struct PendingSession {
    learner: LearnerId,
    client: ClientAddr,
    number: u64,
    issued: Instant,
}

impl Pending {
    fn insert(&mut self, key: SessionKey, learner: LearnerId, client: ClientAddr) {
        self.expire();
        let number = self.next;
        self.next += 1;
        self.sessions.insert(
            key,
            PendingSession {
                learner,
                client,
                number,
                issued: Instant::now(),
            },
        );
        self.order.insert(number, key);
        let queue = self.by_client.entry(client).or_default();
        queue.push_back(number);
        if queue.len() > PENDING_PER_CLIENT {
            if let Some(oldest) = queue.pop_front() {
                self.remove_number(oldest);
            }
        }
        while self.sessions.len() > PENDING_MAX {
            let Some((&oldest, _)) = self.order.first_key_value() else {
                break;
            };
            self.remove_number(oldest);
        }
    }

    fn get(&self, key: &SessionKey) -> Option<LearnerId> {
        self.sessions
            .get(key)
            .filter(|session| session.issued.elapsed() < PENDING_TTL)
            .map(|session| session.learner.clone())
    }

    fn remove(&mut self, key: &SessionKey) {
        if let Some(number) = self.sessions.get(key).map(|session| session.number) {
            self.remove_number(number);
        }
    }

    fn remove_number(&mut self, number: u64) {
        let Some(key) = self.order.remove(&number) else {
            return;
        };
        let Some(session) = self.sessions.remove(&key) else {
            return;
        };
        if let Some(queue) = self.by_client.get_mut(&session.client) {
            queue.retain(|n| *n != number);
            if queue.is_empty() {
                self.by_client.remove(&session.client);
            }
        }
    }

    pub(super) fn expire(&mut self) {
        while let Some((&number, key)) = self.order.first_key_value() {
            let expired = self
                .sessions
                .get(key)
                .is_none_or(|session| session.issued.elapsed() >= PENDING_TTL);
            if !expired {
                break;
            }
            self.remove_number(number);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn client(text: &str) -> ClientAddr {
        ClientAddr::of(text.parse::<IpAddr>().unwrap())
    }

    fn key(n: usize) -> SessionKey {
        SessionKey::of(&n.to_string())
    }

    #[test]
    fn one_address_issuing_many_forgets_only_its_own_oldest() {
        let mut pending = Pending::default();
        pending.insert(key(0), LearnerId::random(), client("192.0.2.1"));
        for n in 1..=PENDING_PER_CLIENT + 10 {
            pending.insert(key(n), LearnerId::random(), client("192.0.2.66"));
        }
        assert!(
            pending.get(&key(0)).is_some(),
            "another address's session stays"
        );
        assert!(pending.get(&key(1)).is_none(), "the flood's oldest is gone");
        assert!(pending.get(&key(PENDING_PER_CLIENT + 10)).is_some());
        assert_eq!(pending.len(), PENDING_PER_CLIENT + 1);
        pending.remove(&key(0));
        assert!(pending.get(&key(0)).is_none());
        assert!(!pending.by_client.contains_key(&client("192.0.2.1")));
    }
}
