//! Hostile requests to a learner's scoped engine, sent as raw HTTP on their socket and through
//! the docker CLI in their workstation. Each is refused or rewritten; at the end the engine
//! itself is inspected, to see that nothing dangerous was made and the other learner's objects
//! are untouched.

mod common;

use std::collections::HashMap;

use bollard::query_parameters::{InspectContainerOptions, ListContainersOptions};
use common::Sandboxed;

fn request(method: &str, path: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The status codes of every response in what the socket sent back.
fn statuses(response: &str) -> Vec<u16> {
    response
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|part| part.get(..3)?.parse().ok())
        .collect()
}

fn create(body: &str) -> Vec<u8> {
    request("POST", "/v1.41/containers/create", body)
}

/// Sends a raw request and checks the final status is one of `expected`.
async fn expect(learner: &Sandboxed, what: &str, raw: &[u8], expected: &[u16]) -> String {
    let response = learner.raw(raw).await;
    let last = statuses(&response).last().copied();
    assert!(
        last.is_some_and(|s| expected.contains(&s)),
        "{what}: expected {expected:?}, got {last:?}\n{response}"
    );
    // What the learner typed may come back; the engine's names for their own objects may not.
    let own = format!("berth-{}", learner.sandbox);
    assert!(
        !response.contains(&own),
        "{what} leaked an engine name:\n{response}"
    );
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_or_rewritten() {
    let server = common::start_docker().await;
    let (alice, bob) = tokio::join!(server.sandboxed(), server.sandboxed());
    // Bob's things, which Alice must not reach.
    let bob_web = bob
        .docker("run -d --name web busybox sleep 600")
        .await
        .trim()
        .to_owned();
    bob.docker("run -d --name stopped busybox true").await;
    bob.docker("volume create secret").await;
    bob.docker("network create privnet").await;
    let bob_exec = bob
        .raw(&request(
            "POST",
            &format!("/v1.41/containers/{bob_web}/exec"),
            r#"{"Cmd":["true"]}"#,
        ))
        .await;
    let bob_exec_id = bob_exec
        .split("\"Id\":\"")
        .nth(1)
        .and_then(|s| s.get(..64))
        .expect("bob's exec id")
        .to_owned();
    let bob_net = bob
        .docker("network inspect privnet --format '{{.Id}}'")
        .await
        .trim()
        .to_owned();
    alice.docker("run -d --name mine busybox sleep 600").await;
    let ws = format!("berth-ws-{}", alice.sandbox);
    let b = &bob.sandbox;

    let mut refused = 0;
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        ("privileged", create(r#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#), &[403]),
        ("privileged, lower case", create(r#"{"image":"busybox","hostconfig":{"privileged":true}}"#), &[403]),
        ("privileged, upper case number", create(r#"{"Image":"busybox","HostConfig":{"PRIVILEGED":1}}"#), &[403]),
        ("duplicate keys", create(r#"{"Image":"busybox","HostConfig":{"Privileged":false,"privileged":true}}"#), &[400]),
        ("duplicate HostConfig", create(r#"{"Image":"busybox","HostConfig":{},"hostConfig":{"Privileged":true}}"#), &[400]),
        ("host bind", create(r#"{"Image":"busybox","HostConfig":{"Binds":["/:/host"]}}"#), &[403]),
        ("climbing out of the home", create(r#"{"Image":"busybox","HostConfig":{"Binds":["/home/learner/../../etc:/x"]}}"#), &[403]),
        ("a bind mount climbing out of the home", create(r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"/home/learner/a/../../../","Target":"/x"}]}}"#), &[403]),
        ("a look-alike home", create(r#"{"Image":"busybox","HostConfig":{"Binds":["/home/learner2:/x"]}}"#), &[403]),
        ("a home folder over the root", create(r#"{"Image":"busybox","HostConfig":{"Binds":["/home/learner/x:/"]}}"#), &[403]),
        ("a home folder over /etc/hosts", create(r#"{"Image":"busybox","HostConfig":{"Binds":["/home/learner/x:/etc/hosts"]}}"#), &[403]),
        ("a home folder climbing in its target", create(r#"{"Image":"busybox","HostConfig":{"Binds":["/home/learner/x:/a/../../proc"]}}"#), &[400, 403]),
        ("relative host bind", create(r#"{"Image":"busybox","HostConfig":{"Binds":["./x:/host"]}}"#), &[403]),
        ("bind mount", create(r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bind","Source":"/etc","Target":"/x"}]}}"#), &[403]),
        ("volume driver in a mount", create(r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"volume","Source":"v","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"local","Options":{"type":"none","o":"bind","device":"/"}}}}]}}"#), &[403]),
        ("bind-backed local volume", request("POST", "/v1.41/volumes/create", r#"{"Name":"rootfs","DriverOpts":{"type":"none","o":"bind","device":"/"}}"#), &[403]),
        ("foreign volume driver", request("POST", "/v1.41/volumes/create", r#"{"Name":"v","Driver":"rexray"}"#), &[403]),
        ("host pid", create(r#"{"Image":"busybox","HostConfig":{"PidMode":"host"}}"#), &[403]),
        ("host ipc", create(r#"{"Image":"busybox","HostConfig":{"IpcMode":"host"}}"#), &[403]),
        ("host uts", create(r#"{"Image":"busybox","HostConfig":{"UTSMode":"host"}}"#), &[403]),
        ("host userns", create(r#"{"Image":"busybox","HostConfig":{"UsernsMode":"host"}}"#), &[403]),
        ("host cgroupns", create(r#"{"Image":"busybox","HostConfig":{"CgroupnsMode":"host"}}"#), &[403]),
        ("host network", create(r#"{"Image":"busybox","HostConfig":{"NetworkMode":"host"}}"#), &[403]),
        ("the workstation's network namespace", create(&format!(r#"{{"Image":"busybox","HostConfig":{{"NetworkMode":"container:{ws}"}}}}"#)), &[404]),
        ("another learner's network namespace", create(&format!(r#"{{"Image":"busybox","HostConfig":{{"NetworkMode":"container:{bob_web}"}}}}"#)), &[404]),
        ("another learner's pid namespace", create(&format!(r#"{{"Image":"busybox","HostConfig":{{"PidMode":"container:{bob_web}"}}}}"#)), &[403]),
        ("cap add", create(r#"{"Image":"busybox","HostConfig":{"CapAdd":["SYS_ADMIN"]}}"#), &[403]),
        ("devices", create(r#"{"Image":"busybox","HostConfig":{"Devices":[{"PathOnHost":"/dev/sda","PathInContainer":"/dev/sda","CgroupPermissions":"rwm"}]}}"#), &[403]),
        ("security opt", create(r#"{"Image":"busybox","HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}"#), &[403]),
        ("sysctls", create(r#"{"Image":"busybox","HostConfig":{"Sysctls":{"kernel.shm_rmid_forced":"1"}}}"#), &[403]),
        ("cgroup parent", create(r#"{"Image":"busybox","HostConfig":{"CgroupParent":"/"}}"#), &[403]),
        ("runtime", create(r#"{"Image":"busybox","HostConfig":{"Runtime":"runc"}}"#), &[403]),
        ("unmasked paths", create(r#"{"Image":"busybox","HostConfig":{"MaskedPaths":[]}}"#), &[403]),
        ("unlimited memory", create(r#"{"Image":"busybox","HostConfig":{"Memory":-1}}"#), &[403]),
        ("unlimited pids", create(r#"{"Image":"busybox","HostConfig":{"PidsLimit":-1}}"#), &[403]),
        ("forged owner label", create(&format!(r#"{{"Image":"busybox","Labels":{{"berth.owner":"{b}"}}}}"#)), &[403]),
        ("another learner's container by id", request("GET", &format!("/v1.41/containers/{bob_web}/json"), ""), &[404]),
        ("another learner's container by id prefix", request("POST", &format!("/v1.41/containers/{}/stop", &bob_web[..4]), ""), &[404]),
        ("another learner's container by engine name", request("DELETE", &format!("/v1.41/containers/berth-{b}-web?force=1"), ""), &[404]),
        ("the workstation by name", request("GET", &format!("/v1.41/containers/{ws}/json"), ""), &[404]),
        ("the workstation by id", request("POST", &format!("/v1.41/containers/{}/exec", alice.workstation), r#"{"Cmd":["id"]}"#), &[404]),
        ("another learner's exec", request("POST", &format!("/v1.41/exec/{bob_exec_id}/start"), r#"{"Detach":true}"#), &[404]),
        ("another learner's network", request("GET", &format!("/v1.41/networks/{bob_net}"), ""), &[404]),
        ("another learner's volume", request("DELETE", &format!("/v1.41/volumes/berth-{b}-secret"), ""), &[404]),
        ("exec as root", request("POST", "/v1.41/containers/mine/exec", r#"{"Cmd":["id"],"User":"root"}"#), &[403]),
        ("exec as uid 0", request("POST", "/v1.41/containers/mine/exec", r#"{"Cmd":["id"],"user":"0:0"}"#), &[403]),
        ("exec privileged", request("POST", "/v1.41/containers/mine/exec", r#"{"Cmd":["id"],"Privileged":true}"#), &[403]),
        ("filters given twice", request("GET", "/v1.41/containers/json?filters=%7B%7D&filters=%7B%7D", ""), &[400]),
        ("grpc", request("POST", "/grpc", ""), &[403]),
        ("session", request("POST", "/v1.41/session", ""), &[403]),
        ("swarm init", request("POST", "/v1.41/swarm/init", "{}"), &[403]),
        ("secrets", request("GET", "/v1.41/secrets", ""), &[403]),
        ("plugins", request("GET", "/v1.41/plugins", ""), &[403]),
        ("plugin install", request("POST", "/v1.41/plugins/pull?remote=evil/plugin", "[]"), &[403]),
        ("commit", request("POST", "/v1.41/commit?container=mine&repo=x", ""), &[403]),
        ("update limits", request("POST", "/v1.41/containers/mine/update", r#"{"Memory":0}"#), &[403]),
        ("build on the host network", request("POST", "/v1.41/build?networkmode=host", ""), &[403]),
        ("build from a remote", request("POST", "/v1.41/build?remote=http://169.254.169.254/", ""), &[403]),
        ("pull outside the list", request("POST", "/v1.41/images/create?fromImage=evil/miner&tag=latest", ""), &[403]),
        ("import from a url", request("POST", "/v1.41/images/create?fromSrc=http://169.254.169.254/", ""), &[403]),
        ("another learner's image", create(&format!(r#"{{"Image":"berth-{b}/app"}}"#)), &[404]),
        ("tag into another learner's names", request("POST", &format!("/v1.41/images/busybox/tag?repo=berth-{b}/x&tag=1"), ""), &[403, 404]),
        ("encoded slash", request("GET", "/v1.41/containers/a%2Fb/json", ""), &[400]),
        ("dot segments", request("GET", "/v1.41/containers/../info", ""), &[400]),
        ("double slash", request("GET", "//v1.41/containers/json", ""), &[400]),
        ("trailing slash", request("GET", "/v1.41/containers/json/", ""), &[400]),
        ("upper case", request("GET", "/v1.41/CONTAINERS/json", ""), &[403]),
        ("absolute-form target", b"GET http://docker/v1.41/info HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".to_vec(), &[400]),
        ("oversized body", format!("POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", 2 << 20).into_bytes(), &[413]),
        ("duplicate name parameter", request("POST", "/v1.41/containers/create?name=a&name=b", r#"{"Image":"busybox"}"#), &[400]),
    ];
    let count = cases.len();
    for (what, raw, expected) in cases {
        expect(&alice, what, &raw, expected).await;
        refused += 1;
    }

    // Framing tricks: whatever hides behind them is read as a request of its own, and refused.
    let hidden = r#"{"Image":"busybox","HostConfig":{"Privileged":true}}"#;
    let smuggled = format!(
        "POST /v1.41/containers/create?name=front HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n{}",
        String::from_utf8(create(hidden)).unwrap()
    );
    let response = expect(
        &alice,
        "body after Content-Length: 0",
        smuggled.as_bytes(),
        &[403],
    )
    .await;
    assert_eq!(statuses(&response).len(), 2, "{response}");
    let chunk = format!("{:x}\r\n{hidden}\r\n0\r\n\r\n", hidden.len());
    let conflict = format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}"
    );
    expect(
        &alice,
        "Content-Length and Transfer-Encoding",
        conflict.as_bytes(),
        &[403],
    )
    .await;
    let big = "x".repeat(2 << 20);
    let chunked = format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    expect(&alice, "oversized chunked body", chunked.as_bytes(), &[413]).await;
    // Refused from the query alone, with a build context behind it: berth still reads the
    // context, so the CLI gets to read the reason instead of failing with "broken pipe".
    let context = "x".repeat(8 << 20);
    let refused_build = format!(
        "POST /v1.41/build?networkmode=host HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{context}",
        context.len()
    );
    let response = alice.raw_sent_in_full(refused_build.as_bytes()).await;
    assert_eq!(statuses(&response), [403], "{response}");
    let mut pipelined = b"GET /v1.41/_ping HTTP/1.1\r\nHost: d\r\n\r\n".to_vec();
    pipelined.extend(create(hidden));
    let response = expect(&alice, "pipelined", &pipelined, &[403]).await;
    assert_eq!(statuses(&response), [200, 403], "{response}");
    let expect_continue = format!(
        "POST /v1.41/containers/create HTTP/1.1\r\nHost: d\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{hidden}",
        hidden.len()
    );
    expect(
        &alice,
        "Expect: 100-continue",
        expect_continue.as_bytes(),
        &[403],
    )
    .await;
    refused += 5;

    // Lists and prunes cannot be widened past the owner: berth's labels are not the
    // learner's to filter on.
    let foreign_filter = format!(
        "/v1.41/containers/json?all=1&filters=%7B%22label%22%3A%5B%22berth.owner%3D{b}%22%5D%7D"
    );
    let listed = expect(
        &alice,
        "filter for another owner",
        &request("GET", &foreign_filter, ""),
        &[403],
    )
    .await;
    assert!(!listed.contains(&bob_web), "{listed}");
    let pruned = expect(
        &alice,
        "prune",
        &request("POST", "/v1.41/containers/prune", ""),
        &[200],
    )
    .await;
    assert!(!pruned.contains(&bob_web), "{pruned}");
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 1;
    bob.docker("pause web").await;
    alice.docker("pause mine").await;
    alice.docker("unpause mine").await;
    bob.docker("unpause web").await;
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let events = expect(&alice, "events", &request("GET", &format!("/v1.41/events?since={since}&until={until}&filters=%7B%22event%22%3A%5B%22pause%22%5D%7D"), ""), &[200]).await;
    assert!(
        !events.contains(&bob_web) && events.contains("\"name\":\"mine\""),
        "{events}"
    );
    assert!(!events.contains("berth.owner"), "{events}");
    refused += 3;

    // The same through the CLI, as a learner would try it.
    for (args, says) in [
        (
            "run --privileged busybox true",
            "--privileged is not available",
        ),
        (
            "run --cap-add SYS_ADMIN busybox true",
            "--cap-add is not available",
        ),
        ("run -v /:/host busybox true", "or a named volume"),
        (
            "run --mount type=bind,source=/etc,target=/x busybox true",
            "or a named volume",
        ),
        ("run --pid host busybox true", "--pid is not available"),
        (
            "run --network host busybox true",
            "--network host is not available",
        ),
        (
            "run --device /dev/sda busybox true",
            "--device is not available",
        ),
        (
            "run --security-opt seccomp=unconfined busybox true",
            "--security-opt is not available",
        ),
        (
            "run --userns host busybox true",
            "--userns is not available",
        ),
        ("run --pids-limit -1 busybox true", "unlimited processes"),
        ("run --label berth.owner=x busybox true", "reserved"),
        (
            "run --sysctl net.ipv4.ip_forward=1 busybox true",
            "--sysctl is not available",
        ),
        ("exec -u root mine id", "--user root is not available"),
        ("exec --privileged mine id", "--privileged is not available"),
        ("swarm init", "swarm mode is not available"),
        ("plugin ls", "plugins is not available"),
        ("build --network host -", "--network host is not available"),
        (&format!("stop {}", &bob_web[..12]), "No such container"),
        ("volume rm secret", "no such volume"),
        ("network inspect privnet", "no such network"),
    ] {
        let out = alice.docker_fails(args).await;
        assert!(
            out.to_lowercase().contains(&says.to_lowercase()),
            "docker {args}: {out}"
        );
        assert!(!out.contains("berth-"), "docker {args} leaked: {out}");
        refused += 1;
    }
    let dockerfile = format!("printf 'FROM berth-{b}/app\\n' | docker build -");
    let out = alice.sh(&dockerfile).await;
    assert_ne!(out.code, 0, "{out:?}");
    let out = alice
        .sh("printf 'FROM busybox\\nADD http://169.254.169.254/ /x\\n' | docker build -")
        .await;
    assert!(
        out.all().contains("ADD from a URL is not available"),
        "{out:?}"
    );
    refused += 2;
    // Another learner's home, by its engine name: the name is made alice's own (a new, empty
    // volume), so bob's files stay out of reach.
    bob.sh("echo bob-secret > ~/secret-file").await;
    let out = alice
        .sh(&format!(
            "docker run --rm -v berth-home-{b}:/x busybox ls -a /x"
        ))
        .await;
    assert!(!out.all().contains("secret-file"), "{out:?}");
    let out = alice
        .sh(&format!(
            "docker run --rm --mount type=volume,source=berth-home-{b},target=/x busybox ls -a /x"
        ))
        .await;
    assert!(!out.all().contains("secret-file"), "{out:?}");
    refused += 2;
    assert!(refused >= 40 + count / 2, "{refused} hostile requests");

    // What the engine holds now.
    let engine = common::docker().await;
    let containers = engine
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![
                    format!("berth.owner={}", alice.sandbox),
                    "berth.role=learner".to_owned(),
                ],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(containers.len(), 1, "only `mine` was made: {containers:?}");
    for summary in containers {
        let info = engine
            .inspect_container(
                summary.id.as_deref().unwrap(),
                None::<InspectContainerOptions>,
            )
            .await
            .unwrap();
        let host = info.host_config.unwrap();
        assert_eq!(host.privileged, Some(false));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert!(
            host.cap_add
                .unwrap_or_default()
                .iter()
                .all(|c| berth::engine::containers::body::LEARNER_CAPS.contains(&c.as_str()))
        );
        assert!(host.binds.unwrap_or_default().is_empty());
        assert!(host.devices.unwrap_or_default().is_empty());
        assert_eq!(host.pid_mode.as_deref().unwrap_or_default(), "");
        assert!(
            host.security_opt
                .unwrap_or_default()
                .contains(&"no-new-privileges".to_owned())
        );
        assert_eq!(host.memory, host.memory_swap);
        assert!(host.memory.unwrap_or_default() > 0);
        assert!(host.pids_limit.unwrap_or_default() > 0);
        assert!(host.port_bindings.unwrap_or_default().is_empty());
        let bridge = engine
            .inspect_network(
                &format!("berth-{}", alice.sandbox),
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .unwrap();
        assert_eq!(host.network_mode, bridge.id);
    }
    let volumes = engine
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
        .unwrap();
    for volume in volumes.volumes.unwrap_or_default() {
        // berth's own home volumes are tmpfs; no learner got to choose driver options.
        if volume.labels.get("berth.role").map(String::as_str) == Some("home") {
            assert_eq!(volume.options["type"], "tmpfs", "{volume:?}");
            assert!(volume.options["o"].contains("nosuid,nodev"), "{volume:?}");
            continue;
        }
        assert!(
            volume.options.is_empty(),
            "no volume has driver options: {volume:?}"
        );
    }
    // Bob's things are as he left them.
    assert_eq!(bob.docker("ps -q").await.lines().count(), 1);
    assert_eq!(bob.docker("ps -a -q").await.lines().count(), 2);
    assert!(bob.docker("volume ls -q").await.contains("secret"));
    server.stop().await;
}
