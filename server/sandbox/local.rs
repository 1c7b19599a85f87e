//! The `local` backend: a login shell on this machine in a pseudo-terminal, for one learner on
//! their own computer or a machine without Docker. It isolates nothing, which is why berth only
//! allows it on a loopback address.
//!
//! portable-pty's I/O is blocking, so each shell gets two plain threads (reader, writer) that
//! talk to the async side through bounded channels: a full channel blocks the reader thread,
//! and with it the shell.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use portable_pty::{ChildKiller, CommandBuilder, PtySize, native_pty_system};
use tokio::sync::mpsc;

use super::{
    Backend, SHELL_CHANNEL_CHUNKS, SandboxError, SandboxId, Shell, ShellEvent, ShellInput,
    TermSize, Workstation,
};
use crate::engine::{EngineSettings, Scope};

const READ_CHUNK: usize = 16 * 1024;

#[derive(Default)]
pub struct LocalBackend {
    /// When a Docker engine answers, each learner gets a scoped engine (`DOCKER_HOST`).
    engine: Option<EngineSettings>,
}

impl LocalBackend {
    pub fn new(engine: Option<EngineSettings>) -> LocalBackend {
        LocalBackend { engine }
    }
}

#[async_trait]
impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn ping(&self) -> Result<(), SandboxError> {
        Ok(())
    }

    async fn create(&self, id: &SandboxId) -> Result<Box<dyn Workstation>, SandboxError> {
        let scope = match &self.engine {
            Some(settings) => {
                let scope = Scope::start(settings.clone(), id.as_str()).map_err(|e| {
                    SandboxError::Engine(format!("cannot make the learner's docker socket: {e}"))
                })?;
                crate::engine::networks::create_default(&scope).await?;
                Some(scope)
            }
            None => None,
        };
        Ok(Box::new(LocalWorkstation {
            id: format!("local-{id}"),
            killers: Mutex::new(Vec::new()),
            scope,
        }))
    }

    /// The learners' scoped engines make networks and containers as the Docker backend's do.
    async fn remove_leftovers(&self) -> Result<usize, SandboxError> {
        match &self.engine {
            Some(engine) => super::docker::sweep(engine).await,
            None => Ok(0),
        }
    }

    async fn owners(&self) -> Result<std::collections::HashSet<String>, SandboxError> {
        match &self.engine {
            Some(engine) => super::docker::owners(engine).await,
            None => Ok(Default::default()),
        }
    }

    async fn remove_owned_by(&self, sandboxes: &[String]) -> usize {
        match &self.engine {
            Some(engine) => super::docker::remove_owned_by(engine, sandboxes).await,
            None => 0,
        }
    }
}

pub struct LocalWorkstation {
    id: String,
    killers: Mutex<Vec<Box<dyn ChildKiller + Send + Sync>>>,
    scope: Option<Arc<Scope>>,
}

fn shell_error(error: impl std::fmt::Display) -> SandboxError {
    SandboxError::Shell(error.to_string())
}

fn pty_size(size: TermSize) -> PtySize {
    PtySize {
        rows: size.rows,
        cols: size.cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

fn login_shell(docker_host: Option<&std::path::Path>) -> CommandBuilder {
    let bash = ["/bin/bash", "/usr/bin/bash"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists());
    let mut command = match bash {
        Some(bash) => {
            let mut command = CommandBuilder::new(bash);
            command.arg("-l");
            command
        }
        None => CommandBuilder::new_default_prog(),
    };
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(home) = home.filter(|home| home.is_dir()) {
        command.cwd(home);
    }
    command.env("TERM", "xterm-256color");
    command.env("COLORTERM", "truecolor");
    if let Some(socket) = docker_host {
        command.env("DOCKER_HOST", format!("unix://{}", socket.display()));
    }
    command
}

#[async_trait]
impl Workstation for LocalWorkstation {
    fn id(&self) -> &str {
        &self.id
    }

    fn scope(&self) -> Option<Arc<Scope>> {
        self.scope.clone()
    }

    async fn run(
        &self,
        command: &str,
        timeout: std::time::Duration,
    ) -> Result<(i64, String), SandboxError> {
        let mut process = tokio::process::Command::new("bash");
        process.arg("-c").arg(command).kill_on_drop(true);
        process.stdin(std::process::Stdio::null());
        process.stderr(std::process::Stdio::null());
        if let Some(home) = std::env::var_os("HOME") {
            process.current_dir(home);
        }
        if let Some(scope) = &self.scope {
            process.env(
                "DOCKER_HOST",
                format!("unix://{}", scope.socket().display()),
            );
        }
        let output = tokio::time::timeout(timeout, process.output())
            .await
            .map_err(|_| SandboxError::Shell("timeout".to_owned()))?
            .map_err(shell_error)?;
        let mut stdout = output.stdout;
        stdout.truncate(super::MAX_RUN_OUTPUT);
        Ok((
            i64::from(output.status.code().unwrap_or(-1)),
            String::from_utf8_lossy(&stdout).into_owned(),
        ))
    }

    async fn attach_shell(&self, size: TermSize) -> Result<Shell, SandboxError> {
        let pair = native_pty_system()
            .openpty(pty_size(size))
            .map_err(shell_error)?;
        let mut child = pair
            .slave
            .spawn_command(login_shell(self.scope.as_ref().map(|s| s.socket())))
            .map_err(shell_error)?;
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().map_err(shell_error)?;
        let mut writer = pair.master.take_writer().map_err(shell_error)?;
        let master = pair.master;
        let mut killer = child.clone_killer();
        self.killers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.clone_killer());

        let (input_tx, mut input_rx) = mpsc::channel::<ShellInput>(SHELL_CHANNEL_CHUNKS);
        let (events_tx, events_rx) = mpsc::channel(SHELL_CHANNEL_CHUNKS);

        std::thread::Builder::new()
            .name("berth-pty-read".to_owned())
            .spawn(move || {
                let mut buffer = vec![0u8; READ_CHUNK];
                loop {
                    match reader.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let chunk = Bytes::copy_from_slice(&buffer[..n]);
                            if events_tx.blocking_send(ShellEvent::Output(chunk)).is_err() {
                                break;
                            }
                        }
                    }
                }
                let code = child
                    .wait()
                    .ok()
                    .map(|status| i64::from(status.exit_code()));
                let _ = events_tx.blocking_send(ShellEvent::Exit(code));
            })
            .map_err(shell_error)?;

        std::thread::Builder::new()
            .name("berth-pty-write".to_owned())
            .spawn(move || {
                while let Some(message) = input_rx.blocking_recv() {
                    match message {
                        ShellInput::Data(bytes) => {
                            if writer
                                .write_all(&bytes)
                                .and_then(|()| writer.flush())
                                .is_err()
                            {
                                break;
                            }
                        }
                        ShellInput::Resize(size) => {
                            let _ = master.resize(pty_size(size));
                        }
                    }
                }
                // The tab is gone: so is its shell.
                let _ = killer.kill();
            })
            .map_err(shell_error)?;

        Ok(Shell {
            mark: None,
            input: input_tx,
            events: events_rx,
        })
    }

    async fn remove(&self) -> Result<(), SandboxError> {
        for mut killer in self
            .killers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            let _ = killer.kill();
        }
        if let Some(scope) = &self.scope {
            scope.remove_everything().await;
            if let Ok(network) = crate::engine::scope::network(scope, "bridge").await {
                crate::engine::networks::delete(scope, &network.id).await?;
            }
        }
        Ok(())
    }
}
