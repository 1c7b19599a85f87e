//! Static assets: CSS, the browser modules, pictures, and xterm.js from npm, all embedded in the
//! binary by `build.rs` and served under `/static/`.
//!
//! Pages link assets by content-hashed URL (`/static/css/berth.3f2a9c1b7e.css`, see [`url`]),
//! which browsers may cache for a year. The plain URL (`/static/css/berth.css`) works too, with
//! an `ETag` and `no-cache`. JavaScript modules import each other by plain relative URL; the
//! page's [`import_map`] points those URLs (and the bare `@xterm/…` names) at the hashed ones.

mod naming;

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use self::naming::{content_hash, hashed_name};
use crate::AppState;

/// One embedded file.
struct Asset {
    /// Logical path below `/static/`, e.g. `css/berth.css`.
    path: &'static str,
    /// The content-hashed URL, e.g. `/static/css/berth.3f2a9c1b7e.css`.
    url: &'static str,
    hash: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// The body gzip-compressed at build time, when that saves enough to matter.
    gzip: Option<&'static [u8]>,
}

/// Sorted by `path` (build.rs writes it from a `BTreeMap`).
static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/assets.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Bare module names the browser code imports, and the logical path each one stands for.
const MODULE_NAMES: &[(&str, &str)] = &[
    ("@xterm/xterm", "vendor/xterm/xterm.js"),
    ("@xterm/addon-fit", "vendor/addon-fit.js"),
    ("@xterm/addon-web-links", "vendor/addon-web-links.js"),
];

/// `GET /static/{*path}`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/static/{*path}", get(serve))
}

/// The URL to put in a page for the asset at logical path `path` (`css/berth.css`): its
/// content-hashed, cache-forever URL. An unknown path gets the plain `/static/{path}`, which will
/// 404; a debug log says so.
pub fn url(path: &str) -> String {
    match find(path) {
        Some(asset) => asset.url.to_owned(),
        None => {
            tracing::debug!(path, "no such asset; linking the unhashed URL");
            format!("/static/{path}")
        }
    }
}

/// Whether an asset exists at logical path `path` (`img/layers.svg`).
pub fn exists(path: &str) -> bool {
    find(path).is_some()
}

/// Logical paths of every embedded asset, sorted.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|asset| asset.path)
}

