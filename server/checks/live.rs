//! Checks that update themselves: while a lesson's terminal is open, the exercises the learner
//! has not passed yet are evaluated again when something they look at may have changed, and
//! every result that changed goes to the page as a `check` message.
//!
//! - A container of the learner's changed: the container checks.
//! - Enter in a terminal, or the shell's prompt coming back (a command finished): all of them,
//!   then again a few times shortly after, for servers that take a moment to answer.
//!
//! Each evaluation runs on its own, and its result goes to the page the moment it is known: a
//! probe that waits on the network never holds up a container check. An exercise already being
//! evaluated is evaluated once more when it finishes, if something changed meanwhile.
//!
//! A passed exercise is not evaluated again: what the lesson does next (a rename, a clean-up)
//! does not take it back. Only the learner's own Check button asks again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::eval::{Look, Outcome, evaluate};
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
    /// Container checks only. Probes are left to Enter and the prompt: a probe may start a
    /// container itself (`docker run --rm …`), and must not wake itself up.
    Containers,
    Anything,
}

impl Cause {
    fn affects(self, check: &Check) -> bool {
        self == Cause::Anything || matches!(check.kind, CheckKind::Container(_))
    }
}

/// The exercises of one lesson as this watch sees them.
struct Cards {
    lesson: Arc<Lesson>,
    /// What has passed (the progress store is the truth: the Check button may forget a pass).
    passed: HashSet<String>,
    /// The last failure sent to the page, so the same sentence is not sent twice.
    failed: HashMap<String, String>,
    /// Being evaluated now.
    running: HashSet<String>,
    /// To evaluate again when its evaluation in progress ends.
    again: HashSet<String>,
    results: mpsc::UnboundedSender<Outcome>,
}

/// Runs until the terminal's control channel closes.
pub async fn run(watch: Watch) {
    let catalog = watch.state.lessons.catalog();
    let Some(lesson) = catalog.lesson(watch.lang, &watch.slug).cloned() else {
        return;
    };
    let mut changes = watch.sandbox.scope().map(|scope| scope.changes());
    let entered = watch.sandbox.entered();
    let (results, mut outcomes) = mpsc::unbounded_channel();
    let mut cards = Cards {
        lesson,
        passed: HashSet::new(),
        failed: HashMap::new(),
        running: HashSet::new(),
        again: HashSet::new(),
        results,
    };
    cards.start(&watch, Cause::Anything);
    let mut follow_up: Option<(Instant, usize)> = None;
    loop {
        let due = async {
            match follow_up {
                Some((start, step)) => tokio::time::sleep_until(start + FOLLOW_UPS[step]).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Some(outcome) = outcomes.recv() => {
                if !cards.finished(&watch, outcome).await {
                    return;
                }
            }
            changed = async {
                match changes.as_mut() {
                    Some(changes) => changes.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if changed {
                    cards.start(&watch, Cause::Containers);
                } else {
                    changes = None;
                }
            }
            _ = entered.notified() => {
                follow_up = Some((Instant::now(), 0));
                cards.start(&watch, Cause::Anything);
            }
            _ = due => {
                follow_up = follow_up.and_then(|(start, step)| {
                    (step + 1 < FOLLOW_UPS.len()).then_some((start, step + 1))
                });
                cards.start(&watch, Cause::Anything);
            }
        }
    }
}

impl Cards {
    /// Starts evaluating every exercise not passed yet that `cause` may affect.
    fn start(&mut self, watch: &Watch, cause: Cause) {
        self.passed = watch
            .state
            .progress
            .passed_at(&watch.learner, &watch.slug)
            .into_keys()
            .collect();
        let wanted: Vec<String> = self
            .lesson
            .exercises
            .iter()
            .filter(|check| !self.passed.contains(&check.id) && cause.affects(check))
            .map(|check| check.id.clone())
            .collect();
        // One look at the learner's Docker for everything started now.
        let look = Arc::new(Look::for_lesson(&self.lesson.exercises));
        for id in wanted {
            self.evaluate(watch, id, &look);
        }
    }

    fn evaluate(&mut self, watch: &Watch, id: String, look: &Arc<Look>) {
        if self.running.contains(&id) {
            self.again.insert(id);
            return;
        }
        let Some(check) = self.lesson.exercises.iter().find(|c| c.id == id).cloned() else {
            return;
        };
        self.running.insert(id);
        let (sandbox, lang, look) = (watch.sandbox.clone(), watch.lang, look.clone());
        let (passed, results) = (self.passed.clone(), self.results.clone());
        tokio::spawn(async move {
            let outcome = evaluate(&check, &sandbox, lang, &look, &passed).await;
            let _ = results.send(outcome);
        });
    }

    /// Takes in a finished evaluation and tells the page if its result changed; false once the
    /// terminal is gone.
    async fn finished(&mut self, watch: &Watch, outcome: Outcome) -> bool {
        let id = outcome.exercise.clone();
        self.running.remove(&id);
        if outcome.passed {
            watch
                .state
                .progress
                .record(&watch.learner, &self.lesson.slug, &outcome);
            self.passed.insert(id.clone());
            self.failed.remove(&id);
            self.again.remove(&id);
            // A check that counts only `after` this one may count now.
            let look = Arc::new(Look::for_lesson(&self.lesson.exercises));
            let unlocked: Vec<String> = self
                .lesson
                .exercises
                .iter()
                .filter(|check| check.after.as_deref() == Some(id.as_str()))
                .map(|check| check.id.clone())
                .collect();
            for next in unlocked {
                self.evaluate(watch, next, &look);
            }
        } else {
            if self.again.remove(&id) {
                let look = Arc::new(Look::for_lesson(&self.lesson.exercises));
                self.evaluate(watch, id.clone(), &look);
            }
            if self.failed.get(&id) == Some(&outcome.message) {
                return true;
            }
            self.failed.insert(id, outcome.message.clone());
        }
        let message = ServerMessage::Check {
            exercise: outcome.exercise,
            passed: outcome.passed,
            message: outcome.message,
        };
        match watch.control.upgrade() {
            Some(control) => control.send(message).await.is_ok(),
            None => false,
        }
    }
}
