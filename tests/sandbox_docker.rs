//! The docker backend's workstations, read back from the real engine: hardening, isolation
//! between learners, limits, and every way a sandbox ends.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use berth::config::SandboxKind;
use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use common::{docker, start_docker, start_docker_with, start_with, test_config};

async fn containers_labelled(label: &str) -> Vec<bollard::models::ContainerSummary> {
    docker()
        .await
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![label.to_owned()],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap()
}

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_workstation_is_hardened_as_designed() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    let learner = server.learner_of(&cookie);
    let sandbox = server.state().sandboxes.get(&learner).unwrap();
    let inspect = docker()
        .await
        .inspect_container(sandbox.workstation_id(), None::<InspectContainerOptions>)
        .await
        .unwrap();
    let config = inspect.config.unwrap();
    let host = inspect.host_config.unwrap();
    assert_eq!(config.user.as_deref(), Some("learner"));
    assert_eq!(config.hostname.as_deref(), Some("berth"));
    let labels = config.labels.unwrap();
    let id = sandbox.id.to_string();
    assert_eq!(labels["berth.owner"], id);
    assert_eq!(labels["berth.instance"].len(), 12);
    assert_eq!(host.privileged, Some(false));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(host.cap_add.unwrap_or_default().is_empty());
    assert!(
        host.security_opt
            .unwrap()
            .iter()
            .any(|o| o.starts_with("no-new-privileges"))
    );
    assert_eq!(host.memory, Some(1024 * 1024 * 1024));
    assert_eq!(host.memory_swap, host.memory);
    assert_eq!(host.pids_limit, Some(512));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.readonly_rootfs, Some(true));
    // The learner's budget: everything they run shares one cgroup with these limits.
    let parent = host.cgroup_parent.clone().unwrap_or_default();
    assert!(parent.ends_with(&format!("/{id}")), "{parent:?}");
    let budget = std::path::Path::new("/sys/fs/cgroup/pids").join(parent.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(budget.join("pids.max"))
            .unwrap()
            .trim(),
        "512"
    );
    let tmpfs = host.tmpfs.unwrap();
    assert!(tmpfs["/tmp"].contains("size=64m"), "{tmpfs:?}");
    // The home is a tmpfs too, as a volume of its own so the learner's containers can mount
    // folders of it.
    let mounts = host.mounts.unwrap_or_default();
    let home = mounts
        .iter()
        .find(|m| m.target.as_deref() == Some("/home/learner"))
        .expect("the home is mounted");
    let volume = docker()
        .await
        .inspect_volume(home.source.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(volume.options["type"], "tmpfs");
    assert!(
        volume.options["o"].contains("size=256m"),
        "{:?}",
        volume.options
    );
    assert!(volume.options["o"].contains("nosuid,nodev"));
    assert!(!volume.labels.contains_key("berth.owner"));
    let log = host.log_config.unwrap();
    assert_eq!(log.typ.as_deref(), Some("json-file"));
    assert_eq!(log.config.unwrap()["max-size"], "16m");
    assert_eq!(
        host.restart_policy.unwrap().name,
        Some(bollard::models::RestartPolicyNameEnum::NO)
    );
    // No host path but the learner's own scoped engine socket (DESIGN.md).
    let binds = host.binds.unwrap_or_default();
    assert_eq!(binds.len(), 1, "{binds:?}");
    // The socket's folder names nothing of the learner or the host's data.
    assert!(
        binds[0].ends_with("/docker.sock:/var/run/docker.sock"),
        "{binds:?}"
    );
    assert!(!binds[0].contains(&learner.to_string()), "{binds:?}");
    assert_eq!(
        host.sysctls.unwrap_or_default()["net.ipv4.ip_unprivileged_port_start"],
        "0"
    );
    assert!(host.pid_mode.unwrap_or_default().is_empty());
    assert!(host.ipc_mode.unwrap_or_default() != "host");
    let network = format!("berth-{id}");
    let net = docker()
        .await
        .inspect_network(
            &network,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .unwrap();
    // The workstation joins the learner's network by its id (names can repeat in the engine).
    assert_eq!(host.network_mode, net.id);
    assert_eq!(net.internal, Some(true), "no egress unless --allow-egress");
    let options = net.options.unwrap_or_default();
    let interface = &options["com.docker.network.bridge.name"];
    assert!(interface.starts_with("bth"), "{interface}");
    let subnet = net.ipam.unwrap().config.unwrap()[0].subnet.clone().unwrap();
    assert!(subnet.ends_with("/28"), "a small subnet: {subnet}");
    assert_eq!(net.labels.unwrap()["berth.owner"], id);

    // And from inside: no capabilities, no way to become root.
    assert_eq!(term.run("id -u").await, "1000");
    assert_eq!(
        term.run("grep CapEff /proc/self/status").await,
        "CapEff:\t0000000000000000"
    );
    assert_eq!(
        term.run("grep NoNewPrivs /proc/self/status").await,
        "NoNewPrivs:\t1"
    );
    assert!(
        term.run("touch /usr/x 2>&1")
            .await
            .contains("Read-only file system")
    );
    server.stop().await;
}

#[tokio::test]
async fn two_learners_get_two_workstations_that_cannot_see_each_other() {
    let server = start_docker().await;
    let alice = server.new_learner().await;
    let bob = server.new_learner().await;
    let mut a = server.shell(&alice, "?cols=200&rows=50").await;
    let mut b = server.shell(&bob, "?cols=200&rows=50").await;
    let a_id = server
        .state()
        .sandboxes
        .get(&server.learner_of(&alice))
        .unwrap();
    let b_id = server
        .state()
        .sandboxes
        .get(&server.learner_of(&bob))
        .unwrap();
    assert_ne!(a_id.workstation_id(), b_id.workstation_id());

    a.run("echo alice-secret > ~/diary.txt; sleep 600 & echo started")
        .await;
    assert_eq!(
        b.run("ls ~/diary.txt 2>&1 | grep -c 'No such file'").await,
        "1"
    );
    // Nothing but Bob's own shell history.
    assert_eq!(
        b.run("ls -A ~ | grep -vxE '[.](bash|berth)_history' | wc -l")
            .await,
        "0"
    );
    assert_eq!(
        b.run("grep -rls alice-secret /home /tmp | wc -l").await,
        "0"
    );
    assert_eq!(b.run("pgrep -c -f 'sleep 600' || true").await, "0");
    assert_eq!(a.run("pgrep -c -f 'sleep 600'").await, "1");
    // Not even over the network: each learner has their own bridge.
    let a_ip = a.run("hostname -i").await;
    let reach = b
        .run(&format!(
            "curl -s -m 2 http://{a_ip}:1/ >/dev/null; echo $?"
        ))
        .await;
    assert_ne!(reach, "0");
    server.stop().await;
}

#[tokio::test]
async fn idle_sandboxes_are_removed_after_the_idle_timeout() {
    let server = start_docker_with(|config| config.idle_timeout = Duration::from_secs(2)).await;
    let cookie = server.new_learner().await;
    let learner = server.learner_of(&cookie);
    let term = server.shell(&cookie, "").await;
    let id = server
        .state()
        .sandboxes
        .get(&learner)
        .unwrap()
        .workstation_id()
        .to_owned();
    // Attached: not idle, whatever the clock says.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(server.state().sandboxes.get(&learner).is_some());
    term.close().await;
    let state = server.state().clone();
    wait_until("idle sandbox removed", async || {
        state.sandboxes.get(&learner).is_none()
    })
    .await;
    wait_until("container gone", async || {
        docker()
            .await
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
            .is_err()
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_sandbox_ends_at_its_maximum_lifetime_and_the_terminal_hears_why() {
    let server = start_docker_with(|config| config.max_lifetime = Duration::from_secs(6)).await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "").await;
    let error = term.expect_control("error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("maximum lifetime"),
        "{error}"
    );
    term.expect_control("exit").await;
    assert!(
        server
            .state()
            .sandboxes
            .get(&server.learner_of(&cookie))
            .is_none()
    );
    server.stop().await;
}

#[tokio::test]
async fn the_next_learner_past_max_sandboxes_is_told_to_try_again() {
    let server = start_docker_with(|config| config.max_sandboxes = 1).await;
    let first = server.new_learner().await;
    let second = server.new_learner().await;
    let _term = server.shell(&first, "").await;
    let mut refused = server.terminal(&second, "").await;
    let error = refused.expect_control("error").await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("full") && message.contains("Try again in a minute"),
        "{message}"
    );
    let page = server
        .page("/en/01-first-container", &second)
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("full-banner"), "the page says berth is full");
    server.stop().await;
}

#[tokio::test]
async fn leftovers_of_this_instance_are_removed_at_start_up() {
    let first = start_docker().await;
    let cookie = first.new_learner().await;
    let _term = first.shell(&cookie, "").await;
    let data_dir = first.data_dir.clone();
    let instance = std::fs::read_to_string(data_dir.join("instance-id")).unwrap();
    let label = format!("berth.instance={instance}");
    assert_eq!(containers_labelled(&label).await.len(), 1);
    // A crash: the server goes away without cleaning up.
    first.crash();

    let second = start_docker_with(|config| config.data_dir = data_dir.clone()).await;
    assert!(containers_labelled(&label).await.is_empty());
    second.stop().await;
}

#[tokio::test]
async fn stopping_berth_removes_every_sandbox_it_started() {
    let server = start_docker().await;
    let instance_file = server.data_dir.join("instance-id");
    for _ in 0..2 {
        let cookie = server.new_learner().await;
        server.shell(&cookie, "").await;
    }
    let instance = std::fs::read_to_string(instance_file).unwrap();
    let label = format!("berth.instance={instance}");
    assert_eq!(containers_labelled(&label).await.len(), 2);
    server.stop().await;
    assert!(containers_labelled(&label).await.is_empty());
}

/// Everything on the engine that carries `label`, a line per object.
fn engine_objects_labelled(label: &str) -> Vec<String> {
    let filter = format!("label={label}");
    let mut found = Vec::new();
    for (kind, list, name) in [
        ("container", ["ps", "-a"], "{{.Names}}"),
        ("network", ["network", "ls"], "{{.Name}}"),
        ("volume", ["volume", "ls"], "{{.Name}}"),
    ] {
        let output = std::process::Command::new("docker")
            .args(list)
            .args(["--filter", &filter, "--format", name])
            .output()
            .unwrap();
        assert!(output.status.success(), "docker {list:?} failed");
        let names = String::from_utf8_lossy(&output.stdout).into_owned();
        found.extend(names.lines().map(|name| format!("{kind} {name}")));
    }
    found
}

/// A page that starts a sandbox as it loads and learners who give up waiting for theirs, then
/// berth stopped at once: the engine carries out what it was asked even when the asker has
/// gone, so berth must see each creation through before it sweeps, or a network made a moment
/// after the sweep stays behind. The local backend's shells get scoped engines with networks
/// of their own too.
#[tokio::test]
async fn stopping_while_sandboxes_start_leaves_nothing_behind() {
    for kind in [SandboxKind::Docker, SandboxKind::Local] {
        let server = start_with(test_config(kind)).await;
        let instance = std::fs::read_to_string(server.data_dir.join("instance-id")).unwrap();
        let label = format!("berth.instance={}", instance.trim());
        let returning = server.new_learner().await;
        server.page("/en/01-first-container", &returning).await;
        if kind == SandboxKind::Docker {
            for wait in [10, 60, 200] {
                let cookie = server.new_learner().await;
                let learner = server.learner_of(&cookie);
                let sandboxes = server.state().sandboxes.clone();
                let given_up = tokio::time::timeout(
                    Duration::from_millis(wait),
                    sandboxes.get_or_create(&learner),
                )
                .await;
                assert!(given_up.is_err(), "a sandbox within {wait} ms");
            }
        }
        server.stop().await;
        assert_eq!(
            engine_objects_labelled(&label),
            Vec::<String>::new(),
            "{kind:?}"
        );
    }
}

fn docker_cli(args: &[String]) {
    let output = std::process::Command::new("docker")
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What a sandbox that no longer exists left on the engine (a container that a request still
/// under way made after its removal, say) is removed once it has been seen gone long enough;
/// what a live learner has is kept.
#[tokio::test]
async fn what_a_gone_sandbox_left_is_removed_and_a_live_ones_is_kept() {
    let server = start_docker().await;
    let instance = std::fs::read_to_string(server.data_dir.join("instance-id")).unwrap();
    let instance = instance.trim();
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "").await;
    term.run("docker run -d --name keep busybox sleep 600")
        .await;

    // What the gone sandbox left: a container, a network, a volume, and its home.
    let gone = "0123456789ab";
    let labelled = |command: &str, rest: &str| -> Vec<String> {
        let labels = format!("--label berth.instance={instance} --label berth.owner={gone}");
        format!("{command} {labels} {rest}")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    docker_cli(&labelled("network create", &format!("berth-{gone}-net")));
    docker_cli(&labelled("volume create", &format!("berth-{gone}-data")));
    docker_cli(&labelled(
        "run -d",
        &format!("--name berth-{gone}-left busybox sleep 600"),
    ));
    let home = format!("berth-home-{gone}");
    docker_cli(&[
        "volume".to_owned(),
        "create".to_owned(),
        "--label".to_owned(),
        format!("berth.instance={instance}"),
        home.clone(),
    ]);

    let owner = format!("berth.owner={gone}");
    let sandboxes = server.state().sandboxes.clone();
    assert_eq!(
        sandboxes.remove_orphans(Duration::from_secs(3600)).await,
        0,
        "nothing goes the first time it is seen"
    );
    assert_eq!(engine_objects_labelled(&owner).len(), 3);
    assert!(sandboxes.remove_orphans(Duration::ZERO).await >= 4);
    assert_eq!(engine_objects_labelled(&owner), Vec::<String>::new());
    let home_left = std::process::Command::new("docker")
        .args(["volume", "inspect", &home])
        .output()
        .unwrap();
    assert!(
        !home_left.status.success(),
        "the gone sandbox's home is removed"
    );
    assert_eq!(
        term.run("docker ps --format '{{.Names}}'").await,
        "keep",
        "the live learner's container runs on"
    );
    server.stop().await;
}

/// A learner who fires creates and resets their sandbox while they are under way: the engine
/// makes what it was asked after the removal, and berth removes that too, without waiting the
/// age it gives sandboxes it did not remove itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_created_as_the_sandbox_is_removed_do_not_stay() {
    let server = start_docker().await;
    let instance = std::fs::read_to_string(server.data_dir.join("instance-id")).unwrap();
    let label = format!("berth.instance={}", instance.trim());
    for wait in [150, 300, 450] {
        let cookie = server.new_learner().await;
        let mut term = server.shell(&cookie, "").await;
        term.run("true").await;
        term.send("for i in 1 2 3 4; do docker run -d busybox sleep 600 & done\n")
            .await;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let learner = server.learner_of(&cookie);
        server.state().sandboxes.remove(&learner, "reset").await;
    }
    // What the engine was still making lands within a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let left = engine_objects_labelled(&label);
    println!("after the resets: {left:?}");
    server
        .state()
        .sandboxes
        .remove_orphans(Duration::from_secs(3600))
        .await;
    assert_eq!(engine_objects_labelled(&label), Vec::<String>::new());
    server.stop().await;
}

#[tokio::test]
async fn a_returning_browser_gets_its_sandbox_started_while_the_page_loads() {
    let server = start_docker_with(|config| config.idle_timeout = Duration::from_secs(3)).await;
    let cookie = server.new_learner().await;
    let learner = server.learner_of(&cookie);
    assert!(
        server.state().sandboxes.get(&learner).is_none(),
        "the catalog starts nothing"
    );
    let page = server.page("/en/01-first-container", &cookie).await;
    assert_eq!(page.status(), 200);
    let state = server.state().clone();
    wait_until("prewarmed sandbox", async || {
        state.sandboxes.get(&learner).is_some()
    })
    .await;
    // Nobody opens the terminal: the sandbox goes away again.
    wait_until("unclaimed sandbox removed", async || {
        state.sandboxes.get(&learner).is_none()
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_workstation_that_died_is_replaced_on_the_next_connection() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let learner = server.learner_of(&cookie);
    let mut term = server.shell(&cookie, "?cols=200&rows=50").await;
    let dead = server
        .state()
        .sandboxes
        .get(&learner)
        .unwrap()
        .workstation_id()
        .to_owned();
    docker()
        .await
        .kill_container(
            &dead,
            None::<bollard::query_parameters::KillContainerOptions>,
        )
        .await
        .unwrap();
    term.expect_control("exit").await;

    let mut fresh = server.shell(&cookie, "?cols=200&rows=50").await;
    assert_eq!(fresh.run("echo back again").await, "back again");
    let replacement = server.state().sandboxes.get(&learner).unwrap();
    assert_ne!(replacement.workstation_id(), dead);
    server.stop().await;
}
