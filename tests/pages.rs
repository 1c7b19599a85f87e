//! The pages, over real HTTP from a real berth: the catalog and lesson pages in both languages,
//! the language and session cookies, the 404 page, and what the lesson page promises the
//! browser code (terminal pane, Run buttons, exercise cards, strings).

mod common;

use std::path::PathBuf;

use berth::config::SandboxKind;
use common::{TestServer, start_local, start_with, temp_dir, test_config};
use reqwest::Response;
use reqwest::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE};

async fn get(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = server.client().get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

fn assert_html_page(response: &Response) {
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap();
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
}

#[tokio::test]
async fn the_catalog_lists_lessons_in_english_and_in_korean() {
    let server = start_local().await;

    let response = get(&server, "/", &[]).await;
    assert_eq!(response.status(), 200);
    assert_html_page(&response);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="en">"#), "{page}");
    assert!(page.contains(r#"<meta name="viewport""#), "{page}");
    let css = berth::assets::url("css/berth.css");
    assert!(
        page.contains(&format!(r#"<link rel="stylesheet" href="{css}">"#)),
        "{page}"
    );
    assert!(
        page.contains("Physical machines, virtual machines and containers"),
        "{page}"
    );
    assert!(page.contains(r#"href="/en/01-first-container""#), "{page}");
    assert!(
        page.contains(r#"<span class="lesson-number" aria-hidden="true">01</span>"#),
        "{page}"
    );
    assert!(page.contains("4 exercises"), "{page}");
    assert!(
        page.contains(r#"<a class="lang-switch" href="/?lang=ko" hreflang="ko" lang="ko""#),
        "{page}"
    );

    let response = get(&server, "/?lang=ko", &[]).await;
    assert_eq!(response.status(), 200);
    assert!(
        cookies(&response)
            .iter()
            .any(|c| c.starts_with("berth_lang=ko;"))
    );
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<html lang="ko">"#), "{page}");
    assert!(page.contains("물리 머신, 가상 머신, 컨테이너"), "{page}");
    assert!(page.contains("직접 해 보며 배우는 Docker"), "{page}");
    assert!(page.contains("연습 문제 4개"), "{page}");
    assert!(page.contains(r#"href="/ko/01-first-container""#), "{page}");
    assert!(page.contains(r#"href="/?lang=en" hreflang="en""#), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn the_language_comes_from_the_query_then_the_cookie_then_the_browser() {
    let server = start_local().await;
    let lang_of = |page: &str| {
        if page.contains(r#"<html lang="ko">"#) {
            "ko"
        } else if page.contains(r#"<html lang="en">"#) {
            "en"
        } else {
            panic!("no language: {page}")
        }
    };
    let korean_browser = (
        ACCEPT_LANGUAGE.as_str(),
        "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7",
    );
    let page = get(&server, "/", &[korean_browser])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(lang_of(&page), "ko");
    assert!(page.contains("물리 머신, 가상 머신, 컨테이너"));

    let english_browser = (ACCEPT_LANGUAGE.as_str(), "de-DE, en;q=0.5, ko;q=0.4");
    let page = get(&server, "/", &[english_browser])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(lang_of(&page), "en");

    // The learner switched to English once: their Korean browser no longer decides.
    let chose_english = (COOKIE.as_str(), "berth_lang=en");
    let page = get(&server, "/", &[korean_browser, chose_english])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(lang_of(&page), "en");

    // The switch link itself wins over the cookie.
    let page = get(&server, "/?lang=ko", &[chose_english])
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(lang_of(&page), "ko");
    server.stop().await;
}

#[tokio::test]
async fn the_first_page_sets_the_session_and_language_cookies() {
    let server = start_local().await;
    let response = get(&server, "/en/01-first-container", &[]).await;
    assert_eq!(response.status(), 200);
    let set = cookies(&response);
    let session = set
        .iter()
        .find(|c| c.starts_with("berth_session="))
        .unwrap_or_else(|| panic!("no session cookie in {set:?}"));
    assert!(session.contains("; HttpOnly"), "{session}");
    assert!(session.contains("; SameSite=Lax"), "{session}");
    assert!(session.contains("; Path=/"), "{session}");
    let lang = set
        .iter()
        .find(|c| c.starts_with("berth_lang="))
        .unwrap_or_else(|| panic!("no language cookie in {set:?}"));
    assert_eq!(
        lang,
        "berth_lang=en; Path=/; SameSite=Lax; Max-Age=31536000"
    );

    // A browser that has a session keeps it.
    let session = session.split(';').next().unwrap().to_owned();
    let response = get(&server, "/ko/01-first-container", &[("cookie", &session)]).await;
    let set = cookies(&response);
    assert!(
        !set.iter().any(|c| c.starts_with("berth_session=")),
        "{set:?}"
    );
    assert!(
        set.iter().any(|c| c.starts_with("berth_lang=ko;")),
        "{set:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_lesson_page_has_the_terminal_run_buttons_and_exercises_in_both_languages() {
    let server = start_local().await;
    for (lang, other, run, exercise, title) in [
        (
            "en",
            "ko",
            "Run",
            "Exercise",
            "Physical machines, virtual machines and containers",
        ),
        (
            "ko",
            "en",
            "실행",
            "연습 문제",
            "물리 머신, 가상 머신, 컨테이너",
        ),
    ] {
        let response = get(&server, &format!("/{lang}/01-first-container"), &[]).await;
        assert_eq!(response.status(), 200, "{lang}");
        assert_html_page(&response);
        let page = response.text().await.unwrap();
        let has = |needle: &str| assert!(page.contains(needle), "{lang}: no {needle} in {page}");

        has(&format!(r#"<html lang="{lang}">"#));
        has(&format!(
            r#"<body class="page-lesson" data-lang="{lang}" data-slug="01-first-container" data-backend="local">"#
        ));
        has(&format!("<title>{title} · berth</title>"));
        has(r#"<a class="brand" href="/">"#);
        has(&format!(
            r#"<a class="lang-switch" href="/{other}/01-first-container" hreflang="{other}""#
        ));
        has(r#"<article id="lesson" class="lesson" tabindex="-1""#);
        has(
            r#"<div class="divider" role="separator" aria-orientation="vertical" tabindex="0"></div>"#,
        );
        has(r#"<section id="terminal-pane" class="terminal-pane""#);
        has(
            r#"<div id="terminal-status" class="terminal-status" role="status" aria-live="polite" data-incomplete=""#,
        );
        // A page whose scripts could not all be fetched loads again by itself.
        has(r#"<script type="module" src="/static/js/lesson."#);
        has(r#"getElementById("berth-main").addEventListener("error""#);
        has(r#"<div id="terminal" class="terminal"></div>"#);
        // The local backend is a shell on this machine, and the page says so.
        has(r#"<p class="backend-note">"#);
        assert!(!page.contains("full-banner"), "{page}");

        has(&format!(
            r#"<button type="button" class="code-run" data-command="ps aux
docker run --rm busybox ps">{run}</button>"#
        ));
        has(r#"class="code-copy" data-command="ps aux
docker run --rm busybox ps""#);
        has(r#"data-command="uname -r
docker run --rm busybox uname -r""#);
        let first = page
            .find(r#"id="exercise-same-kernel""#)
            .expect("same-kernel card");
        let second = page
            .find(r#"id="exercise-own-processes""#)
            .expect("own-processes card");
        assert!(first < second, "exercises in lesson order");
        has(r#"data-exercise="own-processes" data-state="pending""#);
        has(&format!(
            r#"<span class="exercise-label">{exercise}</span>"#
        ));
        has(r#"<div class="exercise-hints"><ol class="exercise-hint-list"><li hidden>"#);
        has(r#"class="exercise-hint-toggle" data-total="1">"#);
        // The challenge: its own label, and hints that go from a nudge to the answer.
        has(r#"<section class="exercise challenge" id="exercise-own-hostname""#);
        has(r#"class="exercise-hint-toggle" data-total="3">"#);
        // Anchors hidden from screen readers take no focus either.
        assert!(
            !page.contains(r#"aria-hidden="true">#"#),
            "{lang}: a focusable hidden anchor"
        );
        has(r##"<h2 id="##);
        has(r##"<a class="anchor" href="#"##);
        has(r#"<nav class="lesson-nav""#);
        has(&format!(
            r#"<a class="lesson-nav-all" href="/?lang={lang}">"#
        ));

        has(&format!(
            r#"<script type="module" src="{}" id="berth-main"></script>"#,
            berth::assets::url("js/lesson.js")
        ));
        has(r#"<script type="importmap">"#);
        let strings = page
            .split(r#"<script type="application/json" id="berth-strings">"#)
            .nth(1)
            .and_then(|rest| rest.split("</script>").next())
            .expect("a strings block");
        let strings: serde_json::Value = serde_json::from_str(strings).unwrap();
        // Every word the browser code reads is there: it has no copy of its own.
        let keys = words_the_browser_reads();
        assert!(keys.len() > 20, "{keys:?}");
        for key in keys
            .iter()
            .map(String::as_str)
            .chain(["backend_docker", "backend_local"])
        {
            assert!(
                strings[key].as_str().is_some_and(|s| !s.is_empty()),
                "{lang}: {key}"
            );
        }
        if lang == "ko" {
            assert_eq!(strings["copied"], "복사됨");
        }
    }
    server.stop().await;
}

/// Every `words.NAME` (and `strings.NAME`, as tabs.js is handed them) in the page's modules.
fn words_the_browser_reads() -> std::collections::BTreeSet<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static/js");
    let mut keys = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let uses = source
            .split("words.")
            .skip(1)
            .chain(source.split("strings.").skip(1));
        for rest in uses {
            let key: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            // `words.js` is the module's own file name.
            if !key.is_empty() && key != "js" {
                keys.insert(key);
            }
        }
    }
    keys
}

/// Two lessons per language, so pages have a previous and a next.
fn two_lessons() -> PathBuf {
    let dir = temp_dir("two-lessons");
    for (lang, first, second) in [("en", "One", "Two"), ("ko", "하나", "둘")] {
        std::fs::create_dir_all(dir.join(lang)).unwrap();
        for (file, title) in [("01-one.md", first), ("02-two.md", second)] {
            let text =
                format!("+++\ntitle = \"{title}\"\nsummary = \"{title}.\"\n+++\n## {title}\n");
            std::fs::write(dir.join(lang).join(file), text).unwrap();
        }
    }
    dir
}

#[tokio::test]
async fn lesson_pages_link_to_the_previous_and_next_lesson() {
    let lessons = two_lessons();
    let server = start_with(berth::config::Config {
        lessons: Some(lessons.clone()),
        ..test_config(SandboxKind::Local)
    })
    .await;

    let page = get(&server, "/ko/01-one", &[]).await.text().await.unwrap();
    assert!(!page.contains(r#"rel="prev""#), "{page}");
    assert!(
        page.contains(r#"<a class="lesson-nav-next" rel="next" href="/ko/02-two"><span class="lesson-nav-label">다음</span> <span class="lesson-nav-title">02. 둘</span></a>"#),
        "{page}"
    );
    let page = get(&server, "/en/02-two", &[]).await.text().await.unwrap();
    assert!(
        page.contains(r#"<a class="lesson-nav-prev" rel="prev" href="/en/01-one"><span class="lesson-nav-label">Previous</span> <span class="lesson-nav-title">01. One</span></a>"#),
        "{page}"
    );
    assert!(!page.contains(r#"rel="next""#), "{page}");
    server.stop().await;
    let _ = std::fs::remove_dir_all(lessons);
}

#[tokio::test]
async fn unknown_pages_get_the_404_page_in_the_learners_language() {
    let server = start_local().await;
    for path in [
        "/xx/01-first-container",
        "/en/no-such-lesson",
        "/nothing/here/at/all",
        "/nope",
    ] {
        let response = get(&server, path, &[]).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_html_page(&response);
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"<html lang="en">"#), "{path}: {page}");
        assert!(
            page.contains(r#"<body class="page-not-found">"#),
            "{path}: {page}"
        );
        assert!(page.contains("Page not found"), "{path}: {page}");
        assert!(
            page.contains(r#"href="/?lang=en">Back to all lessons</a>"#),
            "{path}: {page}"
        );
    }

    let korean = [(ACCEPT_LANGUAGE.as_str(), "ko")];
    for path in ["/xx/01-first-container", "/nothing/here/at/all"] {
        let response = get(&server, path, &korean).await;
        assert_eq!(response.status(), 404, "{path}");
        let page = response.text().await.unwrap();
        assert!(page.contains("페이지를 찾을 수 없습니다"), "{path}: {page}");
        assert!(page.contains("전체 레슨으로 돌아가기"), "{path}: {page}");
    }
    // A lesson URL says its language, whatever the browser prefers.
    let page = get(&server, "/ko/no-such-lesson", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("페이지를 찾을 수 없습니다"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn a_language_alone_leads_to_its_catalog() {
    let server = start_local().await;
    let response = get(&server, "/ko", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/?lang=ko");
    server.stop().await;
}

#[tokio::test]
async fn when_berth_is_full_a_new_learner_sees_a_banner() {
    let mut config = test_config(SandboxKind::Local);
    config.max_sandboxes = 1;
    let server = start_with(config).await;
    let cookie = server.new_learner().await;
    let owner = server.learner_of(&cookie);
    server
        .state()
        .sandboxes
        .get_or_create(&owner)
        .await
        .expect("the only sandbox starts");

    let page = get(&server, "/en/01-first-container", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(r#"<div class="full-banner" role="alert">berth is full right now — try again in a minute.</div>"#),
        "{page}"
    );
    let page = get(&server, "/ko/01-first-container", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("지금은 berth에 빈자리가 없습니다"), "{page}");

    // The learner who has the sandbox is not turned away.
    let page = get(&server, "/en/01-first-container", &[("cookie", &cookie)]).await;
    let page = page.text().await.unwrap();
    assert!(!page.contains("full-banner"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn edited_lessons_are_served_without_a_restart_and_broken_edits_are_not() {
    let lessons = two_lessons();
    let server = start_with(berth::config::Config {
        lessons: Some(lessons.clone()),
        ..test_config(SandboxKind::Local)
    })
    .await;
    let page = get(&server, "/en/01-one", &[]).await.text().await.unwrap();
    assert!(page.contains("<h2"), "{page}");

    let file = lessons.join("en").join("01-one.md");
    std::fs::write(
        &file,
        "+++\ntitle = \"One, revised\"\nsummary = \"Edited.\"\n+++\n## Fresh\n",
    )
    .unwrap();
    let mut waited = 0;
    loop {
        let page = get(&server, "/en/01-one", &[]).await.text().await.unwrap();
        if page.contains("One, revised") {
            break;
        }
        waited += 1;
        assert!(waited < 100, "the edit never showed up");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    // A broken check block: the last good lesson stays up.
    std::fs::write(
        &file,
        "+++\ntitle = \"Broken\"\nsummary = \"x\"\n+++\n```check\nid = \n```\n",
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let page = get(&server, "/en/01-one", &[]).await.text().await.unwrap();
    assert!(page.contains("One, revised"), "{page}");
    assert!(!page.contains("Broken"));
    server.stop().await;
    let _ = std::fs::remove_dir_all(lessons);
}
