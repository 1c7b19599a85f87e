//! `cargo bench --bench fair_share`: one learner attacks with ordinary docker commands (a CPU
//! hog with raised shares, a log flood, a fork bomb in a build step, a disk fill) while
//! another types a key every 200 ms. Prints the bystander's echo p50/p99 with no attacker
//! and under attack, measured in one run, and the ratio (target: p99 ≤ 2× quiet).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

/// How long the bystander types in each phase.
const PHASE: Duration = Duration::from_secs(40);
const KEY_EVERY: Duration = Duration::from_millis(200);

fn percentiles(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    (ms(at(0.5)), ms(at(0.99)), ms(*samples.last().unwrap()))
}

/// The bystander types for `PHASE`; the echo round trip of each key.
async fn type_for(term: &mut common::Term) -> Vec<Duration> {
    let mut samples = Vec::new();
    let until = Instant::now() + PHASE;
    let mut n = 0u32;
    while Instant::now() < until {
        let key = if n % 60 == 59 { "\x15" } else { "x" };
        term.output.clear();
        let started = Instant::now();
        term.send(key).await;
        if key == "x" {
            term.read_until("x").await;
            samples.push(started.elapsed());
        }
        n += 1;
        tokio::time::sleep(KEY_EVERY.saturating_sub(started.elapsed())).await;
    }
    samples
}

#[tokio::main]
async fn main() {
    let server = common::start_docker_with(|config| {
        config.disk_quota_bytes = 512 << 20;
        config.sandboxes_per_address = 1000;
    })
    .await;
    let (bystander, attacker) = tokio::join!(server.sandboxed(), server.sandboxed());
    let mut term = server.shell(&bystander.cookie, "?tab=0").await;

    let mut quiet = type_for(&mut term).await;

    // The attack, from ordinary docker commands.
    for n in 0..3 {
        attacker
            .sh(&format!(
                "docker run -d --name hog{n} --cpu-shares 262144 busybox sh -c 'while :; do :; done'"
            ))
            .await;
    }
    attacker.sh("docker run -d --name flood busybox yes").await;
    attacker
        .sh("docker run -d --name filler busybox sh -c 'dd if=/dev/zero of=/big bs=1M count=4000; sleep 600'")
        .await;
    let attack = {
        let socket_learner = attacker.workstation.clone();
        tokio::spawn(async move {
            // A build whose step forks without end, again and again.
            for _ in 0..20 {
                let _ = tokio::process::Command::new("docker")
                    .args(["exec", "-u", "learner", &socket_learner, "bash", "-c"])
                    .arg("printf 'FROM busybox\\nRUN for i in $(seq 2000); do sleep 30 & done; sleep 30\\n' | docker build --no-cache -q - >/dev/null 2>&1")
                    .output()
                    .await;
            }
        })
    };
    // Give the attack a moment to be in full swing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut attacked = type_for(&mut term).await;
    attack.abort();

    let (q50, q99, qmax) = percentiles(&mut quiet);
    let (a50, a99, amax) = percentiles(&mut attacked);
    println!(
        "bystander echo, quiet      p50 {q50:>7.2} ms  p99 {q99:>7.2} ms  max {qmax:>7.2} ms  ({} keys)",
        quiet.len()
    );
    println!(
        "bystander echo, attacked   p50 {a50:>7.2} ms  p99 {a99:>7.2} ms  max {amax:>7.2} ms  ({} keys)",
        attacked.len()
    );
    println!(
        "ratio under attack         p50 {:.2}x  p99 {:.2}x  (target p99 <= 2x)",
        a50 / q50,
        a99 / q99
    );
    let states = attacker
        .sh("docker ps -a --format '{{.Names}} {{.Status}}'")
        .await;
    println!("the attacker's containers afterwards:\n{}", states.stdout);
    server.stop().await;
}
