//! The local backend: a shell on this machine, and only on loopback.

mod common;

use berth::config::SandboxKind;
use common::{start_local, test_config};

#[tokio::test]
async fn local_shell_echoes() {
    let server = start_local().await;
    let cookie = server.new_learner().await;
    let mut term = server.terminal(&cookie, "?cols=200&rows=50").await;
    let ready = term.expect_control("ready").await;
    assert_eq!(ready["backend"], "local");
    assert_eq!(term.run("echo local hello").await, "local hello");
    assert_eq!(term.run("stty size").await, "50 200");
    server.stop().await;
}

#[tokio::test]
async fn local_backend_is_refused_on_a_public_address() {
    let mut config = test_config(SandboxKind::Local);
    config.listen = "0.0.0.0:0".parse().unwrap();
    let error = berth::start(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("loopback"), "{error}");
    assert!(error.contains("--sandbox docker"), "{error}");
}
