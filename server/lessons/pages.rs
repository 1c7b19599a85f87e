//! The HTML pages: the catalog (`/`), a lesson beside its terminal (`/{lang}/{slug}`), and the
//! 404 page; their askama structs, their handlers, the learner's language, and the table of
//! every word the pages (and the browser code, through `#berth-strings`) show.

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
use crate::session::Learner;

/// Remembers the language the learner last read in.
pub const LANG_COOKIE: &str = "berth_lang";
const LANG_COOKIE_MAX_AGE_SECS: u64 = 365 * 24 * 3600;

/// Every word the pages show, in one language.
pub struct Strings {
    /// The language's own name, as its switch link says it.
    pub language_name: &'static str,
    pub catalog_title: &'static str,
    pub catalog_intro: &'static str,
    pub lessons_heading: &'static str,
    pub lesson_label: &'static str,
    pub terminal_label: &'static str,
    pub skip_to_lesson: &'static str,
    pub all_lessons: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub exercise: &'static str,
    /// How many exercises a lesson has, `{n}` replaced: one, and more than one.
    pub exercise_count: [&'static str; 2],
    pub hint: &'static str,
    pub run: &'static str,
    pub copy: &'static str,
    pub switch_language: &'static str,
    pub theme_toggle: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
    pub back_to_catalog: &'static str,
    pub full_banner: &'static str,
    pub backend_note: &'static str,
    // Status words the browser code shows (sent as JSON in `#berth-strings`).
    pub connecting: &'static str,
    pub connected: &'static str,
    pub reconnecting: &'static str,
    pub ended: &'static str,
    pub full: &'static str,
    pub copied: &'static str,
    pub exited: &'static str,
    pub backend_docker: &'static str,
    pub backend_local: &'static str,
    pub check_passed: &'static str,
    pub check_failed: &'static str,
    pub check_pending: &'static str,
    pub check_button: &'static str,
    pub time_left: &'static str,
    pub ending_soon: &'static str,
    pub hours_minutes: &'static str,
    pub minutes: &'static str,
    pub ports_label: &'static str,
    pub quiz: &'static str,
    pub quiz_submit: &'static str,
    pub quiz_right: &'static str,
    pub quiz_wrong: &'static str,
    pub quiz_choose: &'static str,
    pub checking: &'static str,
    pub lesson_complete: &'static str,
    /// A lesson's progress in the catalog, `{done}` and `{n}` replaced.
    pub progress: &'static str,
    pub restart: &'static str,
    pub restart_sandbox: &'static str,
    pub take_over: &'static str,
    pub focus_hint: &'static str,
    pub resize_divider: &'static str,
    pub tabs_label: &'static str,
    /// A terminal tab's name, `{n}` replaced by its number from 1.
    pub tab_label: &'static str,
    pub tab_new: &'static str,
    /// `{tab}` replaced by the tab's name.
    pub tab_close: &'static str,
    pub copy_paste_hint: &'static str,
    pub lesson_progress: &'static str,
    pub course_progress: &'static str,
}

static EN: Strings = Strings {
    language_name: "English",
    catalog_title: "Learn Docker by doing",
    catalog_intro: "Every lesson opens beside a real terminal in your own sandbox. Read a little, \
                    run it, and check your work as you go.",
    lessons_heading: "Lessons",
    lesson_label: "Lesson",
    terminal_label: "Terminal",
    skip_to_lesson: "Skip to the lesson",
    all_lessons: "All lessons",
    previous: "Previous",
    next: "Next",
    exercise: "Exercise",
    exercise_count: ["1 exercise", "{n} exercises"],
    hint: "Hint",
    run: "Run",
    copy: "Copy",
    switch_language: "Read this in English",
    theme_toggle: "Dark theme",
    not_found_title: "Page not found",
    not_found_text: "There is no page at this address. The lesson may have moved, or the link \
                     has a typo.",
    back_to_catalog: "Back to all lessons",
    full_banner: "berth is full right now — try again in a minute.",
    backend_note: "This terminal is a shell on the server machine itself, not a container: \
                   what you run here runs on that computer.",
    connecting: "Connecting…",
    connected: "Connected",
    reconnecting: "Connection lost, reconnecting…",
    ended: "Your sandbox has ended.",
    full: "Every sandbox is in use right now. Trying again shortly…",
    copied: "Copied",
    exited: "The shell exited (code {code}).",
    backend_docker: "your own container",
    backend_local: "a shell on this machine",
    check_passed: "Done",
    check_failed: "Not yet",
    check_pending: "Not checked yet",
    check_button: "Check",
    time_left: "{t} left",
    ending_soon: "ends in {t}: save what you need",
    hours_minutes: "{h} h {m} min",
    minutes: "{m} min",
    ports_label: "Open in the browser:",
    quiz: "Quiz",
    quiz_submit: "Check answer",
    quiz_right: "Right!",
    quiz_wrong: "Not quite; try another answer.",
    quiz_choose: "Pick an answer first.",
    checking: "Checking…",
    lesson_complete: "Lesson complete: every exercise is done. Well done!",
    progress: "{done} of {n} done",
    restart: "Start a new shell",
    restart_sandbox: "Start a fresh sandbox",
    take_over: "Use the terminal here",
    focus_hint: "switch lesson ⇄ terminal",
    resize_divider: "Resize lesson and terminal",
    tabs_label: "Terminal tabs",
    tab_label: "Shell {n}",
    tab_new: "Open another shell",
    tab_close: "Close {tab}",
    copy_paste_hint: "copy, paste",
    lesson_progress: "This lesson",
    course_progress: "Whole course",
};

static KO: Strings = Strings {
    language_name: "한국어",
    catalog_title: "직접 해 보며 배우는 Docker",
    catalog_intro: "모든 레슨은 나만의 샌드박스에서 돌아가는 진짜 터미널 옆에서 열립니다. \
                    조금 읽고, 직접 실행하고, 잘 됐는지 바로 확인해 보세요.",
    lessons_heading: "레슨",
    lesson_label: "레슨",
    terminal_label: "터미널",
    skip_to_lesson: "레슨 본문으로 건너뛰기",
    all_lessons: "전체 레슨",
    previous: "이전",
    next: "다음",
    exercise: "연습 문제",
    exercise_count: ["연습 문제 1개", "연습 문제 {n}개"],
    hint: "힌트",
    run: "실행",
    copy: "복사",
    switch_language: "한국어로 보기",
    theme_toggle: "어두운 테마",
    not_found_title: "페이지를 찾을 수 없습니다",
    not_found_text: "이 주소에는 페이지가 없습니다. 레슨이 다른 곳으로 옮겨졌거나 주소에 오타가 \
                     있을 수 있어요.",
    back_to_catalog: "전체 레슨으로 돌아가기",
    full_banner: "지금은 berth에 빈자리가 없습니다 — 잠시 후 다시 시도해 주세요.",
    backend_note: "이 터미널은 컨테이너가 아니라 서버 컴퓨터에서 바로 열린 셸입니다. \
                   여기서 실행한 명령은 그 컴퓨터에서 그대로 실행됩니다.",
    connecting: "연결하는 중…",
    connected: "연결됨",
    reconnecting: "연결이 끊겼습니다. 다시 연결하는 중…",
    ended: "샌드박스가 끝났습니다.",
    full: "지금은 모든 샌드박스가 사용 중입니다. 잠시 후 다시 시도합니다…",
    copied: "복사됨",
    exited: "셸이 종료되었습니다 (종료 코드 {code}).",
    backend_docker: "나만의 컨테이너",
    backend_local: "이 컴퓨터의 셸",
    check_passed: "통과",
    check_failed: "아직이에요",
    check_pending: "아직 확인하지 않음",
    check_button: "확인",
    time_left: "{t} 남음",
    ending_soon: "{t} 뒤에 끝나요. 필요한 것을 챙겨 두세요",
    hours_minutes: "{h}시간 {m}분",
    minutes: "{m}분",
    ports_label: "브라우저에서 열기:",
    quiz: "퀴즈",
    quiz_submit: "정답 확인",
    quiz_right: "정답이에요!",
    quiz_wrong: "아쉬워요. 다른 답을 골라 보세요.",
    quiz_choose: "먼저 답을 하나 고르세요.",
    checking: "확인하는 중…",
    lesson_complete: "레슨 완료! 연습 문제를 모두 마쳤어요. 잘했어요!",
    progress: "{n}개 중 {done}개 완료",
    restart: "새 셸 시작",
    restart_sandbox: "새 샌드박스 시작",
    take_over: "여기서 터미널 사용",
    focus_hint: "레슨 ⇄ 터미널 전환",
    resize_divider: "레슨과 터미널 크기 조절",
    tabs_label: "터미널 탭",
    tab_label: "셸 {n}",
    tab_new: "셸 하나 더 열기",
    tab_close: "{tab} 닫기",
    copy_paste_hint: "복사, 붙여넣기",
    lesson_progress: "이 레슨",
    course_progress: "전체 과정",
};

/// The words of `lang`.
pub fn strings(lang: Lang) -> &'static Strings {
    match lang {
        Lang::En => &EN,
        Lang::Ko => &KO,
    }
}

