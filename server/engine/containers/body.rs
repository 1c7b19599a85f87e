//! A container create body rebuilt from an allowlist: what a learner may ask for is copied
//! under the engine's own spelling of each key, what is dangerous is refused with the flag's
//! name, and berth's own settings (labels, limits, hardening) are forced on top.
//!
//! Every reference in the body (the image, linked containers, `--volumes-from`, the network,
//! named volumes) comes out in the [`CreatePlan`] as the learner wrote it, for
//! [`super::create`] to resolve in the learner's view. This function is pure: no engine
//! lookups, so it can be fuzzed (see `fuzz/`).

use serde_json::{Map, Value, json};

use super::super::names::{CONTAINER_LABELS, LABEL_BINDS, valid_name};
use super::super::refusal::Refusal;
use super::super::settings::Policy;
use super::super::wire::json::{self, get, is_unset};
use super::home::{self, HOME, HomeBind};

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

/// A published port as the learner asked for it (`-p 8080:80`); host 0 means "pick one".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMap {
    /// `127.0.0.1` of `-p 127.0.0.1:8080:80` (the workstation's loopback only); empty for
    /// every address.
    pub ip: String,
    pub host: u16,
    pub container: u16,
    pub proto: String,
}

/// Which network the container joins, as the learner named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkChoice {
    /// `--network none`.
    None,
    /// The learner's network of this name (`bridge` and the default are their own bridge).
    Named(String),
    /// `--network container:NAME`: another container of the learner.
    Container(String),
}

/// `-v name:/path` or `--mount type=volume`: a volume the learner names, or an anonymous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    /// The learner's name for it; `None` for an anonymous volume.
    pub name: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// `nocopy`: the volume is not filled from the image.
    pub no_copy: bool,
}

