//! `POST /api/checks/{lang}/{slug}` (every exercise of a lesson) and
//! `POST /api/checks/{lang}/{slug}/{exercise}` (one): the learner's results, as JSON.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use super::eval::{Look, Outcome, evaluate};
use crate::AppState;
use crate::lessons::{Lang, Lesson};
use crate::sandbox::Sandbox;
use crate::session::Learner;

#[derive(Debug, Serialize)]
struct Answer {
    #[serde(flatten)]
    outcome: Outcome,
    /// The exercise's hint, for a card that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<String>,
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
) -> Result<(std::sync::Arc<Lesson>, Lang, std::sync::Arc<Sandbox>), Box<Response>> {
    let Some(lang) = Lang::from_code(lang) else {
        let message = "no such language; use en or ko";
        return Err(Box::new(problem(StatusCode::NOT_FOUND, message)));
    };
    let catalog = state.lessons.catalog();
    let Some(lesson) = catalog.lesson(lang, slug).cloned() else {
        return Err(Box::new(problem(StatusCode::NOT_FOUND, "no such lesson")));
    };
    let Some(sandbox) = state.sandboxes.get(&learner.id) else {
        let message = match lang {
            Lang::Ko => "샌드박스가 아직 없어요. 먼저 레슨의 터미널을 여세요.",
            Lang::En => "Your sandbox is not running: open the lesson's terminal first.",
        };
        return Err(Box::new(problem(StatusCode::CONFLICT, message)));
    };
    Ok((lesson, lang, sandbox))
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
    let outcome = evaluate(check, &sandbox, lang, &Look::default()).await;
    state.progress.record(&learner.id, &lesson.slug, &outcome);
    let hint = (!outcome.passed).then(|| check.hint.clone()).flatten();
    Json(Answer { outcome, hint }).into_response()
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
    let mut answers = Vec::new();
    let look = Look::default();
    for check in &lesson.exercises {
        let outcome = evaluate(check, &sandbox, lang, &look).await;
        state.progress.record(&learner.id, &lesson.slug, &outcome);
        let hint = (!outcome.passed).then(|| check.hint.clone()).flatten();
        answers.push(Answer { outcome, hint });
    }
    Json(answers).into_response()
}
