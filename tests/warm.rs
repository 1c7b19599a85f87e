//! The warm pool: workstations started before learners arrive, claimed at once, never handed
//! out twice, never handed out dead. Needs the Docker engine and the workstation image.

mod common;

use std::time::Duration;

use common::{TestServer, start_docker_with, wait_until};

/// A figure of `/metrics`.
async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .parse()
        .unwrap()
}

async fn wait_for_ready(server: &TestServer, at_least: f64) {
    let ready = wait_until(Duration::from_secs(60), || async {
        (metric(server, "berth_warm_ready").await >= at_least).then_some(())
    })
    .await;
    assert!(
        ready.is_some(),
        "the pool never held {at_least} ready slots"
    );
}

/// Workstations of this berth that no learner has claimed (as the engine lists them).
async fn workstations(server: &TestServer) -> Vec<String> {
    let instance = std::fs::read_to_string(server.data_dir.join("instance-id")).unwrap();
    let out = std::process::Command::new("docker")
        .args(["ps", "-q", "--no-trunc", "--filter"])
        .arg(format!("label=berth.instance={}", instance.trim()))
        .args(["--filter", "label=berth.role=workstation"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_learner_claims_a_started_workstation_and_the_pool_grows_back() {
    let server = start_docker_with(|config| config.warm = 2).await;
    wait_for_ready(&server, 2.0).await;
    let waiting = workstations(&server).await;
    assert_eq!(waiting.len(), 2, "{waiting:?}");

    let cookie = server.new_learner().await;
    let mut term = server.terminal(&cookie, "?cols=120&rows=40").await;
    term.expect_control("ready").await;
    // The shell was waiting at its prompt: the replay carries it.
    term.read_until("$ ").await;
    let learner = server.learner_of(&cookie);
    let sandbox = server.state().sandboxes.get(&learner).unwrap();
    assert!(
        waiting.contains(&sandbox.workstation_id().to_owned()),
        "the learner got a workstation that was already started"
    );
    // The claim is on record, by the sandbox's own id; the engine knows nothing of the learner.
    assert_eq!(
        server
            .state()
            .store
            .sandbox_learner(sandbox.id.as_str())
            .as_deref(),
        Some(learner.as_str())
    );
    // The shell fits the learner's window, though it started before they came.
    assert_eq!(term.run("stty size").await, "40 120");
    assert_eq!(metric(&server, "berth_warm_claims_total").await, 1.0);
    assert_eq!(metric(&server, "berth_warm_misses_total").await, 0.0);

    // The pool grows back (with one more, for the learner who just arrived).
    wait_for_ready(&server, 2.0).await;
    assert!(metric(&server, "berth_warm_target").await >= 3.0);
    assert!(metric(&server, "berth_warm_refills_total").await >= 3.0);
    assert!(metric(&server, "berth_warm_refill_seconds").await > 0.0);

    // A reset is a fresh slot, never the old one again.
    let reset = server
        .client()
        .post(server.url("/api/sandbox/reset"))
        .header("cookie", &cookie)
        .header("origin", &server.base)
        .send()
        .await
        .unwrap();
    assert!(reset.status().is_success(), "{}", reset.status());
    term.close().await;
    let term = server.shell(&cookie, "").await;
    let again = server.state().sandboxes.get(&learner).unwrap();
    assert_ne!(again.id, sandbox.id);
    assert_ne!(again.workstation_id(), sandbox.workstation_id());
    term.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_dead_slot_is_never_handed_out() {
    let server = start_docker_with(|config| config.warm = 1).await;
    wait_for_ready(&server, 1.0).await;
    let dead = workstations(&server).await;
    assert_eq!(dead.len(), 1);
    let killed = std::process::Command::new("docker")
        .args(["kill", &dead[0]])
        .output()
        .unwrap();
    assert!(killed.status.success());

    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "").await;
    assert_eq!(term.run("echo alive").await, "alive");
    let sandbox = server
        .state()
        .sandboxes
        .get(&server.learner_of(&cookie))
        .unwrap();
    assert_ne!(sandbox.workstation_id(), dead[0]);
    assert!(metric(&server, "berth_warm_discarded_total").await >= 1.0);
    // And the dead one is gone from the engine.
    let gone = wait_until(Duration::from_secs(20), || async {
        let listed = std::process::Command::new("docker")
            .args(["ps", "-aq", "--no-trunc"])
            .output()
            .unwrap();
        (!String::from_utf8_lossy(&listed.stdout).contains(&dead[0])).then_some(())
    })
    .await;
    assert!(gone.is_some(), "the dead slot was left on the engine");
    term.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_reload_mid_claim_gets_the_same_slot() {
    let server = start_docker_with(|config| config.warm = 2).await;
    wait_for_ready(&server, 2.0).await;
    let cookie = server.new_learner().await;
    // Two sockets at once, as a reload while the first is still opening.
    let (mut first, mut second) = tokio::join!(
        server.terminal(&cookie, ""),
        server.terminal(&cookie, "?tab=1")
    );
    first.expect_control("ready").await;
    second.expect_control("ready").await;
    first.read_until("$ ").await;
    second.read_until("$ ").await;
    first.run("echo one > ~/mark").await;
    assert_eq!(second.run("cat ~/mark").await, "one");
    assert_eq!(metric(&server, "berth_warm_claims_total").await, 1.0);
    first.close().await;
    second.close().await;
    server.stop().await;
}

#[tokio::test]
async fn a_full_berth_says_so_though_slots_wait() {
    let server = start_docker_with(|config| {
        config.warm = 1;
        config.max_sandboxes = 1;
    })
    .await;
    wait_for_ready(&server, 1.0).await;
    let first = server.new_learner().await;
    let term = server.shell(&first, "").await;
    // The one place is taken: no slot is kept beyond it, and the next learner is told.
    let none_left = wait_until(Duration::from_secs(20), || async {
        (metric(&server, "berth_warm_ready").await == 0.0).then_some(())
    })
    .await;
    assert!(none_left.is_some());
    let second = server.new_learner().await;
    let mut refused = server.terminal(&second, "").await;
    let error = refused.expect_control("error").await;
    let message = error["message"].as_str().unwrap_or_default().to_lowercase();
    assert!(message.contains("full"), "{error}");
    assert!(message.contains("try again"), "{error}");
    term.close().await;
    server.stop().await;
}
