//! The `docker` backend: one hardened workstation container per learner, on the learner's own
//! bridge network; each terminal tab is a `docker exec` with a TTY. Everything goes through
//! berth's one engine client ([`crate::engine::wire`]).
//!
//! Creating a learner's objects is idempotent: a retry (after the engine restarted, say) finds
//! or removes what a failed attempt left, and networks are addressed by id.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{
    Backend, SHELL_CHANNEL_CHUNKS, SandboxError, SandboxId, Shell, ShellEvent, ShellInput,
    TermSize, Workstation,
};
use crate::config::{Config, Limits};
use crate::engine::images::reference::PullPolicy;
use crate::engine::names::{self, LABEL_INSTANCE, ROLE_HOME, ROLE_WORKSTATION};
use crate::engine::networks::addresses::AddressPool;
use crate::engine::refusal::Refusal;
use crate::engine::wire::{Endpoint, Upstream, path_with_query, read_limited};
use crate::engine::{EngineSettings, Policy, Quotas, Scope};

use super::firewall::HostFirewall;
use crate::engine::budget::{self, Budgets};

const LEARNER_USER: &str = "learner";
const LEARNER_HOME: &str = "/home/learner";
const HOSTNAME: &str = "berth";
/// Where the learner's scoped engine appears in their workstation.
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// Volumes and networks one learner may make.
const LEARNER_VOLUMES: usize = 20;
const LEARNER_NETWORKS: usize = 5;
/// `--restart on-failure` restarts a failing container at most this often.
const LEARNER_MAX_RESTARTS: i64 = 3;
/// Builds running at once, all learners together.
const BUILDS_AT_ONCE: usize = 4;

/// Bytes read from the shell at once; with [`SHELL_CHANNEL_CHUNKS`] this bounds what berth holds.
const READ_CHUNK: usize = 16 * 1024;

impl From<Refusal> for SandboxError {
    fn from(refusal: Refusal) -> Self {
        if refusal.status == 502 {
            SandboxError::Engine(refusal.message)
        } else if refusal.status == 503 {
            SandboxError::NoAddresses
        } else {
            SandboxError::EngineRefused(refusal.message)
        }
    }
}

/// The engine's filter for everything of this berth instance.
fn instance_filter(instance: &str) -> String {
    json!({"label": {format!("{LABEL_INSTANCE}={instance}"): true}}).to_string()
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
    let addresses = AddressPool::new(&config.subnet_pool).map_err(SandboxError::Engine)?;
    Ok(EngineSettings {
        upstream: Upstream::new(endpoint.clone()),
        instance: instance.to_owned(),
        policy: Policy {
            memory_bytes: config.limits.memory_bytes,
            nano_cpus: config.limits.nano_cpus,
            pids: config.limits.pids,
            max_restarts: LEARNER_MAX_RESTARTS,
            allow_egress: config.allow_egress,
            ..Policy::default()
        },
        quotas: Quotas {
            containers: config.max_containers,
            volumes: LEARNER_VOLUMES,
            networks: LEARNER_NETWORKS,
        },
        pulls: Arc::new(PullPolicy::new(&config.pull_allow, lesson_images)),
        sockets: sockets_root(&data_dir, instance),
        scratch: data_dir.join("builds"),
        addresses: Arc::new(addresses),
        builds: Arc::new(tokio::sync::Semaphore::new(BUILDS_AT_ONCE)),
        budgets: None,
        disk_quota: config.disk_quota_bytes,
    })
}

/// Where learners' sockets live. Under /run when berth may write there: the workstation's
/// mount table shows the socket's path, and it should name nothing of the host's data.
fn sockets_root(data_dir: &std::path::Path, instance: &str) -> std::path::PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("berth-sockets:{instance}").as_bytes());
    let tag: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    let run = std::path::Path::new("/run/berth").join(&tag);
    match std::fs::create_dir_all(&run) {
        Ok(()) => run,
        Err(_) => data_dir.join("engines"),
    }
}

pub struct DockerBackend {
    upstream: Upstream,
    image: String,
    instance: String,
    limits: Limits,
    engine: EngineSettings,
    budgets: Option<Budgets>,
    firewall: Option<HostFirewall>,
}