/// A container create body ready for the engine, but for the references it holds.
#[derive(Debug, Clone)]
pub struct CreatePlan {
    pub body: Map<String, Value>,
    /// The learner's name for the container.
    pub name: String,
    /// The image as the learner wrote it.
    pub image: String,
    pub publish: Vec<PortMap>,
    pub publish_all: bool,
    pub network: NetworkChoice,
    /// Aliases on the network, the container's own name first.
    pub aliases: Vec<String>,
    /// `--link target:alias`, the target as written.
    pub links: Vec<(String, String)>,
    /// `--volumes-from target[:ro|rw]`, the target as written.
    pub volumes_from: Vec<(String, Option<String>)>,
    pub volumes: Vec<VolumeMount>,
    /// Folders of the learner's home it mounts (links written into it before it starts).
    pub home: Vec<HomeBind>,
    /// Targets of tmpfs mounts (nothing else may mount there).
    pub tmpfs_targets: Vec<String>,
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
    "ConsoleSize",
    "GroupAdd",
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

fn invalid_name(name: &str) -> Refusal {
    Refusal::bad_request(format!(
        "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    ))
}

/// Rebuilds a `POST /containers/create` body. `name` is the `?name=` the learner gave.
pub fn create(raw: &[u8], name: Option<&str>, policy: &Policy) -> Result<CreatePlan, Refusal> {
    let mut input = json::parse_object(raw)?;
    let name = match name {
        Some(name) => {
            let name = name.strip_prefix('/').unwrap_or(name);
            if !valid_name(name) {
                return Err(invalid_name(name));
            }
            name.to_owned()
        }
        None => super::super::names::random_name(),
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
    if let Some(healthcheck) = body.get_mut("Healthcheck") {
        clamp_healthcheck(healthcheck, policy)?;
    }
    body.insert("Labels".into(), Value::Object(labels(&input)?));

    let empty = Map::new();
    let host = match get(&input, "HostConfig") {
        Some(Value::Object(host)) => host,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(Refusal::bad_request("HostConfig must be an object")),
    };
    let mut volumes = Vec::new();
    let mut home = Vec::new();
    let out = host_config(host, policy, &mut volumes, &mut home)?;
    // `-v /path` arrives as Config.Volumes: an anonymous volume.
    if let Some(Value::Object(anonymous)) = get(&input, "Volumes") {
        for target in anonymous.keys() {
            volumes.push(VolumeMount {
                name: None,
                target: clean_target(target)?,
                read_only: false,
                no_copy: false,
            });
        }
    }
    let tmpfs_targets = tmpfs_targets(&out);
    if !home.is_empty() {
        let mut others: Vec<String> = volumes.iter().map(|v| v.target.clone()).collect();
        others.extend(tmpfs_targets.iter().cloned());
        home::check_targets(&mut home, &others)?;
        body["Labels"][LABEL_BINDS] = home::label(&home).into();
    }
    let network = network_choice(host)?;
    let (publish, publish_all) = if matches!(network, NetworkChoice::Named(_)) {
        (
            port_bindings(host)?,
            get(host, "PublishAllPorts").is_some_and(|v| !is_unset(v)),
        )
    } else {
        (Vec::new(), false)
    };
    if publish.len() > policy.max_ports {
        return Err(too_many_ports(policy));
    }
    let mut links = parse_links(get(host, "Links"))?;
    let mut aliases = vec![name.clone()];
    if let NetworkChoice::Named(network) = &network {
        let endpoints = get(&input, "NetworkingConfig")
            .and_then(Value::as_object)
            .and_then(|n| get(n, "EndpointsConfig"))
            .and_then(Value::as_object);
        for (key, endpoint) in endpoints.into_iter().flatten() {
            if !same_network(key, network) {
                continue;
            }
            let endpoint = endpoint.as_object();
            let given = endpoint.and_then(|e| get(e, "Aliases"));
            for alias in strings(given, "Aliases")? {
                if !valid_name(alias) {
                    return Err(Refusal::bad_request(format!("invalid alias {alias:?}")));
                }
                if !aliases.iter().any(|a| a == alias) {
                    aliases.push(alias.to_owned());
                }
            }
            links.extend(parse_links(endpoint.and_then(|e| get(e, "Links")))?);
        }
    }
    let volumes_from = parse_volumes_from(host)?;
    body.insert("HostConfig".into(), Value::Object(out));
    Ok(CreatePlan {
        body,
        name,
        image,
        publish,
        publish_all,
        network,
        aliases,
        links,
        volumes_from,
        volumes,
        home,
        tmpfs_targets,
    })
}

pub fn too_many_ports(policy: &Policy) -> Refusal {
    Refusal::forbidden(format!(
        "a container may publish at most {} ports in this sandbox",
        policy.max_ports
    ))
}

/// Whether an endpoint's key names the network the learner chose.
fn same_network(key: &str, network: &str) -> bool {
    let default = |n: &str| matches!(n, "" | "bridge" | "default");
    key == network || (default(key) && default(network))
}

/// The learner's labels, never `berth.*`: berth sets its own on top (see
/// [`CONTAINER_LABELS`]), so an image's labels cannot stand in for them either.
fn labels(input: &Map<String, Value>) -> Result<Map<String, Value>, Refusal> {
    let labels = match get(input, "Labels") {
        Some(Value::Object(labels)) => labels.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(Refusal::bad_request("Labels must be an object")),
    };
    check_labels(&labels)?;
    let mut labels = labels;
    for key in CONTAINER_LABELS {
        labels.insert((*key).to_owned(), "".into());
    }
    Ok(labels)
}

/// Labels a learner writes: string values, and none of berth's.
pub fn check_labels(labels: &Map<String, Value>) -> Result<(), Refusal> {
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
    Ok(())
}

/// Health checks at most as often as the policy's floor; timeouts no longer than the interval.
pub fn clamp_healthcheck(healthcheck: &mut Value, policy: &Policy) -> Result<(), Refusal> {
    let Value::Object(check) = healthcheck else {
        return Err(Refusal::bad_request("Healthcheck must be an object"));
    };
    let floor = policy.healthcheck_floor.as_nanos() as i64;
    for key in ["Interval", "StartPeriod", "Timeout"] {
        if let Some(found) = check.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned() {
            let value = as_i64(check.get(&found))?;
            check.remove(&found);
            if value != 0 {
                check.insert(key.to_owned(), value.into());
            }
        }
    }
    if let Some(interval) = check.get("Interval").and_then(Value::as_i64)
        && interval < floor
    {
        check.insert("Interval".into(), floor.into());
    }
    Ok(())
}

fn host_config(
    host: &Map<String, Value>,
    policy: &Policy,
    volumes: &mut Vec<VolumeMount>,
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
    weights(host, &mut out)?;
    limits(host, policy, &mut out)?;
    if let Some(tmpfs) = get(host, "Tmpfs").filter(|t| !t.is_null()) {
        out.insert("Tmpfs".into(), tmpfs_options(tmpfs, policy)?);
    }
    binds(host, volumes, home)?;
    out.insert("Mounts".into(), mounts(host, policy, volumes, home)?.into());
    out.insert("RestartPolicy".into(), restart_policy(host, policy)?);
    out.insert("Privileged".into(), false.into());
    out.insert("CapDrop".into(), json!(["ALL"]));
    out.insert("CapAdd".into(), json!(LEARNER_CAPS));
    out.insert("SecurityOpt".into(), json!(["no-new-privileges"]));
    out.insert("PublishAllPorts".into(), false.into());
    out.insert("CgroupnsMode".into(), "private".into());
    out.insert(
        "LogConfig".into(),
        json!({"Type": "json-file", "Config": {"max-size": "16m", "max-file": "1"}}),
    );
    Ok(out)
}

/// The OOM score of a learner's containers, at least: when a learner's budget runs out of
/// memory, their containers' processes go before their workstation's shell (at 0).
pub const LEARNER_OOM_SCORE: i64 = 500;

/// CPU shares only weigh a learner's containers against each other (each learner has a
/// budget of their own), and are kept to the engine's usual range; the OOM score may only be
/// raised: berth's workstation must outlive a learner's containers.
fn weights(host: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), Refusal> {
    let shares = as_i64(get(host, "CpuShares"))?;
    if shares != 0 {
        out.insert("CpuShares".into(), shares.clamp(2, 1024).into());
    }
    let oom = as_i64(get(host, "OomScoreAdj"))?;
    if oom < 0 {
        return Err(Refusal::forbidden(
            "--oom-score-adj below 0 is not available in this sandbox",
        ));
    }
    out.insert(
        "OomScoreAdj".into(),
        oom.clamp(LEARNER_OOM_SCORE, 1000).into(),
    );
    Ok(())
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

/// `--tmpfs /path:opts`: only harmless mount options, never set-id or devices, never larger
/// than the container's memory (whose budget the pages are charged to).
fn tmpfs_options(tmpfs: &Value, policy: &Policy) -> Result<Value, Refusal> {
    let Value::Object(entries) = tmpfs else {
        return Err(Refusal::bad_request("Tmpfs must be an object"));
    };
    let mut out = Map::new();
    for (target, options) in entries {
        let target = clean_target(target)?;
        let options = options.as_str().unwrap_or_default();
        let mut kept = vec!["nosuid".to_owned(), "nodev".to_owned()];
        let mut size = policy.memory_bytes;
        for option in options.split(',').filter(|o| !o.is_empty()) {
            let (key, value) = option.split_once('=').unwrap_or((option, ""));
            match key {
                "rw" | "ro" | "exec" | "noexec" | "nosuid" | "nodev" => {
                    if !kept.iter().any(|k| k == key) {
                        kept.push(key.to_owned());
                    }
                }
                "mode" | "uid" | "gid"
                    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    kept.push(option.to_owned());
                }
                "size" => size = size.min(parse_size(value)?),
                _ => {
                    return Err(Refusal::not_available(&format!("the tmpfs option {key}")));
                }
            }
        }
        kept.push(format!("size={size}"));
        out.insert(target, kept.join(",").into());
    }
    Ok(Value::Object(out))
}

/// `64m`, `1g`, `4096`: bytes.
fn parse_size(text: &str) -> Result<i64, Refusal> {
    let invalid = || Refusal::bad_request(format!("invalid size {text:?}"));
    let lower = text.to_ascii_lowercase();
    let (digits, unit) = lower
        .find(|c: char| !c.is_ascii_digit())
        .map_or((lower.as_str(), ""), |at| lower.split_at(at));
    let number: i64 = digits.parse().map_err(|_| invalid())?;
    let factor: i64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(invalid()),
    };
    number.checked_mul(factor).ok_or_else(invalid)
}

fn tmpfs_targets(out: &Map<String, Value>) -> Vec<String> {
    let mut targets: Vec<String> = out
        .get("Tmpfs")
        .and_then(Value::as_object)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(Value::Array(mounts)) = out.get("Mounts") {
        targets.extend(
            mounts
                .iter()
                .filter_map(|m| m["Target"].as_str().map(str::to_owned)),
        );
    }
    targets
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

/// A mount target: absolute, without `..`.
fn clean_target(target: &str) -> Result<String, Refusal> {
    if !target.starts_with('/') {
        return Err(Refusal::bad_request(format!(
            "invalid mount path {target:?}: it must be absolute"
        )));
    }
    if target.split('/').any(|part| part == "..") {
        return Err(Refusal::bad_request(format!(
            "invalid mount path {target:?}: write it without .."
        )));
    }
    let parts: Vec<&str> = target
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    Ok(format!("/{}", parts.join("/")))
}

/// A bind of `source` when it is a folder of the learner's home; else the host-path refusal.
fn home_bind(source: &str, target: &str, read_only: bool) -> Result<HomeBind, Refusal> {
    let folder = home::folder_of(source).ok_or_else(|| host_path_refusal(source))?;
    Ok(HomeBind {
        source: source.trim_end_matches('/').to_owned(),
        folder,
        target: target.to_owned(),
        read_only,
    })
}

/// `-v name:/path[:ro]` and `-v ~/folder:/path`.
fn binds(
    host: &Map<String, Value>,
    volumes: &mut Vec<VolumeMount>,
    home: &mut Vec<HomeBind>,
) -> Result<(), Refusal> {
    for bind in strings(get(host, "Binds"), "Binds")? {
        let mut parts = bind.splitn(3, ':');
        let source = parts.next().unwrap_or_default();
        let Some(target) = parts.next() else {
            return Err(Refusal::bad_request(format!(
                "invalid volume spec {bind:?}"
            )));
        };
        let mode = parts.next().unwrap_or_default();
        let mut read_only = false;
        let mut no_copy = false;
        for option in mode.split(',').filter(|o| !o.is_empty()) {
            match option {
                "ro" => read_only = true,
                "rw" => {}
                "nocopy" => no_copy = true,
                "z" | "Z" => {}
                other => return Err(Refusal::not_available(&format!("the mount option {other}"))),
            }
        }
        let target = clean_target(target)?;
        if source.starts_with('/') {
            home.push(home_bind(source, &target, read_only)?);
            continue;
        }
        if !valid_name(source) {
            return Err(host_path_refusal(source));
        }
        volumes.push(VolumeMount {
            name: Some(source.to_owned()),
            target,
            read_only,
            no_copy,
        });
    }
    Ok(())
}

/// `--mount`: volumes (named or anonymous), tmpfs, and folders of the home.
fn mounts(
    host: &Map<String, Value>,
    policy: &Policy,
    volumes: &mut Vec<VolumeMount>,
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
        let target = clean_target(text("Target"))?;
        let read_only = get(mount, "ReadOnly").is_some_and(|v| !is_unset(v));
        match text("Type") {
            "volume" => {
                let mut no_copy = false;
                if let Some(Value::Object(options)) = get(mount, "VolumeOptions") {
                    if get(options, "DriverConfig").is_some_and(|v| !is_unset(v)) {
                        return Err(Refusal::not_available("a volume driver"));
                    }
                    if get(options, "Subpath").is_some_and(|v| !is_unset(v)) {
                        return Err(Refusal::not_available("a volume subpath"));
                    }
                    no_copy = get(options, "NoCopy").is_some_and(|v| !is_unset(v));
                }
                let source = text("Source");
                if !source.is_empty() && !valid_name(source) {
                    return Err(host_path_refusal(source));
                }
                volumes.push(VolumeMount {
                    name: (!source.is_empty()).then(|| source.to_owned()),
                    target,
                    read_only,
                    no_copy,
                });
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
                if mode.is_u64() {
                    options["Mode"] = mode;
                }
                out.push(json!({"Type": "tmpfs", "Target": target, "ReadOnly": read_only, "TmpfsOptions": options}));
            }
            "bind" => home.push(home_bind(text("Source"), &target, read_only)?),
            other => return Err(Refusal::not_available(&format!("--mount type={other}"))),
        }
    }
    Ok(out)
}

/// `--link target[:alias]`: the alias defaults to the target's name.
fn parse_links(value: Option<&Value>) -> Result<Vec<(String, String)>, Refusal> {
    strings(value, "Links")?
        .into_iter()
        .map(|link| {
            let (target, alias) = link.split_once(':').unwrap_or((link, link));
            let target = target.trim_start_matches('/');
            let alias = alias.trim_start_matches('/');
            if !valid_name(target) || !valid_name(alias) {
                return Err(Refusal::bad_request(format!("invalid link {link:?}")));
            }
            Ok((target.to_owned(), alias.to_owned()))
        })
        .collect()
}

fn parse_volumes_from(host: &Map<String, Value>) -> Result<Vec<(String, Option<String>)>, Refusal> {
    strings(get(host, "VolumesFrom"), "VolumesFrom")?
        .into_iter()
        .map(|from| {
            let (target, mode) = match from.split_once(':') {
                Some((target, mode @ ("ro" | "rw"))) => (target, Some(mode.to_owned())),
                Some(_) => return Err(Refusal::bad_request(format!("invalid {from:?}"))),
                None => (from, None),
            };
            if !valid_name(target) {
                return Err(Refusal::bad_request(format!("invalid {from:?}")));
            }
            Ok((target.to_owned(), mode))
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

/// The learner's choice of network.
fn network_choice(host: &Map<String, Value>) -> Result<NetworkChoice, Refusal> {
    let mode = get(host, "NetworkMode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match mode {
        "none" => Ok(NetworkChoice::None),
        "host" => Err(Refusal::not_available("--network host")),
        "" | "default" | "bridge" => Ok(NetworkChoice::Named("bridge".to_owned())),
        _ => {
            if let Some(target) = mode.strip_prefix("container:") {
                if !valid_name(target) {
                    return Err(Refusal::bad_request(format!("invalid {mode:?}")));
                }
                return Ok(NetworkChoice::Container(target.to_owned()));
            }
            if !valid_name(mode) {
                return Err(Refusal::bad_request(format!("invalid network {mode:?}")));
            }
            Ok(NetworkChoice::Named(mode.to_owned()))
        }
    }
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
            let ip = binding
                .as_object()
                .and_then(|b| get(b, "HostIp"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let ip = match ip {
                "" | "0.0.0.0" => "",
                "127.0.0.1" | "localhost" => "127.0.0.1",
                other => {
                    return Err(Refusal::forbidden(format!(
                        "a port can be published on 127.0.0.1 or on every address in this sandbox, not on {other}"
                    )));
                }
            };
            let map = PortMap {
                ip: ip.to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(body: &str, name: Option<&str>) -> Result<CreatePlan, Refusal> {
        create(body.as_bytes(), name, &Policy::default())
    }

    #[test]
    fn a_plain_run_is_hardened_and_its_references_come_out_as_written() {
        let plan = plan(
            r#"{"Image":"nginx","Volumes":{"/cache":{}},"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"Binds":["data:/srv:ro"],"Links":["db:mysql"],"VolumesFrom":["old:ro"]}}"#,
            Some("web"),
        )
        .unwrap();
        assert_eq!(plan.name, "web");
        assert_eq!(plan.image, "nginx");
        assert_eq!(
            plan.publish,
            [PortMap {
                ip: String::new(),
                host: 8080,
                container: 80,
                proto: "tcp".into()
            }]
        );
        assert_eq!(plan.network, NetworkChoice::Named("bridge".into()));
        assert_eq!(plan.links, [("db".to_owned(), "mysql".to_owned())]);
        assert_eq!(
            plan.volumes_from,
            [("old".to_owned(), Some("ro".to_owned()))]
        );
        assert_eq!(plan.volumes.len(), 2);
        assert_eq!(plan.volumes[0].name.as_deref(), Some("data"));
        assert!(plan.volumes[0].read_only);
        assert_eq!(plan.volumes[1].name, None);
        assert_eq!(plan.volumes[1].target, "/cache");
        let host = &plan.body["HostConfig"];
        assert_eq!(host["CapDrop"], json!(["ALL"]));
        assert_eq!(host["Privileged"], false);
        assert_eq!(host["Memory"], host["MemorySwap"]);
        assert_eq!(host["PidsLimit"], 256);
        for absent in [
            "PortBindings",
            "Links",
            "VolumesFrom",
            "NetworkMode",
            "Binds",
        ] {
            assert!(host.get(absent).is_none(), "{absent}");
        }
        assert!(plan.body.get("Volumes").is_none());
        assert_eq!(plan.aliases, ["web"]);
        // berth's labels are always set (empty here), so an image's cannot stand in.
        assert_eq!(plan.body["Labels"]["berth.owner"], "");
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
            r#"{"Image":"x","HostConfig":{"OomScoreAdj":-500}}"#,
            r#"{"Image":"x","HostConfig":{"Tmpfs":{"/t":"dev,suid"}}}"#,
            r#"{"Image":"x","HostConfig":{"Binds":["v:/a/../etc"]}}"#,
            r#"{"Image":"x","Labels":{"berth.owner":"someone"}}"#,
            r#"{"Image":"x","Labels":{"Berth.Owner":"someone"}}"#,
        ] {
            assert!(plan(body, Some("a")).is_err(), "{body}");
        }
    }

    #[test]
    fn weights_and_check_intervals_are_kept_in_bounds() {
        let plan = plan(
            r#"{"Image":"x","Healthcheck":{"Test":["CMD","true"],"Interval":1000000},"HostConfig":{"CpuShares":262144,"OomScoreAdj":5,"Tmpfs":{"/t":"size=10g,mode=1777"}}}"#,
            None,
        )
        .unwrap();
        let host = &plan.body["HostConfig"];
        assert_eq!(host["CpuShares"], 1024);
        assert_eq!(host["OomScoreAdj"], LEARNER_OOM_SCORE);
        assert_eq!(
            host["Tmpfs"]["/t"],
            format!("nosuid,nodev,mode=1777,size={}", 512 << 20)
        );
        assert_eq!(plan.body["Healthcheck"]["Interval"], 5_000_000_000i64);
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
    fn too_many_ports_are_refused() {
        let ports: Vec<String> = (1..=17)
            .map(|p| format!(r#""{p}/tcp":[{{"HostPort":"{}"}}]"#, 9000 + p))
            .collect();
        let body = format!(
            r#"{{"Image":"x","HostConfig":{{"PortBindings":{{{}}}}}}}"#,
            ports.join(",")
        );
        assert!(plan(&body, None).is_err());
    }
}
