//! `cargo bench --bench terminal`: how fast berth gets a learner to a prompt (cold, warm, and a
//! class of 40 at once), echoes a key and streams output, each next to the same work done
//! straight at the Docker engine with bollard in the same run. Prints medians, p95s and ratios;
//! asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, Ipam, IpamConfig, Mount, MountTypeEnum, NetworkCreateRequest,
    VolumeCreateOptions,
};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

use common::{ms, percentile};

const COLD_RUNS: usize = 10;
const WARM_RUNS: usize = 20;
const ECHO_RUNS: usize = 200;
const CLASS: usize = 40;
/// Bytes of `base64 /dev/urandom` streamed for the throughput figure.
const FLOOD_BYTES: usize = 64 << 20;

fn summary(samples: &mut [Duration]) -> (Duration, Duration) {
    (percentile(samples, 0.5), percentile(samples, 0.95))
}

fn report(name: &str, berth: &mut [Duration], baseline: &mut [Duration], what: &str) {
    let (b50, b95) = summary(berth);
    let (d50, d95) = summary(baseline);
    println!(
        "{name:<34} berth median {:>8.2} ms p95 {:>8.2} ms | {what} median {:>8.2} ms p95 {:>8.2} ms | ratio (median) {:.2}x",
        ms(b50),
        ms(b95),
        ms(d50),
        ms(d95),
        b50.as_secs_f64() / d50.as_secs_f64(),
    );
}

/// A workstation made straight with bollard. `hardened`: the same objects berth makes (its
/// own internal network, a tmpfs home volume, the hardened container); otherwise a bare
/// container. Returns the time to the shell's first byte, what each step took, and what to
/// remove afterwards.
async fn bollard_cold_prompt(
    docker: &Docker,
    image: &str,
    n: usize,
    hardened: bool,
) -> (Duration, Vec<(&'static str, Duration)>, Made) {
    let name = format!("berth-bench-{}-{n}", std::process::id());
    let mut steps = Vec::new();
    let started = Instant::now();
    let mut step = Instant::now();
    let mut lap = |what: &'static str, steps: &mut Vec<(&'static str, Duration)>| {
        steps.push((what, step.elapsed()));
        step = Instant::now();
    };
    let mut host = HostConfig {
        init: Some(true),
        ..Default::default()
    };
    if hardened {
        let network = docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                internal: Some(true),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(format!("10.199.{}.0/28", n % 250)),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                options: Some(HashMap::from([(
                    "com.docker.network.bridge.name".to_owned(),
                    format!("bbn{n}"),
                )])),
                ..Default::default()
            })
            .await
            .unwrap();
        lap("network create", &mut steps);
        docker
            .create_volume(VolumeCreateOptions {
                name: Some(name.clone()),
                driver: Some("local".into()),
                driver_opts: Some(HashMap::from([
                    ("type".to_owned(), "tmpfs".to_owned()),
                    ("device".to_owned(), "tmpfs".to_owned()),
                    ("o".to_owned(), "size=256m,uid=1000,gid=1000".to_owned()),
                ])),
                ..Default::default()
            })
            .await
            .unwrap();
        lap("volume create", &mut steps);
        host = HostConfig {
            init: Some(true),
            privileged: Some(false),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            memory: Some(1 << 30),
            memory_swap: Some(1 << 30),
            pids_limit: Some(512),
            nano_cpus: Some(1_000_000_000),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_owned(),
                "rw,nosuid,nodev,size=64m".to_owned(),
            )])),
            mounts: Some(vec![Mount {
                typ: Some(MountTypeEnum::VOLUME),
                source: Some(name.clone()),
                target: Some("/home/learner".into()),
                ..Default::default()
            }]),
            cgroupns_mode: Some(bollard::models::HostConfigCgroupnsModeEnum::PRIVATE),
            network_mode: network.id.clone().into(),
            ..Default::default()
        };
    }
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["sleep".into(), "infinity".into()]),
        hostname: Some("berth".into()),
        user: Some("learner".into()),
        working_dir: Some("/home/learner".into()),
        host_config: Some(host),
        ..Default::default()
    };
    let options = CreateContainerOptions {
        name: Some(name.clone()),
        ..Default::default()
    };
    let id = docker
        .create_container(Some(options), body)
        .await
        .unwrap()
        .id;
    lap("container create", &mut steps);
    docker
        .start_container(
            &id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    lap("container start", &mut steps);
    let (mut output, _input) = start_shell(docker, &id).await;
    output.next().await.unwrap().unwrap();
    lap("exec to first byte", &mut steps);
    let took = started.elapsed();
    (took, steps, Made { id, name })
}