/// The engine answered with something other than success: its message.
fn engine_said(status: StatusCode, value: &Value) -> String {
    value["message"]
        .as_str()
        .map_or_else(|| format!("the engine answered {status}"), str::to_owned)
}

impl DockerBackend {
    /// Connects to the engine and checks the workstation image. `lesson_images` may always be
    /// pulled by learners.
    pub async fn connect(
        config: &Config,
        instance: &str,
        lesson_images: &[String],
    ) -> Result<DockerBackend, SandboxError> {
        let endpoint = Endpoint::from_env();
        let upstream = Upstream::new(endpoint.clone());
        let (status, _) = upstream.call(Method::GET, "/_ping", None).await?;
        if !status.is_success() {
            return Err(SandboxError::Engine(format!("_ping answered {status}")));
        }
        let (status, found) = upstream
            .call(Method::GET, &format!("/images/{}/json", config.image), None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Err(SandboxError::ImageMissing {
                image: config.image.clone(),
            });
        }
        if !status.is_success() {
            return Err(SandboxError::EngineRefused(engine_said(status, &found)));
        }
        let mut engine = engine_settings(config, instance, lesson_images, &endpoint)?;
        let budgets = Budgets::detect(&upstream, instance).await;
        engine.budgets = budgets.clone();
        let firewall = if config.host_firewall {
            Some(HostFirewall::install(instance).map_err(SandboxError::Firewall)?)
        } else {
            tracing::warn!(
                "--host-firewall is off: learners' networks can reach the host's own ports"
            );
            None
        };
        Ok(DockerBackend {
            upstream,
            image: config.image.clone(),
            instance: instance.to_owned(),
            limits: config.limits.clone(),
            engine,
            budgets,
            firewall,
        })
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The learner's home: a tmpfs of its own, as a volume, so their containers can mount
    /// folders of it (`-v ~/site:/srv`). It carries no owner label: no learner list, prune or
    /// quota ever counts it.
    async fn ensure_home(&self, id: &SandboxId) -> Result<String, SandboxError> {
        let name = names::home_volume(id.as_str());
        let mut labels = names::Names::new(id.as_str(), &self.instance).labels_with_role(ROLE_HOME);
        labels.remove(names::LABEL_OWNER);
        let disk = self.limits.disk_mb;
        let body = json!({
            "Name": name,
            "Driver": "local",
            "DriverOpts": {
                "type": "tmpfs",
                "device": "tmpfs",
                "o": format!("nosuid,nodev,size={disk}m,uid=1000,gid=1000,mode=0755"),
            },
            "Labels": labels,
        });
        self.upstream
            .ok(Method::POST, "/volumes/create", Some(&body))
            .await?;
        Ok(name)
    }

    fn container_body(&self, id: &SandboxId, scope: &Scope, network: &str, home: &str) -> Value {
        let disk = self.limits.disk_mb;
        let labels =
            names::Names::new(id.as_str(), &self.instance).labels_with_role(ROLE_WORKSTATION);
        let mut host = json!({
            "Privileged": false,
            // A non-root login shell needs no capability at all.
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Memory": self.limits.memory_bytes,
            "MemorySwap": self.limits.memory_bytes,
            "PidsLimit": self.limits.pids,
            "NanoCpus": self.limits.nano_cpus,
            "ReadonlyRootfs": true,
            "Tmpfs": {"/tmp": format!("rw,nosuid,nodev,size={}m,mode=1777", (disk / 4).max(1))},
            "Mounts": [{
                "Type": "volume", "Source": home, "Target": LEARNER_HOME,
                "VolumeOptions": {"NoCopy": true},
            }],
            "Init": true,
            // Its own cgroup namespace: the learner's budget path is berth's business.
            "CgroupnsMode": "private",
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "16m", "max-file": "1"}},
            "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
            "NetworkMode": network,
            // The learner's own scoped engine, and nothing else of the host.
            "Binds": [format!("{}:{DOCKER_SOCKET}", scope.socket().display())],
            // Port forwarders run as the learner; `-p 80:80` must still work.
            "Sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"},
        });
        if let Some(parent) = self.engine.budget_parent(id.as_str()) {
            host["CgroupParent"] = parent.into();
        }
        json!({
            "Image": self.image,
            "Hostname": HOSTNAME,
            "User": LEARNER_USER,
            "WorkingDir": LEARNER_HOME,
            "Env": shell_env(),
            "Cmd": ["sleep", "infinity"],
            "Labels": labels,
            "HostConfig": host,
        })
    }

    /// Creates the workstation; one left by an earlier attempt under this id is removed
    /// first, so a retry always starts clean.
    async fn create_container(
        &self,
        id: &SandboxId,
        scope: &Scope,
        network: &str,
        home: &str,
    ) -> Result<String, SandboxError> {
        let body = self.container_body(id, scope, network, home);
        let name = names::workstation(id.as_str());
        let path = path_with_query("/containers/create", &[("name", &name)]);
        for _ in 0..2 {
            let (status, answer) = self.upstream.call(Method::POST, &path, Some(&body)).await?;
            match status {
                s if s.is_success() => {
                    return Ok(answer["Id"].as_str().unwrap_or_default().to_owned());
                }
                StatusCode::CONFLICT => force_remove(&self.upstream, &name).await?,
                StatusCode::NOT_FOUND if engine_said(status, &answer).contains("image") => {
                    return Err(SandboxError::ImageMissing {
                        image: self.image.clone(),
                    });
                }
                _ => return Err(SandboxError::EngineRefused(engine_said(status, &answer))),
            }
        }
        Err(SandboxError::EngineRefused(format!(
            "the workstation {name} could not be replaced"
        )))
    }
}

