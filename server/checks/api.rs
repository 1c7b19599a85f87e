//! `POST /api/checks/{lang}/{slug}` (every exercise of a lesson) and
//! `POST /api/checks/{lang}/{slug}/{exercise}` (one): the learner's results, as JSON.
//!
//! Asking for one exercise is the learner's Check button: it evaluates the exercise again even
//! if it passed before, and a pass that no longer holds is forgotten.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::eval::{Look, Outcome, evaluate, evaluate_all};
use crate::AppState;
use crate::lessons::{Lang, Lesson};
use crate::sandbox::Sandbox;
use crate::session::Learner;

#[derive(Debug, Serialize)]
struct Answer {
    #[serde(flatten)]
    outcome: Outcome,
    /// The exercise's hints, for a card that failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hints: Vec<String>,
}

fn problem(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The lesson and the learner's running sandbox, or the answer that says which is missing.
fn find(
    state: &AppState,
    learner: &Learner,
    lang: &str,
    slug: &str,
) -> Result<(Arc<Lesson>, Lang, Arc<Sandbox>), Box<Response>> {
    let Some(lang) = Lang::from_code(lang) else {
        let message = "no such language; use en or ko";
        return Err(Box::new(problem(StatusCode::NOT_FOUND, message)));
    };
    let catalog = state.lessons.catalog();
    let Some(lesson) = catalog.lesson(lang, slug).cloned() else {
        return Err(Box::new(problem(StatusCode::NOT_FOUND, "no such lesson")));
    };
    let Some(sandbox) = state.sandboxes.get(&learner.id) else {
        let message = crate::i18n::words(lang).checks.no_sandbox;
        return Err(Box::new(problem(StatusCode::CONFLICT, message)));
    };
    Ok((lesson, lang, sandbox))
}

fn passed(state: &AppState, learner: &Learner, lesson: &Lesson) -> HashSet<String> {
    state
        .progress
        .passed_at(&learner.id, &lesson.slug)
        .into_keys()
        .collect()
}

pub async fn one(
    State(state): State<AppState>,
    learner: Learner,
    Path((lang, slug, exercise)): Path<(String, String, String)>,
) -> Response {
    let (lesson, lang, sandbox) = match find(&state, &learner, &lang, &slug) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let Some(check) = lesson.exercises.iter().find(|c| c.id == exercise) else {
        return problem(StatusCode::NOT_FOUND, "no such exercise in this lesson");
    };
    sandbox.touch();
    let passed = passed(&state, &learner, &lesson);
    let look = Look::for_lesson(&lesson.exercises);
    let outcome = evaluate(check, &sandbox, lang, &look, &passed).await;
    if outcome.passed {
        state.progress.record(&learner.id, &lesson.slug, &outcome);
    } else if passed.contains(&check.id) {
        state.progress.forget(&learner.id, &lesson.slug, &check.id);
    }
    let hints = match outcome.passed {
        true => Vec::new(),
        false => check.hints.clone(),
    };
    Json(Answer { outcome, hints }).into_response()
}

pub async fn all(
    State(state): State<AppState>,
    learner: Learner,
    Path((lang, slug)): Path<(String, String)>,
) -> Response {
    let (lesson, lang, sandbox) = match find(&state, &learner, &lang, &slug) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    sandbox.touch();
    let passed = passed(&state, &learner, &lesson);
    let look = Look::for_lesson(&lesson.exercises);
    let checks: Vec<_> = lesson.exercises.iter().collect();
    let outcomes = evaluate_all(&checks, &sandbox, lang, &look, &passed).await;
    let answers: Vec<Answer> = outcomes
        .into_iter()
        .zip(&lesson.exercises)
        .map(|(outcome, check)| {
            state.progress.record(&learner.id, &lesson.slug, &outcome);
            let hints = match outcome.passed {
                true => Vec::new(),
                false => check.hints.clone(),
            };
            Answer { outcome, hints }
        })
        .collect();
    Json(answers).into_response()
}
