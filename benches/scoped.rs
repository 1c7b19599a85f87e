//! `cargo bench --bench scoped`: the docker CLI through a learner's scoped engine next to the
//! same CLI straight at the engine, measured in one run: `docker ps` and
//! `docker run --rm busybox true`. Prints median and p95 of each and the ratio; asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{ms, percentile};

const RUNS: usize = 20;

fn summary(samples: &mut [Duration]) -> (Duration, Duration) {
    (percentile(samples, 0.5), percentile(samples, 0.95))
}

fn report(name: &str, scoped: &mut [Duration], direct: &mut [Duration]) {
    let (s50, s95) = summary(scoped);
    let (d50, d95) = summary(direct);
    println!(
        "{name:<32} scoped median {:>8.2} ms p95 {:>8.2} ms | direct median {:>8.2} ms p95 {:>8.2} ms | ratio (median) {:.2}x",
        ms(s50),
        ms(s95),
        ms(d50),
        ms(d95),
        s50.as_secs_f64() / d50.as_secs_f64(),
    );
}

/// One `docker ARGS` with the host's CLI, against `host` (the scoped socket) or the engine.
async fn time_cli(host: Option<&std::path::Path>, args: &[&str]) -> Duration {
    let mut command = tokio::process::Command::new("docker");
    if let Some(socket) = host {
        command
            .arg("-H")
            .arg(format!("unix://{}", socket.display()));
    }
    let started = Instant::now();
    let output = command.args(args).output().await.expect("docker runs");
    let took = started.elapsed();
    assert!(output.status.success(), "docker {args:?}: {output:?}");
    took
}

#[tokio::main]
async fn main() {
    let server = common::start_docker().await;
    let learner = server.sandboxed().await;
    let socket = learner.socket.clone();
    // A few containers on both sides, so `ps` lists something.
    for n in 0..3 {
        learner
            .docker(&format!("run -d --name idle{n} busybox sleep 600"))
            .await;
    }
    let mut direct_names = Vec::new();
    for n in 0..3 {
        let name = format!("berth-bench-idle{n}-{}", std::process::id());
        time_cli(
            None,
            &["run", "-d", "--name", &name, "busybox", "sleep", "600"],
        )
        .await;
        direct_names.push(name);
    }
    for (name, args) in [
        ("docker ps", &["ps"][..]),
        (
            "docker run --rm busybox true",
            &["run", "--rm", "busybox", "true"][..],
        ),
    ] {
        // Warm both paths once, then alternate so load affects both alike.
        time_cli(Some(&socket), args).await;
        time_cli(None, args).await;
        let (mut scoped, mut direct) = (Vec::new(), Vec::new());
        for _ in 0..RUNS {
            scoped.push(time_cli(Some(&socket), args).await);
            direct.push(time_cli(None, args).await);
        }
        report(name, &mut scoped, &mut direct);
    }
    for name in direct_names {
        let _ = time_cli(None, &["rm", "-f", &name]).await;
    }
    server.stop().await;
}