/// Removes the engine objects at `paths`, in order; one that cannot go yet (its removal under
/// way, a container still on a network) is left for a later look. How many went.
async fn remove_each(upstream: &Upstream, paths: Vec<String>) -> usize {
    let mut removed = 0;
    for path in paths {
        match upstream.remove(&path).await {
            Ok(()) => removed += 1,
            Err(error) => tracing::debug!(path, error = %error.message, "could not remove yet"),
        }
    }
    removed
}

/// Removes a container and its unnamed volumes; one that is gone already is fine.
async fn force_remove(upstream: &Upstream, container: &str) -> Result<(), SandboxError> {
    Ok(upstream
        .remove(&format!("/containers/{container}?force=1&v=1"))
        .await?)
}

/// Pulls one lesson image, logging its progress; a failed pull of an image already on this
/// machine is fine (an offline classroom), one that is missing is worth a warning.
async fn prefetch_one(upstream: &Upstream, image: &str) {
    let (name, tag) = crate::engine::images::reference::split_tag(image);
    tracing::info!(image, "pulling a lesson image");
    let path = path_with_query("/images/create", &[("fromImage", name), ("tag", tag)]);
    let request = hyper::Request::builder()
        .method(Method::POST)
        .uri(path)
        .body(crate::engine::wire::empty());
    let mut failure = None;
    match request {
        Ok(request) => match upstream.send(request).await {
            Ok(response) if response.status().is_success() => {
                let bytes = read_limited(response.into_body(), 8 << 20)
                    .await
                    .unwrap_or_default();
                for line in bytes.split(|b| *b == b'\n') {
                    if let Ok(value) = serde_json::from_slice::<Value>(line)
                        && let Some(error) = value["error"].as_str()
                    {
                        failure = Some(error.to_owned());
                    }
                }
            }
            Ok(response) => failure = Some(format!("the engine answered {}", response.status())),
            Err(refusal) => failure = Some(refusal.message),
        },
        Err(error) => failure = Some(error.to_string()),
    }
    let present = upstream
        .call(Method::GET, &format!("/images/{image}/json"), None)
        .await
        .is_ok_and(|(status, _)| status.is_success());
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
fn learner_exec(cmd: &[&str]) -> Value {
    json!({
        "Cmd": cmd,
        "Env": shell_env(),
        "User": LEARNER_USER,
        "WorkingDir": LEARNER_HOME,
        "Privileged": false,
    })
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
        let (status, _) = self.upstream.call(Method::GET, "/_ping", None).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(SandboxError::Engine(format!("_ping answered {status}")))
        }
    }

    async fn create(&self, id: &SandboxId) -> Result<Box<dyn Workstation>, SandboxError> {
        let scope = Scope::start(self.engine.clone(), id.as_str()).map_err(|e| {
            SandboxError::Engine(format!("cannot make the learner's docker socket: {e}"))
        })?;
        let workstation = DockerWorkstation {
            upstream: self.upstream.clone(),
            id: String::new(),
            home: names::home_volume(id.as_str()),
            scope: scope.clone(),
            budgets: self.budgets.clone(),
        };
        let created = async {
            if let Some(budgets) = &self.budgets {
                let limits = budget::Limits {
                    memory_bytes: self.limits.memory_bytes,
                    nano_cpus: self.limits.nano_cpus,
                    pids: self.limits.pids,
                };
                budgets.prepare(id.as_str(), limits).map_err(|e| {
                    SandboxError::Engine(format!("cannot make the learner's budget: {e}"))
                })?;
            }
            // The network and the home do not depend on each other: one round trip, not two.
            // Both run to the end even when one fails, so that the removal below comes after
            // whatever the other made (a request dropped halfway is still carried out).
            let (network, home) = tokio::join!(
                crate::engine::networks::create_default(&scope),
                self.ensure_home(id),
            );
            let (network, home) = (network?, home?);
            let container = self.create_container(id, &scope, &network, &home).await?;
            self.upstream
                .ok(
                    Method::POST,
                    &format!("/containers/{container}/start"),
                    None,
                )
                .await?;
            Ok::<_, SandboxError>(container)
        }
        .await;
        match created {
            Ok(container) => {
                scope.set_workstation(&container);
                Ok(Box::new(DockerWorkstation {
                    id: container,
                    ..workstation
                }))
            }
            Err(error) => {
                let name = names::workstation(id.as_str());
                let _ = force_remove(&self.upstream, &name).await;
                let _ = workstation.remove().await;
                Err(error)
            }
        }
    }

    fn prefetch(&self, images: Vec<String>) {
        let upstream = self.upstream.clone();
        tokio::spawn(async move {
            for image in images {
                prefetch_one(&upstream, &image).await;
            }
        });
    }

    async fn stop(&self) {
        if let Some(firewall) = &self.firewall {
            firewall.remove();
        }
        if let Some(budgets) = &self.budgets {
            budgets.remove_root();
        }
    }

    async fn remove_leftovers(&self) -> Result<usize, SandboxError> {
        sweep(&self.engine).await
    }

    async fn owners(&self) -> Result<std::collections::HashSet<String>, SandboxError> {
        owners(&self.engine).await
    }

    async fn remove_owned_by(&self, sandboxes: &[String]) -> usize {
        remove_owned_by(&self.engine, sandboxes).await
    }
}

