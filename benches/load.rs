//! `cargo bench --bench load`: a class far bigger than usual on one machine. Starts its own
//! berth (the release binary, as a process of its own so its memory can be read), brings
//! `LEARNERS` learners in over `ARRIVAL` seconds, then has each type a key every 200 ms for
//! `SECONDS` seconds. Prints the time to the first prompt, the echo of every key (p50, p99),
//! errors, berth's memory per idle learner, and what the machine had left. Then, as the
//! baseline, the same typing straight into the same workstations through `docker exec` (with
//! bollard, no berth in the path), for the same time. Asserts nothing.
//!
//! `BERTH_LOAD_LEARNERS` (200), `BERTH_LOAD_SECONDS` (120) and `BERTH_LOAD_ARRIVAL` (20)
//! change the run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use common::{ms, percentile};

const KEY_EVERY: Duration = Duration::from_millis(200);
/// An echo slower than this counts as an error.
const ECHO_LIMIT: Duration = Duration::from_secs(5);

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mem_available_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

/// Resident memory of every process whose command name is `name`, in MiB, and how many.
fn processes_mib(name: &str) -> (u64, usize) {
    let mut total = 0;
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == name {
            total += status_kib(pid, "VmRSS:");
            count += 1;
        }
    }
    (total / 1024, count)
}

/// `p50 … ms  pNN … ms  max … ms` of the samples, `high` being the NN.
fn spread(samples: &mut [Duration], high: f64) -> String {
    format!(
        "p50 {:>8.2} ms  p{:.0} {:>8.2} ms  max {:>8.2} ms",
        ms(percentile(samples, 0.5)),
        high * 100.0,
        ms(percentile(samples, high)),
        ms(percentile(samples, 1.0)),
    )
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A new learner: a cookie from the first page, then their terminal up to the first prompt.
async fn arrive(client: &reqwest::Client, base: &str) -> Result<(Socket, Duration), String> {
    let page = client
        .get(format!("http://{base}/"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("berth_session="))
        .and_then(|v| v.split(';').next())
        .ok_or("no session cookie")?
        .to_owned();
    let started = Instant::now();
    let mut request = format!("ws://{base}/ws/terminal?tab=0")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("cookie", HeaderValue::from_str(&cookie).unwrap());
    request.headers_mut().insert(
        "origin",
        HeaderValue::from_str(&format!("http://{base}")).unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(120), socket.next()).await {
            Ok(Some(Ok(Message::Binary(bytes)))) => {
                seen.extend_from_slice(&bytes);
                if seen.windows(2).any(|w| w == b"$ ") {
                    return Ok((socket, started.elapsed()));
                }
            }
            Ok(Some(Ok(Message::Text(text)))) if text.contains("\"error\"") => {
                return Err(text.to_string());
            }
            Ok(Some(Ok(_))) => {}
            other => return Err(format!("no prompt: {other:?}")),
        }
    }
}

/// A shell straight from the engine in each of berth's workstations (the pool's slots too).
async fn direct_shells(docker: &bollard::Docker) -> Vec<(common::ExecOutput, common::ExecInput)> {
    let filters = std::collections::HashMap::from([("name", vec!["berth-ws-"])]);
    let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
        .filters(&filters)
        .build();
    let mut shells = Vec::new();
    for workstation in docker.list_containers(Some(options)).await.unwrap() {
        let id = workstation.id.unwrap_or_default();
        shells.push(common::start_exec(docker, &id, &["bash", "-l"]).await);
    }
    shells
}

/// The byte that shows a key was echoed: the letter itself, or the backspace a DEL moves back
/// with. Waiting for it (not for any output) keeps a late piece of the last echo from counting.
fn echo_of(key: &[u8]) -> u8 {
    if key == b"x" { b'x' } else { 0x08 }
}

/// A ticker for learner `n` of `of`: every learner keeps the same pace, but they do not all
/// press their keys in the same millisecond, as no real class does.
fn pace(n: usize, of: usize) -> tokio::time::Interval {
    let offset = KEY_EVERY.mul_f64(n as f64 / of.max(1) as f64);
    tokio::time::interval_at(tokio::time::Instant::now() + offset, KEY_EVERY)
}

/// A shell to type into: a learner's terminal socket, or a shell straight from the engine.
enum Shell {
    Berth(Box<Socket>),
    Straight(common::ExecOutput, common::ExecInput),
}

impl Shell {
    /// Sends `key`; false once the shell is gone.
    async fn send(&mut self, key: &[u8]) -> bool {
        use tokio::io::AsyncWriteExt;
        match self {
            Shell::Berth(socket) => socket
                .send(Message::Binary(key.to_vec().into()))
                .await
                .is_ok(),
            Shell::Straight(_, input) => {
                input.write_all(key).await.is_ok() && input.flush().await.is_ok()
            }
        }
    }

    /// The next piece of the shell's output; `None` once it is gone.
    async fn next(&mut self) -> Option<Vec<u8>> {
        match self {
            Shell::Berth(socket) => loop {
                match socket.next().await {
                    Some(Ok(Message::Binary(bytes))) => return Some(bytes.to_vec()),
                    Some(Ok(_)) => {}
                    _ => return None,
                }
            },
            Shell::Straight(output, _) => match output.next().await {
                Some(Ok(chunk)) => Some(chunk.into_bytes().to_vec()),
                _ => None,
            },
        }
    }
}

/// Types a key at each tick until `until`, alternating a letter and a backspace so the line
/// stays short. The echo time of each key.
async fn type_keys(
    mut shell: Shell,
    mut ticker: tokio::time::Interval,
    until: Instant,
    errors: Arc<AtomicU64>,
) -> Vec<Duration> {
    if let Shell::Straight(..) = shell {
        // The login shell's first prompt.
        let _ = tokio::time::timeout(Duration::from_secs(10), shell.next()).await;
    }
    let mut echoes = Vec::new();
    let mut letter = true;
    while Instant::now() < until {
        ticker.tick().await;
        let key: &[u8] = if letter { b"x" } else { b"\x7f" };
        letter = !letter;
        let sent = Instant::now();
        if !shell.send(key).await {
            errors.fetch_add(1, Ordering::Relaxed);
            return echoes;
        }
        loop {
            match tokio::time::timeout(ECHO_LIMIT, shell.next()).await {
                Ok(Some(bytes)) if bytes.contains(&echo_of(key)) => {
                    echoes.push(sent.elapsed());
                    break;
                }
                Ok(Some(_)) => {}
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return echoes;
                }
            }
        }
    }
    if let Shell::Berth(mut socket) = shell {
        let _ = socket.close().await;
    }
    echoes
}

