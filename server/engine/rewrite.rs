//! Request bodies rebuilt from an allowlist: what a learner may ask for is copied under the
//! engine's own spelling of each key, what is dangerous is refused with the flag's name, and
//! berth's own settings (names, labels, network, limits, hardening) are forced on top.
//!
//! These functions are pure: no engine lookups, so they can be fuzzed (see `fuzz/`).

use serde_json::{Map, Value, json};

use super::home::{HOME, HomeBind};
use super::json::{self, get, is_unset};
use super::names::{Names, valid_name};

/// Capabilities a learner's container keeps. Common images (nginx, mysql, redis) start as root,
/// change owners and drop to their own user; nothing here reaches beyond the container.
pub const LEARNER_CAPS: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "NET_BIND_SERVICE",
];

/// The caps of one learner's containers (from DESIGN.md's limits).
#[derive(Debug, Clone)]
pub struct Policy {
    pub memory_bytes: i64,
    pub nano_cpus: i64,
    pub pids: i64,
    pub max_restarts: i64,
    pub allow_egress: bool,
}

/// DESIGN.md's default limits of a learner's container: 512 MiB, 1 CPU, 256 processes.
impl Default for Policy {
    fn default() -> Policy {
        Policy {
            memory_bytes: 512 << 20,
            nano_cpus: 1_000_000_000,
            pids: 256,
            max_restarts: 3,
            allow_egress: false,
        }
    }
}

/// A refused request, with the message the docker CLI prints after "Error response from daemon:".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 403,
            message: format!("berth: {}", message.into()),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            message: message.into(),
        }
    }

    pub fn not_available(what: &str) -> Refusal {
        Refusal::forbidden(format!("{what} is not available in this sandbox"))
    }
}

impl From<json::JsonError> for Refusal {
    fn from(error: json::JsonError) -> Refusal {
        Refusal::bad_request(error.to_string())
    }
}

/// A published port as the learner asked for it (`-p 8080:80`); host 0 means "pick one".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    pub host: u16,
    pub container: u16,
    pub proto: String,
}

/// A container create body ready for the engine, but for the image, which needs a lookup.
#[derive(Debug, Clone)]
pub struct CreatePlan {
    pub body: Map<String, Value>,
    /// The learner's name for the container.
    pub name: String,
    /// The image as the learner wrote it.
    pub image: String,
    pub publish: Vec<PortMap>,
    pub publish_all: bool,
    /// Engine names of the named volumes it mounts (made with berth's labels first).
    pub volumes: Vec<String>,
    /// Folders of the learner's home it mounts (links written into it before it starts).
    pub home: Vec<HomeBind>,
}

const CONFIG_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "ExposedPorts",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "ArgsEscaped",
    "Volumes",
    "WorkingDir",
    "Entrypoint",
    "NetworkDisabled",
    "StopSignal",
    "StopTimeout",
    "Shell",
];

/// HostConfig fields copied as they are.
const HOST_FIELDS: &[&str] = &[
    "AutoRemove",
    "Init",
    "ReadonlyRootfs",
    "ExtraHosts",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "CpuShares",
    "ConsoleSize",
    "GroupAdd",
    "OomScoreAdj",
    "Tmpfs",
];

/// HostConfig fields refused when set, with the flag a learner would have typed.
const DANGEROUS_HOST_FIELDS: &[(&str, &str)] = &[
    ("Privileged", "--privileged"),
    ("CapAdd", "--cap-add"),
    ("Devices", "--device"),
    ("DeviceRequests", "--gpus"),
    ("DeviceCgroupRules", "--device-cgroup-rule"),
    ("Sysctls", "--sysctl"),
    ("CgroupParent", "--cgroup-parent"),
    ("Cgroup", "--cgroup"),
    ("Runtime", "--runtime"),
    ("PidMode", "--pid"),
    ("UTSMode", "--uts"),
    ("UsernsMode", "--userns"),
    ("Isolation", "--isolation"),
    ("OomKillDisable", "--oom-kill-disable"),
    ("KernelMemory", "--kernel-memory"),
    ("KernelMemoryTCP", "--kernel-memory-tcp"),
    ("CpusetCpus", "--cpuset-cpus"),
    ("CpusetMems", "--cpuset-mems"),
    ("CpuRealtimePeriod", "--cpu-rt-period"),
    ("CpuRealtimeRuntime", "--cpu-rt-runtime"),
    ("CpuPeriod", "--cpu-period (use --cpus)"),
    ("CpuQuota", "--cpu-quota (use --cpus)"),
    ("CpuCount", "--cpu-count"),
    ("CpuPercent", "--cpu-percent"),
    ("StorageOpt", "--storage-opt"),
    ("VolumeDriver", "--volume-driver"),
    ("Ulimits", "--ulimit"),
    ("BlkioWeightDevice", "--blkio-weight-device"),
    ("BlkioDeviceReadBps", "--device-read-bps"),
    ("BlkioDeviceWriteBps", "--device-write-bps"),
    ("BlkioDeviceReadIOps", "--device-read-iops"),
    ("BlkioDeviceWriteIOps", "--device-write-iops"),
    ("IOMaximumBandwidth", "--io-maxbandwidth"),
    ("IOMaximumIOps", "--io-maxiops"),
    ("Annotations", "--annotation"),
];

