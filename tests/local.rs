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

/// With an engine at hand, a local shell's `docker` is the learner's scoped engine too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_shells_get_a_scoped_engine() {
    let server = start_local().await;
    let cookie = server.new_learner().await;
    let mut term = server.terminal(&cookie, "?cols=200&rows=50").await;
    term.expect_control("ready").await;
    let socket = term.run("echo $DOCKER_HOST").await;
    assert!(
        socket.starts_with("unix://") && socket.ends_with("/docker.sock"),
        "{socket}"
    );
    assert_eq!(
        term.run("docker ps -a -q | wc -l").await,
        "0",
        "nothing of anyone else"
    );
    let hello = term
        .run("docker run --rm busybox echo local-container")
        .await;
    assert!(hello.contains("local-container"), "{hello}");
    term.run("docker run -d --name web -p 18089:80 busybox httpd -f -p 80 -h /etc")
        .await;
    let served = term
        .run("sleep 0.5; curl -s localhost:18089/hostname | wc -c")
        .await;
    assert_eq!(served, "13", "a short container id and a newline");
    assert!(
        term.run("docker ps --format '{{.Names}} {{.Ports}}'")
            .await
            .contains("web 0.0.0.0:18089->80/tcp")
    );
    let instance = std::fs::read_to_string(server.data_dir.join("instance-id")).unwrap();
    server.stop().await;
    let engine = common::docker().await;
    let left = engine
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(std::collections::HashMap::from([(
                "label".to_owned(),
                vec![format!("berth.instance={}", instance.trim())],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "stopping berth removes the learner's containers: {left:?}"
    );
}
