//! The learner's containers: list, create, prune, and every operation on one of them. Each
//! reference is resolved in the learner's view first ([`super::scope`]); create bodies are
//! rebuilt by [`body`], then their references filled in with what was resolved.

pub mod body;
pub mod home;
pub mod ports;

use std::collections::BTreeMap;

use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE, HeaderValue, UPGRADE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value, json};

use self::body::{NetworkChoice, PortMap};
use super::dispatch::{Call, created};
use super::filters::{self, name_matches};
use super::gates;
use super::names::{
    LABEL_ANONYMOUS, LABEL_BINDS, LABEL_IMAGE, LABEL_INSTANCE, LABEL_OWNER, LABEL_PUBLISH,
    LABEL_ROLE, ROLE_LEARNER,
};
use super::refusal::Refusal;
use super::reply::{self, MAX_JSON_BODY, lines_response, unscope_lines};
use super::route::{ContainerOp, Query};
use super::scope::{self, Purpose};
use super::server::Scope;
use super::wire::unread::Guarded;
use super::wire::{Body, empty, full};

/// A `docker cp` upload is at most this big.
pub const MAX_UPLOAD: u64 = 64 << 20;

/// Filter keys `docker ps` takes.
const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "is-task",
    "isolation",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// `docker ps`: the learner's containers; every filter that names another object is resolved
/// in their view first, so a name that exists only for someone else reads as missing.
pub async fn list(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let names = scope.names();
    let mut filters = filters::parse(&call.query, LIST_FILTERS)?;
    filters::refuse_berth_labels(&filters)?;
    let name_patterns = filters.remove("name").unwrap_or_default();
    for key in ["before", "since"] {
        if let Some(values) = filters.get_mut(key) {
            for value in values.iter_mut() {
                *value = scope::container_id(scope, value).await?;
            }
        }
    }
    if let Some(values) = filters.get_mut("network") {
        for value in values.iter_mut() {
            *value = scope::network(scope, value).await?.id;
        }
    }
    if let Some(values) = filters.get_mut("volume") {
        for value in values.iter_mut() {
            *value = if value.starts_with('/') {
                value.clone()
            } else {
                scope::volume(scope, value).await?
            };
        }
    }
    if let Some(values) = filters.get_mut("ancestor") {
        for value in values.iter_mut() {
            *value = scope::image(scope, value, Purpose::Look).await?.id;
        }
    }
    let filters = scope::with_owner(scope, filters, false);
    let mut query = call.pass(&["all", "limit", "size", "latest"]);
    query.set("filters", filters::encode_filters(&filters));
    let response = call
        .send(Method::GET, call.path_query("/containers/json", &query))
        .await?;
    reply::json_response_with(names, response, |list| {
        if let Value::Array(items) = list {
            items.retain(|c| {
                let name = c["Names"]
                    .as_array()
                    .and_then(|n| n.first())
                    .and_then(Value::as_str)
                    .and_then(|n| names.unprefix(n))
                    .unwrap_or_default();
                name_patterns.iter().all(|p| name_matches(p, name))
            });
            for item in items.iter_mut() {
                ports::show_in_list(item);
                show_image(item);
                show_network(item);
            }
        }
    })
    .await
}

/// The image as the learner wrote it (the engine was given its id).
fn show_image(container: &mut Value) {
    let written = container["Labels"][LABEL_IMAGE]
        .as_str()
        .or_else(|| container["Config"]["Labels"][LABEL_IMAGE].as_str())
        .filter(|w| !w.is_empty())
        .map(str::to_owned);
    if let Some(written) = written {
        if container.get("Config").is_some() {
            container["Config"]["Image"] = written.into();
        } else {
            container["Image"] = written.into();
        }
    }
}

/// The network mode as a name: berth gives the engine the network's id.
fn show_network(container: &mut Value) {
    let Some(mode) = container["HostConfig"]["NetworkMode"]
        .as_str()
        .map(str::to_owned)
    else {
        return;
    };
    let name = container["NetworkSettings"]["Networks"]
        .as_object()
        .and_then(|networks| {
            networks
                .iter()
                .find(|(_, n)| n["NetworkID"] == mode.as_str())
                .map(|(name, _)| name.clone())
        });
    if let Some(name) = name {
        container["HostConfig"]["NetworkMode"] = name.into();
    }
}