/// Refused whenever present, even empty: `[]` would unmask /proc and /sys paths.
const MASKING_FIELDS: &[(&str, &str)] = &[
    ("MaskedPaths", "changing masked paths"),
    ("ReadonlyPaths", "changing read-only paths"),
];

/// Rebuilds a `POST /containers/create` body. `name` is the `?name=` the learner gave.
pub fn create(
    raw: &[u8],
    name: Option<&str>,
    names: &Names,
    policy: &Policy,
) -> Result<CreatePlan, Refusal> {
    let mut input = json::parse_object(raw)?;
    let name = match name {
        Some(name) => {
            let name = name.strip_prefix('/').unwrap_or(name);
            if !valid_name(name) {
                return Err(Refusal::bad_request(format!(
                    "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            name.to_owned()
        }
        None => super::names::random_name(),
    };
    let image = match json::take(&mut input, "Image") {
        Some(Value::String(image)) if !image.is_empty() => image,
        _ => return Err(Refusal::bad_request("No image was specified.")),
    };
    let mut body = Map::new();
    for field in CONFIG_FIELDS {
        if let Some(value) = get(&input, field)
            && !value.is_null()
        {
            body.insert((*field).to_owned(), value.clone());
        }
    }
    body.insert("Labels".into(), Value::Object(labels(&input, names)?));

    let empty = Map::new();
    let host = match get(&input, "HostConfig") {
        Some(Value::Object(host)) => host,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(Refusal::bad_request("HostConfig must be an object")),
    };
    let mut volumes = Vec::new();
    let mut home = Vec::new();
    let mut out = host_config(host, names, policy, &mut volumes, &mut home)?;
    if !home.is_empty() {
        let mut others: Vec<String> = Vec::new();
        if let Some(Value::Array(binds)) = out.get("Binds") {
            others.extend(
                binds
                    .iter()
                    .filter_map(|b| b.as_str()?.split(':').nth(1).map(str::to_owned)),
            );
        }
        if let Some(Value::Array(mounts)) = out.get("Mounts") {
            others.extend(
                mounts
                    .iter()
                    .filter_map(|m| m["Target"].as_str().map(str::to_owned)),
            );
        }
        if let Some(Value::Object(tmpfs)) = out.get("Tmpfs") {
            others.extend(tmpfs.keys().cloned());
        }
        super::home::check_targets(&mut home, &others)?;
        if let Some(Value::Array(mounts)) = out.get_mut("Mounts") {
            mounts.push(super::home::mount(names.learner(), &home));
        }
        body["Labels"][super::home::LABEL_BINDS] = super::home::label(&home).into();
    }
    let network_mode = network_mode(host, names)?;
    let (publish, publish_all) = if network_mode.starts_with("berth-") {
        (
            port_bindings(host)?,
            get(host, "PublishAllPorts").is_some_and(|v| !is_unset(v)),
        )
    } else {
        (Vec::new(), false)
    };
    out.insert("NetworkMode".into(), network_mode.clone().into());
    out.insert("PublishAllPorts".into(), false.into());
    body.insert("HostConfig".into(), Value::Object(out));
    if network_mode.starts_with("berth-") {
        let aliases = aliases(&input, &network_mode, names, &name)?;
        // On a user-defined network (every learner network is one) links are the endpoint's.
        let links = out_links(&mut body);
        let mut endpoint_links = endpoint_links(&input, &network_mode, names)?;
        endpoint_links.extend(links);
        body.insert(
            "NetworkingConfig".into(),
            json!({"EndpointsConfig": {network_mode: {"Aliases": aliases, "Links": endpoint_links}}}),
        );
    }
    Ok(CreatePlan {
        body,
        name,
        image,
        publish,
        publish_all,
        volumes,
        home,
    })
}

/// The learner's labels (never `berth.*`) plus berth's own.
fn labels(input: &Map<String, Value>, names: &Names) -> Result<Map<String, Value>, Refusal> {
    let mut labels = match get(input, "Labels") {
        Some(Value::Object(labels)) => labels.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(Refusal::bad_request("Labels must be an object")),
    };
    if labels
        .keys()
        .any(|k| k.to_ascii_lowercase().starts_with("berth."))
    {
        return Err(Refusal::forbidden(
            "labels starting with berth. are reserved",
        ));
    }
    if labels.values().any(|v| !v.is_string()) {
        return Err(Refusal::bad_request("label values must be strings"));
    }
    labels.extend(names.labels());
    Ok(labels)
}

fn host_config(
    host: &Map<String, Value>,
    names: &Names,
    policy: &Policy,
    volumes: &mut Vec<String>,
    home: &mut Vec<HomeBind>,
) -> Result<Map<String, Value>, Refusal> {
    for (field, flag) in DANGEROUS_HOST_FIELDS {
        if get(host, field).is_some_and(|v| !is_unset(v)) {
            return Err(Refusal::not_available(flag));
        }
    }
    for (field, what) in MASKING_FIELDS {
        if get(host, field).is_some_and(|v| !v.is_null()) {
            return Err(Refusal::not_available(what));
        }
    }
    if let Some(options) = get(host, "SecurityOpt").and_then(Value::as_array) {
        let harmless = |o: &Value| {
            matches!(
                o.as_str(),
                Some("no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true")
            )
        };
        if !options.iter().all(harmless) {
            return Err(Refusal::not_available("--security-opt"));
        }
    }
    for (field, flag, allowed) in [
        (
            "IpcMode",
            "--ipc",
            &["", "private", "none", "shareable"][..],
        ),
        ("CgroupnsMode", "--cgroupns", &["", "private"][..]),
    ] {
        if let Some(mode) = get(host, field).and_then(Value::as_str)
            && !allowed.contains(&mode)
        {
            return Err(Refusal::not_available(&format!("{flag} {mode}")));
        }
    }
    let mut out = Map::new();
    for field in HOST_FIELDS {
        if let Some(value) = get(host, field)
            && !value.is_null()
        {
            out.insert((*field).to_owned(), value.clone());
        }
    }
    limits(host, policy, &mut out)?;
    out.insert("Binds".into(), binds(host, names, volumes, home)?.into());
    out.insert(
        "Mounts".into(),
        mounts(host, names, policy, volumes, home)?.into(),
    );
    out.insert("Links".into(), links(host, names)?.into());
    out.insert("VolumesFrom".into(), volumes_from(host, names)?.into());
    out.insert("RestartPolicy".into(), restart_policy(host, policy)?);
    out.insert("Privileged".into(), false.into());
    out.insert("CapDrop".into(), json!(["ALL"]));
    out.insert("CapAdd".into(), json!(LEARNER_CAPS));
    out.insert("SecurityOpt".into(), json!(["no-new-privileges"]));
    out.insert(
        "LogConfig".into(),
        json!({"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}}),
    );
    Ok(out)
}

fn as_i64(value: Option<&Value>) -> Result<i64, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| Refusal::bad_request("limits must be whole numbers")),
        Some(_) => Err(Refusal::bad_request("limits must be numbers")),
    }
}

fn mib(bytes: i64) -> String {
    format!("{}m", bytes / (1024 * 1024))
}

/// Memory, swap, CPUs and processes: unset means the cap, more than the cap is refused.
fn limits(
    host: &Map<String, Value>,
    policy: &Policy,
    out: &mut Map<String, Value>,
) -> Result<(), Refusal> {
    let memory = as_i64(get(host, "Memory"))?;
    if memory > policy.memory_bytes {
        return Err(Refusal::forbidden(format!(
            "--memory can be at most {} in this sandbox",
            mib(policy.memory_bytes)
        )));
    }
    if memory < 0 {
        return Err(Refusal::forbidden("unlimited memory is not available"));
    }
    let memory = if memory == 0 {
        policy.memory_bytes
    } else {
        memory
    };
    out.insert("Memory".into(), memory.into());
    // No swap beyond memory: a runaway container is stopped, not the host slowed down.
    out.insert("MemorySwap".into(), memory.into());
    let reservation = as_i64(get(host, "MemoryReservation"))?;
    if reservation > 0 {
        out.insert("MemoryReservation".into(), reservation.min(memory).into());
    }
    let shm = as_i64(get(host, "ShmSize"))?;
    if shm > 0 {
        out.insert("ShmSize".into(), shm.min(memory).into());
    }
    let cpus = as_i64(get(host, "NanoCpus"))?;
    if cpus > policy.nano_cpus {
        return Err(Refusal::forbidden(format!(
            "--cpus can be at most {} in this sandbox",
            policy.nano_cpus as f64 / 1e9
        )));
    }
    out.insert(
        "NanoCpus".into(),
        (if cpus <= 0 { policy.nano_cpus } else { cpus }).into(),
    );
    let pids = as_i64(get(host, "PidsLimit"))?;
    if pids < 0 {
        return Err(Refusal::forbidden("unlimited processes are not available"));
    }
    if pids > policy.pids {
        return Err(Refusal::forbidden(format!(
            "--pids-limit can be at most {} in this sandbox",
            policy.pids
        )));
    }
    out.insert(
        "PidsLimit".into(),
        (if pids == 0 { policy.pids } else { pids }).into(),
    );
    Ok(())
}

fn strings<'a>(value: Option<&'a Value>, what: &str) -> Result<Vec<&'a str>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .ok_or_else(|| Refusal::bad_request(format!("{what} must be strings")))
            })
            .collect(),
        Some(_) => Err(Refusal::bad_request(format!("{what} must be a list"))),
    }
}

