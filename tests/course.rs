//! The course, exercise by exercise, as a learner would do it: in a fresh sandbox each check
//! fails first, then its solution is typed into the terminal over the WebSocket, and the check
//! passes. Slow (a few minutes): every lesson runs real containers.

mod common;

use std::time::{Duration, Instant};

use berth::lessons::Lang;
use serde_json::Value;

async fn check(
    server: &common::TestServer,
    cookie: &str,
    lang: &str,
    slug: &str,
    id: &str,
) -> Value {
    let response = server
        .client()
        .post(server.url(&format!("/api/checks/{lang}/{slug}/{id}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{slug}/{id}");
    response.json().await.unwrap()
}

async fn course_in(lang: Lang) {
    let server = common::start_docker().await;
    let lessons = server.state().lessons.catalog().lessons(lang).to_vec();
    assert!(lessons.len() >= 5, "the course has its lessons");
    let code = lang.code();
    for lesson in lessons {
        // A fresh learner per lesson: every lesson must work from a fresh sandbox.
        let learner = server.sandboxed().await;
        let mut term = server.shell(&learner.cookie, "?tab=0").await;
        for (n, exercise) in lesson.exercises.iter().enumerate() {
            let slug = &lesson.slug;
            let before = check(&server, &learner.cookie, code, slug, &exercise.id).await;
            assert_eq!(
                before["passed"], false,
                "{slug}/{} passes before its solution: {before}",
                exercise.id
            );
            let message = before["message"].as_str().unwrap_or_default();
            assert!(
                !message.is_empty() && !message.contains("berth-"),
                "{slug}/{}: {message:?}",
                exercise.id
            );
            assert!(
                !exercise.solution.is_empty(),
                "{slug}/{} has no solution",
                exercise.id
            );
            for (m, line) in exercise.solution.iter().enumerate() {
                term.send(&format!("{line}\r")).await;
                // A marker whose output differs from its command line: the line has finished.
                let sum = 1000 * n + m;
                term.send(&format!("echo done-$(({sum}+1))\r")).await;
                term.read_until(&format!("done-{}\r\n", sum + 1)).await;
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let after = check(&server, &learner.cookie, code, slug, &exercise.id).await;
                if after["passed"] == true {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{slug}/{} still fails after its solution: {after}\nterminal:\n{}",
                    exercise.id,
                    common::plain(&String::from_utf8_lossy(&term.output))
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        let id = server.learner_of(&learner.cookie);
        server.state().sandboxes.remove(&id, "lesson done").await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_english_exercise_fails_then_passes_with_its_solution() {
    course_in(Lang::En).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_korean_exercise_fails_then_passes_with_its_solution() {
    course_in(Lang::Ko).await;
}
