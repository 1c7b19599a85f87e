//! `cargo bench --bench terminal`: how fast berth gets a learner to a prompt and echoes a key,
//! next to the same operations done straight at the Docker engine with bollard, measured in
//! one run. Prints median and p95 of each and the ratio; asserts nothing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;

const COLD_RUNS: usize = 10;
const ECHO_RUNS: usize = 200;

fn summary(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

fn report(name: &str, berth: &mut [Duration], baseline: &mut [Duration]) {
    let (b50, b95) = summary(berth);
    let (d50, d95) = summary(baseline);
    println!(
        "{name:<28} berth median {:>8.2} ms p95 {:>8.2} ms | bollard median {:>8.2} ms p95 {:>8.2} ms | ratio (median) {:.2}x",
        b50.as_secs_f64() * 1e3,
        b95.as_secs_f64() * 1e3,
        d50.as_secs_f64() * 1e3,
        d95.as_secs_f64() * 1e3,
        b50.as_secs_f64() / d50.as_secs_f64(),
    );
}

/// Baseline: create + start a container like a workstation, exec a login shell with a TTY,
/// and wait for its first byte.
async fn bollard_cold_prompt(docker: &Docker, image: &str, n: usize) -> Duration {
    let name = format!("berth-bench-{}-{n}", std::process::id());
    let started = Instant::now();
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["sleep".into(), "infinity".into()]),
        hostname: Some("berth".into()),
        user: Some("learner".into()),
        host_config: Some(HostConfig {
            init: Some(true),
            ..Default::default()
        }),
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
    docker
        .start_container(
            &id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .unwrap();
    let (mut output, _input) = start_shell(docker, &id).await;
    output.next().await.unwrap().unwrap();
    let took = started.elapsed();
    let remove = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    docker.remove_container(&id, Some(remove)).await.unwrap();
    took
}

type Output = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;
type Input = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

async fn start_shell(docker: &Docker, id: &str) -> (Output, Input) {
    let exec = docker
        .create_exec(
            id,
            ExecConfig {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                cmd: Some(vec!["bash".into(), "-l".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let options = StartExecOptions {
        detach: false,
        tty: true,
        output_capacity: None,
    };
    match docker.start_exec(&exec.id, Some(options)).await.unwrap() {
        StartExecResults::Attached { output, input } => (output, input),
        StartExecResults::Detached => unreachable!(),
    }
}

#[tokio::main]
async fn main() {
    let docker = common::docker().await;
    let image = berth::config::DEFAULT_IMAGE;
    let server = common::start_docker().await;

    // Cold: a new learner's socket until the first byte of the prompt.
    let mut berth_cold = Vec::new();
    let mut bollard_cold = Vec::new();
    for n in 0..COLD_RUNS {
        let cookie = server.new_learner().await;
        let started = Instant::now();
        let mut term = server.terminal(&cookie, "").await;
        loop {
            if let Message::Binary(_) = term.ws_frame().await {
                break;
            }
        }
        berth_cold.push(started.elapsed());
        term.close().await;
        bollard_cold.push(bollard_cold_prompt(&docker, image, n).await);
    }
    report(
        "open to first prompt byte",
        &mut berth_cold,
        &mut bollard_cold,
    );

    // Warm: one key, until its echo comes back.
    let cookie = server.new_learner().await;
    let mut term = server.shell(&cookie, "").await;
    let mut berth_echo = Vec::new();
    for _ in 0..ECHO_RUNS {
        term.output.clear();
        let started = Instant::now();
        term.send("x").await;
        term.read_until("x").await;
        berth_echo.push(started.elapsed());
    }
    term.send("\x15").await; // Ctrl-U: clear the line of x's
    let id = server
        .state()
        .sandboxes
        .get(&server.learner_of(&cookie))
        .unwrap()
        .workstation_id()
        .to_owned();
    let (mut output, mut input) = start_shell(&docker, &id).await;
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
    );
    server.stop().await;
}