/// Removes everything of this berth instance from the engine (by its label), the learners'
/// images, budgets, sockets and build folders: at start, what a crashed run left; at stop,
/// whatever the removals missed.
pub(super) async fn sweep(engine: &EngineSettings) -> Result<usize, SandboxError> {
    let filters = instance_filter(&engine.instance);
    let list = |path: &str| path_with_query(path, &[("all", "1"), ("filters", &filters)]);
    let upstream = &engine.upstream;
    let mut removed = 0;
    let mut learners = std::collections::HashSet::new();
    // Round after round: what could not go yet (its removal under way, a container still on
    // a network) goes in the next one, and a request still under way when the first round
    // listed (a creation whose caller gave up) is found by a later one.
    for round in 0..5 {
        let containers = upstream
            .ok(Method::GET, &list("/containers/json"), None)
            .await?;
        let networks = upstream.ok(Method::GET, &list("/networks"), None).await?;
        let mut paths = Vec::new();
        for (object, path) in containers
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                (
                    c,
                    format!(
                        "/containers/{}?force=1&v=1",
                        c["Id"].as_str().unwrap_or_default()
                    ),
                )
            })
            .chain(networks.as_array().into_iter().flatten().map(|n| {
                (
                    n,
                    format!("/networks/{}", n["Id"].as_str().unwrap_or_default()),
                )
            }))
        {
            if let Some(owner) = object["Labels"][names::LABEL_OWNER].as_str() {
                learners.insert(owner.to_owned());
            }
            paths.push(path);
        }
        // Volumes after the containers that mount them.
        let volumes = upstream.ok(Method::GET, &list("/volumes"), None).await?;
        let volumes = volumes["Volumes"].as_array().cloned().unwrap_or_default();
        let found = paths.len() + volumes.len();
        removed += remove_each(upstream, paths).await;
        let volume_paths = volumes
            .iter()
            .filter_map(|v| v["Name"].as_str())
            .map(|name| format!("/volumes/{name}?force=1"))
            .collect();
        removed += remove_each(upstream, volume_paths).await;
        if round > 0 && found == 0 {
            break;
        }
        if round == 4 {
            tracing::warn!(
                left = found,
                "some of this instance's objects were still there at the last look"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Images: the tags of the learners found above, then what they built.
    removed += remove_tags(upstream, |owner| learners.contains(owner)).await?;
    let labelled = std::collections::BTreeMap::from([(
        "label".to_owned(),
        vec![format!("{LABEL_INSTANCE}={}", engine.instance)],
    )]);
    crate::engine::images::remove_labelled(upstream, &labelled).await?;
    if let Some(budgets) = &engine.budgets {
        budgets.sweep();
    }
    for dir in [&engine.sockets, &engine.scratch] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_dir_all(entry.path())
                    .or_else(|_| std::fs::remove_file(entry.path()));
            }
        }
    }
    Ok(removed)
}

