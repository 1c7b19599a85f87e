//! Checks that update themselves: while a lesson's terminal is open, its exercises are
//! evaluated again whenever the learner's Docker objects change and shortly after they press
//! Enter, and every result that changed goes to the page as a `check` message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::eval::{Look, evaluate};
use crate::AppState;
use crate::lessons::Lang;
use crate::sandbox::Sandbox;
use crate::session::LearnerId;
use crate::terminal::protocol::ServerMessage;

/// After Enter, a command usually has finished by then (history is written at the prompt).
const AFTER_ENTER: Duration = Duration::from_millis(700);
/// And a slower one by then.
const AFTER_ENTER_AGAIN: Duration = Duration::from_millis(2500);

pub struct Watch {
    pub state: AppState,
    pub sandbox: Arc<Sandbox>,
    pub learner: LearnerId,
    pub lang: Lang,
    pub slug: String,
    /// Weak, so an open check watch never keeps the terminal's socket from closing.
    pub control: mpsc::WeakSender<ServerMessage>,
}

/// Runs until the terminal's control channel closes.
pub async fn run(watch: Watch) {
    let mut changes = watch.sandbox.scope().map(|scope| scope.changes());
    let entered = watch.sandbox.entered();
    let mut shown: HashMap<String, (bool, String)> = HashMap::new();
    if !evaluate_all(&watch, &mut shown).await {
        return;
    }
    loop {
        let after_enter = tokio::select! {
            changed = async {
                match changes.as_mut() {
                    Some(changes) => changes.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            } => {
                if !changed {
                    changes = None;
                }
                false
            }
            _ = entered.notified() => true,
        };
        if after_enter {
            tokio::time::sleep(AFTER_ENTER).await;
        }
        if !evaluate_all(&watch, &mut shown).await {
            return;
        }
        if after_enter && shown.values().any(|(passed, _)| !passed) {
            tokio::time::sleep(AFTER_ENTER_AGAIN - AFTER_ENTER).await;
            if !evaluate_all(&watch, &mut shown).await {
                return;
            }
        }
    }
}

/// Evaluates the lesson's exercises and sends those whose result changed; false once the
/// terminal is gone.
async fn evaluate_all(watch: &Watch, shown: &mut HashMap<String, (bool, String)>) -> bool {
    let catalog = watch.state.lessons.catalog();
    let Some(lesson) = catalog.lesson(watch.lang, &watch.slug).cloned() else {
        return true;
    };
    let look = Look::default();
    for check in &lesson.exercises {
        let outcome = evaluate(check, &watch.sandbox, watch.lang, &look).await;
        watch
            .state
            .progress
            .record(&watch.learner, &lesson.slug, &outcome);
        let now = (outcome.passed, outcome.message.clone());
        if shown.get(&outcome.exercise) == Some(&now) {
            continue;
        }
        shown.insert(outcome.exercise.clone(), now);
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