#[tokio::main]
async fn main() {
    let learners = setting("BERTH_LOAD_LEARNERS", 200) as usize;
    let seconds = setting("BERTH_LOAD_SECONDS", 120);
    let arrival = setting("BERTH_LOAD_ARRIVAL", 20);
    let data = std::env::temp_dir().join(format!("berth-load-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("127.0.0.1:{port}");
    let mut berth = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["serve", "--sandbox", "docker", "--listen", &base])
        .arg("--data-dir")
        .arg(&data)
        .args(["--max-sandboxes", &learners.to_string()])
        .args(["--sandboxes-per-address", &(learners * 2).to_string()])
        .args([
            "--connections-per-address",
            &(learners * 4 + 64).to_string(),
        ])
        .args(["--warm", "8"])
        .env("BERTH_LOG", "warn")
        .spawn()
        .expect("berth starts");
    let pid = berth.id();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("http://{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "berth did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the warm pool fill, then take berth's memory with no learner at all.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss_empty = status_kib(pid, "VmRSS:");
    let available_before = mem_available_mib();
    let (dockerd_before, _) = processes_mib("dockerd");

    println!(
        "load: {learners} learners arriving over {arrival} s, then a key every {} ms each for {seconds} s",
        KEY_EVERY.as_millis()
    );
    let errors = Arc::new(AtomicU64::new(0));
    let spacing = Duration::from_secs(arrival) / learners.max(1) as u32;
    let arrivals = (0..learners).map(|n| {
        let client = client.clone();
        let base = base.clone();
        async move {
            tokio::time::sleep(spacing * n as u32).await;
            arrive(&client, &base).await
        }
    });
    let started = Instant::now();
    let arrived = futures_util::future::join_all(arrivals).await;
    let all_in = started.elapsed();
    let mut sockets = Vec::new();
    let mut to_prompt = Vec::new();
    for outcome in arrived {
        match outcome {
            Ok((socket, took)) => {
                sockets.push(socket);
                to_prompt.push(took);
            }
            Err(error) => {
                errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("a learner did not get a prompt: {error}");
            }
        }
    }
    println!(
        "time to prompt                     {}  (all {} in after {:.1} s)",
        spread(&mut to_prompt, 0.95),
        sockets.len(),
        all_in.as_secs_f64(),
    );
    // Idle, every terminal attached: berth's memory per learner.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_idle = status_kib(pid, "VmRSS:");
    let attached = sockets.len().max(1) as u64;
    println!(
        "berth RSS                          {} MiB with none, {} MiB with {} idle: {} KiB per idle learner (target 256)",
        rss_empty / 1024,
        rss_idle / 1024,
        sockets.len(),
        rss_idle.saturating_sub(rss_empty) / attached,
    );

    let until = Instant::now() + Duration::from_secs(seconds);
    let count = sockets.len();
    let typing = sockets.into_iter().enumerate().map(|(n, socket)| {
        tokio::spawn(type_keys(
            Shell::Berth(Box::new(socket)),
            pace(n, count),
            until,
            errors.clone(),
        ))
    });
    let mut echoes = Vec::new();
    let mut peak = 0;
    let watch = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < until {
            peak = peak.max(status_kib(pid, "VmRSS:"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        peak
    });
    for task in futures_util::future::join_all(typing).await {
        echoes.extend(task.unwrap_or_default());
    }
    peak = peak.max(watch.await.unwrap_or(0));
    println!(
        "keystroke echo                     {}  ({} keys)",
        spread(&mut echoes, 0.99),
        echoes.len(),
    );
    println!(
        "errors                             {}",
        errors.load(Ordering::Relaxed)
    );

    // The baseline: the same typing, for the same time, straight into the workstations.
    let docker = bollard::Docker::connect_with_local_defaults().unwrap();
    let shells = direct_shells(&docker).await;
    let count = shells.len();
    let direct_errors = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    // Their first prompts come before the first key.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let typing = shells.into_iter().enumerate().map(|(n, shell)| {
        tokio::spawn(type_keys(
            Shell::Straight(shell.0, shell.1),
            pace(n, count),
            until,
            direct_errors.clone(),
        ))
    });
    let mut direct = Vec::new();
    for task in futures_util::future::join_all(typing).await {
        direct.extend(task.unwrap_or_default());
    }
    let (b50, b99) = (percentile(&mut echoes, 0.5), percentile(&mut echoes, 0.99));
    let (d50, d99) = (percentile(&mut direct, 0.5), percentile(&mut direct, 0.99));
    println!(
        "echo straight from the engine      p50 {:>8.2} ms  p99 {:>8.2} ms  ({count} shells, {} keys, {} errors) | berth/direct p50 {:.2}x p99 {:.2}x",
        ms(d50),
        ms(d99),
        direct.len(),
        direct_errors.load(Ordering::Relaxed),
        b50.as_secs_f64() / d50.as_secs_f64().max(1e-9),
        b99.as_secs_f64() / d99.as_secs_f64().max(1e-9),
    );
    let (dockerd, _) = processes_mib("dockerd");
    let (shims, shim_count) = processes_mib("containerd-shim");
    let (shims_v2, shim_v2_count) = processes_mib("containerd-shim-runc-v2");
    println!(
        "the machine                        berth RSS peak {} MiB; dockerd {} -> {} MiB; {} shims {} MiB; memory available {} -> {} MiB",
        peak / 1024,
        dockerd_before,
        dockerd,
        shim_count + shim_v2_count,
        shims + shims_v2,
        available_before,
        mem_available_mib(),
    );

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || berth.wait()).await;
    let _ = std::fs::remove_dir_all(&data);
}
