//! Entry points for `cargo fuzz` (see `fuzz/`) and for the randomized test below: arbitrary
//! bytes through the request parser and the body rewriters must give an answer, never a panic,
//! and whatever the rewriter lets through must still carry berth's forced settings.

use hyper::Method;

use super::route;
use super::settings::Policy;

fn policy() -> Policy {
    Policy::default()
}

/// The first line is `METHOD PATH?QUERY`, as it would arrive on the socket.
pub fn request_line(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let line = text.lines().next().unwrap_or_default();
    let (method, target) = line.split_once(' ').unwrap_or(("GET", line));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    if let Ok(matched) = route::match_request(&method, path, query) {
        // What passed is canonical: no tricks survive into what is forwarded.
        assert!(!matched.version.contains(".."));
        let _ = matched.query.encode();
    }
}

/// A container create body (with `?name=` from the first line).
pub fn create_body(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(0);
    let name = String::from_utf8_lossy(&data[..split]).into_owned();
    let body = &data[(split + 1).min(data.len())..];
    let name = (!name.is_empty()).then_some(name.as_str());
    if let Ok(plan) = super::containers::body::create(body, name, &policy()) {
        let host = &plan.body["HostConfig"];
        assert_eq!(host["Privileged"], false);
        assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
        assert_eq!(host["Memory"], host["MemorySwap"]);
        assert!(
            host["PidsLimit"]
                .as_i64()
                .is_some_and(|p| (1..=256).contains(&p))
        );
        // References are left for the learner's view: none reaches the engine from here.
        for field in [
            "NetworkMode",
            "Binds",
            "Links",
            "VolumesFrom",
            "PidMode",
            "CgroupParent",
        ] {
            assert!(host.get(field).is_none(), "{field}");
        }
        for mount in host["Mounts"].as_array().into_iter().flatten() {
            assert_eq!(mount["Type"], "tmpfs");
        }
        assert_eq!(plan.body["Labels"]["berth.owner"], "");
        assert!(plan.body.get("Image").is_none());
    }
    let _ = super::exec::body(body);
    let _ = super::volumes::create_body(body);
    let _ = super::networks::create_body(body);
}

/// A Dockerfile: parsed, and when it parses, written canonically and read back the same.
pub fn dockerfile(data: &[u8]) {
    if let Ok(parsed) = super::build::dockerfile::parse(data)
        && let Ok(text) = parsed.canonical(
            |name| Some(format!("sha256:{}", name.len())),
            Some("0123456789ab"),
        )
    {
        let again = super::build::dockerfile::parse(text.as_bytes())
            .expect("berth's own Dockerfile parses");
        // Each base gets berth's step, and nothing else changes in number.
        assert_eq!(
            again.instructions.len(),
            parsed.instructions.len() + parsed.bases_built(None)
        );
        // Only berth's ids name images now.
        assert!(
            again.images().iter().all(|i| i.starts_with("sha256:")),
            "{text}"
        );
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    /// A short, seeded run of the fuzz targets on every `cargo test`: mutations of real
    /// requests and bodies. The real fuzzing runs with `cargo +nightly fuzz run`.
    #[test]
    fn mutated_inputs_never_panic() {
        let seeds: &[&[u8]] = &[
            b"GET /v1.41/containers/json?all=1&filters=%7B%7D",
            b"POST /v1.41/images/library/nginx:1.27/tag?repo=a&tag=b",
            b"DELETE //v1.41/containers/../x/",
            b"web\n{\"Image\":\"busybox\",\"HostConfig\":{\"Binds\":[\"v:/data:ro\"],\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"8080\"}]},\"Links\":[\"db:mysql\"],\"NetworkMode\":\"container:db\",\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/t\"}],\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":9}}}",
            b"\n{\"image\":\"x\",\"hostconfig\":{\"privileged\":false,\"Memory\":1e300,\"PidsLimit\":0}}",
            b"# escape=\\\n\xef\xbb\xbfFROM busybox AS a\nCOPY --\"from\"=a /x /y\nRUN echo \\\n # c\n  hi\nFROM 'a'\nONBUILD RUN x\n",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..20_000 {
            let mut data = seeds[round % seeds.len()].to_vec();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..=data.len());
                match rng.random_range(0..4) {
                    0 if at < data.len() => data[at] = rng.random(),
                    1 => data.insert(
                        at,
                        *b"{}[]\":,%/.\\ \n0aZ"
                            .get(rng.random_range(0..17))
                            .unwrap_or(&b'x'),
                    ),
                    2 if at < data.len() => {
                        data.remove(at);
                    }
                    _ => data.truncate(at),
                }
            }
            super::request_line(&data);
            super::create_body(&data);
            super::dockerfile(&data);
        }
    }
}
