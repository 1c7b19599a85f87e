//! The learner's networks: their default one (`bridge` to them, `berth-<learner>` in the
//! engine) and those they make (`berth-<learner>-<name>`). Every one is a bridge of berth's
//! making: internal unless egress is allowed, on a small subnet from berth's range, and on a
//! host interface named `bth…`, which the host firewall keeps away from the host's ports.

pub mod addresses;

use hyper::{Method, Request, Response};
use serde_json::{Map, Value, json};

use super::containers::body::check_labels;
use super::dispatch::{Call, created};
use super::filters;
use super::gates;
use super::names::{self, LABEL_INTERNAL, ROLE_NETWORK, valid_name};
use super::refusal::Refusal;
use super::reply::{self, MAX_JSON_BODY};
use super::scope;
use super::server::Scope;
use super::wire::Body;
use super::wire::json::{self, get, is_unset};
use super::wire::unread::Guarded;

/// Subnets tried before berth says its range is full.
const ATTEMPTS: usize = 64;

/// Rebuilds a `POST /networks/create` body: a bridge, with nothing of the learner's choosing
/// but its name, labels and whether it is attachable.
pub fn create_body(raw: &[u8]) -> Result<(String, Map<String, Value>), Refusal> {
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
        ("EnableIPv6", "--ipv6"),
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
    let mut labels = match get(&input, "Labels") {
        Some(Value::Object(labels)) => labels.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(Refusal::bad_request("Labels must be an object")),
    };
    check_labels(&labels)?;
    let internal = get(&input, "Internal").is_some_and(|v| !is_unset(v));
    labels.insert(LABEL_INTERNAL.into(), internal.to_string().into());
    let mut body = Map::new();
    body.insert(
        "Attachable".into(),
        get(&input, "Attachable").cloned().unwrap_or(false.into()),
    );
    body.insert("Labels".into(), Value::Object(labels));
    Ok((name.to_owned(), body))
}

/// Makes a network for the learner: berth's name, labels, subnet and interface.
async fn make(
    scope: &Scope,
    engine_name: &str,
    interface: &str,
    labels: Map<String, Value>,
    mut body: Map<String, Value>,
) -> Result<Value, Refusal> {
    let pool = &scope.settings().addresses;
    body.insert("Name".into(), engine_name.into());
    body.insert("Driver".into(), "bridge".into());
    body.insert("CheckDuplicate".into(), true.into());
    body.insert(
        "Internal".into(),
        (!scope.settings().policy.allow_egress).into(),
    );
    body.insert("Labels".into(), Value::Object(labels));
    body.insert(
        "Options".into(),
        json!({"com.docker.network.bridge.name": interface}),
    );
    for _ in 0..ATTEMPTS {
        let Some(subnet) = pool.next() else { break };
        body.insert("IPAM".into(), json!({"Config": [{"Subnet": subnet}]}));
        let (status, answer) = scope
            .upstream()
            .call(
                Method::POST,
                "/networks/create",
                Some(&Value::Object(body.clone())),
            )
            .await?;
        if status.is_success() {
            return Ok(answer);
        }
        let message = answer["message"].as_str().unwrap_or_default();
        if message.contains("overlaps") {
            continue;
        }
        pool.release(&subnet);
        return Err(super::wire::ok_or_refused(status, answer).unwrap_err());
    }
    Err(Refusal {
        status: 503,
        message:
            "berth is full: no network addresses are left for a new network; try again in a minute"
                .to_owned(),
    })
}

/// The learner's default network: found when it exists (a retry after a failed start finds
/// what the failed one made), made when not. Returns its id.
pub async fn create_default(scope: &Scope) -> Result<String, Refusal> {
    let names = scope.names();
    let labels = names.labels_with_role(ROLE_NETWORK);
    let interface = names::interface(names.learner());
    // Sandbox ids are fresh, so the network is almost never there yet: make it first, and
    // look for the one an earlier attempt made only when the engine says it exists.
    let made = make(scope, &names.bridge(), &interface, labels, Map::new()).await;
    match made {
        Ok(answer) => Ok(answer["Id"].as_str().unwrap_or_default().to_owned()),
        Err(refusal)
            if refusal.message.contains("same bridge name")
                || refusal.message.contains("already exists") =>
        {
            Ok(scope::network(scope, "bridge").await?.id)
        }
        Err(refusal) => Err(refusal),
    }
}

