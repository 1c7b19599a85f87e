//! The `docker` backend: one hardened workstation container per learner, on the learner's own
//! bridge network; each terminal tab is a `docker exec` with a TTY.
//!
//! The exec stream is hijacked by hand (see [`hijack_exec`]) rather than through bollard's
//! decoder: with a TTY the stream is raw bytes, and a decoder that looks for multiplexing
//! headers can be fooled by what a learner prints into buffering without bound.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ExecConfig, HostConfig, HostConfigLogConfig, NetworkCreateRequest,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{
    Backend, SHELL_CHANNEL_CHUNKS, SandboxError, Shell, ShellEvent, ShellInput, TermSize,
    Workstation,
};
use crate::config::{Config, Limits};
use crate::engine::images::PullPolicy;
use crate::engine::rewrite::Policy;
use crate::engine::upstream::Upstream;
use crate::engine::{EngineSettings, Quotas, Scope};
use crate::session::LearnerId;

pub const LABEL_OWNER: &str = "berth.owner";
pub const LABEL_INSTANCE: &str = "berth.instance";
pub const LABEL_ROLE: &str = "berth.role";

const LEARNER_USER: &str = "learner";
const LEARNER_HOME: &str = "/home/learner";
const HOSTNAME: &str = "berth";
/// Where the learner's scoped engine appears in their workstation.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Volumes and networks one learner may make.
const LEARNER_VOLUMES: usize = 10;
const LEARNER_NETWORKS: usize = 5;
/// `--restart on-failure` restarts a failing container at most this often.
const LEARNER_MAX_RESTARTS: i64 = 3;

/// Bytes read from the shell at once; with [`SHELL_CHANNEL_CHUNKS`] this bounds what berth holds.
const READ_CHUNK: usize = 16 * 1024;

/// An HTTP response head larger than this is not the engine talking.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Name of a learner's workstation container. Learners' own objects are `berth-<id>-<name>`,
/// so `berth-ws-…` can never collide with them.
pub fn workstation_name(learner: &LearnerId) -> String {
    format!("berth-ws-{learner}")
}

/// Name of the learner's bridge network.
pub fn network_name(learner: &LearnerId) -> String {
    format!("berth-{learner}")
}

/// What every learner's scoped engine shares, from the configuration.
pub fn engine_settings(
    config: &Config,
    instance: &str,
    lesson_images: &[String],
    endpoint: &Endpoint,
) -> Result<EngineSettings, SandboxError> {
    let data_dir = std::path::absolute(&config.data_dir)
        .map_err(|e| SandboxError::Engine(format!("data dir: {e}")))?;
    Ok(EngineSettings {
        upstream: Upstream::new(endpoint.clone()),
        instance: instance.to_owned(),
        policy: Policy {
            memory_bytes: config.limits.memory_bytes,
            nano_cpus: config.limits.nano_cpus,
            pids: config.limits.pids,
            max_restarts: LEARNER_MAX_RESTARTS,
            allow_egress: config.allow_egress,
        },
        quotas: Quotas {
            containers: config.max_containers,
            volumes: LEARNER_VOLUMES,
            networks: LEARNER_NETWORKS,
        },
        pulls: Arc::new(PullPolicy::new(&config.pull_allow, lesson_images)),
        sockets: data_dir.join("engines"),
    })
}

pub struct DockerBackend {
    docker: Docker,
    endpoint: Endpoint,
    image: String,
    instance: String,
    limits: Limits,
    allow_egress: bool,
    engine: EngineSettings,
}