/// `docker inspect` of a container: host paths and process ids are the host's, not the
/// learner's.
fn hide_host(container: &mut Value) {
    for key in ["HostnamePath", "HostsPath", "ResolvConfPath", "LogPath"] {
        if container.get(key).is_some() {
            container[key] = "".into();
        }
    }
    if container.get("GraphDriver").is_some() {
        container["GraphDriver"] = json!({"Name": "overlay2", "Data": null});
    }
    if container["State"].get("Pid").is_some() {
        container["State"]["Pid"] = 0.into();
    }
    if container["HostConfig"].get("CgroupParent").is_some() {
        container["HostConfig"]["CgroupParent"] = "".into();
    }
    for key in ["SandboxKey", "SandboxID"] {
        if container["NetworkSettings"].get(key).is_some() {
            container["NetworkSettings"][key] = "".into();
        }
    }
    if let Some(mounts) = container["Mounts"].as_array_mut() {
        for mount in mounts {
            if mount["Type"] == "volume" {
                mount["Source"] = "".into();
            }
        }
    }
}

/// `docker container prune`: the learner's stopped containers.
pub async fn prune(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = filters::parse(&call.query, &["label", "until"])?;
    filters::refuse_berth_labels(&filters)?;
    filters.insert(
        "status".into(),
        vec!["created".into(), "exited".into(), "dead".into()],
    );
    let filters = scope::with_owner(scope, filters, false);
    let stopped = scope::engine_list(scope, "/containers/json", &filters, true).await?;
    let mut deleted = Vec::new();
    for container in stopped.as_array().into_iter().flatten() {
        let Some(id) = container["Id"].as_str() else {
            continue;
        };
        let (status, _) = scope
            .upstream()
            .call(Method::DELETE, &format!("/containers/{id}"), None)
            .await?;
        if status.is_success() {
            deleted.push(Value::from(id));
        }
    }
    ports::sync(scope).await;
    Ok(reply::json_ok(
        json!({"ContainersDeleted": deleted, "SpaceReclaimed": 0}),
    ))
}