/// The sandboxes (by id) that have something of this instance on the engine: an owner label,
/// or a home volume's name.
pub(super) async fn owners(
    engine: &EngineSettings,
) -> Result<std::collections::HashSet<String>, SandboxError> {
    let filters = instance_filter(&engine.instance);
    let list = |path: &str| path_with_query(path, &[("all", "1"), ("filters", &filters)]);
    let upstream = &engine.upstream;
    let mut objects = Vec::new();
    for path in ["/containers/json", "/networks", "/images/json"] {
        let listed = upstream.ok(Method::GET, &list(path), None).await?;
        objects.extend(listed.as_array().cloned().unwrap_or_default());
    }
    let volumes = upstream.ok(Method::GET, &list("/volumes"), None).await?;
    objects.extend(volumes["Volumes"].as_array().cloned().unwrap_or_default());
    let home = names::home_volume("");
    Ok(objects
        .iter()
        .filter_map(|object| {
            object["Labels"][names::LABEL_OWNER]
                .as_str()
                .or_else(|| object["Name"].as_str()?.strip_prefix(&home))
        })
        .map(str::to_owned)
        .collect())
}

/// Removes the tags learners gave images (`berth-<sandbox>/…`) of the sandboxes `owned` picks.
async fn remove_tags(upstream: &Upstream, owned: impl Fn(&str) -> bool) -> Result<usize, Refusal> {
    let images = upstream.ok(Method::GET, "/images/json", None).await?;
    let tags: Vec<String> = images
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|image| image["RepoTags"].as_array().cloned().unwrap_or_default())
        .filter_map(|tag| tag.as_str().map(str::to_owned))
        .filter(|tag| {
            tag.strip_prefix("berth-")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(owner, _)| owned(owner))
        })
        .collect();
    for tag in &tags {
        let _ = upstream.remove(&format!("/images/{tag}")).await;
    }
    Ok(tags.len())
}

/// Removes everything these sandboxes have on the engine, and their budgets: what a sandbox
/// that no longer exists left behind.
pub(super) async fn remove_owned_by(engine: &EngineSettings, sandboxes: &[String]) -> usize {
    let upstream = &engine.upstream;
    let mut removed = remove_tags(upstream, |owner| sandboxes.iter().any(|s| s == owner))
        .await
        .unwrap_or(0);
    for sandbox in sandboxes {
        let owner = format!("{}={sandbox}", names::LABEL_OWNER);
        let instance = format!("{LABEL_INSTANCE}={}", engine.instance);
        let filters = json!({"label": {&instance: true, &owner: true}}).to_string();
        let list = |path: &str| path_with_query(path, &[("all", "1"), ("filters", &filters)]);
        // Containers first, as they hold the networks and volumes: (the list, the key of the
        // name in it, the removal's path around the name).
        let kinds = [
            ("/containers/json", "Id", "/containers/", "?force=1&v=1"),
            ("/networks", "Id", "/networks/", ""),
            ("/volumes", "Name", "/volumes/", "?force=1"),
        ];
        for (path, key, before, after) in kinds {
            let Ok(listed) = upstream.ok(Method::GET, &list(path), None).await else {
                continue;
            };
            // Volumes come wrapped: `{"Volumes": [...]}`.
            let objects = listed.get("Volumes").unwrap_or(&listed);
            let paths = objects
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|object| object[key].as_str())
                .map(|name| format!("{before}{name}{after}"))
                .collect();
            removed += remove_each(upstream, paths).await;
        }
        let home = format!("/volumes/{}?force=1", names::home_volume(sandbox));
        removed += remove_each(upstream, vec![home]).await;
        // What it built.
        let labelled =
            std::collections::BTreeMap::from([("label".to_owned(), vec![instance, owner])]);
        let _ = crate::engine::images::remove_labelled(upstream, &labelled).await;
        if let Some(budgets) = &engine.budgets {
            budgets.remove(sandbox);
        }
    }
    removed
}