impl DockerBackend {
    /// Connects to the engine (API version negotiated) and checks the workstation image.
    /// `lesson_images` may always be pulled by learners.
    pub async fn connect(
        config: &Config,
        instance: &str,
        lesson_images: &[String],
    ) -> Result<DockerBackend, SandboxError> {
        let docker = Docker::connect_with_local_defaults()?
            .negotiate_version()
            .await
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
        docker.ping().await?;
        match docker.inspect_image(&config.image).await {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(SandboxError::ImageMissing {
                    image: config.image.clone(),
                });
            }
            Err(error) => return Err(error.into()),
        }
        let endpoint = Endpoint::from_env();
        let engine = engine_settings(config, instance, lesson_images, &endpoint)?;
        Ok(DockerBackend {
            docker,
            endpoint,
            image: config.image.clone(),
            instance: instance.to_owned(),
            limits: config.limits.clone(),
            allow_egress: config.allow_egress,
            engine,
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    fn labels(&self, learner: &LearnerId, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL_OWNER.to_owned(), learner.to_string()),
            (LABEL_INSTANCE.to_owned(), self.instance.clone()),
            (LABEL_ROLE.to_owned(), role.to_owned()),
        ])
    }

    fn instance_filter(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([(
            "label".to_owned(),
            vec![format!("{LABEL_INSTANCE}={}", self.instance)],
        )])
    }

    async fn ensure_network(&self, learner: &LearnerId) -> Result<(), SandboxError> {
        let request = NetworkCreateRequest {
            name: network_name(learner),
            driver: Some("bridge".to_owned()),
            internal: Some(!self.allow_egress),
            labels: Some(self.labels(learner, "network")),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Left from a sandbox of this learner being removed right now: reuse it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// The learner's home: a tmpfs of its own, as a volume, so their containers can mount
    /// folders of it (`-v ~/site:/srv`). It carries no owner label: no learner list, prune or
    /// quota ever counts it.
    async fn ensure_home(&self, learner: &LearnerId) -> Result<String, SandboxError> {
        let name = crate::engine::home::volume_name(learner.as_str());
        let mut labels = self.labels(learner, "home");
        labels.remove(LABEL_OWNER);
        let disk = self.limits.disk_mb;
        let options = HashMap::from([
            ("type".to_owned(), "tmpfs".to_owned()),
            ("device".to_owned(), "tmpfs".to_owned()),
            (
                "o".to_owned(),
                format!("nosuid,nodev,size={disk}m,uid=1000,gid=1000,mode=0755"),
            ),
        ]);
        let request = bollard::models::VolumeCreateOptions {
            name: Some(name.clone()),
            driver: Some("local".to_owned()),
            driver_opts: Some(options),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker.create_volume(request).await?;
        Ok(name)
    }

    fn container_body(
        &self,
        learner: &LearnerId,
        socket: &std::path::Path,
        home: &str,
    ) -> ContainerCreateBody {
        let disk = self.limits.disk_mb;
        let tmpfs = HashMap::from([(
            "/tmp".to_owned(),
            format!("rw,nosuid,nodev,size={disk}m,mode=1777"),
        )]);
        ContainerCreateBody {
            image: Some(self.image.clone()),
            hostname: Some(HOSTNAME.to_owned()),
            user: Some(LEARNER_USER.to_owned()),
            working_dir: Some(LEARNER_HOME.to_owned()),
            env: Some(shell_env()),
            cmd: Some(vec!["sleep".to_owned(), "infinity".to_owned()]),
            labels: Some(self.labels(learner, "workstation")),
            host_config: Some(HostConfig {
                privileged: Some(false),
                // A non-root login shell needs no capability at all.
                cap_drop: Some(vec!["ALL".to_owned()]),
                security_opt: Some(vec!["no-new-privileges".to_owned()]),
                memory: Some(self.limits.memory_bytes),
                memory_swap: Some(self.limits.memory_bytes),
                pids_limit: Some(self.limits.pids),
                nano_cpus: Some(self.limits.nano_cpus),
                readonly_rootfs: Some(true),
                tmpfs: Some(tmpfs),
                mounts: Some(vec![bollard::models::Mount {
                    typ: Some(bollard::models::MountTypeEnum::VOLUME),
                    source: Some(home.to_owned()),
                    target: Some(LEARNER_HOME.to_owned()),
                    volume_options: Some(bollard::models::MountVolumeOptions {
                        no_copy: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                init: Some(true),
                log_config: Some(HostConfigLogConfig {
                    typ: Some("json-file".to_owned()),
                    config: Some(HashMap::from([
                        ("max-size".to_owned(), "1m".to_owned()),
                        ("max-file".to_owned(), "1".to_owned()),
                    ])),
                }),
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::NO),
                    maximum_retry_count: None,
                }),
                network_mode: Some(network_name(learner)),
                // The learner's own scoped engine, and nothing else of the host.
                binds: Some(vec![format!("{}:{DOCKER_SOCKET}", socket.display())]),
                // Port forwarders run as the learner; `-p 80:80` must still work.
                sysctls: Some(HashMap::from([(
                    "net.ipv4.ip_unprivileged_port_start".to_owned(),
                    "0".to_owned(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    async fn create_container(
        &self,
        learner: &LearnerId,
        socket: &std::path::Path,
    ) -> Result<String, SandboxError> {
        let options = CreateContainerOptions {
            name: Some(workstation_name(learner)),
            ..Default::default()
        };
        let home = self.ensure_home(learner).await?;
        let body = self.container_body(learner, socket, &home);
        match self
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Ok(created) => Ok(created.id),
            // A workstation of this learner from a moment ago is still being removed.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                self.force_remove(&workstation_name(learner)).await?;
                Ok(self.docker.create_container(Some(options), body).await?.id)
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message,
            }) if message.contains("image") => Err(SandboxError::ImageMissing {
                image: self.image.clone(),
            }),
            Err(error) => Err(error.into()),
        }
    }

    async fn force_remove(&self, container: &str) -> Result<(), SandboxError> {
        force_remove(&self.docker, container).await
    }
}

/// Removes a container and its unnamed volumes; one that is gone already is fine.
async fn force_remove(docker: &Docker, container: &str) -> Result<(), SandboxError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    gone_is_fine(docker.remove_container(container, Some(options)).await)
}

/// The result of a removal, where "no such object" counts as done.
fn gone_is_fine(result: Result<(), bollard::errors::Error>) -> Result<(), SandboxError> {
    match result {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Pulls one lesson image, logging its progress; a failed pull of an image already on this
/// machine is fine (an offline classroom), one that is missing is worth a warning.
async fn prefetch_one(docker: &Docker, image: &str) {
    use futures_util::StreamExt;
    let (name, tag) = crate::engine::images::split_tag(image);
    tracing::info!(image, "pulling a lesson image");
    let options = bollard::query_parameters::CreateImageOptions {
        from_image: Some(name.to_owned()),
        tag: Some(tag.to_owned()),
        ..Default::default()
    };
    let mut progress = docker.create_image(Some(options), None, None);
    let mut last_status = String::new();
    let mut failure = None;
    while let Some(item) = progress.next().await {
        match item {
            Ok(info) => {
                if let Some(status) = info.status
                    && status != last_status
                    && info.id.is_none()
                {
                    tracing::info!(image, %status, "pull");
                    last_status = status;
                }
            }
            Err(error) => {
                failure = Some(error.to_string());
                break;
            }
        }
    }
    let present = docker.inspect_image(image).await.is_ok();
    match (failure, present) {
        (None, _) => tracing::info!(image, "lesson image ready"),
        (Some(error), true) => {
            tracing::info!(image, %error, "could not pull; the copy on this machine will be used")
        }
        (Some(error), false) => {
            tracing::warn!(image, %error, "could not pull a lesson image, and it is not on this machine")
        }
    }
}

/// A process in the workstation as the learner, in their home, never privileged.
fn learner_exec(cmd: Vec<String>) -> ExecConfig {
    ExecConfig {
        cmd: Some(cmd),
        env: Some(shell_env()),
        user: Some(LEARNER_USER.to_owned()),
        working_dir: Some(LEARNER_HOME.to_owned()),
        privileged: Some(false),
        ..Default::default()
    }
}

fn shell_env() -> Vec<String> {
    [
        "HOME=/home/learner",
        "USER=learner",
        "TERM=xterm-256color",
        "LANG=C.UTF-8",
        "LC_ALL=C.UTF-8",
    ]
    .map(str::to_owned)
    .to_vec()
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    async fn ping(&self) -> Result<(), SandboxError> {
        self.docker.ping().await?;
        Ok(())
    }

    async fn create(&self, learner: &LearnerId) -> Result<Box<dyn Workstation>, SandboxError> {
        self.ensure_network(learner).await?;
        let scope = Scope::start(self.engine.clone(), learner.as_str()).map_err(|e| {
            SandboxError::Engine(format!("cannot make the learner's docker socket: {e}"))
        })?;
        let id = match self.create_container(learner, scope.socket()).await {
            Ok(id) => id,
            Err(error) => {
                scope.remove_everything().await;
                let home = crate::engine::home::volume_name(learner.as_str());
                let _ = self
                    .docker
                    .remove_volume(
                        &home,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                    .await;
                return Err(error);
            }
        };
        scope.set_workstation(&id);
        let workstation = DockerWorkstation {
            docker: self.docker.clone(),
            endpoint: self.endpoint.clone(),
            id,
            network: network_name(learner),
            home: crate::engine::home::volume_name(learner.as_str()),
            scope,
        };
        if let Err(error) = self
            .docker
            .start_container(
                &workstation.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            let _ = workstation.remove().await;
            return Err(error.into());
        }
        Ok(Box::new(workstation))
    }

    fn prefetch(&self, images: Vec<String>) {
        let docker = self.docker.clone();
        tokio::spawn(async move {
            for image in images {
                prefetch_one(&docker, &image).await;
            }
        });
    }

    async fn remove_leftovers(&self) -> Result<usize, SandboxError> {
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(self.instance_filter()),
                ..Default::default()
            }))
            .await?;
        let mut removed = 0;
        for container in containers {
            if let Some(id) = container.id {
                self.force_remove(&id).await?;
                removed += 1;
            }
        }
        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(self.instance_filter()),
            }))
            .await?;
        for network in networks {
            if let Some(id) = network.id {
                self.docker.remove_network(&id).await?;
                removed += 1;
            }
        }
        let volumes = self
            .docker
            .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
                filters: Some(self.instance_filter()),
            }))
            .await?;
        for volume in volumes.volumes.unwrap_or_default() {
            self.docker
                .remove_volume(
                    &volume.name,
                    Some(bollard::query_parameters::RemoveVolumeOptions { force: true }),
                )
                .await?;
            removed += 1;
        }
        let images = self
            .docker
            .list_images(Some(bollard::query_parameters::ListImagesOptions {
                filters: Some(self.instance_filter()),
                ..Default::default()
            }))
            .await?;
        for image in images {
            let options = bollard::query_parameters::RemoveImageOptions {
                force: true,
                ..Default::default()
            };
            if self
                .docker
                .remove_image(&image.id, Some(options), None)
                .await
                .is_ok()
            {
                removed += 1;
            }
        }
        if let Ok(entries) = std::fs::read_dir(&self.engine.sockets) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(removed)
    }
}

pub struct DockerWorkstation {
    docker: Docker,
    endpoint: Endpoint,
    id: String,
    network: String,
    /// The learner's home volume.
    home: String,
    scope: Arc<Scope>,
}

#[async_trait]
impl Workstation for DockerWorkstation {
    fn id(&self) -> &str {
        &self.id
    }

    fn scope(&self) -> Option<Arc<Scope>> {
        Some(self.scope.clone())
    }

    async fn run(
        &self,
        command: &str,
        timeout: std::time::Duration,
    ) -> Result<(i64, String), SandboxError> {
        use futures_util::StreamExt;
        let exec = self
            .docker
            .create_exec(
                &self.id,
                ExecConfig {
                    attach_stdout: Some(true),
                    attach_stderr: Some(false),
                    ..learner_exec(vec!["bash".to_owned(), "-c".to_owned(), command.to_owned()])
                },
            )
            .await?
            .id;
        let collect = async {
            let mut stdout = Vec::new();
            if let bollard::exec::StartExecResults::Attached { mut output, .. } =
                self.docker.start_exec(&exec, None).await?
            {
                while let Some(chunk) = output.next().await {
                    if let bollard::container::LogOutput::StdOut { message } = chunk?
                        && stdout.len() < super::MAX_RUN_OUTPUT
                    {
                        stdout.extend_from_slice(&message);
                    }
                }
            }
            Ok::<_, bollard::errors::Error>(stdout)
        };
        let stdout = tokio::time::timeout(timeout, collect)
            .await
            .map_err(|_| SandboxError::Shell("timeout".to_owned()))??;
        let code = self
            .docker
            .inspect_exec(&exec)
            .await?
            .exit_code
            .unwrap_or(-1);
        Ok((code, String::from_utf8_lossy(&stdout).into_owned()))
    }

    async fn attach_shell(&self, size: TermSize) -> Result<Shell, SandboxError> {
        // Marks every process of this shell, so closing the tab can end them all.
        let mark = format!("{SHELL_MARK}={:016x}", rand::random::<u64>());
        let mut config = learner_exec(vec!["bash".to_owned(), "-l".to_owned()]);
        config.env.get_or_insert_with(Vec::new).push(mark.clone());
        let exec = self
            .docker
            .create_exec(
                &self.id,
                ExecConfig {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(true),
                    ..config
                },
            )
            .await?
            .id;
        let version = self.docker.client_version();
        let path = format!(
            "/v{}.{}/exec/{exec}/start",
            version.major_version, version.minor_version
        );
        let (early, stream) = self.endpoint.hijack(&path).await?;
        let (reader, writer) = tokio::io::split(stream);
        let (input_tx, input_rx) = mpsc::channel(SHELL_CHANNEL_CHUNKS);
        let (events_tx, events_rx) = mpsc::channel(SHELL_CHANNEL_CHUNKS);
        tokio::spawn(pump_output(
            reader,
            early,
            events_tx,
            self.docker.clone(),
            exec.clone(),
        ));
        let hang_up = HangUp {
            docker: self.docker.clone(),
            workstation: self.id.clone(),
            mark,
        };
        tokio::spawn(pump_input(
            writer,
            input_rx,
            self.docker.clone(),
            exec,
            hang_up,
        ));
        input_tx
            .send(ShellInput::Resize(size))
            .await
            .map_err(|_| SandboxError::Shell("the shell ended at once".to_owned()))?;
        Ok(Shell {
            input: input_tx,
            events: events_rx,
        })
    }

    async fn remove(&self) -> Result<(), SandboxError> {
        // The learner's containers first: they hold the network the workstation is on.
        self.scope.remove_everything().await;
        force_remove(&self.docker, &self.id).await?;
        let options = bollard::query_parameters::RemoveVolumeOptions { force: true };
        gone_is_fine(self.docker.remove_volume(&self.home, Some(options)).await)?;
        gone_is_fine(self.docker.remove_network(&self.network).await)
    }
}

/// Copies the shell's output into the channel; waits when the channel is full, so a shell
/// that prints without end waits for the browser instead of filling berth's memory.
async fn pump_output(
    mut reader: impl AsyncRead + Unpin,
    early: Bytes,
    events: mpsc::Sender<ShellEvent>,
    docker: Docker,
    exec: String,
) {
    if !early.is_empty() && events.send(ShellEvent::Output(early)).await.is_err() {
        return;
    }
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let chunk = Bytes::copy_from_slice(&buffer[..n]);
                if events.send(ShellEvent::Output(chunk)).await.is_err() {
                    return;
                }
            }
        }
    }
    let code = docker
        .inspect_exec(&exec)
        .await
        .ok()
        .and_then(|inspect| inspect.exit_code);
    let _ = events.send(ShellEvent::Exit(code)).await;
}