/// A `<script type="importmap">` for the page `<head>`, before any module script. It maps the
/// bare `@xterm/…` names, and the plain URL of every module under `js/`, to hashed URLs, so that
/// `import "./terminal.js"` inside a module fetches the cache-forever copy.
pub fn import_map() -> String {
    static MAP: LazyLock<String> = LazyLock::new(|| {
        let mut imports = serde_json::Map::new();
        for (name, path) in MODULE_NAMES {
            imports.insert((*name).to_owned(), url(path).into());
        }
        for asset in ASSETS.iter().filter(|asset| is_own_module(asset.path)) {
            imports.insert(format!("/static/{}", asset.path), asset.url.into());
        }
        let json = serde_json::json!({ "imports": imports }).to_string();
        // `</script>` cannot occur in these URLs, but keep the JSON inert inside a script tag.
        let json = json.replace('<', "\\u003c");
        format!(r#"<script type="importmap">{json}</script>"#)
    });
    MAP.clone()
}

/// `<link rel="modulepreload">` for every module the lesson page loads, so the browser fetches
/// them in parallel instead of discovering one import at a time. Put it after [`import_map`].
pub fn module_preloads() -> String {
    static LINKS: LazyLock<String> = LazyLock::new(|| {
        let vendor = MODULE_NAMES.iter().map(|(_, path)| *path);
        let own = ASSETS
            .iter()
            .map(|asset| asset.path)
            .filter(|path| is_own_module(path));
        vendor
            .chain(own)
            .map(|path| format!(r#"<link rel="modulepreload" href="{}">"#, url(path)))
            .collect()
    });
    LINKS.clone()
}

fn is_own_module(path: &str) -> bool {
    path.starts_with("js/") && path.ends_with(".js")
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS
        .binary_search_by(|asset| asset.path.cmp(path))
        .ok()
        .map(|index| &ASSETS[index])
}

async fn serve(Path(requested): Path<String>, headers: HeaderMap) -> Response {
    // An exact logical path wins, so a file whose real name looks hashed is still reachable.
    if let Some(asset) = find(&requested) {
        return respond(asset, REVALIDATE, &headers);
    }
    match naming::split_hashed(&requested) {
        Some((logical, hash)) => match find(&logical) {
            Some(asset) if asset.hash == hash => respond(asset, IMMUTABLE, &headers),
            // A stale hash (a page from before an upgrade) gets a 404 rather than other content
            // under a URL that promises to never change.
            _ => not_found(),
        },
        None => not_found(),
    }
}

fn respond(asset: &'static Asset, cache_control: &'static str, request: &HeaderMap) -> Response {
    let gzip = asset.gzip.filter(|_| accepts_gzip(request));
    let etag = match gzip {
        Some(_) => format!("\"{}-gzip\"", asset.hash),
        None => format!("\"{}\"", asset.hash),
    };
    let mut headers = HeaderMap::new();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(
        ETAG,
        HeaderValue::from_str(&etag).expect("hex in quotes is a valid header"),
    );
    if asset.gzip.is_some() {
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if if_none_match(request, &etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    match gzip {
        Some(body) => {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (headers, body).into_response()
        }
        None => (headers, asset.body).into_response(),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(CACHE_CONTROL, "no-store")],
        "no such asset\n",
    )
        .into_response()
}

/// Whether `Accept-Encoding` allows gzip (`gzip`, `gzip;q=0.5`, `*`; not `gzip;q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut star = None;
    for value in request.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let allowed = !parts.any(|param| {
                let param = param.trim();
                param
                    .strip_prefix("q=")
                    .or_else(|| param.strip_prefix("Q="))
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
            });
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(allowed);
            } else if coding == "*" {
                star = Some(allowed);
            }
        }
    }
    gzip.or(star).unwrap_or(false)
}

/// `If-None-Match` uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything.
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request.get_all(IF_NONE_MATCH).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value.split(',').map(str::trim).any(|candidate| {
                candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "gzip, deflate, br"
        )])));
        assert!(accepts_gzip(&headers(&[(
            "accept-encoding",
            "br;q=1.0, gzip;q=0.8"
        )])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "identity")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0")])));
        assert!(!accepts_gzip(&headers(&[(
            "accept-encoding",
            "*, gzip;q=0"
        )])));
    }

    #[test]
    fn etags_compare_weakly() {
        let etag = "\"0123456789\"";
        assert!(if_none_match(
            &headers(&[("if-none-match", "\"0123456789\"")]),
            etag
        ));
        assert!(if_none_match(
            &headers(&[("if-none-match", "W/\"0123456789\"")]),
            etag
        ));
        assert!(if_none_match(
            &headers(&[("if-none-match", "\"x\", \"0123456789\"")]),
            etag
        ));
        assert!(if_none_match(&headers(&[("if-none-match", "*")]), etag));
        assert!(!if_none_match(
            &headers(&[("if-none-match", "\"0123456788\"")]),
            etag
        ));
        assert!(!if_none_match(&headers(&[]), etag));
    }

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(ASSETS.windows(2).all(|pair| pair[0].path < pair[1].path));
    }

    #[test]
    fn import_map_names_every_module_by_its_hashed_url() {
        let map = import_map();
        assert!(
            map.starts_with(r#"<script type="importmap">{"imports":{"#),
            "{map}"
        );
        for path in ["vendor/xterm/xterm.js", "js/lesson.js", "js/terminal.js"] {
            assert!(map.contains(&url(path)), "{path} missing from {map}");
        }
        assert!(map.contains(r#""/static/js/terminal.js":"#), "{map}");
    }
}
