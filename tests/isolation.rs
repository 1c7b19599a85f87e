//! A hostile learner who has read berth's source, one test per class of the December red
//! team's findings. Each is judged by what the engine holds and what the attacker obtained,
//! never by the CLI's wording alone: Bob keeps a secret in an image and a container, Alice
//! tries every way in.

mod common;

use std::collections::HashMap;

use bollard::query_parameters::ListImagesOptions;
use common::{Sandboxed, TestServer};

/// Bob's secret image: a file only he put there.
struct Secret {
    text: String,
    image: String,
}

async fn bob_keeps_a_secret(bob: &Sandboxed) -> Secret {
    let text = format!("bob-secret-{}", std::process::id());
    let out = bob
        .sh(&format!(
            "mkdir -p s && cd s && printf 'FROM busybox\\nRUN echo {text} > /secret\\n' > Dockerfile && docker build -q -t secret:1 ."
        ))
        .await;
    assert_eq!(out.code, 0, "{out:?}");
    let image = bob
        .docker("image inspect -f '{{.Id}}' secret:1")
        .await
        .trim()
        .to_owned();
    assert!(image.starts_with("sha256:"), "{image}");
    Secret { text, image }
}

fn request(method: &str, path: &str, body: &[u8], content_type: &str) -> Vec<u8> {
    let mut out = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn status_of(response: &str) -> u16 {
    response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The body of an HTTP answer (after the head).
fn body_of(response: &str) -> &str {
    response.split("\r\n\r\n").nth(1).unwrap_or_default()
}

/// Images on the engine that carry Alice's labels.
async fn images_of(learner: &str) -> Vec<String> {
    common::docker()
        .await
        .list_images(Some(ListImagesOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("berth.owner={learner}")],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect()
}

async fn image_exists(reference: &str) -> bool {
    common::docker()
        .await
        .inspect_image(reference)
        .await
        .is_ok()
}

async fn two_learners() -> (TestServer, Sandboxed, Sandboxed) {
    let server = common::start_docker().await;
    let (alice, bob) = tokio::join!(server.sandboxed(), server.sandboxed());
    (server, alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_learners_image_cannot_be_reached_by_its_id() {
    let (server, alice, bob) = two_learners().await;
    let secret = bob_keeps_a_secret(&bob).await;
    let hex = secret.image.trim_start_matches("sha256:").to_owned();
    let references = [
        secret.image.clone(),
        hex.clone(),
        hex[..12].to_owned(),
        hex[..4].to_owned(),
    ];
    for reference in &references {
        for args in [
            format!("run --rm {reference} cat /secret"),
            format!("create --name stolen {reference}"),
            format!("image inspect {reference}"),
            format!("history {reference}"),
            format!("tag {reference} mine:1"),
            format!("rmi -f {reference}"),
            format!("pull {reference}"),
            format!("save {reference}"),
        ] {
            let out = alice.sh(&format!("docker {args}")).await;
            // `rmi -f` exits 0 on "No such image", as with Docker.
            let refused = out.code != 0 || out.all().contains("No such image");
            assert!(refused, "docker {args} worked: {out:?}");
            assert!(!out.all().contains(&secret.text), "docker {args}: {out:?}");
        }
        for dockerfile in [
            format!("FROM {reference}\\nRUN cat /secret"),
            format!("FROM busybox\\nCOPY --from={reference} /secret /stolen\\nRUN cat /stolen"),
        ] {
            let out = alice
                .sh(&format!(
                    "printf '{dockerfile}\\n' | docker build -t stolen -"
                ))
                .await;
            assert_ne!(out.code, 0, "{dockerfile}: {out:?}");
            assert!(!out.all().contains(&secret.text), "{out:?}");
        }
    }
    // Failed attempts change nothing in Alice's view.
    let images = alice.docker("images -q --no-trunc").await;
    assert!(!images.contains(&hex), "{images}");
    // What Alice reads for Bob's id is what she reads for an id that exists nowhere.
    let nowhere = "0123456789ab";
    for args in [
        "image inspect {}",
        "images --filter before={}",
        "images --filter since={}",
        "ps -a --filter ancestor={}",
        "run --rm {} true",
    ] {
        let for_bob = alice
            .sh(&format!("docker {}", args.replace("{}", &hex[..12])))
            .await;
        let for_none = alice
            .sh(&format!("docker {}", args.replace("{}", nowhere)))
            .await;
        assert_eq!(
            (for_bob.code, for_bob.all().replace(&hex[..12], "X")),
            (for_none.code, for_none.all().replace(nowhere, "X")),
            "docker {args}"
        );
    }
    // The engine: Bob's image is whole, Alice made nothing from it.
    assert!(image_exists(&secret.image).await);
    assert!(images_of(&alice.sandbox).await.is_empty());
    server.stop().await;
}

/// A build context tar.
fn context(entries: &[(&str, tar::EntryType, &[u8], &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(0o644);
        if kind.is_symlink() {
            header.set_size(0);
            builder.append_link(&mut header, name, link).unwrap();
        } else {
            header.set_path(name).unwrap();
            header.set_size(data.len() as u64);
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
    }
    builder.into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dockerfile_read_differently_cannot_reach_another_image() {
    use tar::EntryType::{Regular, Symlink};
    let (server, alice, bob) = two_learners().await;
    let secret = bob_keeps_a_secret(&bob).await;
    let id = secret.image.as_str();
    let hex = id.trim_start_matches("sha256:");
    let from = format!("FROM {id}\nRUN cat /secret\n");
    let bom = format!("\u{feff}FROM {id}\nRUN cat /secret\n");
    let escape = format!("# escape=`\nFROM busybox\nCOPY --from={id} /secret /x\n");
    let quoted = format!("FROM \"{hex}\"\nRUN cat /secret\n");
    let flags = format!("FROM busybox\nCOPY --\"fr\"o\\m={hex} /secret /x\nRUN cat /x\n");
    let onbuild = format!("FROM busybox\nONBUILD COPY --from={hex} /secret /x\n");
    let continued =
        format!("FROM busybox\nCOPY \\\n# hide\n\n  --from={hex} /secret /x\nRUN cat /x\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a byte-order mark",
            context(&[("Dockerfile", Regular, bom.as_bytes(), "")]),
        ),
        (
            "the escape directive",
            context(&[("Dockerfile", Regular, escape.as_bytes(), "")]),
        ),
        (
            "a quoted FROM",
            context(&[("Dockerfile", Regular, quoted.as_bytes(), "")]),
        ),
        (
            "quotes in a flag",
            context(&[("Dockerfile", Regular, flags.as_bytes(), "")]),
        ),
        (
            "ONBUILD --from",
            context(&[("Dockerfile", Regular, onbuild.as_bytes(), "")]),
        ),
        (
            "comments in a continuation",
            context(&[("Dockerfile", Regular, continued.as_bytes(), "")]),
        ),
        (
            "a Dockerfile that is a link",
            context(&[
                ("real", Regular, from.as_bytes(), ""),
                ("Dockerfile", Symlink, b"", "real"),
            ]),
        ),
        (
            "two Dockerfile entries",
            context(&[
                ("Dockerfile", Regular, b"FROM busybox\n", ""),
                ("./Dockerfile", Regular, from.as_bytes(), ""),
            ]),
        ),
        (
            "a folder that is a link",
            context(&[
                ("Dockerfile", Regular, b"FROM busybox\n", ""),
                ("sub", Symlink, b"", "."),
                ("sub/Dockerfile", Regular, from.as_bytes(), ""),
            ]),
        ),
    ];
    for (what, tar) in cases {
        let response = alice
            .raw(&request(
                "POST",
                "/v1.41/build?t=attempt:1",
                &tar,
                "application/x-tar",
            ))
            .await;
        assert!(!response.contains(&secret.text), "{what}: {response}");
        // Refused, or built from something of Alice's own.
        let built = alice.sh("docker run --rm attempt:1 cat /secret /x").await;
        assert!(!built.all().contains(&secret.text), "{what}: {built:?}");
        let _ = alice.sh("docker rmi -f attempt:1").await;
    }
    assert!(image_exists(&secret.image).await);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_a_learner_owns_is_ever_removed() {
    let (server, alice, bob) = two_learners().await;
    let secret = bob_keeps_a_secret(&bob).await;
    let busybox = common::docker()
        .await
        .inspect_image("busybox:latest")
        .await
        .unwrap()
        .id
        .unwrap();
    // A build that adds nothing to a public image, then removed by force.
    alice
        .sh("printf 'FROM busybox\\n' | docker build -q -t plain -")
        .await;
    alice.sh("docker rmi -f plain").await;
    // A public image in view, removed by id and by force; a tag of it, removed by force.
    alice.docker("pull busybox").await;
    alice.docker("tag busybox mine").await;
    alice.sh("docker rmi -f mine").await;
    alice.sh(&format!("docker rmi -f {busybox}")).await;
    alice.sh("docker image prune -a -f").await;
    assert!(image_exists(&busybox).await, "the shared busybox is gone");
    assert!(image_exists(&secret.image).await, "Bob's image is gone");
    // Alice's sandbox ends: only her things go.
    let learner = server.learner_of(&alice.cookie);
    server.state().sandboxes.remove(&learner, "test").await;
    assert!(image_exists(&busybox).await);
    assert!(image_exists(&secret.image).await);
    assert_eq!(bob.docker("images -q secret:1").await.trim().len(), 12);
    server.stop().await;
}

/// Two learners build the same Dockerfile. The builder's cache is the whole engine's, but
/// neither build stands on the other's steps: one cannot tell from the other's speed what they
/// built, and Alice's sandbox ending (which removes her images and their steps) cannot pull a
/// step from under Bob's build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_dockerfile_shares_no_step_between_learners() {
    let (server, alice, bob) = two_learners().await;
    let build = "mkdir -p ~/same && cd ~/same && \
        printf 'FROM busybox\\nRUN echo same-$((6*7)) > /same\\n' > Dockerfile && \
        docker build -t same:1 .";
    let first = alice.sh(build).await;
    assert_eq!(first.code, 0, "{}", first.all());
    let second = bob.sh(build).await;
    assert_eq!(second.code, 0, "{}", second.all());
    let shown = second.all();
    assert!(shown.contains("Step 2/2 : RUN echo same-"), "{shown}");
    assert!(
        !shown.contains("Using cache"),
        "Bob's build used Alice's step:\n{shown}"
    );
    assert!(!shown.contains("berth"), "{shown}");
    // Step numbers are the learner's own, for one stage of several too.
    let staged = bob
        .sh("printf 'FROM busybox AS one\\nRUN echo one\\nFROM busybox\\nRUN echo two\\n' | docker build --target one -t staged -")
        .await;
    assert!(
        staged.all().contains("Step 2/2 : RUN echo one"),
        "{}",
        staged.all()
    );
    // Bob's own cache serves Bob.
    let again = bob.sh("cd ~/same && docker build -t same:2 .").await;
    assert!(again.all().contains("Using cache"), "{}", again.all());
    // His history shows his step and busybox's, and none of berth's.
    let history = bob.docker("history --no-trunc same:1").await;
    assert!(history.contains("echo same-"), "{history}");
    assert_eq!(history.lines().count(), 3, "{history}");
    let labels = bob
        .docker("image inspect -f '{{json .Config.Labels}}' same:1")
        .await;
    assert!(!labels.contains("berth"), "{labels}");
    assert!(!history.contains("berth"), "{history}");
    // Alice writes Bob's mark into her own Dockerfile: berth's step comes before it, so her
    // steps still stand on her own base, never on Bob's.
    let forged = alice
        .sh(&format!(
            "cd ~/same && printf 'FROM busybox\\nLABEL berth.chain={}\\nRUN echo same-$((6*7)) > /same\\n' | docker build -t forged -",
            bob.sandbox
        ))
        .await;
    assert_eq!(forged.code, 0, "{}", forged.all());
    assert!(!forged.all().contains("Using cache"), "{}", forged.all());
    // Alice's sandbox ends; Bob's image is whole and builds on it still work.
    let learner = server.learner_of(&alice.cookie);
    server.state().sandboxes.remove(&learner, "test").await;
    assert_eq!(
        bob.docker("run --rm same:1 cat /same").await.trim(),
        "same-42"
    );
    let rebuilt = bob.sh("cd ~/same && docker build -t same:3 .").await;
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.all());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ps_options_of_docker_top_are_a_fixed_set() {
    let server = common::start_docker().await;
    let alice = server.sandboxed().await;
    alice.docker("run -d --name c busybox sleep 300").await;
    assert!(alice.docker("top c").await.contains("sleep"));
    assert!(alice.docker("top c aux").await.contains("sleep"));
    for args in ["-p 1 -o pid,args", "-eo pid,args", "e -ww", "-p 1"] {
        let out = alice.docker_fails(&format!("top c {args}")).await;
        assert!(out.contains("docker top takes only"), "{args}: {out}");
    }
    let response = alice
        .raw(&request(
            "GET",
            "/v1.41/containers/c/top?ps_args=-o%20pid%2Cenviron%20-p%201",
            b"",
            "application/json",
        ))
        .await;
    assert_eq!(status_of(&response), 403, "{response}");
    assert!(!response.contains("PATH="), "{response}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_is_not_a_neighbour() {
    // A service of the host, listening on every interface.
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((_, peer)) = listener.accept().await {
            eprintln!("the host's service was reached from {peer}");
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    // It answers on the host itself.
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let server = common::start_docker().await;
    let alice = server.sandboxed().await;
    // The gateway of the learner's network is the host's address on it.
    let address = alice.sh("/usr/sbin/ip -4 -o addr show eth0").await.stdout;
    let cidr = address
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap_or_else(|| panic!("no address in {address:?}"))
        .to_owned();
    let (ip, prefix) = cidr.split_once('/').unwrap();
    let ip: u32 = ip.parse::<std::net::Ipv4Addr>().unwrap().into();
    let mask = u32::MAX << (32 - prefix.parse::<u32>().unwrap());
    let gateway = std::net::Ipv4Addr::from((ip & mask) + 1).to_string();
    let before = accepted.load(std::sync::atomic::Ordering::SeqCst);
    // From the workstation, and from a container of the learner.
    let from_workstation = alice
        .sh(&format!(
            "curl -s -m 3 http://{gateway}:{port}/ ; echo code=$?"
        ))
        .await;
    assert!(
        !from_workstation.stdout.contains("code=0"),
        "{from_workstation:?}"
    );
    let from_container = alice
        .sh(&format!(
            "docker run --rm busybox nc -w 3 {gateway} {port} </dev/null; echo code=$?"
        ))
        .await;
    assert!(
        !from_container.stdout.contains("code=0"),
        "{from_container:?}"
    );
    // berth's own port too.
    let berth_port = server
        .url("/healthz")
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let berth = alice
        .sh(&format!(
            "curl -s -m 3 http://{gateway}:{berth_port}/healthz ; echo code=$?"
        ))
        .await;
    assert!(!berth.stdout.contains("ok"), "{berth:?}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), before);
    // The learner's own port links still work (the host reaching into the network).
    alice
        .docker("run -d --name web -p 8080:80 busybox sh -c 'mkdir /www && echo hello-from-web > /www/index.html && httpd -f -p 80 -h /www'")
        .await;
    let page = common::wait_until(std::time::Duration::from_secs(10), || async {
        let page = server
            .client()
            .get(server.url("/ports/8080/"))
            .header("Cookie", &alice.cookie)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        page.contains("hello-from-web").then_some(page)
    })
    .await;
    assert!(page.is_some(), "the port link does not reach the container");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_say_nothing_about_the_host_or_other_learners() {
    let (server, alice, bob) = two_learners().await;
    let engine = common::docker().await;
    let info = engine.info().await.unwrap();
    let version = engine.version().await.unwrap();
    // What the host would give away.
    let mut host_facts: Vec<String> = vec![
        info.docker_root_dir.clone().unwrap_or_default(),
        info.kernel_version.clone().unwrap_or_default(),
        info.name.clone().unwrap_or_default(),
        info.id.clone().unwrap_or_default(),
        version.git_commit.clone().unwrap_or_default(),
        version.go_version.clone().unwrap_or_default(),
    ];
    host_facts.retain(|f| f.len() > 3);
    alice
        .docker("run -d --name mine -v data:/data busybox sleep 300")
        .await;
    alice.docker("volume create other").await;
    let data_dir = server
        .state()
        .config
        .data_dir
        .canonicalize()
        .unwrap()
        .display()
        .to_string();
    for (what, path) in [
        ("info", "/v1.41/info"),
        ("version", "/v1.41/version"),
        ("container", "/v1.41/containers/mine/json"),
        ("image", "/v1.41/images/busybox/json"),
        ("volume", "/v1.41/volumes/data"),
        ("volumes", "/v1.41/volumes"),
        ("network", "/v1.41/networks/bridge"),
    ] {
        let response = alice
            .raw(&request("GET", path, b"", "application/json"))
            .await;
        assert_eq!(status_of(&response), 200, "{what}: {response}");
        let body = body_of(&response);
        for fact in &host_facts {
            assert!(!body.contains(fact.as_str()), "{what} says {fact}: {body}");
        }
        for leak in [
            "/var/lib/docker",
            "/run/",
            data_dir.as_str(),
            "berth.",
            "bth",
        ] {
            assert!(!body.contains(leak), "{what} says {leak}: {body}");
        }
    }
    let headers = alice
        .raw(&request("GET", "/_ping", b"", "text/plain"))
        .await;
    assert!(
        !headers.to_lowercase().contains("server: docker"),
        "{headers}"
    );
    // The workstation's mount table names neither berth's data nor the learner.
    let mounts = alice.sh("cat /proc/self/mountinfo").await.stdout;
    assert!(!mounts.contains(&data_dir), "{mounts}");
    assert!(
        !mounts.contains(&alice.sandbox) && !mounts.contains(&alice.learner),
        "{mounts}"
    );
    // Objects of others read exactly as objects of no one.
    bob.docker("run -d --name web busybox sleep 300").await;
    let bob_id = bob
        .docker("inspect -f '{{.Id}}' web")
        .await
        .trim()
        .to_owned();
    let nowhere = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for path in [
        "/v1.41/containers/{}/json",
        "/v1.41/containers/{}/top",
        "/v1.41/containers/json?filters=%7B%22before%22%3A%5B%22{}%22%5D%7D",
        "/v1.41/containers/json?filters=%7B%22since%22%3A%5B%22{}%22%5D%7D",
    ] {
        let for_bob = alice
            .raw(&request(
                "GET",
                &path.replace("{}", &bob_id),
                b"",
                "application/json",
            ))
            .await;
        let for_none = alice
            .raw(&request(
                "GET",
                &path.replace("{}", nowhere),
                b"",
                "application/json",
            ))
            .await;
        assert_eq!(status_of(&for_bob), status_of(&for_none), "{path}");
        assert_eq!(
            body_of(&for_bob).replace(&bob_id, "X"),
            body_of(&for_none).replace(nowhere, "X"),
            "{path}"
        );
    }
    // A name that exists for Bob reads as one that exists for no one.
    let for_bob = alice.sh("docker ps -a --filter before=web").await;
    let for_none = alice
        .sh("docker ps -a --filter before=nothing-at-all")
        .await;
    assert_eq!(
        (for_bob.code, for_bob.all().replace("web", "X")),
        (for_none.code, for_none.all().replace("nothing-at-all", "X"))
    );
    server.stop().await;
}
