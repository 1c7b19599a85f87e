//! The Docker engine restarts under a learner: berth stays up, says it is not ready while the
//! engine is away, and the learner gets a fresh sandbox within seconds of its return, with
//! their progress intact. Restarts the real engine, so it lives alone in this file (cargo runs
//! test files one after another). Needs root, like the engine itself.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestServer, start_docker_with, wait_until};

fn engine_answers() -> bool {
    std::process::Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// How the engine runs here: under systemd, or as a process of its own (CI).
enum Engine {
    Systemd,
    Process(Vec<String>),
}

fn stop_engine() -> Engine {
    if Path::new("/run/systemd/system").exists()
        && std::process::Command::new("systemctl")
            .args(["is-active", "--quiet", "docker"])
            .status()
            .is_ok_and(|s| s.success())
    {
        let stopped = std::process::Command::new("systemctl")
            .args(["stop", "docker", "docker.socket"])
            .status()
            .unwrap();
        assert!(stopped.success());
        return Engine::Systemd;
    }
    let pid = std::fs::read_to_string("/var/run/docker.pid")
        .expect("dockerd runs and wrote /var/run/docker.pid")
        .trim()
        .to_owned();
    let command: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap()
        .split(|b| *b == 0)
        .filter(|arg| !arg.is_empty())
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    assert!(command[0].ends_with("dockerd"), "{command:?}");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(90);
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "dockerd did not stop");
        std::thread::sleep(Duration::from_millis(200));
    }
    Engine::Process(command)
}

fn start_engine(engine: &Engine) {
    match engine {
        Engine::Systemd => {
            let started = std::process::Command::new("systemctl")
                .args(["start", "docker"])
                .status()
                .unwrap();
            assert!(started.success());
        }
        Engine::Process(command) => {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open("/tmp/berth-dockerd.log")
                .unwrap();
            // `setsid -f`: dockerd in a session of its own, outliving this test.
            let started = std::process::Command::new("setsid")
                .arg("-f")
                .args(command)
                .stdin(std::process::Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .status()
                .expect("dockerd starts again");
            assert!(started.success());
        }
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    while !engine_answers() {
        assert!(Instant::now() < deadline, "the engine did not come back");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts the engine again if the test fails while it is stopped.
struct Restart(Option<Engine>);

impl Drop for Restart {
    fn drop(&mut self) {
        if let Some(engine) = self.0.take() {
            start_engine(&engine);
        }
    }
}

async fn status(server: &TestServer, path: &str, cookie: &str) -> u16 {
    server
        .client()
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn check(server: &TestServer, cookie: &str, exercise: &str) -> serde_json::Value {
    let response = server
        .client()
        .post(server.url(&format!("/api/checks/en/01-first-container/{exercise}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_learner_gets_a_fresh_sandbox_when_the_engine_comes_back() {
    let server = start_docker_with(|config| config.warm = 1).await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "").await;
    term.run("docker run --rm busybox uname -r").await;
    assert_eq!(check(&server, &cookie, "same-kernel").await["passed"], true);
    let learner = server.learner_of(&cookie);
    let before = server.state().sandboxes.get(&learner).unwrap().id.clone();

    let mut restart = Restart(Some(stop_engine()));
    // The shell the learner had is gone with the engine, and they are told.
    assert!(term.close_code().await.is_some());
    assert!(
        term.controls.iter().any(|c| c["type"] == "exit"),
        "{:?}",
        term.controls
    );
    // berth itself stays up and says it is not ready.
    assert_eq!(status(&server, "/healthz", &cookie).await, 200);
    assert_eq!(status(&server, "/readyz", &cookie).await, 503);
    assert_eq!(
        status(&server, "/en/01-first-container", &cookie).await,
        200
    );
    // A terminal opened now says what is wrong, in words.
    let mut away = server.terminal(&cookie, "").await;
    let error = away.expect_control("error").await;
    let message = error["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.to_lowercase().contains("engine"), "{message}");

    start_engine(&restart.0.take().unwrap());
    let ready = wait_until(Duration::from_secs(30), || async {
        (status(&server, "/readyz", &cookie).await == 200).then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "/readyz stayed unready after the engine came back"
    );

    // Within seconds, the learner has a working sandbox again: a fresh one.
    let back = Instant::now();
    let mut term = server.shell(&cookie, "").await;
    assert_eq!(term.run("docker ps -q | wc -l").await, "0");
    let after = server.state().sandboxes.get(&learner).unwrap().id.clone();
    assert_ne!(after, before);
    assert!(
        back.elapsed() < Duration::from_secs(15),
        "took {:?}",
        back.elapsed()
    );
    // What they passed stays passed, though this sandbox's history is new.
    let page = server
        .page("/en/01-first-container", &cookie)
        .await
        .text()
        .await
        .unwrap();
    let progress = page
        .split(r#"<script type="application/json" id="berth-progress">"#)
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .unwrap_or_default();
    assert!(
        progress.contains(r#""same-kernel""#),
        "the page starts the card as passed: {progress}"
    );
    let again = check(&server, &cookie, "same-kernel").await;
    assert_eq!(again["passed"], true, "{again}");
    assert!(
        again["message"].as_str().unwrap().contains("earlier"),
        "{again}"
    );
    // The pool refilled once the engine was back.
    let refilled = wait_until(Duration::from_secs(60), || async {
        let metrics = server
            .client()
            .get(server.url("/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        metrics
            .lines()
            .any(|line| line.starts_with("berth_warm_ready ") && !line.ends_with(" 0"))
            .then_some(())
    })
    .await;
    assert!(refilled.is_some(), "the warm pool did not refill");
    term.close().await;
    server.stop().await;
}
