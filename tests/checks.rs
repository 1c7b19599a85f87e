//! Checks evaluated for real: every kind against a learner's sandbox, through the API and live
//! over the terminal socket, never satisfied by another learner's objects, and progress kept
//! across a berth restart.

mod common;

use std::path::PathBuf;

use serde_json::Value;

const LESSON: &str = r#"+++
title = "Checks"
summary = "Every kind of check."
images = ["busybox:latest"]
+++

Text.

```check
id = "web"
title = "web serves on 8080"
hint = "docker run -d --name web -p 8080:80 -e MODE=demo -v site:/www busybox httpd -f -p 80 -h /www"
[container]
name = "web"
image = "busybox"
running = true
publish = ["8080:80"]
env = ["MODE=demo"]
volumes = ["site:/www"]
network = "bridge"
```

```check
id = "three"
title = "Three busybox containers"
[container]
image = "busybox"
count = 3
```

```check
id = "gone"
title = "No container named old"
after = "three"
[container]
name = "old"
present = false
```

```check
id = "built"
title = "An image app:1"
[image]
name = "app"
tag = "1"
```

```check
id = "volume"
title = "A volume data"
[volume]
name = "data"
```

```check
id = "network"
title = "A network lan"
[network]
name = "lan"
```

```check
id = "note"
title = "A note"
[probe]
command = "cat ~/note.txt"
expect = "hello"
timeout = "5s"
```

```check
id = "ran-ps"
title = "Ran ps"
[history]
command = "ps"
succeeded = true
```

```check
id = "flag"
title = "Found the flag"
[history]
command = "test"
contains = "/tmp/flag"
succeeded = true
```
"#;

fn lessons_dir() -> PathBuf {
    let dir = common::temp_dir("check-lessons");
    for lang in ["en", "ko"] {
        std::fs::create_dir_all(dir.join(lang)).unwrap();
        std::fs::write(dir.join(lang).join("01-checks.md"), LESSON).unwrap();
    }
    dir
}

async fn check(server: &common::TestServer, cookie: &str, lang: &str, id: &str) -> Value {
    let response = server
        .client()
        .post(server.url(&format!("/api/checks/{lang}/01-checks/{id}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{id}");
    response.json().await.unwrap()
}

/// What the first evaluation said about `exercise`.
fn first_message<'a>(first: &'a [Value], exercise: &str) -> &'a Value {
    first
        .iter()
        .find(|c| c["exercise"] == exercise)
        .map(|c| &c["message"])
        .unwrap_or(&Value::Null)
}