/// Removes a network of the learner and gives its subnet back.
pub async fn delete(scope: &Scope, id: &str) -> Result<(), Refusal> {
    let subnet = scope
        .upstream()
        .ok(Method::GET, &format!("/networks/{id}"), None)
        .await
        .ok()
        .and_then(|n| n["IPAM"]["Config"][0]["Subnet"].as_str().map(str::to_owned));
    scope.upstream().remove(&format!("/networks/{id}")).await?;
    if let Some(subnet) = subnet {
        scope.settings().addresses.release(&subnet);
    }
    Ok(())
}

pub async fn create(call: &Call<'_>, request: Request<Guarded>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let raw = reply::read_body(request, MAX_JSON_BODY as u64).await?;
    let (name, body) = create_body(&raw)?;
    gates::pace(scope, gates::Costly::Create).await?;
    let _quota = scope.quota_lock().await;
    gates::network_quota(scope).await?;
    let mut labels = body["Labels"].as_object().cloned().unwrap_or_default();
    labels.extend(scope.names().labels());
    let interface = names::interface(&crate::session::random_hex(6));
    let mut answer = make(
        scope,
        &scope.names().object(&name),
        &interface,
        labels,
        body,
    )
    .await?;
    // The workstation joins every network of the learner, so published ports reach them.
    if let (Some(workstation), Some(id)) = (scope.workstation(), answer["Id"].as_str()) {
        let connect = json!({"Container": workstation});
        if let Err(error) = scope
            .upstream()
            .ok(
                Method::POST,
                &format!("/networks/{id}/connect"),
                Some(&connect),
            )
            .await
        {
            tracing::warn!(error = %error.message, "could not connect the workstation to a network");
        }
    }
    scope.names().unscope(&mut answer);
    Ok(created(answer))
}

/// The host's side of a network is berth's business, and it is shown as the learner asked
/// for it (berth makes it internal when egress is off; tools like Compose compare).
fn hide_host(network: &mut Value) {
    if let Some(options) = network["Options"].as_object_mut() {
        options.remove("com.docker.network.bridge.name");
    }
    network["Internal"] = (network["Labels"][LABEL_INTERNAL] == "true").into();
}

pub async fn list(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let mut filters = filters::parse(
        &call.query,
        &["dangling", "driver", "id", "label", "name", "scope", "type"],
    )?;
    filters::refuse_berth_labels(&filters)?;
    if let Some(names) = filters.get_mut("name") {
        for name in names.iter_mut() {
            *name = scope.names().network(name);
        }
    }
    let filters = scope::with_owner(scope, filters, true);
    let mut query = super::route::Query::default();
    query.set("filters", filters::encode_filters(&filters));
    let response = call
        .send(Method::GET, call.path_query("/networks", &query))
        .await?;
    reply::json_response_with(scope.names(), response, |list| {
        for network in list.as_array_mut().into_iter().flatten() {
            hide_host(network);
        }
    })
    .await
}

pub async fn inspect(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let network = scope::network(call.scope, reference).await?;
    let response = call
        .send(Method::GET, call.path(&format!("/networks/{}", network.id)))
        .await?;
    reply::json_response_with(call.scope.names(), response, hide_host).await
}

/// Takes the workstation off a network of the learner (before it is removed).
pub async fn detach_workstation(scope: &Scope, network_id: &str) {
    if let Some(workstation) = scope.workstation() {
        let disconnect = json!({"Container": workstation, "Force": true});
        let _ = scope
            .upstream()
            .call(
                Method::POST,
                &format!("/networks/{network_id}/disconnect"),
                Some(&disconnect),
            )
            .await;
    }
}

