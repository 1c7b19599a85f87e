//! Configuration, read in one place: command-line flags, then `BERTH_*` environment variables,
//! then an optional `berth.toml`, then defaults. Everything else receives a typed [`Config`].

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::HeaderName;
use clap::{Args, ValueEnum};
use ipnet::IpNet;
use serde::Deserialize;

use crate::error::ConfigError;

/// Which sandbox backend runs the learners' shells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxKind {
    /// Docker when an engine answers and the workstation image is present, else local.
    Auto,
    /// A hardened container per learner.
    Docker,
    /// A login shell on this machine (loopback only).
    Local,
}

/// Flags of `berth serve`. Every one is also an environment variable and a `berth.toml` key.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML, keys as the flags without dashes, e.g. `idle-timeout = "15m"`).
    /// Default: ./berth.toml when it exists.
    #[arg(long, env = "BERTH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address and port to listen on. [default: 127.0.0.1:8080]
    #[arg(long, env = "BERTH_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,

    /// Sandbox backend: docker (a container per learner), local (a shell on this machine,
    /// loopback only) or auto (docker when the engine and image are there). [default: auto]
    #[arg(long, env = "BERTH_SANDBOX", value_name = "KIND")]
    pub sandbox: Option<SandboxKind>,

    /// Workstation image for the docker backend. [default: berth/workstation:latest]
    #[arg(long, env = "BERTH_IMAGE", value_name = "NAME")]
    pub image: Option<String>,

    /// Serve lessons from this folder (re-read when files change) instead of the built-in ones.
    #[arg(long, env = "BERTH_LESSONS", value_name = "DIR")]
    pub lessons: Option<PathBuf>,

    /// Folder for berth's own data (instance id, progress). [default: ./data]
    #[arg(long, env = "BERTH_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// A sandbox with no terminal attached and no input for this long is removed. [default: 15m]
    #[arg(long, env = "BERTH_IDLE_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// A sandbox is removed this long after it started, whatever happens. [default: 4h]
    #[arg(long, env = "BERTH_MAX_LIFETIME", value_name = "DURATION", value_parser = parse_duration)]
    pub max_lifetime: Option<Duration>,

    /// Sandboxes at once; the next learner is told to try again. [default: 50]
    #[arg(long, env = "BERTH_MAX_SANDBOXES", value_name = "N")]
    pub max_sandboxes: Option<usize>,

    /// Workstations kept started for learners who have not arrived yet, so their prompt needs
    /// no wait; one more is kept for every learner who arrived in the last three minutes (a
    /// class drains the pool and it grows back behind them). Before an event, set it to the
    /// class size. 0 turns the pool off. [default: 2]
    #[arg(long, env = "BERTH_WARM", value_name = "N")]
    pub warm: Option<usize>,

    /// Let learners' containers reach the internet (their network is internal otherwise).
    #[arg(long, env = "BERTH_ALLOW_EGRESS", num_args = 0..=1, default_missing_value = "true",
          value_name = "BOOL")]
    pub allow_egress: Option<bool>,

    /// Extra origins allowed to open the terminal socket, comma separated
    /// (e.g. https://learn.example.org when behind a proxy that rewrites Host).
    #[arg(
        long,
        env = "BERTH_ALLOWED_ORIGINS",
        value_name = "URLS",
        value_delimiter = ','
    )]
    pub allowed_origins: Option<Vec<String>>,

    /// Memory of one learner in MiB: their workstation, containers and builds share it (swap
    /// is the same: none extra). [default: 1024]
    #[arg(long, env = "BERTH_MEMORY_MB", value_name = "MIB")]
    pub memory_mb: Option<u64>,

    /// Processes of one learner: their workstation, containers and builds share them.
    /// [default: 512]
    #[arg(long, env = "BERTH_PIDS_LIMIT", value_name = "N")]
    pub pids_limit: Option<i64>,

    /// CPUs of one learner (fractions allowed): their workstation, containers and builds
    /// share them. [default: 1]
    #[arg(long, env = "BERTH_CPUS", value_name = "CPUS")]
    pub cpus: Option<f64>,

    /// Size of the learner's tmpfs home in MiB (/tmp gets a quarter of it); both count
    /// against their memory. [default: 256]
    #[arg(long, env = "BERTH_DISK_MB", value_name = "MIB")]
    pub disk_mb: Option<u64>,

    /// Containers one learner may have at once (each gets the workstation's memory, CPU and
    /// process limits). [default: 5]
    #[arg(long, env = "BERTH_MAX_CONTAINERS", value_name = "N")]
    pub max_containers: Option<usize>,

    /// Disk one learner may fill with containers' files, volumes and built images together,
    /// in MiB; past it berth stops what writes and refuses new writes. [default: 2048]
    #[arg(long, env = "BERTH_DISK_QUOTA_MB", value_name = "MIB")]
    pub disk_quota_mb: Option<u64>,

    /// Close the host's own ports to learners' networks with firewall rules (iptables, as
    /// root). Turn off only when the host is protected another way. [default: true]
    #[arg(long, env = "BERTH_HOST_FIREWALL", num_args = 0..=1, default_missing_value = "true",
          value_name = "BOOL")]
    pub host_firewall: Option<bool>,

    /// Address range for learners' networks; each takes a /28 of it. [default: 10.240.0.0/12]
    #[arg(long, env = "BERTH_SUBNET_POOL", value_name = "CIDR")]
    pub subnet_pool: Option<String>,

    /// Images learners may pull, comma separated: `library/*` (every official image),
    /// `bitnami/*`, `ghcr.io/org/app`. The images lessons name are always allowed.
    /// [default: library/*]
    #[arg(
        long,
        env = "BERTH_PULL_ALLOW",
        value_name = "PATTERNS",
        value_delimiter = ','
    )]
    pub pull_allow: Option<Vec<String>>,

    /// Header in which a reverse proxy in front of berth puts the client's address
    /// (X-Forwarded-For, X-Real-IP or Forwarded), read only from --trusted-proxies.
    /// [default: none: the connection's peer is the client]
    #[arg(long, env = "BERTH_CLIENT_IP_HEADER", value_name = "NAME")]
    pub client_ip_header: Option<String>,

    /// Proxies trusted to set --client-ip-header, comma separated addresses or networks
    /// (10.0.0.0/8). Their own connections are not capped per address. [default: 127.0.0.1,::1]
    #[arg(
        long,
        env = "BERTH_TRUSTED_PROXIES",
        value_name = "ADDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,

    /// Learners whose sandboxes one client address may start per hour (a class behind one
    /// address counts as one). [default: 60]
    #[arg(long, env = "BERTH_SANDBOXES_PER_ADDRESS", value_name = "N")]
    pub sandboxes_per_address: Option<usize>,

    /// Connections one client address may hold open at once. [default: 512]
    #[arg(long, env = "BERTH_CONNECTIONS_PER_ADDRESS", value_name = "N")]
    pub connections_per_address: Option<usize>,

    /// A client must send a request's headers within this time, and a kept-alive connection
    /// with no new request is closed after it. [default: 10s]
    #[arg(long, env = "BERTH_HEADER_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub header_timeout: Option<Duration>,
}