/// The anonymous volumes an image or body asks for that nothing else mounts: berth makes them
/// itself, with the learner's labels, so they are counted, found and cleaned up.
fn anonymous_targets(
    plan: &body::CreatePlan,
    image: &Value,
    covered: &[String],
) -> Vec<(String, bool)> {
    let mut targets: Vec<(String, bool)> = Vec::new();
    let declared = image["Config"]["Volumes"]
        .as_object()
        .map(|v| v.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    let from_plan = plan
        .volumes
        .iter()
        .filter(|v| v.name.is_none())
        .map(|v| (v.target.clone(), v.read_only));
    for (target, read_only) in from_plan.chain(declared.into_iter().map(|t| (t, false))) {
        let target = if target.starts_with('/') {
            target
        } else {
            format!("/{target}")
        };
        let taken = covered.contains(&target) || targets.iter().any(|(t, _)| *t == target);
        if !taken {
            targets.push((target, read_only));
        }
    }
    targets
}

pub async fn create(call: &Call<'_>, request: Request<Guarded>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let names = scope.names();
    let policy = &scope.settings().policy;
    let raw = reply::read_body(request, MAX_JSON_BODY as u64).await?;
    let plan = body::create(&raw, call.query.get("name"), policy)?;
    gates::pace(scope, gates::Costly::Create).await?;
    let _quota = scope.quota_lock().await;
    let existing = gates::container_quota(scope).await?;
    gates::disk(scope, "create a container").await?;

    let image = scope::image(scope, &plan.image, Purpose::Use).await?;
    let image_info = scope::inspect_image(scope, &image.id).await?;
    let mut body = plan.body.clone();
    let mut labels = Map::new();
    labels.extend(names.labels());
    labels.insert(LABEL_IMAGE.into(), image.written.clone().into());

    // The network, by id; `container:` by the resolved container's engine name.
    let mut network_id = None;
    let network_mode = match &plan.network {
        NetworkChoice::None => "none".to_owned(),
        NetworkChoice::Named(name) => {
            let network = scope::network(scope, name).await?;
            network_id = Some(network.id.clone());
            network.id
        }
        NetworkChoice::Container(target) => {
            let target = scope::container(scope, target).await?;
            format!("container:{}", target["Id"].as_str().unwrap_or_default())
        }
    };

    // Published ports, with -P's from the image and the body.
    let mut publish = plan.publish.clone();
    if plan.publish_all && network_id.is_some() {
        let mut exposed: Vec<String> = image_info["Config"]["ExposedPorts"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(own) = body.get("ExposedPorts").and_then(Value::as_object) {
            exposed.extend(own.keys().cloned());
        }
        for port in exposed {
            let (container, proto) = body::parse_port(&port)?;
            if !publish
                .iter()
                .any(|p| p.container == container && p.proto == proto)
            {
                publish.push(PortMap {
                    ip: String::new(),
                    host: 0,
                    container,
                    proto,
                });
            }
        }
    }
    if publish.len() > policy.max_ports {
        return Err(body::too_many_ports(policy));
    }
    if !publish.is_empty() {
        ports::allocate(&mut publish, &existing);
        let exposed = body.entry("ExposedPorts").or_insert_with(|| json!({}));
        if let Value::Object(exposed) = exposed {
            for port in &publish {
                exposed.insert(format!("{}/{}", port.container, port.proto), json!({}));
            }
        }
        labels.insert(LABEL_PUBLISH.into(), ports::encode(&publish).into());
    }

    // Linked and --volumes-from containers: the learner's own, by their engine names.
    let mut links = Vec::new();
    for (target, alias) in &plan.links {
        let found = scope::container(scope, target).await?;
        let engine = found["Names"][0].as_str().unwrap_or_default();
        links.push(Value::from(format!(
            "{}:{alias}",
            engine.trim_start_matches('/')
        )));
    }
    let mut volumes_from = Vec::new();
    let mut covered: Vec<String> = plan.tmpfs_targets.clone();
    covered.extend(plan.home.iter().map(|h| h.target.clone()));
    covered.extend(
        plan.volumes
            .iter()
            .filter(|v| v.name.is_some())
            .map(|v| v.target.clone()),
    );
    for (target, mode) in &plan.volumes_from {
        let found = scope::container(scope, target).await?;
        let id = found["Id"].as_str().unwrap_or_default();
        covered.extend(
            found["Mounts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["Destination"].as_str().map(str::to_owned)),
        );
        volumes_from.push(Value::from(match mode {
            Some(mode) => format!("{id}:{mode}"),
            None => id.to_owned(),
        }));
    }

    // Volumes: named ones made with berth's labels first; anonymous ones made by berth.
    let anonymous = anonymous_targets(&plan, &image_info, &covered);
    let named: Vec<&body::VolumeMount> = plan.volumes.iter().filter(|v| v.name.is_some()).collect();
    let new_named = super::volumes::missing(scope, &named).await?;
    gates::volume_quota(scope, new_named + anonymous.len()).await?;
    let mut mounts: Vec<Value> = body["HostConfig"]["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for volume in named {
        let learner_name = volume.name.as_deref().unwrap_or_default();
        let engine = super::volumes::ensure(scope, learner_name).await?;
        mounts.push(json!({
            "Type": "volume", "Source": engine, "Target": volume.target,
            "ReadOnly": volume.read_only, "VolumeOptions": {"NoCopy": volume.no_copy},
        }));
    }
    if !anonymous.is_empty() {
        let auto_remove = body["HostConfig"]["AutoRemove"] == true;
        let token = format!(
            "{}{}",
            if auto_remove { "rm:" } else { "" },
            crate::session::random_hex(8)
        );
        for (target, read_only) in &anonymous {
            let engine = super::volumes::make_anonymous(scope, &token).await?;
            mounts.push(json!({
                "Type": "volume", "Source": engine, "Target": target, "ReadOnly": read_only,
            }));
        }
        labels.insert(LABEL_ANONYMOUS.into(), token.into());
    }
    if !plan.home.is_empty() {
        mounts.push(home::mount(names.learner(), &plan.home));
        labels.insert(LABEL_BINDS.into(), home::label(&plan.home).into());
    }

    // The image's health check, when it would run too often.
    if !body.contains_key("Healthcheck")
        && let Some(check) = image_info["Config"]["Healthcheck"].as_object()
        && check
            .get("Interval")
            .and_then(Value::as_i64)
            .is_some_and(|i| i > 0 && i < policy.healthcheck_floor.as_nanos() as i64)
    {
        let mut check = Value::Object(check.clone());
        body::clamp_healthcheck(&mut check, policy)?;
        body.insert("Healthcheck".into(), check);
    }

    for (key, value) in labels {
        body["Labels"][key] = value;
    }
    body.insert("Image".into(), image.id.clone().into());
    let host = body
        .get_mut("HostConfig")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Refusal::bad_request("HostConfig must be an object"))?;
    host.insert("NetworkMode".into(), network_mode.clone().into());
    host.insert("Mounts".into(), mounts.into());
    host.insert("VolumesFrom".into(), volumes_from.into());
    if let Some(parent) = scope.settings().budget_parent(names.learner()) {
        host.insert("CgroupParent".into(), parent.into());
    }
    if network_id.is_some() {
        body.insert(
            "NetworkingConfig".into(),
            json!({"EndpointsConfig": {network_mode: {"Aliases": plan.aliases, "Links": links}}}),
        );
    }

    if !plan.home.is_empty() {
        home::make_folders(scope, &plan.home).await?;
    }
    let path = super::wire::path_with_query(
        &call.path("/containers/create"),
        &[("name", &names.object(&plan.name))],
    );
    let mut answer = scope
        .upstream()
        .ok(Method::POST, &path, Some(&Value::Object(body)))
        .await?;
    let id = answer["Id"].as_str().unwrap_or_default().to_owned();
    if !plan.home.is_empty()
        && let Err(refusal) = home::write_links(scope, &id, &plan.home).await
    {
        let _ = scope
            .upstream()
            .remove(&format!("/containers/{id}?force=1&v=1"))
            .await;
        return Err(refusal);
    }
    if image.public {
        scope.mark_seen(&image.id);
    }
    names.unscope(&mut answer);
    Ok(created(answer))
}

/// `ps_args` reach `ps` on the host: only these.
const PS_ARGS: &[&str] = &["", "-ef", "-e -f", "ef", "aux", "-aux", "-A", "-e"];

pub async fn op(
    call: &Call<'_>,
    reference: &str,
    op: ContainerOp,
    request: Request<Guarded>,
) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let names = scope.names();
    let container = scope::container(scope, reference).await?;
    let id = container["Id"].as_str().unwrap_or_default().to_owned();
    let base = format!("/containers/{id}");
    let forward = |part: &str, keys: &[&str]| {
        let query = call.pass(keys);
        call.path_query(&format!("{base}{part}"), &query)
    };
    let response = match op {
        ContainerOp::Inspect => {
            let response = call
                .send(Method::GET, call.path(&format!("{base}/json")))
                .await?;
            return reply::json_response_with(names, response, |container| {
                ports::show_in_inspect(container);
                home::show_in_inspect(container);
                show_image(container);
                show_network(container);
                hide_host(container);
            })
            .await;
        }
        ContainerOp::Top => {
            let args = call.query.get("ps_args").unwrap_or_default();
            if !PS_ARGS.contains(&args) {
                return Err(Refusal::forbidden(format!(
                    "docker top takes only these ps options in this sandbox: {}",
                    PS_ARGS[1..].join(", ")
                )));
            }
            let response = call
                .send(Method::GET, forward("/top", &["ps_args"]))
                .await?;
            return reply::json_response(names, response).await;
        }
        ContainerOp::Changes => {
            let response = call.send(Method::GET, forward("/changes", &[])).await?;
            return reply::json_response(names, response).await;
        }
        ContainerOp::Stats => {
            let response = call
                .send(Method::GET, forward("/stats", &["stream", "one-shot"]))
                .await?;
            let response = reply::succeeded(response).await?;
            return lines_response(response, unscope_lines(names), None);
        }
        ContainerOp::Logs => {
            let keys = [
                "follow",
                "stdout",
                "stderr",
                "since",
                "until",
                "timestamps",
                "tail",
                "details",
            ];
            let response = call.send(Method::GET, forward("/logs", &keys)).await?;
            return reply::passthrough(response).await;
        }
        ContainerOp::ArchiveHead | ContainerOp::ArchiveGet => {
            let method = if op == ContainerOp::ArchiveHead {
                Method::HEAD
            } else {
                Method::GET
            };
            let response = call.send(method, forward("/archive", &["path"])).await?;
            return reply::passthrough(response).await;
        }
        ContainerOp::ArchivePut => {
            gates::disk(scope, "copy files into a container").await?;
            use http_body_util::BodyExt;
            let body =
                http_body_util::Limited::new(request.into_body(), MAX_UPLOAD as usize).boxed();
            let keys = ["path", "noOverwriteDirNonDir", "copyUIDGID"];
            let response = call
                .forward(
                    Method::PUT,
                    forward("/archive", &keys),
                    Some("application/x-tar"),
                    body,
                )
                .await?;
            return reply::passthrough(response).await;
        }
        ContainerOp::Attach => {
            let keys = ["stream", "stdin", "stdout", "stderr", "logs", "detachKeys"];
            return hijack(call, request, forward("/attach", &keys)).await;
        }
        ContainerOp::Exec => return super::exec::create(call, &id, request).await,
        ContainerOp::Start => {
            gates::disk(scope, "start a container").await?;
            ports::check_free(scope, &container).await?;
            call.send(Method::POST, call.path(&format!("{base}/start")))
                .await?
        }
        ContainerOp::Rename => {
            let new = call
                .query
                .get("name")
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned();
            if !super::names::valid_name(&new) {
                return Err(Refusal::bad_request(format!(
                    "Invalid container name ({new}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )));
            }
            let mut query = Query::default();
            query.set("name", names.object(&new));
            let response = call
                .send(
                    Method::POST,
                    call.path_query(&format!("{base}/rename"), &query),
                )
                .await?;
            if response.status().is_success() {
                realias(scope, &id, &container, &new).await;
            }
            response
        }
        ContainerOp::Remove => {
            let response = call
                .send(Method::DELETE, forward("", &["force", "v"]))
                .await?;
            if response.status().is_success() && call.query.flag("v") {
                let token = container["Labels"][LABEL_ANONYMOUS]
                    .as_str()
                    .unwrap_or_default();
                super::volumes::remove_anonymous(scope, token).await;
            }
            response
        }
        ContainerOp::Wait => {
            let condition = call.query.get("condition").unwrap_or_default();
            if !matches!(condition, "" | "not-running" | "next-exit" | "removed") {
                return Err(Refusal::bad_request(format!(
                    "invalid condition: {condition}"
                )));
            }
            let response = call
                .send(Method::POST, forward("/wait", &["condition"]))
                .await?;
            return reply::passthrough(response).await;
        }
        ContainerOp::Stop | ContainerOp::Restart => {
            let part = if op == ContainerOp::Stop {
                "/stop"
            } else {
                "/restart"
            };
            call.send(Method::POST, forward(part, &["t"])).await?
        }
        ContainerOp::Kill => {
            call.send(Method::POST, forward("/kill", &["signal"]))
                .await?
        }
        ContainerOp::Pause => call.send(Method::POST, forward("/pause", &[])).await?,
        ContainerOp::Unpause => call.send(Method::POST, forward("/unpause", &[])).await?,
        ContainerOp::Resize => {
            call.send(Method::POST, forward("/resize", &["h", "w"]))
                .await?
        }
    };
    let result = reply::passthrough(response).await;
    // The events watcher would catch this too, a moment later; syncing here means the port
    // forwarder is up before the CLI returns, so `curl localhost:8080` right after works.
    if op.changes_state() {
        ports::sync(scope).await;
    }
    result
}

/// After a rename, the learner's new name resolves on their networks (the old one stops).
async fn realias(scope: &Scope, id: &str, container: &Value, new: &str) {
    let networks: Vec<String> = container["NetworkSettings"]["Networks"]
        .as_object()
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    for network in networks {
        let disconnect = json!({"Container": id, "Force": true});
        let connect = json!({"Container": id, "EndpointConfig": {"Aliases": [new]}});
        let upstream = scope.upstream();
        let done = upstream
            .ok(
                Method::POST,
                &format!("/networks/{network}/disconnect"),
                Some(&disconnect),
            )
            .await
            .and(
                upstream
                    .ok(
                        Method::POST,
                        &format!("/networks/{network}/connect"),
                        Some(&connect),
                    )
                    .await,
            );
        if let Err(error) = done {
            tracing::debug!(error = %error.message, "could not move a renamed container's alias");
        }
    }
}

/// Proxies an upgraded connection (attach, interactive exec) both ways, after the checks.
pub async fn hijack(
    call: &Call<'_>,
    mut request: Request<Guarded>,
    path: String,
) -> Result<Response<Body>, Refusal> {
    let downstream = hyper::upgrade::on(&mut request);
    let input = reply::read_json(request).await?;
    let mut out = Map::new();
    for key in ["Detach", "Tty", "ConsoleSize"] {
        if let Some(v) = super::wire::json::get(&input, key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    let body = if out.is_empty() {
        String::new()
    } else {
        Value::Object(out).to_string()
    };
    let upstream_request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(CONTENT_TYPE, "application/json")
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "tcp")
        .body(full(body))
        .map_err(|e| Refusal::bad_request(e.to_string()))?;
    let response: Response<Incoming> = call.scope.upstream().send(upstream_request).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let response = reply::succeeded(response).await?;
        return reply::passthrough(response).await;
    }
    let content_type =
        response
            .headers()
            .get(CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static(
                "application/vnd.docker.raw-stream",
            ));
    let upstream = hyper::upgrade::on(response);
    tokio::spawn(async move {
        let (Ok(down), Ok(up)) = tokio::join!(downstream, upstream) else {
            return;
        };
        let mut down = hyper_util::rt::TokioIo::new(down);
        let mut up = hyper_util::rt::TokioIo::new(up);
        if let Err(error) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
            tracing::debug!(%error, "hijacked stream ended");
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONTENT_TYPE, content_type)
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "tcp")
        .body(empty())
        .map_err(|e| Refusal::bad_request(e.to_string()))
}

/// After container events: the volumes berth made for a `--rm` container go with it, as the
/// engine's anonymous volumes would.
pub async fn after_events(scope: &Scope, events: &[u8]) {
    for line in events.split(|b| *b == b'\n') {
        let Ok(event) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if event["Action"] != "destroy" {
            continue;
        }
        let attributes = &event["Actor"]["Attributes"];
        let own = attributes[LABEL_OWNER] == scope.names().learner()
            && attributes[LABEL_INSTANCE] == scope.names().instance()
            && attributes[LABEL_ROLE] == ROLE_LEARNER;
        if let Some(token) = attributes[LABEL_ANONYMOUS].as_str()
            && own
            && token.starts_with("rm:")
        {
            super::volumes::remove_anonymous(scope, token).await;
        }
    }
}

/// The learner's containers by their names, for a refusal that names them.
pub fn describe(scope: &Scope, containers: &[Value]) -> BTreeMap<String, String> {
    containers
        .iter()
        .filter_map(|c| {
            let name = scope::learner_name(scope, c)?;
            let state = c["State"].as_str().unwrap_or_default().to_owned();
            Some((name, state))
        })
        .collect()
}