impl Strings {
    /// The words the browser code needs, as JSON that is safe inside a `<script>` element.
    fn client_json(&self) -> String {
        let words = serde_json::json!({
            "connecting": self.connecting,
            "connected": self.connected,
            "reconnecting": self.reconnecting,
            "ended": self.ended,
            "full": self.full,
            "copied": self.copied,
            "exited": self.exited,
            "backend_docker": self.backend_docker,
            "backend_local": self.backend_local,
            "check_passed": self.check_passed,
            "check_failed": self.check_failed,
            "check_pending": self.check_pending,
            "check_button": self.check_button,
            "time_left": self.time_left,
            "ending_soon": self.ending_soon,
            "hours_minutes": self.hours_minutes,
            "minutes": self.minutes,
            "ports_label": self.ports_label,
            "quiz_right": self.quiz_right,
            "quiz_wrong": self.quiz_wrong,
            "quiz_choose": self.quiz_choose,
            "checking": self.checking,
            "lesson_complete": self.lesson_complete,
            "restart": self.restart,
            "restart_sandbox": self.restart_sandbox,
            "take_over": self.take_over,
            "focus_hint": self.focus_hint,
            "resize_divider": self.resize_divider,
            "tabs_label": self.tabs_label,
            "tab_label": self.tab_label,
            "tab_new": self.tab_new,
            "tab_close": self.tab_close,
            "copy_paste_hint": self.copy_paste_hint,
            "progress": self.progress,
        });
        script_safe_json(&words.to_string())
    }
}