fn host_path_refusal(source: &str) -> Refusal {
    Refusal::forbidden(format!(
        "mounting {source} from the host is not available in this sandbox; use a folder of your home (-v {HOME}/NAME:/path) or a named volume (-v NAME:/path)"
    ))
}

/// A bind of `source` when it is a folder of the learner's home; else the host-path refusal.
fn home_bind(source: &str, target: &str, read_only: bool) -> Result<HomeBind, Refusal> {
    let folder = super::home::folder_of(source).ok_or_else(|| host_path_refusal(source))?;
    Ok(HomeBind {
        source: source.trim_end_matches('/').to_owned(),
        folder,
        target: target.to_owned(),
        read_only,
    })
}

/// `-v name:/path[:ro]`: named volumes, renamed into the learner's scope, and folders of the
/// learner's home.
fn binds(
    host: &Map<String, Value>,
    names: &Names,
    volumes: &mut Vec<String>,
    home: &mut Vec<HomeBind>,
) -> Result<Vec<String>, Refusal> {
    let mut out = Vec::new();
    for bind in strings(get(host, "Binds"), "Binds")? {
        let mut parts = bind.splitn(3, ':');
        let source = parts.next().unwrap_or_default();
        let Some(target) = parts.next() else {
            return Err(Refusal::bad_request(format!(
                "invalid volume spec {bind:?}"
            )));
        };
        let mode = parts.next().unwrap_or_default();
        if !target.starts_with('/') {
            return Err(Refusal::bad_request(format!(
                "invalid mount path {target:?}: it must be absolute"
            )));
        }
        let mut kept = Vec::new();
        for option in mode.split(',').filter(|o| !o.is_empty()) {
            match option {
                "ro" | "rw" | "nocopy" => kept.push(option),
                "z" | "Z" => {}
                other => return Err(Refusal::not_available(&format!("the mount option {other}"))),
            }
        }
        if source.starts_with('/') {
            home.push(home_bind(source, target, kept.contains(&"ro"))?);
            continue;
        }
        if !valid_name(source) {
            return Err(host_path_refusal(source));
        }
        let engine = names.object(source);
        volumes.push(engine.clone());
        out.push(if kept.is_empty() {
            format!("{engine}:{target}")
        } else {
            format!("{engine}:{target}:{}", kept.join(","))
        });
    }
    Ok(out)
}

