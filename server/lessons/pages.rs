//! The HTML pages: the catalog (`/`), a lesson beside its terminal (`/{lang}/{slug}`), and the
//! 404 page; their askama structs, their handlers and the learner's language. Their words come
//! from [`crate::i18n`].

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::{Lang, Lesson};
use crate::AppState;
use crate::i18n::{Words, script_safe_json, words};
use crate::session::Learner;

/// Remembers the language the learner last read in.
pub const LANG_COOKIE: &str = "berth_lang";
const LANG_COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// `/`, `/{lang}` and `/{lang}/{slug}`; anything else under them is the 404 page.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(catalog))
        .route("/{lang}", get(language_home))
        .route("/{lang}/", get(language_home))
        .route("/{lang}/{slug}", get(lesson))
        .fallback(not_found)
}

const FAVICON: &str = "img/favicon.svg";

/// What every page has: `<html lang>`, the stylesheet, the top bar with its language switch.
struct Chrome {
    lang: &'static str,
    t: &'static Words,
    title: String,
    css_url: String,
    icon_url: Option<String>,
    switch: LangSwitch,
}

struct LangSwitch {
    href: String,
    lang: &'static str,
    label: &'static str,
    title: &'static str,
}

impl Chrome {
    fn new(lang: Lang, title: String, switch_href: String) -> Chrome {
        let other = lang.other();
        Chrome {
            lang: lang.code(),
            t: words(lang),
            title,
            css_url: crate::assets::url("css/berth.css"),
            icon_url: crate::assets::exists(FAVICON).then(|| crate::assets::url(FAVICON)),
            switch: LangSwitch {
                href: switch_href,
                lang: other.code(),
                label: words(other).language_name,
                title: words(other).switch_language,
            },
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct CatalogPage {
    page: Chrome,
    lessons: Vec<CatalogEntry>,
}

struct CatalogEntry {
    href: String,
    number: String,
    title: String,
    summary: String,
    exercises: Option<String>,
    /// `2 of 5 done`, once the learner has passed any; `done` when all.
    progress: Option<String>,
    done: bool,
}

#[derive(Template)]
#[template(path = "lesson.html")]
struct LessonPage {
    page: Chrome,
    lesson: Arc<Lesson>,
    number: String,
    previous: Option<NavLink>,
    next: Option<NavLink>,
    /// The exercises this learner passed before, with when (`[{"exercise", "at"}]`), as JSON
    /// for the page.
    progress_json: String,
    /// This lesson's and the whole course's share of exercises done.
    progress_bars: Vec<ProgressBar>,
    backend: &'static str,
    full: bool,
    script_url: String,
    xterm_css_url: Option<String>,
    import_map: String,
    module_preloads: String,
    strings_json: String,
}

struct ProgressBar {
    /// `lesson` or `course`: the page's script keeps each up to date as checks pass.
    kind: &'static str,
    label: &'static str,
    done: usize,
    total: usize,
    text: String,
}

impl ProgressBar {
    fn new(lang: Lang, kind: &'static str, label: &'static str, done: usize, total: usize) -> Self {
        let text = words(lang)
            .progress
            .replace("{done}", &done.to_string())
            .replace("{n}", &total.to_string());
        ProgressBar {
            kind,
            label,
            done,
            total,
            text,
        }
    }
}

struct NavLink {
    href: String,
    number: String,
    title: String,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    page: Chrome,
}

fn exercise_count(lang: Lang, count: usize) -> Option<String> {
    let [one, many] = words(lang).exercise_count;
    match count {
        0 => None,
        1 => Some(one.to_owned()),
        n => Some(many.replace("{n}", &n.to_string())),
    }
}

/// The exercises of `lesson` the learner passed, in the lesson's order (exercises a lesson no
/// longer has are not counted).
fn passed_in(
    lesson: &Lesson,
    by_lesson: &std::collections::HashMap<String, std::collections::HashSet<String>>,
) -> Vec<String> {
    let passed = by_lesson.get(&lesson.slug);
    lesson
        .exercises
        .iter()
        .filter(|e| passed.is_some_and(|p| p.contains(&e.id)))
        .map(|e| e.id.clone())
        .collect()
}

fn number_label(lesson: &Lesson) -> String {
    format!("{:02}", lesson.number)
}

async fn catalog(
    State(state): State<AppState>,
    learner: Learner,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let lang = query_lang(&uri)
        .or_else(|| cookie_lang(&headers))
        .or_else(|| accept_language(&headers))
        .unwrap_or(Lang::En);
    let catalog = state.lessons.catalog();
    let t = words(lang);
    let by_lesson = state.progress.by_lesson(&learner.id);
    let lessons = catalog
        .lessons(lang)
        .iter()
        .map(|lesson| {
            let total = lesson.exercises.len();
            let done = passed_in(lesson, &by_lesson).len();
            CatalogEntry {
                href: format!("/{}/{}", lang.code(), lesson.slug),
                number: number_label(lesson),
                title: lesson.title.clone(),
                summary: lesson.summary.clone(),
                exercises: exercise_count(lang, total),
                progress: (done > 0).then(|| {
                    t.progress
                        .replace("{done}", &done.to_string())
                        .replace("{n}", &total.to_string())
                }),
                done: total > 0 && done == total,
            }
        })
        .collect();
    let page = CatalogPage {
        page: Chrome::new(
            lang,
            format!("{} · berth", t.catalog_title),
            format!("/?lang={}", lang.other().code()),
        ),
        lessons,
    };
    html(StatusCode::OK, Some(lang), page.render())
}

/// `/ko` and `/ko/`: the catalog in that language.
async fn language_home(Path(code): Path<String>, headers: HeaderMap) -> Response {
    match Lang::from_code(&code) {
        Some(lang) => (
            StatusCode::SEE_OTHER,
            [(LOCATION, format!("/?lang={}", lang.code()))],
        )
            .into_response(),
        None => not_found_in(learner_lang(&headers)),
    }
}

async fn lesson(
    State(state): State<AppState>,
    learner: Learner,
    Path((code, slug)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return not_found_in(learner_lang(&headers));
    };
    let catalog = state.lessons.catalog();
    let lessons = catalog.lessons(lang);
    let Some(index) = lessons.iter().position(|lesson| lesson.slug == slug) else {
        return not_found_in(lang);
    };
    let lesson = lessons[index].clone();
    let nav = |lesson: &Arc<Lesson>| NavLink {
        href: format!("/{}/{}", lang.code(), lesson.slug),
        number: number_label(lesson),
        title: lesson.title.clone(),
    };
    let previous = index.checked_sub(1).map(|i| nav(&lessons[i]));
    let next = lessons.get(index + 1).map(nav);
    let other = lang.other();
    // The other language's copy of this lesson, or its catalog when there is none yet.
    let switch_href = match catalog.lessons(other).iter().any(|l| l.slug == slug) {
        true => format!("/{}/{}", other.code(), slug),
        false => format!("/?lang={}", other.code()),
    };
    let xterm_css = "vendor/xterm/xterm.css";
    let full = state.sandboxes.would_refuse(&learner.id);
    // A browser that has been here before is about to open this page's terminal: start its
    // sandbox now, while the page and scripts load. First visits (and cookie-less crawlers,
    // and made-up cookies) wait for the socket instead, as do addresses over their limit.
    if learner.returning && !full && state.may_start_sandbox(&learner).is_ok() {
        state.sandboxes.prewarm(&learner.id);
    }
    let by_lesson = state.progress.by_lesson(&learner.id);
    let passed = passed_in(&lesson, &by_lesson);
    let times = state.progress.passed_at(&learner.id, &lesson.slug);
    let passed_json: Vec<serde_json::Value> = passed
        .iter()
        .map(|exercise| serde_json::json!({ "exercise": exercise, "at": times.get(exercise) }))
        .collect();
    let t = words(lang);
    let progress_bars = [
        ProgressBar::new(
            lang,
            "lesson",
            t.lesson_progress,
            passed.len(),
            lesson.exercises.len(),
        ),
        ProgressBar::new(
            lang,
            "course",
            t.course_progress,
            lessons.iter().map(|l| passed_in(l, &by_lesson).len()).sum(),
            lessons.iter().map(|l| l.exercises.len()).sum(),
        ),
    ]
    .into_iter()
    .filter(|bar| bar.total > 0)
    .collect();
    let page = LessonPage {
        progress_json: script_safe_json(&serde_json::Value::from(passed_json).to_string()),
        progress_bars,
        page: Chrome::new(lang, format!("{} · berth", lesson.title), switch_href),
        number: number_label(&lesson),
        lesson,
        previous,
        next,
        backend: state.sandboxes.backend_name(),
        full,
        script_url: crate::assets::url("js/lesson.js"),
        xterm_css_url: crate::assets::exists(xterm_css).then(|| crate::assets::url(xterm_css)),
        import_map: crate::assets::import_map(),
        module_preloads: crate::assets::module_preloads(),
        strings_json: words(lang).client_json(),
    };
    html(StatusCode::OK, Some(lang), page.render())
}

async fn not_found(headers: HeaderMap) -> Response {
    not_found_in(learner_lang(&headers))
}

fn not_found_in(lang: Lang) -> Response {
    let t = words(lang);
    let page = NotFoundPage {
        page: Chrome::new(
            lang,
            format!("{} · berth", t.not_found_title),
            format!("/?lang={}", lang.other().code()),
        ),
    };
    html(StatusCode::NOT_FOUND, None, page.render())
}

/// An HTML response that browsers revalidate (pages name content-hashed asset URLs, which change
/// with every build), remembering `lang` in a cookie when given.
fn html(status: StatusCode, lang: Option<Lang>, rendered: askama::Result<String>) -> Response {
    let body = match rendered {
        Ok(body) => body,
        Err(error) => {
            tracing::error!(%error, "cannot render a page");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render this page\n",
            )
                .into_response();
        }
    };
    let mut response = (status, [(CACHE_CONTROL, "no-cache")], Html(body)).into_response();
    if let Some(lang) = lang {
        let cookie = format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age={LANG_COOKIE_MAX_AGE_SECS}",
            lang.code()
        );
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The learner's language where the URL does not say: their cookie, else what their browser
/// asks for, else English.
fn learner_lang(headers: &HeaderMap) -> Lang {
    cookie_lang(headers)
        .or_else(|| accept_language(headers))
        .unwrap_or(Lang::En)
}

fn query_lang(uri: &Uri) -> Option<Lang> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "lang")
        .and_then(|(_, value)| Lang::from_code(value))
}

fn cookie_lang(headers: &HeaderMap) -> Option<Lang> {
    crate::session::cookie(headers, LANG_COOKIE).and_then(Lang::from_code)
}

fn accept_language(headers: &HeaderMap) -> Option<Lang> {
    headers
        .get_all(ACCEPT_LANGUAGE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(negotiate)
}

/// The supported language an `Accept-Language` header prefers most (`ko-KR,ko;q=0.9,en;q=0.8`
/// → Korean), honouring q-values; `None` when it names none of them.
pub fn negotiate(header: &str) -> Option<Lang> {
    let mut ranges: Vec<(f32, Lang)> = header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let primary = tag.split('-').next()?.to_ascii_lowercase();
            let lang = Lang::from_code(&primary)?;
            let quality = parts
                .filter_map(|param| {
                    let (name, value) = param.split_once('=')?;
                    name.trim().eq_ignore_ascii_case("q").then_some(value)
                })
                .next()
                .map_or(Some(1.0), |value| value.trim().parse::<f32>().ok())?;
            (quality > 0.0).then_some((quality, lang))
        })
        .collect();
    // Stable: among equal q-values the one listed first wins.
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.first().map(|(_, lang)| *lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_honours_order_and_quality() {
        assert_eq!(
            negotiate("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7"),
            Some(Lang::Ko)
        );
        assert_eq!(negotiate("en-GB, ko"), Some(Lang::En));
        assert_eq!(
            negotiate("fr-CH, fr;q=0.9, ko;q=0.5, en;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(negotiate("en;q=0.1, KO;q=0.2"), Some(Lang::Ko));
        assert_eq!(negotiate("ko;q=0, en;q=0.5"), Some(Lang::En));
        assert_eq!(negotiate("de, fr"), None);
        assert_eq!(negotiate("*"), None);
        assert_eq!(negotiate(""), None);
        assert_eq!(negotiate("ko;q=nonsense"), None);
    }

    #[test]
    fn the_language_cookie_and_query_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "berth_session=x; berth_lang=ko".parse().unwrap(),
        );
        headers.insert(ACCEPT_LANGUAGE, "en".parse().unwrap());
        assert_eq!(learner_lang(&headers), Lang::Ko);
        headers.remove(axum::http::header::COOKIE);
        assert_eq!(learner_lang(&headers), Lang::En);
        let uri: Uri = "/?x=1&lang=ko".parse().unwrap();
        assert_eq!(query_lang(&uri), Some(Lang::Ko));
        let uri: Uri = "/?lang=xx".parse().unwrap();
        assert_eq!(query_lang(&uri), None);
    }
}