pub struct DockerWorkstation {
    upstream: Upstream,
    id: String,
    /// The learner's home volume.
    home: String,
    scope: Arc<Scope>,
    budgets: Option<Budgets>,
}

/// Reads a multiplexed exec stream (no TTY): stdout, up to `limit` bytes.
async fn stdout_of(mut body: hyper::body::Incoming, limit: usize) -> Result<Vec<u8>, SandboxError> {
    let mut pending: Vec<u8> = Vec::new();
    let mut stdout = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| SandboxError::Engine(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        // Frames: [stream, 0, 0, 0, size (4 bytes, big-endian)] then the payload.
        while pending.len() >= 8 {
            let size =
                u32::from_be_bytes([pending[4], pending[5], pending[6], pending[7]]) as usize;
            if pending.len() < 8 + size {
                break;
            }
            if pending[0] == 1 && stdout.len() < limit {
                let room = limit - stdout.len();
                stdout.extend_from_slice(&pending[8..8 + size.min(room)]);
            }
            pending.drain(..8 + size);
        }
        if pending.len() > 1 << 20 {
            pending.clear();
        }
    }
    Ok(stdout)
}

#[async_trait]
impl Workstation for DockerWorkstation {
    fn id(&self) -> &str {
        &self.id
    }

    fn scope(&self) -> Option<Arc<Scope>> {
        Some(self.scope.clone())
    }