/// `--mount`: volumes (named or anonymous) and tmpfs.
fn mounts(
    host: &Map<String, Value>,
    names: &Names,
    policy: &Policy,
    volumes: &mut Vec<String>,
    home: &mut Vec<HomeBind>,
) -> Result<Vec<Value>, Refusal> {
    let mut out = Vec::new();
    let items = match get(host, "Mounts") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Refusal::bad_request("Mounts must be a list")),
    };
    for item in items {
        let Value::Object(mount) = item else {
            return Err(Refusal::bad_request("each mount must be an object"));
        };
        let text = |key| get(mount, key).and_then(Value::as_str).unwrap_or_default();
        let target = text("Target");
        if !target.starts_with('/') {
            return Err(Refusal::bad_request("a mount needs an absolute target"));
        }
        let read_only = get(mount, "ReadOnly").is_some_and(|v| !is_unset(v));
        match text("Type") {
            "volume" => {
                if let Some(Value::Object(options)) = get(mount, "VolumeOptions") {
                    if get(options, "DriverConfig").is_some_and(|v| !is_unset(v)) {
                        return Err(Refusal::not_available("a volume driver"));
                    }
                    if get(options, "Subpath").is_some_and(|v| !is_unset(v)) {
                        return Err(Refusal::not_available("a volume subpath"));
                    }
                }
                let source = text("Source");
                let mut mount = json!({"Type": "volume", "Target": target, "ReadOnly": read_only});
                if !source.is_empty() {
                    if !valid_name(source) {
                        return Err(host_path_refusal(source));
                    }
                    let engine = names.object(source);
                    volumes.push(engine.clone());
                    mount["Source"] = engine.into();
                }
                out.push(mount);
            }
            "tmpfs" => {
                let mut size = 0;
                let mut mode = Value::Null;
                if let Some(Value::Object(options)) = get(mount, "TmpfsOptions") {
                    size = as_i64(get(options, "SizeBytes"))?;
                    mode = get(options, "Mode").cloned().unwrap_or(Value::Null);
                }
                let size = if size <= 0 {
                    policy.memory_bytes
                } else {
                    size.min(policy.memory_bytes)
                };
                let mut options = json!({"SizeBytes": size});
                if !mode.is_null() {
                    options["Mode"] = mode;
                }
                out.push(json!({"Type": "tmpfs", "Target": target, "ReadOnly": read_only, "TmpfsOptions": options}));
            }
            "bind" => home.push(home_bind(text("Source"), target, read_only)?),
            other => return Err(Refusal::not_available(&format!("--mount type={other}"))),
        }
    }
    Ok(out)
}