/// The same keys as [`ServeArgs`], as they appear in `berth.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    listen: Option<SocketAddr>,
    sandbox: Option<SandboxKind>,
    image: Option<String>,
    lessons: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    idle_timeout: Option<String>,
    max_lifetime: Option<String>,
    max_sandboxes: Option<usize>,
    warm: Option<usize>,
    allow_egress: Option<bool>,
    allowed_origins: Option<Vec<String>>,
    memory_mb: Option<u64>,
    pids_limit: Option<i64>,
    cpus: Option<f64>,
    disk_mb: Option<u64>,
    max_containers: Option<usize>,
    pull_allow: Option<Vec<String>>,
    disk_quota_mb: Option<u64>,
    host_firewall: Option<bool>,
    subnet_pool: Option<String>,
    client_ip_header: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    sandboxes_per_address: Option<usize>,
    connections_per_address: Option<usize>,
    header_timeout: Option<String>,
}

/// Resource limits of one workstation.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub memory_bytes: i64,
    pub pids: i64,
    pub nano_cpus: i64,
    pub disk_mb: u64,
}

/// The resolved configuration of a running berth.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub sandbox: SandboxKind,
    pub image: String,
    pub lessons: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
    pub max_sandboxes: usize,
    /// Workstations kept started ahead of learners (the pool's floor).
    pub warm: usize,
    pub allow_egress: bool,
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// Containers one learner may have at once.
    pub max_containers: usize,
    /// Pull allowlist patterns (empty: official images), besides the lessons' images.
    pub pull_allow: Vec<String>,
    /// Disk one learner may fill (containers' files, volumes, built images), in bytes.
    pub disk_quota_bytes: u64,
    /// Whether berth closes the host's ports to learners' networks.
    pub host_firewall: bool,
    /// Where learners' network subnets come from.
    pub subnet_pool: String,
    /// The header a trusted proxy names the client in; none: the peer is the client.
    pub client_ip_header: Option<HeaderName>,
    /// Who may set that header.
    pub trusted_proxies: Vec<IpNet>,
    /// Learners whose sandboxes one client address may start per hour.
    pub sandboxes_per_address: usize,
    /// Connections one client address may hold open.
    pub connections_per_address: usize,
    /// Time to send a request's headers, and to start the next one on a kept-alive connection.
    pub header_timeout: Duration,
}