/// What [`bollard_cold_prompt`] made, to remove when the timing is done.
struct Made {
    id: String,
    name: String,
}

async fn remove_made(docker: &Docker, made: Made) {
    let remove = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    docker
        .remove_container(&made.id, Some(remove))
        .await
        .unwrap();
    let _ = docker
        .remove_volume(
            &made.name,
            None::<bollard::query_parameters::RemoveVolumeOptions>,
        )
        .await;
    let _ = docker.remove_network(&made.name).await;
}

async fn start_shell(docker: &Docker, id: &str) -> (common::ExecOutput, common::ExecInput) {
    common::start_exec(docker, id, &["bash", "-l"]).await
}

/// Opens a new learner's terminal; the time until the first byte of output.
async fn open_to_first_byte(server: &common::TestServer, cookie: &str) -> (Duration, common::Term) {
    let started = Instant::now();
    let mut term = server.terminal(cookie, "").await;
    loop {
        if let Message::Binary(_) = term.ws_frame().await {
            break;
        }
    }
    (started.elapsed(), term)
}

async fn wait_for_pool(server: &common::TestServer, ready: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    while server.state().sandboxes.pool_stats().ready < ready {
        assert!(
            Instant::now() < deadline,
            "the pool never filled to {ready}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `CLASS` learners open their terminals within one second; each one's time to the first byte.
async fn burst(server: &common::TestServer) -> Vec<Duration> {
    let mut cookies = Vec::new();
    for _ in 0..CLASS {
        cookies.push(server.new_learner().await);
    }
    let spread = Duration::from_millis(1000 / CLASS as u64);
    let opens = cookies.iter().enumerate().map(|(n, cookie)| async move {
        tokio::time::sleep(spread * n as u32).await;
        open_to_first_byte(server, cookie).await
    });
    let opened = futures_util::future::join_all(opens).await;
    let mut times = Vec::new();
    for (took, term) in opened {
        times.push(took);
        term.close().await;
    }
    times
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether `part` is to run: all parts, unless `BERTH_BENCH_ONLY` names some (comma-separated:
/// burst, warm, echo, flood). The cold figures always run: the others are read against them.
fn wanted(part: &str) -> bool {
    std::env::var("BERTH_BENCH_ONLY")
        .map(|only| only.split(',').any(|p| p.trim() == part))
        .unwrap_or(true)
}

#[tokio::main]
async fn main() {
    let docker = common::docker().await;
    let image = berth::config::DEFAULT_IMAGE;

    // ---- Cold: the pool is off; a new learner's socket until the first byte of the prompt.
    let server = common::start_docker_with(|config| config.max_sandboxes = 100).await;
    let mut berth_cold = Vec::new();
    let mut bare = Vec::new();
    let mut same = Vec::new();
    let mut steps: HashMap<&str, Vec<Duration>> = HashMap::new();
    for n in 0..COLD_RUNS {
        let cookie = server.new_learner().await;
        let (took, term) = open_to_first_byte(&server, &cookie).await;
        berth_cold.push(took);
        term.close().await;
        server
            .state()
            .sandboxes
            .remove(&server.learner_of(&cookie), "bench")
            .await;
        let (took, _, made) = bollard_cold_prompt(&docker, image, n, false).await;
        bare.push(took);
        remove_made(&docker, made).await;
        let (took, laps, made) = bollard_cold_prompt(&docker, image, n, true).await;
        same.push(took);
        remove_made(&docker, made).await;
        for (what, d) in laps {
            steps.entry(what).or_default().push(d);
        }
    }
    let (cold50, _) = summary(&mut berth_cold.clone());
    report(
        "cold: open to first prompt byte",
        &mut berth_cold.clone(),
        &mut same,
        "bollard, same objects",
    );
    report(
        "cold: open to first prompt byte",
        &mut berth_cold,
        &mut bare,
        "bollard, bare container",
    );
    let mut order: Vec<_> = steps.into_iter().collect();
    order.sort_by_key(|(_, d)| std::cmp::Reverse(summary(&mut d.clone()).0));
    for (what, mut d) in order {
        println!(
            "    where bollard's time goes: {what:<20} median {:>7.2} ms",
            ms(summary(&mut d).0)
        );
    }

    if wanted("burst") {
        burst_empty_and_full(&docker, cold50).await;
    }
    if wanted("warm") {
        warm_claims(cold50).await;
    }
    if wanted("echo") {
        echo(&server, &docker).await;
    }
    if wanted("flood") {
        flood(&server, &docker).await;
    }
    server.stop().await;
}

/// A class arriving at once: with an empty pool, then with a pool filled for it.
async fn burst_empty_and_full(docker: &Docker, cold50: Duration) {
    // ---- Burst with an empty pool: 40 learners within a second, created a few at a time.
    let class = common::start_docker_with(|config| {
        config.max_sandboxes = CLASS;
        config.warm = 0;
    })
    .await;
    let mut empty = burst(&class).await;
    class.stop().await;
    let (e50, e95) = summary(&mut empty);
    let parallel = berth::sandbox::COLD_CREATIONS_AT_ONCE;
    let bound = cold50.mul_f64(1.2 * CLASS as f64 / parallel as f64);
    println!(
        "{:<34} p50 {:>8.2} ms p95 {:>8.2} ms | bound 1.2 x ({CLASS} / {parallel}) x cold median = {:.2} ms | ratio (p95) {:.2}x",
        format!("burst of {CLASS}, empty pool"),
        ms(e50),
        ms(e95),
        ms(bound),
        e95.as_secs_f64() / bound.as_secs_f64(),
    );
    // What the engine itself manages: the same objects made straight with bollard, as many at
    // once as berth makes, the class arriving over the same second.
    let image = berth::config::DEFAULT_IMAGE;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel));
    let spread = Duration::from_millis(1000 / CLASS as u64);
    let straight_runs = (0..CLASS).map(|n| {
        let gate = gate.clone();
        async move {
            tokio::time::sleep(spread * n as u32).await;
            let arrived = Instant::now();
            let _permit = gate.acquire().await.unwrap();
            let (_, _, made) = bollard_cold_prompt(docker, image, 100 + n, true).await;
            (arrived.elapsed(), made)
        }
    });
    let mut straight = Vec::new();
    // Removed once all are timed, as berth's are.
    for (took, made) in futures_util::future::join_all(straight_runs).await {
        straight.push(took);
        remove_made(docker, made).await;
    }
    let (s50, s95) = summary(&mut straight);
    println!(
        "{:<34} p50 {:>8.2} ms p95 {:>8.2} ms | the engine alone, {parallel} at once: p50 {:>8.2} ms p95 {:>8.2} ms | ratio (p95) {:.2}x",
        format!("burst of {CLASS}, empty pool"),
        ms(e50),
        ms(e95),
        ms(s50),
        ms(s95),
        e95.as_secs_f64() / s95.as_secs_f64(),
    );

    // ---- Burst with the pool pre-filled for the class.
    let class = common::start_docker_with(|config| {
        config.max_sandboxes = CLASS;
        config.warm = CLASS;
    })
    .await;
    wait_for_pool(&class, CLASS).await;
    let mut full = burst(&class).await;
    class.stop().await;
    let (f50, f95) = summary(&mut full);
    println!(
        "{:<34} p50 {:>8.2} ms p95 {:>8.2} ms | target p95 1000 ms",
        format!("burst of {CLASS}, pool pre-filled"),
        ms(f50),
        ms(f95),
    );
}

/// One learner at a time, a slot ready each time.
async fn warm_claims(cold50: Duration) {
    let warm = common::start_docker_with(|config| {
        config.max_sandboxes = 100;
        config.warm = 2;
    })
    .await;
    let mut claims = Vec::new();
    for _ in 0..WARM_RUNS {
        wait_for_pool(&warm, 1).await;
        let cookie = warm.new_learner().await;
        let (took, term) = open_to_first_byte(&warm, &cookie).await;
        claims.push(took);
        term.close().await;
        warm.state()
            .sandboxes
            .remove(&warm.learner_of(&cookie), "bench")
            .await;
    }
    let (w50, w95) = summary(&mut claims);
    println!(
        "{:<34} p50 {:>8.2} ms p95 {:>8.2} ms | target p50 100 ms, p95 200 ms | vs cold median {:.2}x",
        "warm claim: open to first byte",
        ms(w50),
        ms(w95),
        w50.as_secs_f64() / cold50.as_secs_f64(),
    );
    warm.stop().await;
}

/// One key, until it comes back: through berth, and straight from an exec.
async fn echo(server: &common::TestServer, docker: &Docker) {
    let learner = server.sandboxed().await;
    let mut term = server.shell(&learner.cookie, "").await;
    let mut berth_echo = Vec::new();
    for _ in 0..ECHO_RUNS {
        term.output.clear();
        let started = Instant::now();
        term.send("x").await;
        term.read_until("x").await;
        berth_echo.push(started.elapsed());
    }
    term.send("\x15").await; // Ctrl-U: clear the line of x's
    let (mut output, mut input) = start_shell(docker, &learner.workstation).await;
    // Let the login shell print its prompt first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut drained = output.next().await;
    while drained.is_some() {
        match tokio::time::timeout(Duration::from_millis(100), output.next()).await {
            Ok(next) => drained = next,
            Err(_) => break,
        }
    }
    let mut direct_echo = Vec::new();
    for _ in 0..ECHO_RUNS {
        let started = Instant::now();
        input.write_all(b"x").await.unwrap();
        input.flush().await.unwrap();
        loop {
            let chunk = output.next().await.unwrap().unwrap().into_bytes();
            if chunk.contains(&b'x') {
                break;
            }
        }
        direct_echo.push(started.elapsed());
    }
    report(
        "keystroke echo round trip",
        &mut berth_echo,
        &mut direct_echo,
        "direct exec",
    );
    drop(input);
    term.close().await;
}

/// A flood of output to a reading client: through berth, and straight from an exec.
async fn flood(server: &common::TestServer, docker: &Docker) {
    // Random text (the producer costs CPU), and `yes` (it costs almost none).
    for source in ["base64 -w 0 /dev/urandom", "yes"] {
        flood_of(server, docker, source).await;
    }
}

async fn flood_of(server: &common::TestServer, docker: &Docker, source: &str) {
    let learner = server.sandboxed().await;
    let mut term = server.shell(&learner.cookie, "").await;
    let id = learner.workstation;
    // The end marker is computed, so the echo of the command line itself does not match it.
    let flood = format!("{source} | head -c {FLOOD_BYTES}; echo; echo FLOOD-DONE-$((6*7))");
    let rss_before = vm_rss_kib();
    let mut rss_peak = rss_before;
    term.output.clear();
    let started = Instant::now();
    term.send(&format!("{flood}\r")).await;
    let mut received = 0usize;
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let Some(message) = term.next_frame().await else {
            break;
        };
        if let Message::Binary(bytes) = message {
            received += bytes.len();
            tail.extend_from_slice(&bytes);
            if tail.len() > 64 {
                tail.drain(..tail.len() - 64);
            }
            term.output.clear();
            if received % (8 << 20) < bytes.len() {
                rss_peak = rss_peak.max(vm_rss_kib());
            }
            if String::from_utf8_lossy(&tail).contains("FLOOD-DONE-42\r\n") {
                break;
            }
        }
    }
    let berth_rate = received as f64 / started.elapsed().as_secs_f64() / 1e6;
    let (mut output, _input) = common::start_exec(docker, &id, &["bash", "-c", &flood]).await;
    let started = Instant::now();
    let mut direct = 0usize;
    while let Some(Ok(chunk)) = output.next().await {
        direct += chunk.into_bytes().len();
    }
    let direct_rate = direct as f64 / started.elapsed().as_secs_f64() / 1e6;
    println!(
        "{:<34} berth {berth_rate:>8.1} MB/s | direct exec {direct_rate:>8.1} MB/s | ratio {:.2}x | bench process RSS {} -> peak {} MiB (berth and its client)",
        format!(
            "flood: {} ({} MiB)",
            source.split(' ').next().unwrap_or(source),
            FLOOD_BYTES >> 20
        ),
        berth_rate / direct_rate,
        rss_before / 1024,
        rss_peak / 1024,
    );
    term.close().await;
}