/// JSON with `<`, `>` and `&` written as `\u003c`…, so no `</script>` or `<!--` can appear.
fn script_safe_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

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
    t: &'static Strings,
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
            t: strings(lang),
            title,
            css_url: crate::assets::url("css/berth.css"),
            icon_url: crate::assets::exists(FAVICON).then(|| crate::assets::url(FAVICON)),
            switch: LangSwitch {
                href: switch_href,
                lang: other.code(),
                label: strings(other).language_name,
                title: strings(other).switch_language,
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
    /// The exercises this learner passed before, as JSON for the page.
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
        let text = strings(lang)
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
    let [one, many] = strings(lang).exercise_count;
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
    let t = strings(lang);
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
    let t = strings(lang);
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
        progress_json: script_safe_json(&serde_json::Value::from(passed).to_string()),
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
        strings_json: strings(lang).client_json(),
    };
    html(StatusCode::OK, Some(lang), page.render())
}

async fn not_found(headers: HeaderMap) -> Response {
    not_found_in(learner_lang(&headers))
}

fn not_found_in(lang: Lang) -> Response {
    let t = strings(lang);
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

    #[test]
    fn client_strings_cannot_close_their_script_element() {
        let json = script_safe_json(r#"{"a":"</script><!-- & "}"#);
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["a"], "</script><!-- & ");
        for lang in Lang::ALL {
            let value: serde_json::Value =
                serde_json::from_str(&strings(lang).client_json()).unwrap();
            for key in [
                "connecting",
                "connected",
                "full",
                "check_pending",
                "backend_local",
            ] {
                assert!(value[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
            }
        }
    }
}