pub async fn remove(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let network = scope::network(scope, reference).await?;
    if network.name == scope.names().bridge() {
        return Err(Refusal::forbidden(
            "bridge is a pre-defined network and cannot be removed",
        ));
    }
    detach_workstation(scope, &network.id).await;
    delete(scope, &network.id).await?;
    Ok(reply::no_content(hyper::StatusCode::NO_CONTENT))
}

pub async fn prune(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    filters::parse(&call.query, &["label", "until"])?;
    let mut deleted = Vec::new();
    for network in scope::networks(scope).await? {
        let name = network["Name"].as_str().unwrap_or_default();
        if name == scope.names().bridge() {
            continue;
        }
        let id = network["Id"].as_str().unwrap_or_default();
        let detail = scope
            .upstream()
            .ok(Method::GET, &format!("/networks/{id}"), None)
            .await?;
        let in_use = detail["Containers"].as_object().is_some_and(|members| {
            members.values().any(|m| {
                m["Name"]
                    .as_str()
                    .is_some_and(|n| !n.starts_with("berth-ws-"))
            })
        });
        if in_use {
            continue;
        }
        detach_workstation(scope, id).await;
        if delete(scope, id).await.is_ok() {
            deleted.push(Value::from(name));
        }
    }
    let mut value = json!({"NetworksDeleted": deleted});
    scope.names().unscope(&mut value);
    Ok(reply::json_ok(value))
}

pub async fn connect(
    call: &Call<'_>,
    reference: &str,
    request: Request<Guarded>,
    connect: bool,
) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let network = scope::network(scope, reference).await?;
    let body = reply::read_json(request).await?;
    let container_ref = get(&body, "Container")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let container = scope::container(scope, container_ref).await?;
    let id = container["Id"].as_str().unwrap_or_default();
    let out = if connect {
        let name = scope::learner_name(scope, &container).unwrap_or_default();
        let mut aliases = vec![Value::from(name)];
        let given = get(&body, "EndpointConfig")
            .and_then(Value::as_object)
            .and_then(|e| get(e, "Aliases"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for alias in given {
            match alias.as_str() {
                Some(a) if valid_name(a) => aliases.push(alias.clone()),
                _ => return Err(Refusal::bad_request(format!("invalid alias {alias}"))),
            }
        }
        json!({"Container": id, "EndpointConfig": {"Aliases": aliases}})
    } else {
        let force = get(&body, "Force").is_some_and(|f| f.as_bool() == Some(true));
        json!({"Container": id, "Force": force})
    };
    let part = if connect { "connect" } else { "disconnect" };
    let response = call
        .forward_json(
            Method::POST,
            call.path(&format!("/networks/{}/{part}", network.id)),
            out.as_object().unwrap_or(&Map::new()),
        )
        .await?;
    reply::passthrough(response).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_stay_plain() {
        assert!(create_body(br#"{"Name":"n","Driver":"macvlan"}"#).is_err());
        assert!(
            create_body(br#"{"Name":"n","IPAM":{"Config":[{"Subnet":"10.0.0.0/8"}]}}"#).is_err()
        );
        assert!(
            create_body(br#"{"Name":"n","Options":{"com.docker.network.bridge.name":"eth0"}}"#)
                .is_err()
        );
        assert!(create_body(br#"{"Name":"bridge"}"#).is_err());
        let (name, body) = create_body(br#"{"Name":"n","Attachable":true}"#).unwrap();
        assert_eq!(name, "n");
        assert_eq!(body["Attachable"], true);
        assert_eq!(body["Labels"][LABEL_INTERNAL], "false");
        let mut shown = json!({"Internal": true, "Labels": body["Labels"].clone()});
        hide_host(&mut shown);
        assert_eq!(shown["Internal"], false, "shown as asked");
    }
}
