//! `docker version`, `docker info`, `_ping` and `docker events`: a fixed, minimal view that
//! says nothing about the host (no kernel, paths, ids, proxies, drivers or other learners),
//! with counts from the learner's own view.

use std::time::{SystemTime, UNIX_EPOCH};

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::dispatch::Call;
use super::filters;
use super::refusal::Refusal;
use super::reply::{self, lines_response, unscope_lines};
use super::route::Query;
use super::scope;
use super::wire::{Body, full};

/// The engine's API version, from its own `_ping`.
async fn api_version(call: &Call<'_>) -> Result<HeaderValue, Refusal> {
    let response = call.send(Method::GET, "/_ping".to_owned()).await?;
    Ok(response
        .headers()
        .get("api-version")
        .cloned()
        .unwrap_or(HeaderValue::from_static("1.41")))
}

pub async fn ping(call: &Call<'_>, method: Method) -> Result<Response<Body>, Refusal> {
    let version = api_version(call).await?;
    let body = if method == Method::HEAD { "" } else { "OK" };
    Response::builder()
        .status(StatusCode::OK)
        .header("Api-Version", version)
        .header("Ostype", "linux")
        .header("Docker-Experimental", "false")
        // The classic builder: BuildKit needs /session, which is not offered.
        .header("Builder-Version", "1")
        .header(CACHE_CONTROL, "no-cache, no-store, must-revalidate")
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(full(body))
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

/// What of the engine's `/version` the learner sees.
fn version_view(engine: &Value) -> Value {
    let text = |key: &str| engine[key].as_str().unwrap_or_default().to_owned();
    let (version, api, min_api, arch) = (
        text("Version"),
        text("ApiVersion"),
        text("MinAPIVersion"),
        text("Arch"),
    );
    json!({
        "Platform": {"Name": "berth"},
        "Components": [{
            "Name": "Engine",
            "Version": version,
            "Details": {"ApiVersion": api, "MinAPIVersion": min_api, "Os": "linux", "Arch": arch},
        }],
        "Version": version,
        "ApiVersion": api,
        "MinAPIVersion": min_api,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": arch,
        "KernelVersion": "",
        "BuildTime": "",
    })
}

pub async fn version(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let engine = call
        .scope
        .upstream()
        .ok(Method::GET, &call.path("/version"), None)
        .await?;
    Ok(reply::json_ok(version_view(&engine)))
}

fn rfc3339_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    humantime::format_rfc3339_seconds(UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .to_string()
}

pub async fn info(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let containers = scope::containers(scope, true).await?;
    let state = |s: &str| containers.iter().filter(|c| c["State"] == s).count();
    let (running, paused) = (state("running"), state("paused"));
    let images = scope::images(scope).await?.len();
    let engine = scope.upstream().ok(Method::GET, "/version", None).await?;
    let architecture = match engine["Arch"].as_str().unwrap_or_default() {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        other => other,
    };
    let policy = &scope.settings().policy;
    let view = json!({
        "ID": "",
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": images,
        "Driver": "berth",
        "DriverStatus": [],
        "Plugins": {"Volume": ["local"], "Network": ["bridge"], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": true,
        "SwapLimit": true,
        "KernelMemory": false,
        "CpuCfsPeriod": true,
        "CpuCfsQuota": true,
        "CPUShares": true,
        "CPUSet": false,
        "PidsLimit": true,
        "IPv4Forwarding": true,
        "BridgeNfIptables": true,
        "BridgeNfIp6tables": true,
        "Debug": false,
        "NFd": 0,
        "OomKillDisable": false,
        "NGoroutines": 0,
        "SystemTime": rfc3339_now(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "",
        "CgroupVersion": "",
        "NEventsListener": 0,
        "KernelVersion": "",
        "OperatingSystem": "berth sandbox",
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": architecture,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "AllowNondistributableArtifactsCIDRs": [],
            "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": [],
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": true, "Official": true}},
            "Mirrors": [],
        },
        "NCPU": ((policy.nano_cpus + 999_999_999) / 1_000_000_000).max(1),
        "MemTotal": policy.memory_bytes,
        "GenericResources": null,
        "DockerRootDir": "",
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": "berth",
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": engine["Version"],
        "Runtimes": {"runc": {"path": "runc"}},
        "DefaultRuntime": "runc",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": false,
        "Isolation": "",
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": "", "Expected": ""},
        "RuncCommit": {"ID": "", "Expected": ""},
        "InitCommit": {"ID": "", "Expected": ""},
        "SecurityOptions": ["name=seccomp,profile=default"],
        "Warnings": [],
    });
    Ok(reply::json_ok(view))
}

/// Filter keys `docker events` takes.
const EVENT_FILTERS: &[&str] = &[
    "container",
    "event",
    "image",
    "label",
    "network",
    "type",
    "volume",
];

pub async fn events(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let filters = filters::parse(&call.query, EVENT_FILTERS)?;
    filters::refuse_berth_labels(&filters)?;
    let filters = scope::with_owner(scope, filters, true);
    let mut query: Query = call.pass(&["since", "until"]);
    query.set("filters", filters::encode_filters(&filters));
    let response = call
        .send(Method::GET, call.path_query("/events", &query))
        .await?;
    let response = reply::succeeded(response).await?;
    lines_response(response, unscope_lines(scope.names()), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_says_nothing_of_the_host() {
        let engine = json!({
            "Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
            "GitCommit": "5d6db84", "GoVersion": "go1.19.8", "Os": "linux", "Arch": "amd64",
            "KernelVersion": "6.1.0-13-amd64", "BuildTime": "2023-05-18",
            "Components": [{"Name": "containerd", "Version": "1.6.20"}],
        });
        let view = version_view(&engine).to_string();
        for secret in ["5d6db84", "go1.19", "6.1.0", "2023-05-18", "containerd"] {
            assert!(!view.contains(secret), "{secret} in {view}");
        }
        assert!(view.contains("\"ApiVersion\":\"1.41\""));
    }
}