    async fn run(&self, command: &str, timeout: Duration) -> Result<(i64, String), SandboxError> {
        let mut body = learner_exec(&["bash", "-c", command]);
        body["AttachStdout"] = true.into();
        body["AttachStderr"] = false.into();
        let exec = self
            .upstream
            .ok(
                Method::POST,
                &format!("/containers/{}/exec", self.id),
                Some(&body),
            )
            .await?;
        let exec = exec["Id"].as_str().unwrap_or_default().to_owned();
        let collect = async {
            let request = hyper::Request::builder()
                .method(Method::POST)
                .uri(format!("/exec/{exec}/start"))
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(crate::engine::wire::full(r#"{"Detach":false,"Tty":false}"#))
                .map_err(|e| SandboxError::Engine(e.to_string()))?;
            let response = self.upstream.send(request).await?;
            if !response.status().is_success() {
                return Err(SandboxError::Shell(format!(
                    "the engine answered {}",
                    response.status()
                )));
            }
            stdout_of(response.into_body(), super::MAX_RUN_OUTPUT).await
        };
        let stdout = tokio::time::timeout(timeout, collect)
            .await
            .map_err(|_| SandboxError::Shell("timeout".to_owned()))??;
        let inspect = self
            .upstream
            .ok(Method::GET, &format!("/exec/{exec}/json"), None)
            .await?;
        let code = inspect["ExitCode"].as_i64().unwrap_or(-1);
        Ok((code, String::from_utf8_lossy(&stdout).into_owned()))
    }

    async fn attach_shell(&self, size: TermSize) -> Result<Shell, SandboxError> {
        // Marks every process of this shell, so closing the tab can end them all.
        let mark = format!("{SHELL_MARK}={:016x}", rand::random::<u64>());
        let mut body = learner_exec(&["bash", "-l"]);
        if let Some(env) = body["Env"].as_array_mut() {
            env.push(mark.clone().into());
        }
        for key in ["AttachStdin", "AttachStdout", "AttachStderr", "Tty"] {
            body[key] = true.into();
        }
        body["ConsoleSize"] = json!([size.rows, size.cols]);
        let exec = self
            .upstream
            .ok(
                Method::POST,
                &format!("/containers/{}/exec", self.id),
                Some(&body),
            )
            .await?;
        let exec = exec["Id"].as_str().unwrap_or_default().to_owned();
        let stream = self
            .upstream
            .upgrade(
                &format!("/exec/{exec}/start"),
                &json!({"Detach": false, "Tty": true, "ConsoleSize": [size.rows, size.cols]}),
            )
            .await
            .map_err(|refusal| SandboxError::Shell(refusal.message))?;
        let (reader, writer) = tokio::io::split(stream);
        let (input_tx, input_rx) = mpsc::channel(SHELL_CHANNEL_CHUNKS);
        let (events_tx, events_rx) = mpsc::channel(SHELL_CHANNEL_CHUNKS);
        tokio::spawn(pump_output(
            reader,
            events_tx,
            self.upstream.clone(),
            exec.clone(),
        ));
        let mark_of_tab = mark.clone();
        let hang_up = HangUp {
            upstream: self.upstream.clone(),
            workstation: self.id.clone(),
            mark,
        };
        tokio::spawn(pump_input(
            writer,
            input_rx,
            self.upstream.clone(),
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
            mark: Some(mark_of_tab),
        })
    }

    async fn end_processes(&self, mark: &str) -> Result<usize, SandboxError> {
        if let Some(budgets) = &self.budgets {
            let procs = budgets
                .container_dir(self.scope.names().learner(), &self.id)
                .join("cgroup.procs");
            if procs.exists() {
                let mark = mark.to_owned();
                return tokio::task::spawn_blocking(move || end_marked(&procs, &mark))
                    .await
                    .map_err(|e| SandboxError::Shell(e.to_string()));
            }
        }
        // Without the host's view, from inside (which needs a free process slot).
        let script = r#"n=0; for p in /proc/[0-9]*; do
  pid=${p#/proc/}; [ "$pid" = "$$" ] && continue
  if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "$1"; then
    ppid=$(awk '/^PPid:/ {print $2}' "$p/status" 2>/dev/null)
    [ "$ppid" = 0 ] || { kill -9 "$pid" 2>/dev/null && n=$((n+1)); }
  fi
done; echo $n"#;
        // The mark is `BERTH_SHELL=` and hex digits: nothing to quote.
        let command = format!("set -- '{mark}'; {script}");
        let (_, out) = self.run(&command, Duration::from_secs(10)).await?;
        Ok(out.trim().parse().unwrap_or(0))
    }

    async fn alive(&self) -> bool {
        let path = format!("/containers/{}/json", self.id);
        self.upstream
            .ok(Method::GET, &path, None)
            .await
            .is_ok_and(|inspect| inspect["State"]["Running"] == true)
    }

    async fn remove(&self) -> Result<(), SandboxError> {
        // The learner's containers first: they hold the network the workstation is on.
        self.scope.remove_everything().await;
        if !self.id.is_empty() {
            force_remove(&self.upstream, &self.id).await?;
        }
        self.upstream
            .remove(&format!("/volumes/{}?force=1", self.home))
            .await?;
        if let Ok(network) = crate::engine::scope::network(&self.scope, "bridge").await {
            crate::engine::networks::delete(&self.scope, &network.id).await?;
        }
        if let Some(budgets) = &self.budgets {
            budgets.remove(self.scope.names().learner());
        }
        Ok(())
    }
}

/// Ends, from the host, every process of the workstation's cgroup that carries `mark`,
/// except the shell itself (whose parent is outside the container). A fork bomb makes more
/// while it can, so each is stopped first (a stopped process forks no more), round after round
/// until no new one appears; then all of them are killed at once.
fn end_marked(procs: &std::path::Path, mark: &str) -> usize {
    let marked = |pid: &str| {
        std::fs::read(format!("/proc/{pid}/environ"))
            .is_ok_and(|env| env.split(|b| *b == 0).any(|entry| entry == mark.as_bytes()))
    };
    let parent = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let after = stat.rsplit_once(')')?.1.to_owned();
                after.split_whitespace().nth(1).map(str::to_owned)
            })
            .unwrap_or_default()
    };
    let signal = |name: &str, pids: &[String]| {
        pids.is_empty()
            || std::process::Command::new("kill")
                .arg(format!("-{name}"))
                .args(pids)
                .output()
                .is_ok()
    };
    let targets = || -> Option<Vec<String>> {
        let list = std::fs::read_to_string(procs).ok()?;
        let inside: Vec<&str> = list.lines().collect();
        Some(
            inside
                .iter()
                .filter(|pid| marked(pid) && inside.contains(&parent(pid).as_str()))
                .map(|pid| pid.to_string())
                .collect(),
        )
    };
    let mut stopped = std::collections::HashSet::new();
    for _ in 0..50 {
        let Some(found) = targets() else { break };
        let new: Vec<String> = found.into_iter().filter(|p| !stopped.contains(p)).collect();
        if new.is_empty() || !signal("STOP", &new) {
            break;
        }
        stopped.extend(new);
        std::thread::sleep(Duration::from_millis(5));
    }
    let all: Vec<String> = stopped.into_iter().collect();
    signal("KILL", &all);
    let mut ended = all.len();
    // Anything that slipped through (a fork that finished just then).
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(20));
        let Some(left) = targets() else { break };
        if left.is_empty() || !signal("KILL", &left) {
            break;
        }
        ended += left.len();
    }
    ended
}

