//! Static assets over real HTTP: hashed URLs cached forever, plain URLs revalidated by ETag,
//! gzip when asked for, 404 for anything else; and the browser modules parse and load.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth::assets;
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page's import map, as JSON.
fn import_map() -> serde_json::Value {
    let map = assets::import_map();
    let json = map
        .strip_prefix(r#"<script type="importmap">"#)
        .and_then(|rest| rest.strip_suffix("</script>"))
        .expect("an importmap script tag");
    serde_json::from_str(json).unwrap()
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn hashed_urls_are_cached_forever_with_the_right_content_type() {
    let server = common::start_local().await;
    let client = server.client();

    for (path, content_type) in [
        ("css/berth.css", CSS),
        ("vendor/xterm/xterm.css", CSS),
        ("vendor/xterm/xterm.js", JS),
        ("vendor/addon-fit.js", JS),
        ("vendor/addon-web-links.js", JS),
        ("js/lesson.js", JS),
        ("img/favicon.svg", "image/svg+xml"),
    ] {
        let url = assets::url(path);
        assert_ne!(
            url,
            format!("/static/{path}"),
            "{path} has no hash in its URL"
        );
        let response = client.get(server.url(&url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(header(&response, CACHE_CONTROL), IMMUTABLE, "{url}");
        assert_eq!(header(&response, CONTENT_TYPE), content_type, "{url}");
        assert!(
            response.headers().get(CONTENT_ENCODING).is_none(),
            "{url}: not asked for gzip"
        );
        assert!(!response.bytes().await.unwrap().is_empty(), "{url}");
    }

    // The bytes are the file in the repository, not some stale copy.
    let css = client
        .get(server.url(&assets::url("css/berth.css")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        css.as_ref(),
        std::fs::read(repo_file("static/css/berth.css")).unwrap()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_stale_or_wrong_hash_is_not_found() {
    let server = common::start_local().await;
    let client = server.client();
    let current = assets::url("css/berth.css");
    let stale = assets::hashed_name("/static/css/berth.css", "0000000000");
    assert_ne!(current, stale);
    for url in [
        stale.as_str(),
        "/static/css/berth.zzzzzzzzzz.css",
        "/static/css/berth.123.css",
    ] {
        let response = client.get(server.url(url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
    }
    server.stop().await;
}

#[tokio::test]
async fn plain_urls_revalidate_with_an_etag() {
    let server = common::start_local().await;
    let client = server.client();
    let url = server.url("/static/css/berth.css");

    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CACHE_CONTROL), "no-cache");
    assert_eq!(header(&response, CONTENT_TYPE), CSS);
    let etag = header(&response, ETAG).to_owned();
    let hash = assets::url("css/berth.css")
        .rsplit('.')
        .nth(1)
        .unwrap()
        .to_owned();
    assert_eq!(etag, format!("\"{hash}\""));

    let revalidated = client
        .get(&url)
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&revalidated, ETAG), etag);
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let changed = client
        .get(&url)
        .header(IF_NONE_MATCH, "\"0000000000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn unknown_assets_are_plain_text_404s() {
    let server = common::start_local().await;
    let client = server.client();
    for url in [
        "/static/nope.css",
        "/static/css/",
        "/static/vendor/xterm/package.json",
    ] {
        let response = client.get(server.url(url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
        assert!(
            header(&response, CONTENT_TYPE).starts_with("text/plain"),
            "{url}"
        );
    }
    assert_eq!(assets::url("img/nope.svg"), "/static/img/nope.svg");
    assert!(assets::exists("img/favicon.svg"));
    assert!(!assets::exists("img/nope.svg"));
    server.stop().await;
}

#[tokio::test]
async fn gzip_is_served_to_clients_that_ask() {
    let server = common::start_local().await;
    let url = server.url(&assets::url("vendor/xterm/xterm.js"));
    let response = server
        .client()
        .get(&url)
        .header(ACCEPT_ENCODING, "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_ENCODING), "gzip");
    assert_eq!(header(&response, VARY), "Accept-Encoding");
    assert_eq!(header(&response, CONTENT_TYPE), JS);
    let compressed = response.bytes().await.unwrap();

    let plain = server
        .client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        compressed.len() * 2 < plain.len(),
        "gzip should at least halve xterm.js"
    );
    assert_eq!(gunzip(&compressed), plain.as_ref());
    server.stop().await;
}

#[tokio::test]
async fn every_module_in_the_import_map_is_served() {
    let server = common::start_local().await;
    let json = import_map();
    let imports = json["imports"].as_object().unwrap();
    for name in [
        "@xterm/xterm",
        "@xterm/addon-fit",
        "@xterm/addon-web-links",
        "/static/js/terminal.js",
    ] {
        assert!(imports.contains_key(name), "{name} missing from {json}");
    }
    for (name, url) in imports {
        let url = url.as_str().unwrap();
        let response = server.client().get(server.url(url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name} → {url}");
        assert_eq!(header(&response, CONTENT_TYPE), JS, "{name} → {url}");
        assert_eq!(
            header(&response, CACHE_CONTROL),
            IMMUTABLE,
            "{name} → {url}"
        );
    }
    server.stop().await;
}

/// The served xterm builds are self-contained ES modules: node loads each one from a lone file
/// (no bundler, no node_modules beside it) and finds the class the page imports.
#[tokio::test]
async fn vendored_modules_load_without_a_bundler() {
    let server = common::start_local().await;
    let dir = common::temp_dir("vendor-modules");
    for (path, export) in [
        ("vendor/xterm/xterm.js", "Terminal"),
        ("vendor/addon-fit.js", "FitAddon"),
        ("vendor/addon-web-links.js", "WebLinksAddon"),
    ] {
        let url = server.url(&assets::url(path));
        let body = server
            .client()
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let file = dir.join(format!("{export}.mjs"));
        std::fs::write(&file, &body).unwrap();
        let script = format!(
            "const m = await import({:?}); if (typeof m.{export} !== 'function') {{ throw new Error('no {export}'); }}",
            format!("file://{}", file.display())
        );
        node(&["--input-type=module", "-e", &script]);
    }
    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
}

#[test]
fn a_hashed_url_changes_with_the_content() {
    let one = assets::hashed_name(
        "css/berth.css",
        &assets::content_hash(b"body { color: red }"),
    );
    let two = assets::hashed_name(
        "css/berth.css",
        &assets::content_hash(b"body { color: blue }"),
    );
    assert_ne!(one, two);
    assert!(
        one.starts_with("css/berth.") && one.ends_with(".css"),
        "{one}"
    );

    // The URL the server hands out is the hash of the file as it is in the repository now.
    let css = std::fs::read(repo_file("static/css/berth.css")).unwrap();
    let expected = format!(
        "/static/{}",
        assets::hashed_name("css/berth.css", &assets::content_hash(&css))
    );
    assert_eq!(assets::url("css/berth.css"), expected);
}

#[test]
fn every_static_file_is_embedded() {
    let embedded: Vec<&str> = assets::paths().collect();
    for entry in std::fs::read_dir(repo_file("static/js")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let path = format!("js/{name}");
        assert!(
            embedded.contains(&path.as_str()),
            "{path} not embedded: {embedded:?}"
        );
    }
}

#[test]
fn browser_modules_parse() {
    let mut checked = 0;
    for entry in std::fs::read_dir(repo_file("static/js")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "js") {
            node(&["--check", path.to_str().unwrap()]);
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected the lesson page modules in static/js"
    );
}

/// The protocol helpers the terminal uses, run in node: the reconnect schedule, the socket URL,
/// and what a Run button types.
#[test]
fn protocol_helpers_behave() {
    let module = format!("file://{}", repo_file("static/js/protocol.js").display());
    let script = format!(
        r#"
import assert from "node:assert/strict";
const p = await import({module:?});
assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 40].map(p.backoffDelay), [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
assert.equal(p.terminalUrl({{ protocol: "https:", host: "learn.example:8443" }}, {{ tab: 0, cols: 80, rows: 24 }}),
  "wss://learn.example:8443/ws/terminal?tab=0&cols=80&rows=24");
assert.equal(p.terminalUrl({{ protocol: "http:", host: "127.0.0.1:8080" }}, {{ tab: 1, cols: 0, rows: 0 }}),
  "ws://127.0.0.1:8080/ws/terminal?tab=1");
assert.deepEqual(JSON.parse(p.resizeMessage(100, 30)), {{ type: "resize", cols: 100, rows: 30 }});
assert.deepEqual(p.parseControl('{{"type":"exit","code":3}}'), {{ type: "exit", code: 3 }});
assert.equal(p.parseControl("not json"), null);
assert.equal(p.parseControl('{{"kind":"ready"}}'), null);
assert.equal(p.commandKeystrokes("docker ps\n"), "docker ps\r");
assert.equal(p.commandKeystrokes("echo a \\\r\n  b"), "echo a \\\r  b\r");
assert.deepEqual([...p.encodeInput("한")], [0xed, 0x95, 0x9c]);
assert.deepEqual([...p.binaryStringBytes("\x1b[M\xff")], [0x1b, 0x5b, 0x4d, 0xff]);
"#
    );
    node(&["--input-type=module", "-e", &script]);
}

fn node(args: &[&str]) {
    let output = Command::new("node")
        .args(args)
        .output()
        .expect("node is installed (the build needs it too)");
    assert!(
        output.status.success(),
        "node {}\n{}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "gzip -dc failed");
    output.stdout
}

/// A learner's first visit, cold: the lesson page and everything it loads (stylesheets,
/// modules, pictures), as transferred with gzip, stays under 300 KB with xterm.js included.
#[tokio::test]
async fn a_cold_first_lesson_load_is_under_300_kb_compressed() {
    let server = common::start_local().await;
    let get = |url: String| {
        let client = server.client();
        async move {
            let response = client
                .get(url)
                .header(ACCEPT_ENCODING, "gzip, deflate, br")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.bytes().await.unwrap().len()
        }
    };
    let page_url = server.url("/en/01-first-container");
    let page = server
        .client()
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut total = get(page_url).await;
    let mut urls: Vec<String> = Vec::new();
    for attribute in ["href=\"", "src=\""] {
        for part in page.split(attribute).skip(1) {
            let url = part.split('"').next().unwrap_or_default();
            if url.starts_with("/static/") {
                urls.push(url.to_owned());
            }
        }
    }
    for url in import_map()["imports"].as_object().unwrap().values() {
        urls.push(url.as_str().unwrap().to_owned());
    }
    urls.sort();
    urls.dedup();
    assert!(urls.iter().any(|u| u.contains("xterm")), "{urls:?}");
    for url in &urls {
        total += get(server.url(url)).await;
    }
    println!("first load: {} bytes in {} requests", total, urls.len() + 1);
    assert!(total < 300 * 1024, "first load is {total} bytes: {urls:?}");
    server.stop().await;
}

/// WCAG's contrast ratio of two `#rrggbb` colours.
fn contrast(a: &str, b: &str) -> f64 {
    let luminance = |hex: &str| {
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap()) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
    };
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn card_states_are_readable_in_both_themes() {
    let css = std::fs::read_to_string(repo_file("static/css/berth.css")).unwrap();
    // Each theme declares its colours once, light first, then dark.
    let values = |name: &str| -> Vec<String> {
        css.lines()
            .filter_map(|line| line.trim().strip_prefix(&format!("{name}:")))
            .map(|value| {
                value
                    .trim()
                    .trim_end_matches(';')
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    for state in ["--failed", "--passed", "--pending"] {
        let (fg, bg) = (values(state), values(&format!("{state}-bg")));
        assert_eq!(fg.len(), 2, "{state}: {fg:?}");
        for (theme, (fg, bg)) in ["light", "dark"].iter().zip(fg.iter().zip(&bg)) {
            let ratio = contrast(fg, bg);
            assert!(
                ratio >= 4.5,
                "{state} on its card, {theme} theme: {ratio:.2}:1"
            );
        }
    }
}
