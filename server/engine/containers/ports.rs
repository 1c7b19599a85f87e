//! Published ports, as on a laptop but without touching the host's interfaces.
//!
//! The engine publishes nothing (a learner's network is internal). berth keeps what `-p`
//! asked for in a label, shows it in `docker ps`/`inspect`/`port`, runs a forwarder in the
//! workstation so `curl localhost:8080` reaches the container, and proxies
//! `/ports/8080/…` of the learner's own browser session to it.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use hyper::Method;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Value, json};

use super::super::names::LABEL_PUBLISH;
use super::super::refusal::Refusal;
use super::super::server::Scope;
use super::super::wire::BoxError;
pub use super::body::PortMap;
use crate::AppState;
use crate::session::Learner;

/// Host ports picked for `-P` and `-p 80` start here, as the engine's do.
const EPHEMERAL_START: u16 = 32768;

/// One published port of a running container of the learner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedPort {
    /// The port on the learner's "host" (their workstation): `8080` of `-p 8080:80`.
    pub port: u16,
    /// The learner's name for the container.
    pub container: String,
    /// The container's port: `80` of `-p 8080:80`.
    pub target: u16,
    pub proto: String,
    /// `127.0.0.1` when only the workstation's loopback listens; empty for every address.
    pub ip: String,
    /// Where the browser opens it: `/ports/8080/`.
    pub url: String,
    #[serde(skip)]
    pub container_id: String,
}