/// Copies the shell's output into the channel; waits when the channel is full, so a shell
/// that prints without end waits for the browser instead of filling berth's memory.
async fn pump_output(
    mut reader: impl AsyncRead + Unpin,
    events: mpsc::Sender<ShellEvent>,
    upstream: Upstream,
    exec: String,
) {
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
    let code = upstream
        .ok(Method::GET, &format!("/exec/{exec}/json"), None)
        .await
        .ok()
        .and_then(|inspect| inspect["ExitCode"].as_i64());
    let _ = events.send(ShellEvent::Exit(code)).await;
}

/// The environment variable that marks the processes of one terminal tab.
const SHELL_MARK: &str = "BERTH_SHELL";

/// Ends the processes of a tab's shell. The engine keeps a tty exec running when its input
/// closes, so without this a closed tab would leave its shell (and whatever it started) behind.
struct HangUp {
    upstream: Upstream,
    workstation: String,
    mark: String,
}

impl HangUp {
    async fn run(self) {
        // SIGHUP, as when a terminal window closes; the learner's own processes only.
        let script = r#"for p in /proc/[0-9]*; do
  if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qxF "$1"; then kill -HUP "${p#/proc/}" 2>/dev/null; fi
done"#;
        let body = learner_exec(&["sh", "-c", script, "sh", &self.mark]);
        let started = async {
            let exec = self
                .upstream
                .ok(
                    Method::POST,
                    &format!("/containers/{}/exec", self.workstation),
                    Some(&body),
                )
                .await?;
            let id = exec["Id"].as_str().unwrap_or_default();
            self.upstream
                .ok(
                    Method::POST,
                    &format!("/exec/{id}/start"),
                    Some(&json!({"Detach": true})),
                )
                .await
        }
        .await;
        if let Err(error) = started {
            // The workstation is usually gone already when a whole sandbox ends.
            tracing::debug!(error = %error.message, "could not hang up on a closed tab's shell");
        }
    }
}

/// Writes keystrokes to the shell and passes resizes to the exec. When the tab goes away the
/// channel closes, stdin closes, and the shell sees end of input.
async fn pump_input(
    mut writer: impl AsyncWrite + Unpin,
    mut input: mpsc::Receiver<ShellInput>,
    upstream: Upstream,
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
                let path = path_with_query(
                    &format!("/exec/{exec}/resize"),
                    &[("h", &size.rows.to_string()), ("w", &size.cols.to_string())],
                );
                if let Err(error) = upstream.ok(Method::POST, &path, None).await {
                    tracing::debug!(error = %error.message, "resize failed");
                }
            }
        }
    }
    let _ = writer.shutdown().await;
    hang_up.run().await;
}
