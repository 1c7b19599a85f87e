//! No learner can starve, fill or outlast the others. Each test is judged by the engine's and
//! the kernel's own accounting (cgroups, the containers' state, dockerd's CPU time), never by
//! a sleep; latency under attack is measured by `cargo bench --bench fair_share`.

mod common;

use std::time::Duration;

use common::{Sandboxed, TestServer};

/// The learner's budget folder in a v1 controller (this kind of machine runs cgroup v1).
fn budget(controller: &str, sandboxed: &Sandboxed, server: &TestServer) -> std::path::PathBuf {
    let instance =
        std::fs::read_to_string(server.state().config.data_dir.join("instance-id")).unwrap();
    std::path::Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("berth")
        .join(instance.trim())
        .join(&sandboxed.sandbox)
}

fn read_number(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_shares_cannot_take_more_than_the_learners_budget() {
    let server = common::start_docker().await;
    let hog = server.sandboxed().await;
    for n in 0..3 {
        hog.docker(&format!(
            "run -d --name hog{n} --cpu-shares 262144 busybox sh -c 'while :; do :; done'"
        ))
        .await;
    }
    let shares = hog
        .docker("inspect -f '{{.HostConfig.CpuShares}}' hog0")
        .await;
    assert_eq!(shares.trim(), "1024", "shares are kept to the usual range");
    // Together they get the budget's one CPU, however they weigh themselves.
    let usage = budget("cpuacct", &hog, &server).join("cpuacct.usage");
    let before = read_number(&usage);
    let start = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let used = (read_number(&usage) - before) as f64 / 1e9;
    let cpus = used / start.elapsed().as_secs_f64();
    assert!(
        cpus < 1.2,
        "the learner used {cpus:.2} CPUs with a budget of 1"
    );
    assert!(cpus > 0.5, "the hogs ran ({cpus:.2} CPUs)");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_step_runs_in_the_learners_budget() {
    let server = common::start_docker().await;
    let learner = server.sandboxed().await;
    // A RUN step that starts far more processes than the budget allows: the kernel refuses
    // it more, in the learner's budget.
    let out = learner
        .sh("printf 'FROM busybox\\nRUN cat /proc/self/cgroup | grep pids; for i in $(seq 700); do sleep 20 & done\\n' | docker build --no-cache -")
        .await;
    let all = out.all();
    let in_budget = all
        .lines()
        .any(|l| l.contains(":pids:/berth/") && l.contains(&learner.sandbox));
    assert!(in_budget, "the step runs in the learner's budget: {all}");
    assert!(
        all.contains("can't fork") || all.contains("Resource temporarily unavailable"),
        "the step was not held to the budget: {all}"
    );
    let max = read_number(&budget("pids", &learner, &server).join("pids.max"));
    assert_eq!(max, 512);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_flood_is_paused_and_explained() {
    let server = common::start_docker().await;
    let learner = server.sandboxed().await;
    let mut term = server.shell(&learner.cookie, "?tab=0").await;
    learner.docker("run -d --name flood busybox yes").await;
    let paused = common::wait_until(Duration::from_secs(30), || async {
        let state = learner.docker("inspect -f '{{.State.Status}}' flood").await;
        (state.trim() == "paused").then_some(())
    })
    .await;
    assert!(paused.is_some(), "the flood was not stopped");
    let notice = term.expect_control("notices").await;
    let text = notice.to_string();
    assert!(
        text.contains("flood") && text.contains("docker unpause flood"),
        "{text}"
    );
    // dockerd's work on it has stopped: its log no longer grows.
    let engine = common::docker().await;
    let log = engine
        .inspect_container(
            &learner.engine_name("flood"),
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap()
        .log_path
        .unwrap();
    let size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    // What was already on its way through the pipes is written, then nothing more.
    let settled = common::wait_until(Duration::from_secs(30), || async {
        let before = size();
        tokio::time::sleep(Duration::from_secs(2)).await;
        (size() == before).then_some(())
    })
    .await;
    assert!(
        settled.is_some(),
        "the paused flood still writes to its log"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_the_disk_stops_what_writes_and_says_what_to_remove() {
    let server = common::start_docker_with(|config| config.disk_quota_bytes = 64 << 20).await;
    let learner = server.sandboxed().await;
    learner
        .docker("run -d --name filler busybox sh -c 'dd if=/dev/zero of=/big bs=1M count=400; sleep 600'")
        .await;
    let stopped = common::wait_until(Duration::from_secs(30), || async {
        let state = learner
            .docker("inspect -f '{{.State.Running}}' filler")
            .await;
        (state.trim() == "false").then_some(())
    })
    .await;
    assert!(stopped.is_some(), "the filler kept running");
    let refused = learner.docker_fails("run --rm busybox true").await;
    assert!(
        refused.contains("more than the 64 MiB") && refused.contains("filler"),
        "{refused}"
    );
    let build = learner
        .sh("printf 'FROM busybox\\n' | docker build -")
        .await;
    assert_ne!(build.code, 0, "{build:?}");
    learner.docker("rm filler").await;
    let allowed = common::wait_until(Duration::from_secs(30), || async {
        (learner.sh("docker run --rm busybox true").await.code == 0).then_some(())
    })
    .await;
    assert!(
        allowed.is_some(),
        "removing the filler did not free the learner"
    );
    // A volume counts too, after its container is gone.
    learner
        .sh("docker run --rm -v big:/data busybox dd if=/dev/zero of=/data/x bs=1M count=200")
        .await;
    let refused = common::wait_until(Duration::from_secs(30), || async {
        let out = learner.sh("docker run --rm busybox true").await;
        out.all()
            .contains("volumes no container uses")
            .then_some(())
    })
    .await;
    assert!(refused.is_some(), "the volume's data was not counted");
    learner.docker("volume rm big").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filling_the_home_and_tmp_says_no_space_and_the_shell_lives() {
    let server = common::start_docker().await;
    let learner = server.sandboxed().await;
    let mut term = server.shell(&learner.cookie, "?tab=0").await;
    let home = term
        .run("dd if=/dev/zero of=~/fill bs=1M count=400 2>&1 | grep -c 'No space left'")
        .await;
    assert_eq!(home, "1");
    let tmp = term
        .run("dd if=/dev/zero of=/tmp/fill bs=1M count=400 2>&1 | grep -c 'No space left'")
        .await;
    assert_eq!(tmp, "1");
    assert_eq!(term.run("echo still-here").await, "still-here");
    assert_eq!(term.run("ls ~/fill /tmp/fill | wc -l").await, "2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_is_stopped_from_the_page() {
    let server = common::start_docker_with(|config| config.limits.pids = 128).await;
    let learner = server.sandboxed().await;
    let mut term = server.shell(&learner.cookie, "?tab=0").await;
    term.send("bomb() { bomb | bomb & }; bomb\r").await;
    // Told within a few seconds of the meter's looks (expect_control fails after 20 s each).
    let mut told = false;
    for _ in 0..3 {
        let notice = term.expect_control("notices").await;
        if notice.to_string().contains("processes") {
            told = true;
            break;
        }
    }
    assert!(told, "the learner was not told of the process limit");
    term.send_control(r#"{"type":"end_processes"}"#).await;
    let ended = term.expect_control("ended").await;
    assert!(ended["processes"].as_u64().unwrap_or(0) > 10, "{ended}");
    // Ctrl-C flushes what is typed with it (the terminal's own rule): wait for the prompt.
    term.send("\u{3}").await;
    term.read_until("^C").await;
    term.read_until("$ ").await;
    assert_eq!(term.run("echo recovered").await, "recovered");
    // The page's reset works too, whatever the sandbox's state.
    let reset = server
        .client()
        .post(server.url("/api/sandbox/reset"))
        .header("Cookie", &learner.cookie)
        .header("Origin", server.url("").trim_end_matches('/'))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 200);
    term.expect_control("error").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_parallel_requests() {
    let server = common::start_docker().await;
    let learner = server.sandboxed().await;
    let body = |n: usize| {
        let body = format!(r#"{{"Name":"net{n}"}}"#);
        format!(
            "POST /v1.41/networks/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let attempts = (0..30).map(|n| {
        let request = body(n);
        let learner = &learner;
        async move { learner.raw(&request).await }
    });
    futures_util::future::join_all(attempts).await;
    let networks = learner.docker("network ls -q").await;
    // Their default network and at most five more.
    assert_eq!(networks.lines().count(), 6, "{networks}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_stop_no_one_else() {
    let server = common::start_docker().await;
    let (alice, bob) = tokio::join!(server.sandboxed(), server.sandboxed());
    let mut held = Vec::new();
    for _ in 0..200 {
        match tokio::net::UnixStream::connect(&alice.socket).await {
            Ok(mut stream) => {
                use tokio::io::AsyncWriteExt;
                let _ = stream.write_all(b"GET /v1.41/_ping HTTP/1.1\r\nHo").await;
                held.push(stream);
            }
            Err(error) => panic!("connect failed: {error}"),
        }
    }
    // Bob is untouched; Alice hears that she holds too many.
    assert_eq!(bob.docker("ps -q").await, "");
    let refused = alice
        .raw(b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
        .await;
    assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
    drop(held);
    let back = common::wait_until(Duration::from_secs(10), || async {
        let answer = alice
            .raw(b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
            .await;
        answer.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    assert!(back.is_some(), "Alice's socket did not come back");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_address_range_says_berth_is_full() {
    // Two /28 subnets: two learners' networks.
    let server =
        common::start_docker_with(|config| config.subnet_pool = "10.255.250.0/27".into()).await;
    let first = server.new_learner().await;
    let second = server.new_learner().await;
    let third = server.new_learner().await;
    server.shell(&first, "?tab=0").await;
    server.shell(&second, "?tab=0").await;
    let mut term = server.terminal(&third, "?tab=0").await;
    let error = term.expect_control("error").await;
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("berth is full"), "{message}");
    assert!(!message.contains("not answering"), "{message}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_learners_build_is_found_again_after_a_crash() {
    let server = common::start_docker().await;
    let learner = server.sandboxed().await;
    // A quiet build reports its id only in a line of text; it is the learner's all the same.
    let id = learner
        .docker("build -q - <<'EOF'\nFROM busybox\nRUN echo quiet > /q\nEOF")
        .await;
    let id = id.trim().to_owned();
    assert!(id.starts_with("sha256:"), "{id}");
    learner
        .docker("tag $(docker images -q | head -n 1) keep:1")
        .await;
    let engine = common::docker().await;
    assert!(engine.inspect_image(&id).await.is_ok());
    // berth dies without cleaning up; the next start on the same data finds everything.
    let data = server.state().config.data_dir.clone();
    server.crash();
    let again = common::start_docker_with(|config| config.data_dir = data).await;
    assert!(
        engine.inspect_image(&id).await.is_err(),
        "{id} outlived the crash"
    );
    let workstation = engine
        .inspect_container(
            &learner.workstation,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await;
    assert!(workstation.is_err(), "the workstation outlived the crash");
    again.stop().await;
}
