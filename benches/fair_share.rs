//! `cargo bench --bench fair_share`: one learner attacks with ordinary docker commands (a CPU
//! hog with raised shares, a log flood, a fork bomb in a build step, a disk fill) while
//! another types a key every 200 ms. Prints the bystander's echo p50/p99 with no attacker
//! and under attack, measured in one run, and the ratio (target: p99 ≤ 2× quiet).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{ms, percentile};

/// How long the bystander types in each phase: about 300 keys, so that p99 is not one key.
const PHASE: Duration = Duration::from_secs(60);
const KEY_EVERY: Duration = Duration::from_millis(200);

fn percentiles(samples: &mut [Duration]) -> (f64, f64, f64) {
    let mut at = |q: f64| ms(percentile(samples, q));
    (at(0.5), at(0.99), at(1.0))
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

/// One attack, started by the attacker's workstation; returns what keeps it going.
async fn start_attack(
    attacker: &common::Sandboxed,
    which: &str,
) -> Option<tokio::task::JoinHandle<()>> {
    match which {
        "cpu" => {
            for n in 0..3 {
                attacker
                    .sh(&format!(
                        "docker run -d --name hog{n} --cpu-shares 262144 busybox sh -c 'while :; do :; done'"
                    ))
                    .await;
            }
            None
        }
        "logs" => {
            attacker.sh("docker run -d --name flood busybox yes").await;
            None
        }
        "disk" => {
            attacker
                .sh("docker run -d --name filler busybox sh -c 'dd if=/dev/zero of=/big bs=1M count=4000; sleep 600'")
                .await;
            None
        }
        _ => {
            let workstation = attacker.workstation.clone();
            Some(tokio::spawn(async move {
                // A build whose step forks without end, again and again.
                loop {
                    let _ = tokio::process::Command::new("docker")
                        .args(["exec", "-u", "learner", &workstation, "bash", "-c"])
                        .arg("printf 'FROM busybox\\nRUN for i in $(seq 2000); do sleep 30 & done; sleep 30\\n' | docker build --no-cache -q - >/dev/null 2>&1")
                        .output()
                        .await;
                }
            }))
        }
    }
}

async fn stop_attacks(attacker: &common::Sandboxed) {
    attacker
        .sh("docker rm -f $(docker ps -aq) >/dev/null 2>&1; docker volume prune -f >/dev/null 2>&1")
        .await;
}

fn line(name: &str, samples: &mut [Duration], quiet99: f64) -> f64 {
    let (p50, p99, max) = percentiles(samples);
    let ratio = if quiet99 > 0.0 { p99 / quiet99 } else { 1.0 };
    println!(
        "{name:<26} p50 {p50:>7.2} ms  p99 {p99:>7.2} ms  max {max:>7.2} ms  p99/quiet {ratio:>5.2}x  ({} keys)",
        samples.len()
    );
    p99
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
    let quiet99 = line("quiet", &mut quiet, 0.0);
    let mut worst: f64 = 0.0;
    for (name, attacks) in [
        ("cpu hog, raised shares", vec!["cpu"]),
        ("log flood", vec!["logs"]),
        ("fork bomb in builds", vec!["build"]),
        ("disk fill", vec!["disk"]),
        ("all together", vec!["cpu", "logs", "build", "disk"]),
    ] {
        let mut running = Vec::new();
        for attack in &attacks {
            running.extend(start_attack(&attacker, attack).await);
        }
        // Give the attack a moment to be in full swing.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut samples = type_for(&mut term).await;
        for task in running {
            task.abort();
        }
        worst = worst.max(line(name, &mut samples, quiet99) / quiet99);
        stop_attacks(&attacker).await;
    }
    println!("worst p99 under attack: {worst:.2}x the quiet p99 (target <= 2x)");
    server.stop().await;
}