fn failed_with(answer: &Value, text: &str) {
    assert_eq!(answer["passed"], false, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(text), "{message:?} should say {text:?}");
    assert!(!message.contains("berth-"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_fails_then_passes_and_only_for_its_learner() {
    let dir = lessons_dir();
    let server = common::start_docker_with(|config| config.lessons = Some(dir.clone())).await;
    let (me, other) = tokio::join!(server.sandboxed(), server.sandboxed());

    // Someone else's objects of the same names satisfy nothing of mine.
    other.docker("volume create site").await;
    other
        .docker(
            "run -d --name web -p 8080:80 -e MODE=demo -v site:/www busybox httpd -f -p 80 -h /www",
        )
        .await;
    other.docker("volume create data").await;
    other.docker("network create lan").await;
    other.sh("echo hello > note.txt; ps").await;

    failed_with(
        &check(&server, &me.cookie, "en", "web").await,
        "no container named web",
    );
    failed_with(&check(&server, &me.cookie, "ko", "web").await, "web");
    failed_with(
        &check(&server, &me.cookie, "en", "volume").await,
        "no volume named data",
    );
    failed_with(
        &check(&server, &me.cookie, "en", "network").await,
        "no network named lan",
    );
    failed_with(
        &check(&server, &me.cookie, "en", "built").await,
        "app:1 is not in your images",
    );
    assert_eq!(
        check(&server, &me.cookie, "en", "note").await["passed"],
        false
    );
    failed_with(
        &check(&server, &me.cookie, "en", "ran-ps").await,
        "not run ps",
    );
    // An absence counts only after the exercise it follows: nothing was there to remove yet.
    failed_with(
        &check(&server, &me.cookie, "en", "gone").await,
        "after the exercise “Three busybox containers”",
    );

    // Step by step, each failure names what is missing.
    me.docker("run -d --name web busybox sleep 300").await;
    failed_with(
        &check(&server, &me.cookie, "en", "web").await,
        "does not publish 8080:80",
    );
    me.docker("rm -f web").await;
    me.docker("run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /etc")
        .await;
    failed_with(&check(&server, &me.cookie, "en", "web").await, "MODE=demo");
    me.docker("rm -f web").await;
    me.docker(
        "run -d --name web -p 8080:80 -e MODE=demo -v site:/www busybox httpd -f -p 80 -h /www",
    )
    .await;
    let passed = check(&server, &me.cookie, "en", "web").await;
    assert_eq!(passed["passed"], true, "{passed}");
    me.docker("stop web").await;
    failed_with(
        &check(&server, &me.cookie, "en", "web").await,
        "not running",
    );

    failed_with(
        &check(&server, &me.cookie, "en", "three").await,
        "Containers from busybox: 1 of the 3 needed.",
    );
    me.docker("run -d busybox sleep 300").await;
    me.docker("run -d busybox sleep 300").await;
    assert_eq!(
        check(&server, &me.cookie, "en", "three").await["passed"],
        true
    );

    me.docker("create --name old busybox true").await;
    failed_with(
        &check(&server, &me.cookie, "en", "gone").await,
        "The container old is still there.",
    );
    me.docker("rm old").await;
    assert_eq!(
        check(&server, &me.cookie, "en", "gone").await["passed"],
        true
    );

    me.sh("mkdir -p app && printf 'FROM busybox\\n' > app/Dockerfile")
        .await;
    me.docker("build -t app:1 app").await;
    assert_eq!(
        check(&server, &me.cookie, "en", "built").await["passed"],
        true
    );
    me.docker("volume create data").await;
    assert_eq!(
        check(&server, &me.cookie, "en", "volume").await["passed"],
        true
    );
    me.docker("network create lan").await;
    assert_eq!(
        check(&server, &me.cookie, "en", "network").await["passed"],
        true
    );
    me.sh("echo hello > note.txt").await;
    let note = check(&server, &me.cookie, "en", "note").await;
    assert_eq!(note["passed"], true, "{note}");
    assert_eq!(note["message"], "hello");

    // History is what the learner typed in their terminal.
    let mut term = server.shell(&me.cookie, "?tab=0").await;
    term.send("cd ~ && ps aux > /dev/null\r").await;
    term.read_until("$ ").await;
    assert_eq!(
        check(&server, &me.cookie, "en", "ran-ps").await["passed"],
        true
    );

    // The whole lesson at once; unknown lessons and exercises are clear 404s.
    let all: Value = server
        .client()
        .post(server.url("/api/checks/en/01-checks"))
        .header("cookie", &me.cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 9);
    for (path, status) in [
        ("/api/checks/en/01-checks/nope", 404),
        ("/api/checks/en/99-nope/web", 404),
        ("/api/checks/xx/01-checks/web", 404),
    ] {
        let response = server
            .client()
            .post(server.url(path))
            .header("cookie", &me.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string());
    }
    let stranger = server.new_learner().await;
    let response = server
        .client()
        .post(server.url("/api/checks/en/01-checks/web"))
        .header("cookie", &stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409, "no sandbox yet");
    let response = server
        .client()
        .post(server.url("/api/checks/en/01-checks/web"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cards_update_by_themselves_and_progress_survives_a_restart() {
    let dir = lessons_dir();
    let data = common::temp_dir("check-progress");
    let (lessons, data_dir) = (dir.clone(), data.clone());
    let server = common::start_docker_with(move |config| {
        config.lessons = Some(lessons);
        config.data_dir = data_dir;
    })
    .await;
    let cookie = server.new_learner().await;
    let mut term = server.terminal(&cookie, "?tab=0&lesson=en/01-checks").await;
    term.expect_control("ready").await;
    // The first evaluation of every card arrives at once.
    let mut first = Vec::new();
    for _ in 0..9 {
        first.push(term.expect_control("check").await);
    }
    assert!(
        first
            .iter()
            .any(|c| c["exercise"] == "volume" && c["passed"] == false)
    );

    term.send("docker volume create data\r").await;
    let mut passed = None;
    for _ in 0..10 {
        let message = term.expect_control("check").await;
        if message["exercise"] == "volume" {
            passed = Some(message);
            break;
        }
    }
    let passed = passed.expect("the volume card updated");
    assert_eq!(passed["passed"], true, "{passed}");
    term.send("ps\r").await;
    let mut ran = None;
    for _ in 0..10 {
        let message = term.expect_control("check").await;
        if message["exercise"] == "ran-ps" {
            ran = Some(message);
            break;
        }
    }
    assert_eq!(ran.expect("the history card updated")["passed"], true);

    // A passed card stays passed when what it looked at goes away (a lesson's own tidy-up),
    // and a command that failed does not count as run.
    term.send("docker volume rm data\r").await;
    term.send("test -e /tmp/flag\r").await;
    let mut flag = None;
    for _ in 0..10 {
        let message = term.expect_control("check").await;
        assert_ne!(message["exercise"], "volume", "{message}");
        if message["exercise"] == "flag" && &message["message"] != first_message(&first, "flag") {
            flag = Some(message);
            break;
        }
    }
    let flag = flag.expect("the flag card updated");
    assert_eq!(flag["passed"], false);
    assert!(
        flag["message"]
            .as_str()
            .unwrap()
            .contains("ended with an error"),
        "{flag}"
    );
    term.send("touch /tmp/flag; test -e /tmp/flag\r").await;
    let mut flag = None;
    for _ in 0..10 {
        let message = term.expect_control("check").await;
        assert_ne!(message["exercise"], "volume", "{message}");
        if message["exercise"] == "flag" && message["passed"] == true {
            flag = Some(message);
            break;
        }
    }
    assert!(
        flag.is_some(),
        "the flag card passed once the command succeeded"
    );
    // The learner's own Check button asks again, and a pass that no longer holds is forgotten.
    let again = server
        .client()
        .post(server.url("/api/checks/en/01-checks/volume"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(again["passed"], false, "{again}");

    let learner = server.learner_of(&cookie);
    server.stop_keeping_data().await;
    let restarted = common::start_docker_with(move |config| {
        config.lessons = Some(dir);
        config.data_dir = data;
    })
    .await;
    let progress = restarted.state().progress.by_lesson(&learner)["01-checks"].clone();
    assert!(
        !progress.contains("volume") && progress.contains("ran-ps") && progress.contains("flag"),
        "{progress:?}"
    );
    // The catalog and the lesson page show it.
    let catalog = restarted
        .page("/?lang=en", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(catalog.contains("2 of 9 done"), "{catalog}");
    let korean = restarted
        .page("/?lang=ko", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert!(korean.contains("9개 중 2개 완료"), "{korean}");
    let page = restarted
        .page("/en/01-checks", &cookie)
        .await
        .text()
        .await
        .unwrap();
    // The passed exercises, in the lesson's order, and the progress bars counting them.
    let progress = page
        .split(r#"<script type="application/json" id="berth-progress">"#)
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the page carries the learner's progress");
    let progress: Value = serde_json::from_str(progress).unwrap();
    let passed: Vec<&str> = progress
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert!(p["at"].as_i64().is_some_and(|at| at > 1_700_000_000), "{p}");
            p["exercise"].as_str().unwrap()
        })
        .collect();
    assert_eq!(passed, ["ran-ps", "flag"]);
    assert!(
        page.contains(r#"<progress max="9" value="2" aria-labelledby="progress-lesson""#),
        "{page}"
    );
    assert!(page.contains("2 of 9 done"), "{page}");
    assert!(
        page.contains(r#"<div id="lesson-complete" class="lesson-complete" role="status" hidden>"#)
    );
    restarted.stop().await;
}
