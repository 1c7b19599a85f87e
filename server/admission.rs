//! Who may start a sandbox now. A session berth issued, and a client address that has not
//! started sandboxes for too many learners in the last hour (`--sandboxes-per-address`).
//!
//! The limit counts learners, not starts: a learner whose sandbox is replaced (it ended, went
//! idle, broke) is not counted again within the hour, so a class that resets together is never
//! refused; one address bringing one new learner after another is.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::AppState;
use crate::http::client::ClientAddr;
use crate::lessons::Lang;
use crate::session::{Learner, LearnerId};

const WINDOW: Duration = Duration::from_secs(3600);

/// Sandboxes started per client address, over the last hour.
pub struct StartLimiter {
    per_hour: usize,
    started: Mutex<HashMap<ClientAddr, VecDeque<(Instant, LearnerId)>>>,
    limited_total: AtomicU64,
}

/// A start refused by the per-address limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub per_hour: usize,
    /// When the address may start one again.
    pub retry_after: Duration,
}

impl Limited {
    /// What the learner reads in the terminal pane.
    pub fn message(&self, lang: Lang) -> String {
        let minutes = self.retry_after.as_secs().div_ceil(60).max(1);
        match lang {
            Lang::En => format!(
                "Sandboxes for {} learners were started from your network address in the last hour, \
                 the most berth allows. Try again in {minutes} min.",
                self.per_hour
            ),
            Lang::Ko => format!(
                "지난 한 시간 동안 이 네트워크 주소에서 학습자 {}명의 샌드박스가 시작되어 \
                 berth가 허용하는 최대치에 이르렀습니다. {minutes}분 뒤에 다시 시도하세요.",
                self.per_hour
            ),
        }
    }
}

impl StartLimiter {
    pub fn new(per_hour: usize) -> StartLimiter {
        StartLimiter {
            per_hour,
            started: Mutex::default(),
            limited_total: AtomicU64::new(0),
        }
    }

    /// Counts a start of `learner`'s sandbox for `client`, or says when it may be tried again.
    pub fn admit(&self, client: ClientAddr, learner: &LearnerId) -> Result<(), Limited> {
        let now = Instant::now();
        let mut started = self.started.lock().unwrap_or_else(|e| e.into_inner());
        if started.len() > 1024 {
            started.retain(|_, starts| {
                starts
                    .back()
                    .is_some_and(|(at, _)| now.duration_since(*at) < WINDOW)
            });
        }
        let starts = started.entry(client).or_default();
        while starts
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW)
        {
            starts.pop_front();
        }
        if starts.iter().any(|(_, counted)| counted == learner) {
            return Ok(());
        }
        if starts.len() >= self.per_hour {
            self.limited_total.fetch_add(1, Ordering::Relaxed);
            let oldest = starts.front().map_or(now, |(at, _)| *at);
            return Err(Limited {
                per_hour: self.per_hour,
                retry_after: WINDOW.saturating_sub(now.duration_since(oldest)),
            });
        }
        starts.push_back((now, learner.clone()));
        Ok(())
    }

    /// Starts refused since berth started.
    pub fn limited_total(&self) -> u64 {
        self.limited_total.load(Ordering::Relaxed)
    }
}

impl AppState {
    /// Whether `learner` may have a sandbox started now. A learner with one running may; else
    /// the start is counted against their address, and their session is written down first,
    /// since their id is about to be written into Docker names.
    pub fn may_start_sandbox(&self, learner: &Learner) -> Result<(), Limited> {
        if self.sandboxes.get(&learner.id).is_some() {
            return Ok(());
        }
        self.starts.admit(learner.client, &learner.id)?;
        self.store.keep_session(&learner.session);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learners_are_counted_once_per_address() {
        let limiter = StartLimiter::new(2);
        let here = ClientAddr::of([192, 0, 2, 1].into());
        let there = ClientAddr::of([192, 0, 2, 2].into());
        let (a, b, c) = (
            LearnerId::random(),
            LearnerId::random(),
            LearnerId::random(),
        );
        assert!(limiter.admit(here, &a).is_ok());
        assert!(limiter.admit(here, &b).is_ok());
        assert!(
            limiter.admit(here, &a).is_ok(),
            "a again: not a new learner"
        );
        let limited = limiter.admit(here, &c).unwrap_err();
        assert!(limited.retry_after > Duration::from_secs(3590));
        assert!(limited.message(Lang::En).contains("Try again in 60 min"));
        assert!(
            limiter.admit(there, &c).is_ok(),
            "another address has its own count"
        );
        assert_eq!(limiter.limited_total(), 1);
    }
}