/// `8080:80/tcp`, or `127.0.0.1:8080:80/tcp` for the loopback only, comma separated.
pub fn encode(ports: &[PortMap]) -> String {
    ports
        .iter()
        .map(|p| match p.ip.as_str() {
            "" => format!("{}:{}/{}", p.host, p.container, p.proto),
            ip => format!("{ip}:{}:{}/{}", p.host, p.container, p.proto),
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn decode(label: &str) -> Vec<PortMap> {
    label
        .split(',')
        .filter_map(|entry| {
            let parts: Vec<&str> = entry.split(':').collect();
            let (ip, host, rest) = match parts.as_slice() {
                [host, rest] => ("", *host, *rest),
                [ip, host, rest] => (*ip, *host, *rest),
                _ => return None,
            };
            let (container, proto) = super::body::parse_port(rest).ok()?;
            Some(PortMap {
                ip: ip.to_owned(),
                host: host.parse().ok()?,
                container,
                proto,
            })
        })
        .collect()
}

/// The address a binding shows: the one asked for, or every address.
fn shown_ip(port: &PortMap) -> &str {
    if port.ip.is_empty() {
        "0.0.0.0"
    } else {
        &port.ip
    }
}

fn label_of(container: &Value) -> Vec<PortMap> {
    container["Labels"][LABEL_PUBLISH]
        .as_str()
        .or_else(|| container["Config"]["Labels"][LABEL_PUBLISH].as_str())
        .map(decode)
        .unwrap_or_default()
}

/// Picks host ports for `-P` and `-p 80`, avoiding those the learner's containers hold.
pub fn allocate(ports: &mut [PortMap], existing: &[Value]) {
    let mut taken: HashSet<u16> = existing
        .iter()
        .flat_map(label_of)
        .map(|p| p.host)
        .chain(ports.iter().map(|p| p.host))
        .collect();
    let mut next = EPHEMERAL_START;
    for port in ports.iter_mut().filter(|p| p.host == 0) {
        while taken.contains(&next) {
            next += 1;
        }
        port.host = next;
        taken.insert(next);
    }
}

/// `docker ps`: the ports of a running container, as the engine would list them.
pub fn show_in_list(container: &mut Value) {
    let ports = label_of(container);
    if container["State"] != "running" || ports.is_empty() {
        return;
    }
    let mut shown: Vec<Value> = container["Ports"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|p| !ports.iter().any(|m| p["PrivatePort"] == m.container))
        .collect();
    for port in &ports {
        shown.push(json!({"IP": shown_ip(port), "PrivatePort": port.container, "PublicPort": port.host, "Type": port.proto}));
    }
    container["Ports"] = Value::Array(shown);
}

/// `docker inspect` / `docker port`: bindings in HostConfig, and in NetworkSettings while
/// the container runs.
pub fn show_in_inspect(container: &mut Value) {
    let ports = label_of(container);
    if ports.is_empty() {
        return;
    }
    let mut bindings = serde_json::Map::new();
    for port in &ports {
        let key = format!("{}/{}", port.container, port.proto);
        let entry = bindings.entry(key).or_insert_with(|| json!([]));
        if let Value::Array(list) = entry {
            list.push(json!({"HostIp": port.ip, "HostPort": port.host.to_string()}));
        }
    }
    container["HostConfig"]["PortBindings"] = Value::Object(bindings.clone());
    if container["State"]["Running"] == true {
        for list in bindings.values_mut() {
            if let Value::Array(list) = list {
                for binding in list {
                    if binding["HostIp"] == "" {
                        binding["HostIp"] = "0.0.0.0".into();
                    }
                }
            }
        }
        let network_ports = &mut container["NetworkSettings"]["Ports"];
        if !network_ports.is_object() {
            *network_ports = json!({});
        }
        for (key, value) in bindings {
            network_ports[key] = value;
        }
    }
}

/// Refuses to start a container whose host port another running container of the learner
/// holds, in the engine's words.
pub async fn check_free(scope: &Scope, container: &Value) -> Result<(), Refusal> {
    let wanted = label_of(container);
    if wanted.is_empty() {
        return Ok(());
    }
    let running = super::super::scope::containers(scope, false).await?;
    for other in running.iter().filter(|c| c["Id"] != container["Id"]) {
        for held in label_of(other) {
            if let Some(clash) = wanted
                .iter()
                .find(|w| w.host == held.host && w.proto == held.proto)
            {
                let name = scope
                    .names()
                    .unprefix(container["Names"][0].as_str().unwrap_or_default())
                    .unwrap_or_default()
                    .to_owned();
                return Err(Refusal {
                    status: 500,
                    message: format!(
                        "driver failed programming external connectivity on endpoint {name}: Bind for 0.0.0.0:{} failed: port is already allocated",
                        clash.host
                    ),
                });
            }
        }
    }
    Ok(())
}

/// The learner's published ports now.
async fn current(scope: &Scope) -> Result<Vec<PublishedPort>, Refusal> {
    let running = super::super::scope::containers(scope, false).await?;
    let mut out = Vec::new();
    for container in running {
        let name = container["Names"][0]
            .as_str()
            .and_then(|n| scope.names().unprefix(n))
            .unwrap_or_default()
            .to_owned();
        let id = container["Id"].as_str().unwrap_or_default().to_owned();
        for port in label_of(&container) {
            out.push(PublishedPort {
                port: port.host,
                container: name.clone(),
                target: port.container,
                proto: port.proto,
                ip: port.ip,
                url: format!("/ports/{}/", port.host),
                container_id: id.clone(),
            });
        }
    }
    out.sort_by_key(|p| p.port);
    Ok(out)
}

/// Brings forwarders and the browser's port links in line with the running containers.
pub async fn sync(scope: &Scope) {
    let ports = match current(scope).await {
        Ok(ports) => ports,
        Err(error) => {
            tracing::debug!(error = %error.message, "could not list published ports");
            return;
        }
    };
    let mut running = scope.forwarders.lock().await;
    if scope.workstation().is_none() {
        listen_locally(scope, &ports);
    }
    if let Some(workstation) = scope.workstation() {
        for old in running.iter().filter(|old| !ports.contains(old)) {
            if old.proto == "tcp" {
                stop_forwarder(scope, workstation, old.port).await;
            }
        }
        for new in ports.iter().filter(|new| !running.contains(new)) {
            if new.proto == "tcp" {
                start_forwarder(scope, workstation, new).await;
            }
        }
    }
    *running = ports.clone();
    scope.ports.send_if_modified(|shown| {
        if *shown == ports {
            false
        } else {
            *shown = ports;
            true
        }
    });
}

async fn exec_detached(scope: &Scope, workstation: &str, cmd: Vec<String>) -> Result<(), Refusal> {
    let body = json!({"Cmd": cmd, "User": "learner", "AttachStdout": false, "AttachStderr": false});
    let created = scope
        .upstream()
        .ok(
            Method::POST,
            &format!("/containers/{workstation}/exec"),
            Some(&body),
        )
        .await?;
    let id = created["Id"].as_str().unwrap_or_default();
    scope
        .upstream()
        .call(
            Method::POST,
            &format!("/exec/{id}/start"),
            Some(&json!({"Detach": true})),
        )
        .await?;
    Ok(())
}

/// `socat` in the workstation: `localhost:8080` → the container's port on the learner's
/// network (by its short id, which the engine's DNS resolves and a rename does not change).
async fn start_forwarder(scope: &Scope, workstation: &str, port: &PublishedPort) {
    let target: String = port.container_id.chars().take(12).collect();
    let bind = if port.ip.is_empty() {
        String::new()
    } else {
        format!(",bind={}", port.ip)
    };
    let cmd = vec![
        "socat".to_owned(),
        format!("TCP-LISTEN:{},fork,reuseaddr{bind}", port.port),
        format!("TCP:{target}:{}", port.target),
    ];
    if let Err(error) = exec_detached(scope, workstation, cmd).await {
        tracing::warn!(port = port.port, error = %error.message, "could not start a port forwarder");
    }
}

async fn stop_forwarder(scope: &Scope, workstation: &str, port: u16) {
    let cmd = vec![
        "pkill".to_owned(),
        "-f".to_owned(),
        format!("^socat TCP-LISTEN:{port},"),
    ];
    if let Err(error) = exec_detached(scope, workstation, cmd).await {
        tracing::debug!(port, error = %error.message, "could not stop a port forwarder");
    }
}

/// The local backend's shells run on this machine: `curl localhost:8080` reaches berth, which
/// passes the connection to the container.
fn listen_locally(scope: &Scope, ports: &[PublishedPort]) {
    let mut listeners = scope.listeners.lock().unwrap_or_else(|e| e.into_inner());
    listeners.retain(|port, task| {
        let keep = ports.iter().any(|p| p.port == *port && p.proto == "tcp");
        if !keep {
            task.abort();
        }
        keep
    });
    for port in ports.iter().filter(|p| p.proto == "tcp") {
        if listeners.contains_key(&port.port) {
            continue;
        }
        let listener = match std::net::TcpListener::bind(("127.0.0.1", port.port))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
        {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(port = port.port, %error, "cannot listen on localhost for a published port; the browser link still works");
                continue;
            }
        };
        let upstream = scope.upstream().clone();
        let bridge = scope.names().bridge();
        let target = port.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let bridge = bridge.clone();
                let target = target.clone();
                tokio::spawn(async move {
                    let Some(address) = address_of(&upstream, &bridge, &target.container_id).await
                    else {
                        return;
                    };
                    if let Ok(mut server) =
                        tokio::net::TcpStream::connect((address.as_str(), target.target)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        listeners.insert(port.port, task);
    }
}

// ---------------------------------------------------------------------------------------------
// The browser's way in: /ports/{port}/…

fn page(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

pub async fn proxy_root(
    State(state): State<AppState>,
    learner: Learner,
    Path(port): Path<u16>,
    request: Request,
) -> Response {
    proxy_to(state, learner, port, String::new(), request).await
}

pub async fn proxy(
    State(state): State<AppState>,
    learner: Learner,
    Path((port, rest)): Path<(u16, String)>,
    request: Request,
) -> Response {
    proxy_to(state, learner, port, rest, request).await
}

async fn proxy_to(
    state: AppState,
    learner: Learner,
    port: u16,
    rest: String,
    request: Request,
) -> Response {
    if rest.is_empty() && !request.uri().path().ends_with('/') {
        // Relative links of the page need the trailing slash.
        let location = format!("/ports/{port}/");
        return (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    let Some(scope) = state.sandboxes.get(&learner.id).and_then(|s| s.scope()) else {
        return page(
            StatusCode::NOT_FOUND,
            "berth: you have no sandbox running; open a lesson first.",
        );
    };
    let published = scope.ports().borrow().clone();
    let Some(target) = published
        .iter()
        .find(|p| p.port == port && p.proto == "tcp")
    else {
        return page(
            StatusCode::NOT_FOUND,
            &format!("berth: none of your running containers publishes port {port}."),
        );
    };
    let address = match container_address(&scope, &target.container_id).await {
        Some(address) => address,
        None => {
            return page(
                StatusCode::BAD_GATEWAY,
                "berth: the container has no address on your network.",
            );
        }
    };
    match forward(request, &address, port, target.target, &rest).await {
        Ok(response) => response,
        Err(error) => page(
            StatusCode::BAD_GATEWAY,
            &format!(
                "berth: {} is not answering on port {}: {error}",
                target.container, target.target
            ),
        ),
    }
}

async fn container_address(scope: &Arc<Scope>, id: &str) -> Option<String> {
    address_of(scope.upstream(), &scope.names().bridge(), id).await
}

/// The container's address on the learner's network (or any of its networks).
async fn address_of(
    upstream: &super::super::wire::Upstream,
    bridge: &str,
    id: &str,
) -> Option<String> {
    let info = upstream
        .ok(Method::GET, &format!("/containers/{id}/json"), None)
        .await
        .ok()?;
    let networks = info["NetworkSettings"]["Networks"].as_object()?;
    networks
        .get(bridge)
        .into_iter()
        .chain(networks.values())
        .filter_map(|n| n["IPAddress"].as_str())
        .find(|ip| !ip.is_empty())
        .map(str::to_owned)
}

async fn forward(
    mut request: Request,
    address: &str,
    port: u16,
    target: u16,
    rest: &str,
) -> Result<Response, BoxError> {
    let path = match request.uri().query() {
        Some(query) => format!("/{rest}?{query}"),
        None => format!("/{rest}"),
    };
    let downstream = hyper::upgrade::on(&mut request);
    let (mut parts, body) = request.into_parts();
    parts.uri = path.parse()?;
    strip_session_cookie(&mut parts.headers);
    let wants_upgrade = parts.headers.contains_key(header::UPGRADE);
    let body = body.map_err(|e| -> BoxError { e.into() }).boxed_unsync();
    let outgoing = hyper::Request::from_parts(parts, body);
    let stream = tokio::net::TcpStream::connect((address, target)).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut response = sender.send_request(outgoing).await?;
    if let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
    {
        let rewritten = rewrite_location(location, port);
        if let Ok(value) = HeaderValue::from_str(&rewritten) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    if wants_upgrade && response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upstream = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(down), Ok(up)) = tokio::join!(downstream, upstream) {
                let _ =
                    tokio::io::copy_bidirectional(&mut TokioIo::new(down), &mut TokioIo::new(up))
                        .await;
            }
        });
    }
    Ok(response.map(axum::body::Body::new))
}

/// The learner's app must not see berth's session cookie.
fn strip_session_cookie(headers: &mut axum::http::HeaderMap) {
    let Some(cookies) = headers.get(header::COOKIE).and_then(|c| c.to_str().ok()) else {
        return;
    };
    let kept: Vec<&str> = cookies
        .split(';')
        .map(str::trim)
        .filter(|c| !c.starts_with(&format!("{}=", crate::session::COOKIE_NAME)))
        .collect();
    if kept.is_empty() {
        headers.remove(header::COOKIE);
    } else if let Ok(value) = HeaderValue::from_str(&kept.join("; ")) {
        headers.insert(header::COOKIE, value);
    }
}

/// Redirects of the app stay under its `/ports/N/` prefix.
fn rewrite_location(location: &str, port: u16) -> String {
    let prefix = format!("/ports/{port}");
    if location.starts_with('/') && !location.starts_with("//") {
        return format!("{prefix}{location}");
    }
    for origin in [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}"),
    ] {
        if let Some(rest) = location.strip_prefix(&origin) {
            return format!("{prefix}{}", if rest.is_empty() { "/" } else { rest });
        }
    }
    location.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_bindings_round_trip_and_show() {
        let ports = [PortMap {
            ip: "127.0.0.1".into(),
            host: 1234,
            container: 6379,
            proto: "tcp".into(),
        }];
        let label = encode(&ports);
        assert_eq!(label, "127.0.0.1:1234:6379/tcp");
        assert_eq!(decode(&label), ports);
        let mut listed = json!({"State": "running", "Labels": {LABEL_PUBLISH: label}, "Ports": []});
        show_in_list(&mut listed);
        assert_eq!(listed["Ports"][0]["IP"], "127.0.0.1");
    }

    #[test]
    fn labels_round_trip() {
        let ports = vec![
            PortMap {
                ip: String::new(),
                host: 8080,
                container: 80,
                proto: "tcp".into(),
            },
            PortMap {
                ip: String::new(),
                host: 5353,
                container: 53,
                proto: "udp".into(),
            },
        ];
        assert_eq!(decode(&encode(&ports)), ports);
    }

    #[test]
    fn allocation_skips_taken_ports() {
        let existing = vec![json!({"Labels": {LABEL_PUBLISH: "32768:80/tcp"}})];
        let mut ports = vec![
            PortMap {
                ip: String::new(),
                host: 0,
                container: 80,
                proto: "tcp".into(),
            },
            PortMap {
                ip: String::new(),
                host: 32769,
                container: 443,
                proto: "tcp".into(),
            },
            PortMap {
                ip: String::new(),
                host: 0,
                container: 8080,
                proto: "tcp".into(),
            },
        ];
        allocate(&mut ports, &existing);
        assert_eq!(ports[0].host, 32770);
        assert_eq!(ports[2].host, 32771);
    }

    #[test]
    fn locations_stay_under_the_prefix() {
        assert_eq!(
            rewrite_location("/wp-admin/", 8080),
            "/ports/8080/wp-admin/"
        );
        assert_eq!(
            rewrite_location("http://localhost:8080", 8080),
            "/ports/8080/"
        );
        assert_eq!(
            rewrite_location("https://example.org/", 8080),
            "https://example.org/"
        );
    }

    #[test]
    fn ps_and_inspect_show_the_bindings() {
        let mut listed = json!({"State": "running", "Labels": {LABEL_PUBLISH: "8080:80/tcp"}, "Ports": [{"PrivatePort": 80, "Type": "tcp"}]});
        show_in_list(&mut listed);
        assert_eq!(
            listed["Ports"],
            json!([{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}])
        );
        let mut inspected = json!({"State": {"Running": true}, "Config": {"Labels": {LABEL_PUBLISH: "8080:80/tcp"}}, "HostConfig": {}, "NetworkSettings": {"Ports": {}}});
        show_in_inspect(&mut inspected);
        assert_eq!(
            inspected["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
            "8080"
        );
        assert_eq!(
            inspected["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
            "8080"
        );
    }
}
