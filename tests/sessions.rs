//! Sessions berth issued, over real HTTP and WebSockets: who a cookie belongs to, as a browser
//! and someone making cookies up see it.

mod common;

use std::collections::HashMap;

use berth::config::SandboxKind;
use berth::lessons::{Lang, LessonStore};
use berth::session::random_hex;
use common::{WAIT, refused_status, start_docker, start_docker_with, start_with, test_config};
use sha2::{Digest, Sha256};

/// The `berth_session=…` a response sets, if any.
fn session_set_by(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with("berth_session="))
        .map(|value| value.split(';').next().unwrap().to_owned())
}

/// The learner id berth derived from a cookie before it kept ids.
fn legacy_id(secret: &str) -> String {
    Sha256::digest(format!("berth-learner:{secret}").as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn wait_for_sandboxes(server: &common::TestServer, alive: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.state().sandboxes.stats().alive != alive {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {alive} sandboxes: {:?}",
            server.state().sandboxes.stats()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn made_up_cookies_are_new_visitors_and_start_no_sandbox() {
    let server = start_docker_with(|config| config.max_sandboxes = 2).await;
    let mut fresh = Vec::new();
    for _ in 0..5 {
        let made_up = format!("berth_session={}", random_hex(32));
        let response = server.page("/en/01-first-container", &made_up).await;
        assert_eq!(response.status(), 200);
        let given = session_set_by(&response).expect("a new visitor gets a cookie");
        assert_ne!(given, made_up);
        fresh.push(given);
    }
    assert_eq!(server.state().sandboxes.stats().alive, 0);

    // A learner who comes back with the cookie berth gave gets a sandbox while the page loads,
    // and the made-up cookies did not take the places.
    let cookie = server.new_learner().await;
    server.page("/en/01-first-container", &cookie).await;
    wait_for_sandboxes(&server, 1).await;
    let mut term = server.shell(&cookie, "").await;
    assert_eq!(term.run("echo mine").await, "mine");
    // So does a visitor who got a fresh cookie in place of a made-up one, once back with it.
    server.page("/en/01-first-container", &fresh[0]).await;
    wait_for_sandboxes(&server, 2).await;
    server.stop().await;
}

#[tokio::test]
async fn a_cookie_berth_does_not_know_is_401_on_the_socket_the_checks_and_the_ports() {
    let server = start_docker().await;
    let elsewhere = start_with(test_config(SandboxKind::Local)).await;
    let url = server.ws_url("?tab=0");
    let made_up = format!("berth_session={}", random_hex(32));
    let from_another_berth = elsewhere.new_learner().await;
    for cookie in [&made_up, &from_another_berth] {
        let headers = [
            ("cookie", cookie.as_str()),
            ("origin", server.base.as_str()),
        ];
        assert_eq!(refused_status(&url, &headers).await, 401, "{cookie}");
        let checks = server
            .client()
            .post(server.url("/api/checks/en/01-first-container"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(checks.status(), 401);
        let port = server.page("/ports/8080/", cookie).await;
        assert_eq!(port.status(), 401);
        assert!(
            port.text()
                .await
                .unwrap()
                .contains("reload the lesson page")
        );
    }
    assert_eq!(server.state().sandboxes.stats().alive, 0);
    elsewhere.stop().await;
    server.stop().await;
}

#[tokio::test]
async fn learner_ids_are_random_kept_by_berth_and_not_derived_from_the_cookie() {
    let data = common::temp_dir("ids");
    let data_dir = data.clone();
    let server = start_docker_with(move |config| config.data_dir = data_dir).await;
    let (alice, bob) = (server.new_learner().await, server.new_learner().await);
    server.shell(&alice, "").await.close().await;
    server.shell(&bob, "").await.close().await;
    let (a, b) = (server.learner_of(&alice), server.learner_of(&bob));
    assert_ne!(a, b);
    let secret = alice.trim_start_matches("berth_session=");
    assert_ne!(a.as_str(), legacy_id(secret));
    assert!(!secret.contains(a.as_str()));
    // The engine knows the workstation by its sandbox's own random id, bound to the learner
    // in the store: nothing there names the learner.
    let workstation = server.state().sandboxes.get(&a).unwrap();
    let inspected = common::docker()
        .await
        .inspect_container(
            workstation.workstation_id(),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let labels: HashMap<String, String> = inspected.config.unwrap().labels.unwrap();
    assert_eq!(labels["berth.owner"], workstation.id.as_str());
    assert_ne!(workstation.id.as_str(), a.as_str());
    assert_eq!(
        server
            .state()
            .store
            .sandbox_learner(workstation.id.as_str())
            .as_deref(),
        Some(a.as_str())
    );

    // Kept across a restart; the database holds the cookie's hash, never the cookie.
    server.stop_keeping_data().await;
    let database = std::fs::read(data.join("berth.sqlite3")).unwrap();
    assert!(
        !database
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );
    let data_dir = data.clone();
    let restarted = start_docker_with(move |config| config.data_dir = data_dir).await;
    assert_eq!(restarted.learner_of(&alice), a);
    assert_eq!(restarted.learner_of(&bob), b);
    restarted.stop().await;
}

#[tokio::test]
async fn a_cookie_from_before_berth_kept_sessions_keeps_its_progress() {
    // What berth wrote before the store: progress.sqlite3, under the id derived from the cookie.
    let secret = random_hex(32);
    let catalog = LessonStore::load(None).unwrap().catalog();
    let lesson = catalog
        .lessons(Lang::En)
        .iter()
        .find(|lesson| lesson.exercises.len() >= 2)
        .unwrap()
        .clone();
    let data = common::temp_dir("legacy");
    let old = rusqlite::Connection::open(data.join("progress.sqlite3")).unwrap();
    old.execute_batch(
        "CREATE TABLE passed (learner TEXT NOT NULL, lesson TEXT NOT NULL, exercise TEXT NOT NULL,
         at INTEGER NOT NULL, PRIMARY KEY (learner, lesson, exercise));",
    )
    .unwrap();
    for exercise in &lesson.exercises[..2] {
        old.execute(
            "INSERT INTO passed VALUES (?1, ?2, ?3, 1700000000)",
            (legacy_id(&secret), &lesson.slug, &exercise.id),
        )
        .unwrap();
    }
    drop(old);

    let at = |data_dir: std::path::PathBuf| berth::config::Config {
        data_dir,
        ..test_config(SandboxKind::Local)
    };
    let cookie = format!("berth_session={secret}");
    // First seen by the Check button (known: no sandbox yet, rather than 401), then a restart.
    let first = start_with(at(data.clone())).await;
    let checked = first
        .client()
        .post(first.url(&format!("/api/checks/en/{}", lesson.slug)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(checked.status(), 409);
    first.stop_keeping_data().await;

    let server = start_with(at(data.clone())).await;
    let page = server.page(&format!("/en/{}", lesson.slug), &cookie).await;
    // The same cookie, sent again so it lasts: not a new visitor's.
    assert_eq!(session_set_by(&page).as_deref(), Some(cookie.as_str()));
    let page = page.text().await.unwrap();
    let done = format!("2 of {} done", lesson.exercises.len());
    assert!(page.contains(&done), "{page}");
    // Under a fresh random id now, which the next visit finds again.
    let id = server.learner_of(&cookie);
    assert_ne!(id.as_str(), legacy_id(&secret));
    let catalog_page = server.page("/?lang=en", &cookie).await;
    assert_eq!(session_set_by(&catalog_page), None);
    assert!(catalog_page.text().await.unwrap().contains(&done));
    server.stop().await;
}
