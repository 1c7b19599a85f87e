//! A shell that prints without end while the browser reads slowly: berth's memory stays
//! bounded, and Ctrl-C still stops the flood. Alone in its own test binary so the process's
//! memory is this test's alone.

mod common;

use std::time::Duration;

use common::start_docker;
use tokio_tungstenite::tungstenite::Message;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn yes_flood_keeps_memory_bounded_and_ctrl_c_stops_it() {
    let server = start_docker().await;
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "?cols=120&rows=40").await;
    term.run("echo warm").await;
    let before = rss_kib();

    term.send("yes berth-flood\r").await;
    // The browser reads nothing for a while: the shell must wait instead of berth buffering.
    let mut peak = before;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak = peak.max(rss_kib());
    }
    let growth_mib = (peak.saturating_sub(before)) / 1024;
    println!("rss before {before} KiB, peak while flooding {peak} KiB (+{growth_mib} MiB)");
    assert!(
        growth_mib < 48,
        "berth grew by {growth_mib} MiB while the browser was slow"
    );

    // Ctrl-C, then the prompt comes back after what was already in flight.
    term.send("\x03").await;
    let started = std::time::Instant::now();
    term.send("echo flood-$((6*7))\r").await;
    // Drain what was in flight, looking only at a short rolling tail (the flood is megabytes).
    let mut tail = Vec::new();
    let mut drained = 0usize;
    loop {
        if let Message::Binary(bytes) = term.ws_frame().await {
            drained += bytes.len();
            tail.extend_from_slice(&bytes);
            if tail.windows(8).any(|w| w == b"flood-42") {
                break;
            }
            tail.drain(..tail.len().saturating_sub(16));
        }
        term.output.clear();
    }
    println!("drained {} KiB after Ctrl-C", drained / 1024);
    println!("prompt back {:?} after Ctrl-C", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(15));
    server.stop().await;
}