/// Writes keystrokes to the shell and passes resizes to the exec. When the tab goes away the
/// channel closes, stdin closes, and the shell sees end of input.
/// The environment variable that marks the processes of one terminal tab.
const SHELL_MARK: &str = "BERTH_SHELL";

/// Ends the processes of a tab's shell. The engine keeps a tty exec running when its input
/// closes, so without this a closed tab would leave its shell (and whatever it started) behind.
struct HangUp {
    docker: Docker,
    workstation: String,
    mark: String,
}

impl HangUp {
    async fn run(self) {
        // SIGHUP, as when a terminal window closes; the learner's own processes only.
        let script = r#"for p in /proc/[0-9]*; do
  if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "$1"; then kill -HUP "${p#/proc/}" 2>/dev/null; fi
done"#;
        let command = ["sh", "-c", script, "sh", &self.mark].map(str::to_owned);
        let created = self
            .docker
            .create_exec(&self.workstation, learner_exec(command.to_vec()))
            .await;
        let started = match created {
            Ok(exec) => {
                let options = bollard::exec::StartExecOptions {
                    detach: true,
                    ..Default::default()
                };
                self.docker
                    .start_exec(&exec.id, Some(options))
                    .await
                    .map(drop)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = started {
            // The workstation is usually gone already when a whole sandbox ends.
            tracing::debug!(%error, "could not hang up on a closed tab's shell");
        }
    }
}

async fn pump_input(
    mut writer: impl AsyncWrite + Unpin,
    mut input: mpsc::Receiver<ShellInput>,
    docker: Docker,
    exec: String,
    hang_up: HangUp,
) {
    while let Some(message) = input.recv().await {
        match message {
            ShellInput::Data(bytes) => {
                if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
                    break;
                }
            }
            ShellInput::Resize(size) => {
                let options = bollard::query_parameters::ResizeExecOptions {
                    h: i32::from(size.rows),
                    w: i32::from(size.cols),
                };
                if let Err(error) = docker.resize_exec(&exec, options).await {
                    tracing::debug!(%error, "resize failed");
                }
            }
        }
    }
    let _ = writer.shutdown().await;
    hang_up.run().await;
}

/// Where the Docker engine listens, for the connections berth hijacks itself.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(String),
}

