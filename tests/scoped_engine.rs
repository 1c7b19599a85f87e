//! The scoped engine, through the real docker CLI in a real workstation: every command a
//! learner types, with what it prints. Needs the Docker engine, the workstation image and the
//! offline `busybox` image (scripts/test builds both).

mod common;

use common::Sandboxed;

/// Runs `docker ARGS` and checks that the engine's names for the learner's objects never show.
async fn ok(learner: &Sandboxed, args: &str) -> String {
    let out = learner.docker(args).await;
    assert!(
        !out.contains("berth-"),
        "docker {args} leaked an engine name:\n{out}"
    );
    out
}

async fn refused(learner: &Sandboxed, args: &str) -> String {
    let out = learner.docker_fails(args).await;
    assert!(
        !out.contains("berth-"),
        "docker {args} leaked an engine name:\n{out}"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_behave_as_on_a_laptop() {
    let server = common::start_docker().await;
    let me = server.sandboxed().await;

    let version = ok(
        &me,
        "version --format '{{.Client.Version}} {{.Server.Version}}'",
    )
    .await;
    assert_eq!(version.split_whitespace().count(), 2, "{version}");
    let info = ok(
        &me,
        "info --format '{{.Name}}|{{.DockerRootDir}}|{{.Containers}}'",
    )
    .await;
    assert_eq!(info.trim(), "berth||0");
    assert_eq!(ok(&me, "ps -a -q").await, "");

    let hello = ok(&me, "run --rm busybox echo hello from a container").await;
    assert_eq!(hello.trim(), "hello from a container");
    assert_eq!(ok(&me, "ps -a -q").await, "", "--rm removed it");

    let env = ok(
        &me,
        "run --rm -e GREETING=hi -w /tmp busybox sh -c 'echo $GREETING from $(pwd)'",
    )
    .await;
    assert_eq!(env.trim(), "hi from /tmp");
    let entry = ok(&me, "run --rm --entrypoint /bin/echo busybox entry").await;
    assert_eq!(entry.trim(), "entry");
    let limited = ok(
        &me,
        "run --rm -m 64m --cpus 0.5 busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    )
    .await;
    assert_eq!(limited.trim(), (64u64 << 20).to_string());
    let too_big = refused(&me, "run --rm -m 4g busybox true").await;
    assert!(
        too_big.contains("berth: --memory can be at most 1024m"),
        "{too_big}"
    );

    let id = ok(
        &me,
        "run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /etc",
    )
    .await;
    assert_eq!(id.trim().len(), 64);
    let ps = ok(&me, "ps").await;
    assert!(ps.contains("0.0.0.0:8080->80/tcp"), "{ps}");
    assert!(ps.trim_end().ends_with("web"), "{ps}");
    let served = me.sh("sleep 0.5; curl -s localhost:8080/hostname").await;
    assert_eq!(served.stdout.trim(), &id.trim()[..12], "{served:?}");
    assert_eq!(ok(&me, "port web").await.trim(), "80/tcp -> 0.0.0.0:8080");
    let inspect = ok(
        &me,
        "inspect web --format '{{.Name}} {{.HostConfig.NetworkMode}} {{.State.Status}}'",
    )
    .await;
    assert_eq!(inspect.trim(), "/web bridge running");
    assert!(ok(&me, "top web").await.contains("httpd"));
    assert_eq!(
        ok(&me, "ps -q --filter name=web").await.trim(),
        &id.trim()[..12]
    );
    assert_eq!(ok(&me, "ps -q --filter name=nothing").await, "");
    assert_eq!(
        ok(&me, "ps -q --filter status=running").await.trim(),
        &id.trim()[..12]
    );

    ok(&me, "exec web sh -c 'echo changed > /tmp/note'").await;
    assert_eq!(ok(&me, "exec web cat /tmp/note").await.trim(), "changed");
    assert!(ok(&me, "diff web").await.contains("A /tmp/note"));
    me.sh("echo from-the-workstation > ~/greeting.txt").await;
    ok(&me, "cp greeting.txt web:/tmp/greeting.txt").await;
    assert_eq!(
        ok(&me, "exec web cat /tmp/greeting.txt").await.trim(),
        "from-the-workstation"
    );
    ok(&me, "cp web:/etc/passwd copied-passwd").await;
    assert!(
        me.sh("cat copied-passwd")
            .await
            .stdout
            .contains("root:x:0:0")
    );
    let stats = ok(&me, "stats --no-stream --format '{{.Name}}'").await;
    assert_eq!(stats.trim(), "web");

    let logged = ok(
        &me,
        "run -d --name talker busybox sh -c 'for i in 1 2 3 4 5; do echo line $i; done; sleep 300'",
    )
    .await;
    assert!(!logged.is_empty());
    me.sh("sleep 0.5").await;
    assert_eq!(ok(&me, "logs --tail 2 talker").await, "line 4\nline 5\n");
    let follow = me.sh("timeout 2 docker logs -f talker; true").await;
    assert!(follow.stdout.contains("line 1"), "{follow:?}");

    ok(&me, "rename talker chatter").await;
    assert!(
        ok(&me, "ps --format '{{.Names}}'")
            .await
            .contains("chatter")
    );
    let conflict = refused(&me, "run -d --name web busybox true").await;
    assert!(
        conflict.contains("\"/web\" is already in use"),
        "{conflict}"
    );
    ok(&me, "kill chatter").await;
    assert!(
        ok(&me, "ps -a --format '{{.Names}} {{.State}}'")
            .await
            .contains("chatter exited")
    );
    ok(&me, "restart web").await;
    ok(&me, "stop web").await;
    let stopped = ok(&me, "ps -a --format '{{.Names}} {{.Status}} [{{.Ports}}]'").await;
    assert!(stopped.contains("web Exited"), "{stopped}");
    assert!(
        stopped.contains("[]"),
        "a stopped container publishes nothing: {stopped}"
    );

    ok(
        &me,
        "create --name later --restart on-failure:2 busybox sh -c 'exit 3'",
    )
    .await;
    assert!(
        ok(&me, "ps -a --format '{{.Names}} {{.State}}'")
            .await
            .contains("later created")
    );
    ok(&me, "start later").await;
    assert_eq!(ok(&me, "wait later").await.trim(), "3");
    let restart = refused(&me, "run -d --restart always busybox true").await;
    assert!(
        restart.contains("--restart always is not available"),
        "{restart}"
    );

    let exposed = ok(
        &me,
        "run -d --name any --expose 80 -P busybox httpd -f -p 80 -h /etc",
    )
    .await;
    assert!(!exposed.is_empty());
    assert_eq!(ok(&me, "port any 80").await.trim(), "0.0.0.0:32768");
    let picked = me.sh("sleep 0.5; curl -s localhost:32768/hostname").await;
    assert_eq!(picked.stdout.trim(), &exposed.trim()[..12], "{picked:?}");
    ok(&me, "rm -f any").await;
    ok(&me, "rm -f later").await;
    let pruned = ok(&me, "container prune -f").await;
    assert!(pruned.contains("Deleted Containers"), "{pruned}");
    assert!(!ok(&me, "ps -a").await.contains("chatter"));
    ok(&me, "rm -f web").await;
    assert_eq!(ok(&me, "ps -a -q").await, "");
    let gone = me
        .sh("curl -s -m 2 localhost:8080 || echo unreachable")
        .await;
    assert!(gone.stdout.contains("unreachable"), "{gone:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_builds_and_pulls() {
    let server = common::start_docker().await;
    let me = server.sandboxed().await;

    assert_eq!(
        ok(&me, "images -q").await,
        "",
        "nothing is in view before a pull"
    );
    let pulled = ok(&me, "pull busybox").await;
    assert!(
        pulled.contains("already on this machine"),
        "offline, the local copy is used: {pulled}"
    );
    assert!(
        ok(&me, "images --format '{{.Repository}}:{{.Tag}}'")
            .await
            .contains("busybox:latest")
    );
    let refused_pull = refused(&me, "pull someone/miner").await;
    assert!(
        refused_pull.contains("not on this sandbox's list"),
        "{refused_pull}"
    );

    me.sh("mkdir -p app && printf 'FROM busybox\\nRUN echo v1 > /version\\nCMD [\"cat\", \"/version\"]\\n' > app/Dockerfile").await;
    let built = ok(&me, "build -t myapp:1 app").await;
    assert!(built.contains("Successfully tagged myapp:1"), "{built}");
    assert_eq!(ok(&me, "run --rm myapp:1").await.trim(), "v1");
    ok(&me, "tag myapp:1 myapp:latest").await;
    me.sh("printf 'FROM myapp\\nRUN echo v2 > /version\\n' > app/Dockerfile.v2")
        .await;
    ok(&me, "build -t myapp:2 -f app/Dockerfile.v2 app").await;
    assert_eq!(ok(&me, "run --rm myapp:2").await.trim(), "v2");
    let images = ok(&me, "images --format '{{.Repository}}:{{.Tag}}'").await;
    for tag in ["myapp:1", "myapp:2", "myapp:latest", "busybox:latest"] {
        assert!(images.contains(tag), "{tag} in {images}");
    }
    let history = ok(&me, "history myapp:2 --format '{{.CreatedBy}}'").await;
    assert!(
        history.contains("echo v2") && history.contains("echo v1"),
        "{history}"
    );
    let inspect = ok(
        &me,
        "image inspect myapp:1 --format '{{index .RepoTags 0}}'",
    )
    .await;
    assert!(inspect.starts_with("myapp:"), "{inspect}");
    let from_nowhere = refused(&me, "tag myapp:1 registry.example.org/app").await;
    assert!(
        from_nowhere.contains("cannot be used as an image name"),
        "{from_nowhere}"
    );

    ok(&me, "rmi myapp:2").await;
    // (Not `images` alone: its CREATED column may say "2 seconds ago".)
    let left = ok(&me, "images --format '{{.Repository}}:{{.Tag}}'").await;
    assert!(!left.lines().any(|l| l == "myapp:2"), "{left}");
    refused(&me, "image inspect myapp:2").await;
    ok(&me, "create --name holder busybox true").await;
    let in_use = refused(&me, "rmi busybox").await;
    assert!(
        in_use.contains("container") && in_use.contains("is using its referenced image"),
        "{in_use}"
    );
    ok(&me, "rm holder").await;
    let untagged = ok(&me, "rmi busybox").await;
    assert!(untagged.contains("Untagged: busybox:latest"), "{untagged}");
    assert!(
        !ok(&me, "images").await.contains("busybox"),
        "it left this learner's view"
    );
    let engine = common::docker().await;
    assert!(
        engine.inspect_image("busybox:latest").await.is_ok(),
        "the shared copy stays"
    );

    me.sh("printf 'FROM busybox\\nRUN echo scratch > /x\\n' > app/Dockerfile.tmp")
        .await;
    ok(&me, "build -q -f app/Dockerfile.tmp app").await;
    let pruned = ok(&me, "image prune -a -f").await;
    assert!(
        pruned.contains("deleted") || pruned.contains("Deleted"),
        "{pruned}"
    );
    assert_eq!(ok(&me, "images -q").await, "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_and_networks() {
    let server = common::start_docker().await;
    let me = server.sandboxed().await;

    assert_eq!(ok(&me, "volume create data").await.trim(), "data");
    assert!(
        ok(&me, "volume ls --format '{{.Name}}'")
            .await
            .contains("data")
    );
    ok(
        &me,
        "run --rm -v data:/data busybox sh -c 'echo kept > /data/file'",
    )
    .await;
    assert_eq!(
        ok(&me, "run --rm -v data:/data:ro busybox cat /data/file")
            .await
            .trim(),
        "kept"
    );
    ok(
        &me,
        "run --rm --mount type=volume,source=auto,target=/x busybox touch /x/y",
    )
    .await;
    assert!(
        ok(&me, "volume ls --format '{{.Name}}'")
            .await
            .contains("auto")
    );
    let mountpoint = ok(&me, "volume inspect data --format '{{.Name}} {{.Driver}}'").await;
    assert_eq!(mountpoint.trim(), "data local");
    let host_path = refused(&me, "run --rm -v /etc:/host busybox true").await;
    assert!(host_path.contains("or a named volume"), "{host_path}");
    let bind_volume = refused(
        &me,
        "volume create --opt type=none --opt o=bind --opt device=/ rootfs",
    )
    .await;
    assert!(
        bind_volume.contains("volume driver options"),
        "{bind_volume}"
    );
    // Anonymous volumes (`-v /path`, an image's VOLUME) behave as with Docker: berth makes
    // them, with the learner's labels, so they are listed, counted and reattachable by name;
    // `rm` keeps them, `rm -v` and `--rm` remove them.
    ok(&me, "run -d --name anon -v /scratch busybox sleep 300").await;
    let anonymous = ok(
        &me,
        "inspect anon --format '{{range .Mounts}}{{.Name}}{{end}}'",
    )
    .await;
    let anonymous = anonymous.trim().to_owned();
    assert_eq!(anonymous.len(), 64, "{anonymous}");
    assert!(ok(&me, "volume ls -q").await.contains(&anonymous));
    ok(&me, "exec anon sh -c 'echo kept > /scratch/note'").await;
    ok(&me, "rm -f anon").await;
    let again = ok(
        &me,
        &format!("run --rm -v {anonymous}:/again busybox cat /again/note"),
    )
    .await;
    assert_eq!(again.trim(), "kept");
    ok(&me, "run -d --name anon -v /scratch busybox sleep 300").await;
    let second = ok(
        &me,
        "inspect anon --format '{{range .Mounts}}{{.Name}}{{end}}'",
    )
    .await;
    ok(&me, "rm -f -v anon").await;
    assert!(!ok(&me, "volume ls -q").await.contains(second.trim()));
    ok(&me, "run --rm -v /gone busybox true").await;
    ok(&me, &format!("volume rm {anonymous}")).await;
    let listed = common::wait_until(std::time::Duration::from_secs(10), || async {
        let listed = ok(&me, "volume ls -q").await;
        (listed.lines().all(|l| l.len() != 64)).then_some(listed)
    })
    .await;
    assert!(
        listed.is_some(),
        "the --rm container's volume was left behind: {}",
        ok(&me, "volume ls").await
    );
    ok(&me, "volume rm auto").await;
    ok(&me, "volume prune -f").await;
    assert_eq!(ok(&me, "volume ls -q").await, "");

    let networks = ok(&me, "network ls --format '{{.Name}}'").await;
    assert_eq!(networks.trim(), "bridge");
    ok(&me, "network create mynet").await;
    let networks = ok(&me, "network ls --format '{{.Name}}'").await;
    assert!(
        networks.contains("mynet") && networks.contains("bridge"),
        "{networks}"
    );
    ok(
        &me,
        "run -d --name db --network mynet busybox httpd -f -p 80 -h /etc",
    )
    .await;
    let resolved = ok(
        &me,
        "run --rm --network mynet busybox wget -q -O - http://db/hostname",
    )
    .await;
    assert_eq!(resolved.trim().len(), 12, "{resolved}");
    let members = ok(
        &me,
        "network inspect mynet --format '{{range .Containers}}{{.Name}} {{end}}'",
    )
    .await;
    assert_eq!(members.trim(), "db", "the workstation is not shown");
    ok(&me, "run -d --name web busybox sleep 300").await;
    ok(&me, "network connect mynet web").await;
    let reached = ok(&me, "exec web wget -q -O - http://db/hostname").await;
    assert_eq!(reached.trim().len(), 12);
    ok(&me, "network disconnect mynet web").await;
    let cut = me
        .sh("docker exec web wget -q -T 2 -O - http://db/hostname")
        .await;
    assert_ne!(cut.code, 0, "{cut:?}");

    ok(&me, "run -d --name cache busybox httpd -f -p 80 -h /etc").await;
    let linked = ok(
        &me,
        "run --rm --link cache:store busybox wget -q -O - http://store/hostname",
    )
    .await;
    assert_eq!(linked.trim().len(), 12, "{linked}");
    let bridge_rm = refused(&me, "network rm bridge").await;
    assert!(bridge_rm.contains("pre-defined"), "{bridge_rm}");
    let host = refused(&me, "run --rm --network host busybox true").await;
    assert!(host.contains("--network host is not available"), "{host}");

    ok(&me, "rm -f db web cache").await;
    ok(&me, "network rm mynet").await;
    ok(&me, "network create spare").await;
    let pruned = ok(&me, "network prune -f").await;
    assert!(pruned.contains("spare"), "{pruned}");
    let system = ok(&me, "system prune -f").await;
    assert!(system.contains("Total reclaimed space"), "{system}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_learners_use_the_same_names_and_ports() {
    let server = common::start_docker().await;
    let (alice, bob) = tokio::join!(server.sandboxed(), server.sandboxed());
    for (learner, page) in [(&alice, "alice"), (&bob, "bob")] {
        learner
            .sh(&format!("mkdir -p site && echo {page} > site/index.html"))
            .await;
        ok(learner, "volume create site").await;
        ok(
            learner,
            "run -d --name web -p 8080:80 -v site:/www busybox httpd -f -p 80 -h /www",
        )
        .await;
        ok(
            learner,
            &format!("exec web sh -c 'echo {page} > /www/index.html'"),
        )
        .await;
    }
    for (learner, page) in [(&alice, "alice"), (&bob, "bob")] {
        assert_eq!(ok(learner, "ps --format '{{.Names}}'").await.trim(), "web");
        assert_eq!(ok(learner, "ps -a -q").await.lines().count(), 1);
        let served = learner.sh("sleep 0.3; curl -s localhost:8080/").await;
        assert_eq!(served.stdout.trim(), page);
    }
    let alice_id = ok(&alice, "ps -q --no-trunc").await.trim().to_owned();
    let foreign = refused(&bob, &format!("inspect {}", &alice_id[..12])).await;
    assert!(
        foreign.contains("No such object") || foreign.contains("No such container"),
        "{foreign}"
    );
    refused(&bob, &format!("stop {alice_id}")).await;

    // The browser link: only the learner's own session reaches their container.
    let client = server.client();
    for (learner, page) in [(&alice, "alice"), (&bob, "bob")] {
        let response = client
            .get(server.url("/ports/8080/"))
            .header("cookie", &learner.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap().trim(), page);
    }
    let stranger = server.new_learner().await;
    let response = client
        .get(server.url("/ports/8080/"))
        .header("cookie", &stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let response = client
        .get(server.url("/ports/9999/"))
        .header("cookie", &alice.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("publishes port 9999")
    );
    let redirect = client
        .get(server.url("/ports/8080"))
        .header("cookie", &alice.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.headers()["location"], "/ports/8080/");

    // Upgraded connections (WebSocket) pass both ways: an echo server behind a 101.
    alice
        .sh(concat!(
            "cat > upgrade.sh <<'EOF'\n",
            "while read -r l; do l=$(echo \"$l\" | tr -d '\\r'); [ -z \"$l\" ] && break; done\n",
            "printf 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n\\r\\n'\n",
            "exec cat\n",
            "EOF"
        ))
        .await;
    ok(
        &alice,
        "create --name echo -p 8081:80 busybox nc -ll -p 80 -e sh /upgrade.sh",
    )
    .await;
    ok(&alice, "cp upgrade.sh echo:/upgrade.sh").await;
    ok(&alice, "start echo").await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let upgrade = format!(
        "GET /ports/8081/socket HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.addr, alice.cookie
    );
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(
            n > 0,
            "closed before the upgrade: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..n]);
    }
    let head = String::from_utf8_lossy(&seen).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    stream.write_all(b"echoed both ways\n").await.unwrap();
    let mut echoed = Vec::new();
    while !String::from_utf8_lossy(&echoed).contains("echoed both ways") {
        let n = tokio::time::timeout(common::WAIT, stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the echo");
        echoed.extend_from_slice(&buffer[..n]);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_runs_interactive_containers_and_lists_ports() {
    let server = common::start_docker().await;
    let me = server.sandboxed().await;
    let mut term = server.shell(&me.cookie, "?tab=0").await;
    let first = term.expect_control("ports").await;
    assert_eq!(first["ports"], serde_json::json!([]));

    term.send("docker run -it --rm busybox sh\r").await;
    term.read_until("# ").await;
    term.send("echo inside-$((40+2))\r").await;
    term.read_until("inside-42").await;
    term.send("exit\r").await;
    term.read_until("$ ").await;

    term.send("docker run -d --name web -p 8080:80 busybox httpd -f -p 80 -h /etc\r")
        .await;
    let ports = term.expect_control("ports").await;
    assert_eq!(ports["ports"][0]["port"], 8080);
    assert_eq!(ports["ports"][0]["container"], "web");
    assert_eq!(ports["ports"][0]["url"], "/ports/8080/");
    term.read_until("$ ").await;

    term.send("docker exec -it web sh\r").await;
    term.read_until("# ").await;
    term.send("cat /etc/hostname; exit\r").await;
    term.read_until("$ ").await;

    ok(&me, "run -d -it --name pad busybox sh").await;
    term.send("docker attach pad\r").await;
    term.send("echo attached-$((6*7))\r").await;
    term.read_until("attached-42").await;
    term.send("exit\r").await;
    term.read_until("$ ").await;

    term.send("docker rm -f web\r").await;
    let ports = term.expect_control("ports").await;
    assert_eq!(ports["ports"], serde_json::json!([]));

    // A container that exits by itself takes its port link with it.
    term.send("docker run -d -p 8082:80 busybox sleep 2\r")
        .await;
    let ports = term.expect_control("ports").await;
    assert_eq!(ports["ports"][0]["port"], 8082);
    let ports = term.expect_control("ports").await;
    assert_eq!(ports["ports"], serde_json::json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_and_removal() {
    let server = common::start_docker_with(|config| config.max_containers = 2).await;
    let me = server.sandboxed().await;
    ok(&me, "create --name one busybox true").await;
    ok(&me, "create --name two busybox true").await;
    let full = refused(&me, "create --name three busybox true").await;
    assert!(full.contains("you already have 2 containers"), "{full}");
    ok(&me, "volume create kept").await;
    ok(&me, "network create lan").await;
    me.sh("mkdir -p b && printf 'FROM busybox\\nRUN true\\n' > b/Dockerfile")
        .await;
    ok(&me, "build -t mine b").await;
    ok(&me, "tag busybox my/busybox:copy").await;

    let learner = server.learner_of(&me.cookie);
    server.state().sandboxes.remove(&learner, "test").await;
    let engine = common::docker().await;
    let owned = |kind: &str| format!("{kind} of {} left", me.sandbox);
    let filter = std::collections::HashMap::from([(
        "label".to_owned(),
        vec![format!("berth.owner={}", me.sandbox)],
    )]);
    let containers = engine
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(filter.clone()),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(containers.is_empty(), "{}", owned("containers"));
    let volumes = engine
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
            filters: Some(filter.clone()),
        }))
        .await
        .unwrap();
    assert!(
        volumes.volumes.unwrap_or_default().is_empty(),
        "{}",
        owned("volumes")
    );
    let networks = engine
        .list_networks(Some(bollard::query_parameters::ListNetworksOptions {
            filters: Some(filter),
        }))
        .await
        .unwrap();
    assert!(networks.is_empty(), "{}", owned("networks"));
    let images = engine
        .list_images(None::<bollard::query_parameters::ListImagesOptions>)
        .await
        .unwrap();
    let prefix = format!("berth-{}/", me.sandbox);
    assert!(
        !images
            .iter()
            .any(|i| i.repo_tags.iter().any(|t| t.starts_with(&prefix))),
        "{}",
        owned("images")
    );
    assert!(!me.socket.exists(), "the socket is gone");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_of_the_home_mount_into_containers() {
    let server = common::start_docker().await;
    let me = server.sandboxed().await;

    // Read in a container, written from one, and live: a running container sees later edits.
    let made = me
        .sh("mkdir site && echo hello-from-home > site/index.html")
        .await;
    assert_eq!(made.code, 0, "{made:?}");
    let read = ok(
        &me,
        "run --rm -v /home/learner/site:/usr/share/nginx/html busybox cat /usr/share/nginx/html/index.html",
    )
    .await;
    assert_eq!(read.trim(), "hello-from-home");
    let written = me
        .sh("docker run --rm -v ~/out:/out busybox sh -c 'echo written > /out/f' && cat ~/out/f && stat -c %U ~/out")
        .await;
    assert_eq!(written.stdout.trim(), "written\nlearner", "{written:?}");
    me.sh("docker run -d --name web -v ~/site:/www busybox sleep 600")
        .await;
    me.sh("echo changed > site/index.html").await;
    assert_eq!(
        ok(&me, "exec web cat /www/index.html").await.trim(),
        "changed"
    );
    let readonly = refused(
        &me,
        "run --rm --mount type=bind,source=/home/learner/site,target=/data,readonly busybox touch /data/x",
    )
    .await;
    assert!(readonly.contains("Read-only file system"), "{readonly}");

    // inspect shows the bind as the learner wrote it.
    let binds = ok(&me, "inspect -f '{{json .HostConfig.Binds}}' web").await;
    assert!(binds.contains("/home/learner/site:/www"), "{binds}");
    let mounts = ok(
        &me,
        "inspect -f '{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}};{{end}}' web",
    )
    .await;
    assert_eq!(mounts.trim(), "bind /home/learner/site /www;");

    // A link in the home reaches the container's own files, never the host's: the host has
    // /work (this checkout), a busybox container has not.
    me.sh("ln -s / ~/root").await;
    let listed = ok(&me, "run --rm -v /home/learner/root:/r busybox ls /r").await;
    assert!(
        listed.contains("bin") && !listed.contains("work"),
        "{listed}"
    );

    // Host paths, climbing out of the home, and targets that would hurt are refused.
    for (args, says) in [
        (
            "run --rm -v /etc:/x busybox true",
            "use a folder of your home",
        ),
        (
            "run --rm -v /home/learner/../../etc:/x busybox true",
            "not available in this sandbox",
        ),
        (
            "run --rm -v /home/learner/site:/proc/x busybox true",
            "cannot be mounted at /proc/x",
        ),
        (
            "run --rm -v /home/learner/site:/home/learner/y busybox true",
            "cannot be mounted at",
        ),
        (
            "run --rm -v data:/d -v /home/learner/site:/d/x busybox true",
            "overlaps another mount",
        ),
    ] {
        let out = refused(&me, args).await;
        assert!(out.contains(says), "docker {args}: {out}");
    }
    // The home is none of the learner's volumes.
    assert!(!ok(&me, "volume ls -q").await.contains("home"));
    server.stop().await;
}
