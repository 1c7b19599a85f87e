//! Checks that update themselves: while a lesson's terminal is open, the exercises the learner
//! has not passed yet are evaluated again when something they look at may have changed, and
//! every result that changed goes to the page as a `check` message.
//!
//! - A container of the learner's changed: container checks and probes (a probe may look at
//!   anything).
//! - Enter in a terminal, or the shell's prompt coming back (the command finished): all of
//!   them, then again a few times shortly after, for servers that take a moment to answer.
//!
//! A passed exercise is not evaluated again: what the lesson does next (a rename, a clean-up)
//! does not take it back. Only the learner's own Check button asks again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::eval::{Look, evaluate};
use super::model::{Check, CheckKind};
use crate::AppState;
use crate::lessons::{Lang, Lesson};
use crate::sandbox::Sandbox;
use crate::session::LearnerId;
use crate::terminal::protocol::ServerMessage;

/// After Enter or a prompt, look again this long after it (counted from the event): a server
/// started in the background answers a moment after its `docker run` returned.
const FOLLOW_UPS: [Duration; 4] = [
    Duration::from_millis(500),
    Duration::from_millis(1500),
    Duration::from_secs(4),
    Duration::from_secs(10),
];

pub struct Watch {
    pub state: AppState,
    pub sandbox: Arc<Sandbox>,
    pub learner: LearnerId,
    pub lang: Lang,
    pub slug: String,
    /// Weak, so an open check watch never keeps the terminal's socket from closing.
    pub control: mpsc::WeakSender<ServerMessage>,
}

/// What changed, and so which checks to evaluate.
#[derive(Clone, Copy, PartialEq)]
enum Cause {
    Containers,
    Anything,
}

/// What the page has been told.
struct Shown {
    passed: HashSet<String>,
    failed: HashMap<String, String>,
}

/// Runs until the terminal's control channel closes.
pub async fn run(watch: Watch) {
    let mut changes = watch.sandbox.scope().map(|scope| scope.changes());
    let entered = watch.sandbox.entered();
    let mut shown = Shown {
        passed: HashSet::new(),
        failed: HashMap::new(),
    };
    if !evaluate_round(&watch, &mut shown, Cause::Anything).await {
        return;
    }
    let mut follow_up: Option<(Instant, usize)> = None;
    loop {
        let due = async {
            match follow_up {
                Some((start, step)) => tokio::time::sleep_until(start + FOLLOW_UPS[step]).await,
                None => std::future::pending().await,
            }
        };
        let cause = tokio::select! {
            changed = async {
                match changes.as_mut() {
                    Some(changes) => changes.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    changes = None;
                }
                Cause::Containers
            }
            _ = entered.notified() => {
                follow_up = Some((Instant::now(), 0));
                Cause::Anything
            }
            _ = due => {
                follow_up = follow_up
                    .and_then(|(start, step)| (step + 1 < FOLLOW_UPS.len()).then_some((start, step + 1)));
                Cause::Anything
            }
        };
        if !evaluate_round(&watch, &mut shown, cause).await {
            return;
        }
        // Containers that changed during a round may have been read before they changed: look
        // once more. But a probe may start a container itself (`docker run --rm …`), so the
        // ticks of that second look are its own, and must not start a third.
        let Some(watching) = changes.as_mut() else {
            continue;
        };
        if watching.has_changed().unwrap_or(false) {
            watching.borrow_and_update();
            if !evaluate_round(&watch, &mut shown, Cause::Containers).await {
                return;
            }
            watching.borrow_and_update();
        }
    }
}

fn affected(check: &Check, cause: Cause) -> bool {
    cause == Cause::Anything || matches!(check.kind, CheckKind::Container(_) | CheckKind::Probe(_))
}

/// Evaluates, all at once, the exercises not passed yet that `cause` may affect, and sends
/// those whose result changed; false once the terminal is gone.
async fn evaluate_round(watch: &Watch, shown: &mut Shown, cause: Cause) -> bool {
    // The learner's Check button may have found a pass that no longer holds, and forgotten it:
    // what is stored is what has passed.
    shown.passed = watch
        .state
        .progress
        .passed_at(&watch.learner, &watch.slug)
        .into_keys()
        .collect();
    let catalog = watch.state.lessons.catalog();
    let Some(lesson) = catalog.lesson(watch.lang, &watch.slug).cloned() else {
        return true;
    };
    let mut cause = cause;
    // A pass can make a check that comes `after` it count: look at those once more at once.
    for _ in 0..2 {
        let before = shown.passed.len();
        if !evaluate_once(watch, &lesson, shown, cause).await {
            return false;
        }
        let unlocked = lesson.exercises.iter().any(|check| {
            !shown.passed.contains(&check.id)
                && check
                    .after
                    .as_ref()
                    .is_some_and(|a| shown.passed.contains(a))
        });
        if shown.passed.len() == before || !unlocked {
            break;
        }
        cause = Cause::Anything;
    }
    true
}

async fn evaluate_once(watch: &Watch, lesson: &Lesson, shown: &mut Shown, cause: Cause) -> bool {
    let pending: Vec<&Check> = lesson
        .exercises
        .iter()
        .filter(|check| !shown.passed.contains(&check.id) && affected(check, cause))
        .collect();
    if pending.is_empty() {
        return true;
    }
    let look = Look::for_lesson(&lesson.exercises);
    let passed = shown.passed.clone();
    // Each result goes to the page as soon as it is known: a container check answers in
    // milliseconds, and must not wait for a probe that waits on the network.
    let mut outcomes: FuturesUnordered<_> = pending
        .iter()
        .map(|check| evaluate(check, &watch.sandbox, watch.lang, &look, &passed))
        .collect();
    while let Some(outcome) = outcomes.next().await {
        if outcome.passed {
            watch
                .state
                .progress
                .record(&watch.learner, &lesson.slug, &outcome);
            shown.passed.insert(outcome.exercise.clone());
            shown.failed.remove(&outcome.exercise);
        } else if shown.failed.get(&outcome.exercise) == Some(&outcome.message) {
            continue;
        } else {
            shown
                .failed
                .insert(outcome.exercise.clone(), outcome.message.clone());
        }
        let message = ServerMessage::Check {
            exercise: outcome.exercise,
            passed: outcome.passed,
            message: outcome.message,
        };
        let Some(control) = watch.control.upgrade() else {
            return false;
        };
        if control.send(message).await.is_err() {
            return false;
        }
    }
    true
}