/// `--link db:alias` → the learner's `db`, under the alias (the name when none is given).
fn links(host: &Map<String, Value>, names: &Names) -> Result<Vec<String>, Refusal> {
    strings(get(host, "Links"), "Links")?
        .into_iter()
        .map(|link| {
            let (target, alias) = link.split_once(':').unwrap_or((link, link));
            let target = target.trim_start_matches('/');
            let alias = alias.trim_start_matches('/');
            if !valid_name(target) || !valid_name(alias) {
                return Err(Refusal::bad_request(format!("invalid link {link:?}")));
            }
            Ok(format!("{}:{alias}", names.object(target)))
        })
        .collect()
}

fn volumes_from(host: &Map<String, Value>, names: &Names) -> Result<Vec<String>, Refusal> {
    strings(get(host, "VolumesFrom"), "VolumesFrom")?
        .into_iter()
        .map(|from| {
            let (target, mode) = match from.split_once(':') {
                Some((target, mode @ ("ro" | "rw"))) => (target, Some(mode)),
                Some(_) => return Err(Refusal::bad_request(format!("invalid {from:?}"))),
                None => (from, None),
            };
            if !valid_name(target) {
                return Err(Refusal::bad_request(format!("invalid {from:?}")));
            }
            let engine = names.object(target);
            Ok(mode.map_or(engine.clone(), |mode| format!("{engine}:{mode}")))
        })
        .collect()
}