pub const DEFAULT_IMAGE: &str = "berth/workstation:latest";

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            sandbox: SandboxKind::Auto,
            image: DEFAULT_IMAGE.to_owned(),
            lessons: None,
            data_dir: PathBuf::from("data"),
            idle_timeout: Duration::from_secs(15 * 60),
            max_lifetime: Duration::from_secs(4 * 3600),
            max_sandboxes: 50,
            warm: 2,
            allow_egress: false,
            allowed_origins: Vec::new(),
            limits: Limits {
                memory_bytes: 1024 * 1024 * 1024,
                pids: 512,
                nano_cpus: 1_000_000_000,
                disk_mb: 256,
            },
            max_containers: 5,
            pull_allow: Vec::new(),
            disk_quota_bytes: 2048 << 20,
            host_firewall: true,
            subnet_pool: "10.240.0.0/12".to_owned(),
            client_ip_header: None,
            trusted_proxies: vec![
                IpNet::from(IpAddr::from([127, 0, 0, 1])),
                IpNet::from(IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
            ],
            // A class of 40 behind one NAT, with room for second browsers and devices.
            sandboxes_per_address: 60,
            // That class loading pages at once: up to 6 connections per browser while a page
            // loads, plus one per terminal tab (about 320), with room to spare.
            connections_per_address: 512,
            header_timeout: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Resolves flags and environment (already merged by clap) over the file over defaults.
    pub fn resolve(args: ServeArgs) -> Result<Config, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new("berth.toml").exists() => read_file(Path::new("berth.toml"))?,
            None => FileConfig::default(),
        };
        let defaults = Config::default();
        let file_duration = |key: &'static str, value: Option<String>| {
            value
                .map(|text| {
                    parse_duration(&text).map_err(|reason| ConfigError::Value { key, reason })
                })
                .transpose()
        };
        let idle_timeout = file_duration("idle-timeout", file.idle_timeout)?;
        let max_lifetime = file_duration("max-lifetime", file.max_lifetime)?;
        let header_timeout = file_duration("header-timeout", file.header_timeout)?;
        let client_ip_header = args
            .client_ip_header
            .or(file.client_ip_header)
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .map(|name| {
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).map_err(|_| {
                    ConfigError::Value {
                        key: "client-ip-header",
                        reason: format!("`{name}` is not a header name"),
                    }
                })
            })
            .transpose()?;
        let trusted_proxies = match args.trusted_proxies.or(file.trusted_proxies) {
            None => defaults.trusted_proxies.clone(),
            Some(list) => list
                .iter()
                .filter(|entry| !entry.trim().is_empty())
                .map(|entry| {
                    crate::http::client::parse_network(entry).map_err(|reason| ConfigError::Value {
                        key: "trusted-proxies",
                        reason,
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let memory_mb = args.memory_mb.or(file.memory_mb);
        let cpus = args.cpus.or(file.cpus);
        let config = Config {
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            sandbox: args.sandbox.or(file.sandbox).unwrap_or(defaults.sandbox),
            image: args.image.or(file.image).unwrap_or(defaults.image),
            lessons: args.lessons.or(file.lessons),
            data_dir: args.data_dir.or(file.data_dir).unwrap_or(defaults.data_dir),
            idle_timeout: args
                .idle_timeout
                .or(idle_timeout)
                .unwrap_or(defaults.idle_timeout),
            max_lifetime: args
                .max_lifetime
                .or(max_lifetime)
                .unwrap_or(defaults.max_lifetime),
            max_sandboxes: args
                .max_sandboxes
                .or(file.max_sandboxes)
                .unwrap_or(defaults.max_sandboxes),
            warm: args.warm.or(file.warm).unwrap_or(defaults.warm),
            allow_egress: args.allow_egress.or(file.allow_egress).unwrap_or(false),
            allowed_origins: args
                .allowed_origins
                .or(file.allowed_origins)
                .unwrap_or_default()
                .into_iter()
                .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                .filter(|origin| !origin.is_empty())
                .collect(),
            limits: Limits {
                memory_bytes: memory_mb
                    .map(|mb| (mb * 1024 * 1024) as i64)
                    .unwrap_or(defaults.limits.memory_bytes),
                pids: args
                    .pids_limit
                    .or(file.pids_limit)
                    .unwrap_or(defaults.limits.pids),
                nano_cpus: cpus
                    .map(|cpus| (cpus * 1e9) as i64)
                    .unwrap_or(defaults.limits.nano_cpus),
                disk_mb: args
                    .disk_mb
                    .or(file.disk_mb)
                    .unwrap_or(defaults.limits.disk_mb),
            },
            max_containers: args
                .max_containers
                .or(file.max_containers)
                .unwrap_or(defaults.max_containers),
            pull_allow: args
                .pull_allow
                .or(file.pull_allow)
                .unwrap_or_default()
                .into_iter()
                .map(|pattern| pattern.trim().to_owned())
                .filter(|pattern| !pattern.is_empty())
                .collect(),
            disk_quota_bytes: args
                .disk_quota_mb
                .or(file.disk_quota_mb)
                .map_or(defaults.disk_quota_bytes, |mb| mb << 20),
            host_firewall: args
                .host_firewall
                .or(file.host_firewall)
                .unwrap_or(defaults.host_firewall),
            subnet_pool: args
                .subnet_pool
                .or(file.subnet_pool)
                .unwrap_or(defaults.subnet_pool),
            client_ip_header,
            trusted_proxies,
            sandboxes_per_address: args
                .sandboxes_per_address
                .or(file.sandboxes_per_address)
                .unwrap_or(defaults.sandboxes_per_address),
            connections_per_address: args
                .connections_per_address
                .or(file.connections_per_address)
                .unwrap_or(defaults.connections_per_address),
            header_timeout: args
                .header_timeout
                .or(header_timeout)
                .unwrap_or(defaults.header_timeout),
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, reason: &str| {
            Err(ConfigError::Value {
                key,
                reason: reason.to_owned(),
            })
        };
        if self.max_sandboxes == 0 {
            return invalid("max-sandboxes", "must be at least 1");
        }
        if self.warm > self.max_sandboxes {
            return invalid("warm", "cannot be more than max-sandboxes");
        }
        if self.limits.memory_bytes < 64 * 1024 * 1024 {
            return invalid("memory-mb", "must be at least 64");
        }
        if self.limits.pids < 16 {
            return invalid("pids-limit", "must be at least 16");
        }
        if self.limits.nano_cpus < 10_000_000 {
            return invalid("cpus", "must be at least 0.01");
        }
        if self.limits.disk_mb < 8 {
            return invalid("disk-mb", "must be at least 8");
        }
        // The home and /tmp are memory: filling them must end in "no space", never in the
        // shell killed for memory.
        if (self.limits.disk_mb + self.limits.disk_mb / 4) << 20
            > self.limits.memory_bytes as u64 / 2
        {
            return invalid(
                "disk-mb",
                "the home and /tmp (a quarter of it more) must fit in half of memory-mb",
            );
        }
        if self.disk_quota_bytes < 64 << 20 {
            return invalid("disk-quota-mb", "must be at least 64");
        }
        if let Err(reason) = crate::engine::networks::addresses::AddressPool::new(&self.subnet_pool)
        {
            return invalid("subnet-pool", &reason);
        }
        if self.idle_timeout.is_zero() || self.max_lifetime.is_zero() {
            return invalid("idle-timeout", "durations must be longer than zero");
        }
        if self.sandboxes_per_address == 0 {
            return invalid("sandboxes-per-address", "must be at least 1");
        }
        if self.connections_per_address < 8 {
            return invalid(
                "connections-per-address",
                "must be at least 8 (a browser opens six while a page loads)",
            );
        }
        if self.header_timeout < Duration::from_millis(100) {
            return invalid("header-timeout", "must be at least 100ms");
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|error| ConfigError::Parse {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// Parses `90s`, `15m`, `4h` (and anything humantime reads, like `1h 30m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|error| format!("`{text}` is not a duration like 90s, 15m or 4h ({error})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written_in_the_design() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("4h").unwrap(), Duration::from_secs(4 * 3600));
        assert!(parse_duration("soon").unwrap_err().contains("90s"));
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("berth-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("berth.toml");
        std::fs::write(
            &path,
            "max-sandboxes = 7\nidle-timeout = \"2m\"\nlisten = \"127.0.0.1:9000\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..ServeArgs::default()
        };
        let config = Config::resolve(args).unwrap();
        assert_eq!(config.listen.port(), 9100);
        assert_eq!(config.max_sandboxes, 7);
        assert_eq!(config.idle_timeout, Duration::from_secs(120));
        assert_eq!(config.max_lifetime, Duration::from_secs(4 * 3600));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn proxy_settings_are_read_and_bad_ones_are_named() {
        let config = Config::resolve(ServeArgs {
            client_ip_header: Some("X-Forwarded-For".to_owned()),
            trusted_proxies: Some(vec!["10.0.0.0/8".to_owned(), " ::1".to_owned()]),
            ..ServeArgs::default()
        })
        .unwrap();
        assert_eq!(config.client_ip_header.unwrap(), "x-forwarded-for");
        assert_eq!(config.trusted_proxies.len(), 2);
        assert_eq!(Config::default().client_ip_header, None);
        let error = Config::resolve(ServeArgs {
            trusted_proxies: Some(vec!["proxy.local".to_owned()]),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("trusted-proxies"), "{error}");
        let error = Config::resolve(ServeArgs {
            client_ip_header: Some("X Forwarded".to_owned()),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("client-ip-header"), "{error}");
    }

    #[test]
    fn unknown_file_keys_are_reported_with_the_file() {
        let dir = std::env::temp_dir().join(format!("berth-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("berth.toml");
        std::fs::write(&path, "max-sandbox = 7\n").unwrap();
        let error = Config::resolve(ServeArgs {
            config: Some(path.clone()),
            ..ServeArgs::default()
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("berth.toml"), "{error}");
        assert!(error.contains("max-sandbox"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