pub trait Duplex: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Duplex for T {}

impl Endpoint {
    /// The same place bollard's local defaults connect to.
    pub fn from_env() -> Endpoint {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if host.starts_with("tcp://") => {
                Endpoint::Tcp(host.trim_start_matches("tcp://").to_owned())
            }
            Ok(host) if host.starts_with("unix://") => {
                Endpoint::Unix(PathBuf::from(host.trim_start_matches("unix://")))
            }
            _ => Endpoint::Unix(PathBuf::from("/var/run/docker.sock")),
        }
    }

    pub async fn connect(&self) -> std::io::Result<Box<dyn Duplex>> {
        Ok(match self {
            Endpoint::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            Endpoint::Tcp(address) => Box::new(tokio::net::TcpStream::connect(address).await?),
        })
    }

    /// Starts an exec over a fresh connection and returns the raw stream after the upgrade,
    /// with any bytes that arrived together with the response head.
    async fn hijack(&self, path: &str) -> Result<(Bytes, Box<dyn Duplex>), SandboxError> {
        let engine = |e: std::io::Error| SandboxError::Engine(e.to_string());
        let mut stream = self.connect().await.map_err(engine)?;
        let body = r#"{"Detach":false,"Tty":true}"#;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n\
             Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.map_err(engine)?;
        let mut head = Vec::with_capacity(1024);
        let mut buffer = [0u8; 1024];
        let end = loop {
            let n = stream.read(&mut buffer).await.map_err(engine)?;
            if n == 0 {
                return Err(SandboxError::Engine(
                    "the engine closed the exec connection".to_owned(),
                ));
            }
            head.extend_from_slice(&buffer[..n]);
            if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            if head.len() > MAX_RESPONSE_HEAD {
                return Err(SandboxError::Engine("oversized exec response".to_owned()));
            }
        };
        let status_line = String::from_utf8_lossy(&head[..end]);
        let status_line = status_line.lines().next().unwrap_or_default();
        let upgraded = status_line.contains(" 101 ") || status_line.contains(" 200 ");
        if !upgraded {
            let detail = String::from_utf8_lossy(&head[end..]).trim().to_owned();
            return Err(SandboxError::Shell(format!("{status_line} {detail}")));
        }
        Ok((Bytes::copy_from_slice(&head[end..]), stream))
    }
}