fn restart_policy(host: &Map<String, Value>, policy: &Policy) -> Result<Value, Refusal> {
    let (name, count) = match get(host, "RestartPolicy") {
        Some(Value::Object(restart)) => (
            get(restart, "Name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            as_i64(get(restart, "MaximumRetryCount"))?,
        ),
        _ => (String::new(), 0),
    };
    match name.as_str() {
        "" | "no" => Ok(json!({"Name": "no", "MaximumRetryCount": 0})),
        "on-failure" => {
            let count = if count <= 0 {
                policy.max_restarts
            } else {
                count.min(policy.max_restarts)
            };
            Ok(json!({"Name": "on-failure", "MaximumRetryCount": count}))
        }
        other => Err(Refusal::forbidden(format!(
            "--restart {other} is not available in this sandbox; use no or on-failure"
        ))),
    }
}

/// The engine network mode for the learner's choice.
fn network_mode(host: &Map<String, Value>, names: &Names) -> Result<String, Refusal> {
    let mode = get(host, "NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match mode {
        "none" => Ok("none".to_owned()),
        "host" => Err(Refusal::not_available("--network host")),
        _ => {
            if let Some(target) = mode.strip_prefix("container:") {
                if !valid_name(target) {
                    return Err(Refusal::bad_request(format!("invalid {mode:?}")));
                }
                return Ok(format!("container:{}", names.object(target)));
            }
            if !(mode.is_empty() || mode == "default" || valid_name(mode)) {
                return Err(Refusal::bad_request(format!("invalid network {mode:?}")));
            }
            Ok(names.network(mode))
        }
    }
}

/// Takes the rewritten `HostConfig.Links` out of the body.
fn out_links(body: &mut Map<String, Value>) -> Vec<Value> {
    match body.get_mut("HostConfig").and_then(|h| h.as_object_mut()) {
        Some(host) => match host.remove("Links") {
            Some(Value::Array(links)) => links,
            _ => Vec::new(),
        },
        None => Vec::new(),
    }
}

/// Links given per network (`--network mynet --link db`), renamed into the learner's scope.
fn endpoint_links(
    input: &Map<String, Value>,
    network: &str,
    names: &Names,
) -> Result<Vec<Value>, Refusal> {
    let mut out = Vec::new();
    let endpoints = get(input, "NetworkingConfig")
        .and_then(Value::as_object)
        .and_then(|n| get(n, "EndpointsConfig"))
        .and_then(Value::as_object);
    for (key, endpoint) in endpoints.into_iter().flatten() {
        if names.network(key) != network {
            continue;
        }
        let given = endpoint.as_object().and_then(|e| get(e, "Links")).cloned();
        let mut wrapper = Map::new();
        wrapper.insert("Links".into(), given.unwrap_or(Value::Null));
        out.extend(links(&wrapper, names)?.into_iter().map(Value::from));
    }
    Ok(out)
}

/// The learner's name is an alias on their network, so `db` resolves as on a laptop.
fn aliases(
    input: &Map<String, Value>,
    network: &str,
    names: &Names,
    name: &str,
) -> Result<Vec<String>, Refusal> {
    let mut aliases = vec![name.to_owned()];
    let endpoints = get(input, "NetworkingConfig")
        .and_then(Value::as_object)
        .and_then(|n| get(n, "EndpointsConfig"))
        .and_then(Value::as_object);
    if let Some(endpoints) = endpoints {
        for (key, endpoint) in endpoints {
            if names.network(key) != network {
                continue;
            }
            let own = endpoint
                .as_object()
                .and_then(|e| get(e, "Aliases"))
                .cloned();
            for alias in strings(own.as_ref(), "Aliases")? {
                if !valid_name(alias) {
                    return Err(Refusal::bad_request(format!("invalid alias {alias:?}")));
                }
                if !aliases.iter().any(|a| a == alias) {
                    aliases.push(alias.to_owned());
                }
            }
        }
    }
    Ok(aliases)
}

/// `-p 8080:80`: kept by berth, never published by the engine.
fn port_bindings(host: &Map<String, Value>) -> Result<Vec<PortMap>, Refusal> {
    let Some(Value::Object(bindings)) = get(host, "PortBindings") else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (port, hosts) in bindings {
        let (container, proto) = parse_port(port)?;
        let hosts = match hosts {
            Value::Array(hosts) => hosts.as_slice(),
            Value::Null => &[],
            _ => return Err(Refusal::bad_request("PortBindings values must be lists")),
        };
        for binding in hosts {
            let host_port = binding
                .as_object()
                .and_then(|b| get(b, "HostPort"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let host = if host_port.is_empty() {
                0
            } else {
                host_port
                    .parse::<u16>()
                    .map_err(|_| Refusal::bad_request(format!("invalid host port {host_port:?}")))?
            };
            let map = PortMap {
                host,
                container,
                proto: proto.clone(),
            };
            if !out.contains(&map) {
                out.push(map);
            }
        }
    }
    Ok(out)
}

/// `80/tcp` → (80, "tcp").
pub fn parse_port(port: &str) -> Result<(u16, String), Refusal> {
    let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    let number: u16 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Refusal::bad_request(format!("invalid port {port:?}")))?;
    match proto {
        "tcp" | "udp" | "sctp" => Ok((number, proto.to_owned())),
        _ => Err(Refusal::bad_request(format!(
            "invalid protocol in {port:?}"
        ))),
    }
}

/// Rebuilds a `POST /containers/{id}/exec` body: never privileged, never as root.
pub fn exec(raw: &[u8]) -> Result<Map<String, Value>, Refusal> {
    let input = json::parse_object(raw)?;
    if get(&input, "Privileged").is_some_and(|v| !is_unset(v)) {
        return Err(Refusal::not_available("docker exec --privileged"));
    }
    let user = get(&input, "User")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let account = user.split(':').next().unwrap_or_default();
    if account == "root" || account.parse::<u32>() == Ok(0) {
        return Err(Refusal::not_available("docker exec --user root"));
    }
    let mut out = Map::new();
    for field in [
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "DetachKeys",
        "Tty",
        "Env",
        "Cmd",
        "WorkingDir",
        "ConsoleSize",
        "User",
    ] {
        if let Some(value) = get(&input, field)
            && !value.is_null()
        {
            out.insert(field.to_owned(), value.clone());
        }
    }
    out.insert("Privileged".into(), false.into());
    Ok(out)
}

/// Rebuilds a `POST /volumes/create` body: the local driver, no options (a local volume with
/// options can bind any host path).
pub fn volume_create(raw: &[u8], names: &Names) -> Result<(String, Map<String, Value>), Refusal> {
    let input = json::parse_object(raw)?;
    let driver = get(&input, "Driver")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(driver, "" | "local") {
        return Err(Refusal::not_available(&format!(
            "the volume driver {driver}"
        )));
    }
    if get(&input, "DriverOpts").is_some_and(|v| !is_unset(v)) {
        return Err(Refusal::not_available("volume driver options (--opt)"));
    }
    let name = match get(&input, "Name").and_then(Value::as_str) {
        Some(name) if !name.is_empty() => {
            if !valid_name(name) {
                return Err(Refusal::bad_request(format!(
                    "volume name {name:?} includes invalid characters"
                )));
            }
            name.to_owned()
        }
        _ => crate::session::random_hex(16),
    };
    let mut body = Map::new();
    body.insert("Name".into(), names.object(&name).into());
    body.insert("Driver".into(), "local".into());
    body.insert("Labels".into(), Value::Object(labels(&input, names)?));
    Ok((name, body))
}

/// Rebuilds a `POST /networks/create` body: a bridge, internal unless egress is allowed, with
/// addresses chosen by the engine.
pub fn network_create(
    raw: &[u8],
    names: &Names,
    policy: &Policy,
) -> Result<(String, Map<String, Value>), Refusal> {
    let input = json::parse_object(raw)?;
    let name = get(&input, "Name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !valid_name(name) || matches!(name, "bridge" | "host" | "none" | "default") {
        return Err(Refusal::bad_request(format!(
            "network name {name:?} is invalid or reserved"
        )));
    }
    let driver = get(&input, "Driver")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(driver, "" | "bridge") {
        return Err(Refusal::not_available(&format!(
            "the network driver {driver}"
        )));
    }
    for (field, flag) in [
        ("Options", "network driver options (--opt)"),
        ("Ingress", "--ingress"),
        ("ConfigFrom", "--config-from"),
        ("Scope", "--scope"),
    ] {
        if get(&input, field).is_some_and(|v| !is_unset(v)) {
            return Err(Refusal::not_available(flag));
        }
    }
    if let Some(Value::Object(ipam)) = get(&input, "IPAM") {
        let custom = get(ipam, "Config").is_some_and(|v| !is_unset(v))
            || get(ipam, "Options").is_some_and(|v| !is_unset(v))
            || get(ipam, "Driver")
                .and_then(Value::as_str)
                .is_some_and(|d| !matches!(d, "" | "default"));
        if custom {
            return Err(Refusal::not_available(
                "choosing subnets (--subnet, --ip-range)",
            ));
        }
    }
    let mut body = Map::new();
    body.insert("Name".into(), names.object(name).into());
    body.insert("Driver".into(), "bridge".into());
    body.insert("CheckDuplicate".into(), true.into());
    body.insert("Internal".into(), (!policy.allow_egress).into());
    body.insert(
        "Attachable".into(),
        get(&input, "Attachable").cloned().unwrap_or(false.into()),
    );
    body.insert("Labels".into(), Value::Object(labels(&input, names)?));
    Ok((name.to_owned(), body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names::new("0123456789ab", "inst")
    }

    fn policy() -> Policy {
        Policy::default()
    }

    fn plan(body: &str, name: Option<&str>) -> Result<CreatePlan, Refusal> {
        create(body.as_bytes(), name, &names(), &policy())
    }

    #[test]
    fn a_plain_run_is_scoped_and_hardened() {
        let plan = plan(
            r#"{"Image":"nginx","HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"Binds":["data:/srv:ro"],"Links":["db:mysql"]}}"#,
            Some("web"),
        )
        .unwrap();
        assert_eq!(plan.name, "web");
        assert_eq!(plan.image, "nginx");
        assert_eq!(
            plan.publish,
            [PortMap {
                host: 8080,
                container: 80,
                proto: "tcp".into()
            }]
        );
        let host = &plan.body["HostConfig"];
        assert_eq!(host["NetworkMode"], "berth-0123456789ab");
        assert_eq!(host["Binds"], json!(["berth-0123456789ab-data:/srv:ro"]));
        assert_eq!(
            plan.body["NetworkingConfig"]["EndpointsConfig"]["berth-0123456789ab"]["Links"],
            json!(["berth-0123456789ab-db:mysql"])
        );
        assert_eq!(host["CapDrop"], json!(["ALL"]));
        assert_eq!(host["Privileged"], false);
        assert_eq!(host["Memory"], host["MemorySwap"]);
        assert_eq!(host["PidsLimit"], 256);
        assert!(host.get("PortBindings").is_none());
        assert_eq!(plan.body["Labels"]["berth.owner"], "0123456789ab");
        assert_eq!(
            plan.body["NetworkingConfig"]["EndpointsConfig"]["berth-0123456789ab"]["Aliases"],
            json!(["web"])
        );
        assert_eq!(plan.volumes, ["berth-0123456789ab-data"]);
    }

    #[test]
    fn dangerous_settings_are_refused_in_any_case() {
        for body in [
            r#"{"Image":"x","HostConfig":{"Privileged":true}}"#,
            r#"{"Image":"x","hostconfig":{"privileged":true}}"#,
            r#"{"Image":"x","HostConfig":{"PRIVILEGED":1}}"#,
            r#"{"Image":"x","HostConfig":{"CapAdd":["SYS_ADMIN"]}}"#,
            r#"{"Image":"x","HostConfig":{"Binds":["/:/host"]}}"#,
            r#"{"Image":"x","HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}"#,
            r#"{"Image":"x","HostConfig":{"PidMode":"host"}}"#,
            r#"{"Image":"x","HostConfig":{"IpcMode":"host"}}"#,
            r#"{"Image":"x","HostConfig":{"NetworkMode":"host"}}"#,
            r#"{"Image":"x","HostConfig":{"MaskedPaths":[]}}"#,
            r#"{"Image":"x","HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#,
            r#"{"Image":"x","HostConfig":{"Memory":-1}}"#,
            r#"{"Image":"x","HostConfig":{"PidsLimit":-1}}"#,
            r#"{"Image":"x","HostConfig":{"RestartPolicy":{"Name":"always"}}}"#,
            r#"{"Image":"x","Labels":{"berth.owner":"someone"}}"#,
            r#"{"Image":"x","Labels":{"Berth.Owner":"someone"}}"#,
        ] {
            assert!(plan(body, Some("a")).is_err(), "{body}");
        }
    }

    #[test]
    fn unset_dangerous_fields_are_fine() {
        let plan = plan(
            r#"{"Image":"x","HostConfig":{"Privileged":false,"CapAdd":null,"Devices":[],"PidMode":"","Sysctls":{}}}"#,
            None,
        )
        .unwrap();
        assert!(valid_name(&plan.name));
    }

    #[test]
    fn exec_as_root_or_privileged_is_refused() {
        assert!(exec(br#"{"Cmd":["sh"],"Privileged":true}"#).is_err());
        assert!(exec(br#"{"Cmd":["sh"],"User":"root"}"#).is_err());
        assert!(exec(br#"{"Cmd":["sh"],"user":"0:0"}"#).is_err());
        let body = exec(br#"{"Cmd":["sh"],"User":"www-data","Tty":true}"#).unwrap();
        assert_eq!(body["Privileged"], false);
    }

    #[test]
    fn volumes_and_networks_stay_plain() {
        assert!(
            volume_create(
                br#"{"Name":"v","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#,
                &names()
            )
            .is_err()
        );
        let (name, body) = volume_create(br#"{"Name":"v"}"#, &names()).unwrap();
        assert_eq!(name, "v");
        assert_eq!(body["Name"], "berth-0123456789ab-v");
        assert!(
            network_create(br#"{"Name":"n","Driver":"macvlan"}"#, &names(), &policy()).is_err()
        );
        let (_, body) = network_create(br#"{"Name":"n"}"#, &names(), &policy()).unwrap();
        assert_eq!(body["Internal"], true);
    }
}
