//! The route allowlist: a request's method and path, made canonical, matched against the
//! Docker Engine API calls a learner may make. Anything else never reaches the engine.
//!
//! Paths are taken strictly: an optional API version prefix (`/v1.41`), then segments that
//! contain no percent-encoding, no empty segment (`//`), no dot segment and no trailing slash.
//! The engine's own router is case-sensitive, and so is this one.

use std::collections::BTreeMap;

use hyper::Method;

/// Why a request was refused before anything else looked at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// Not an origin-form path, or one with tricks in it.
    BadPath(&'static str),
    /// A query parameter given twice, or one that is not valid form encoding.
    BadQuery(String),
    /// A well-formed call berth does not offer.
    NotAllowed(String),
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::BadPath(why) => write!(f, "berth: malformed request path: {why}"),
            RouteError::BadQuery(why) => write!(f, "berth: malformed query: {why}"),
            RouteError::NotAllowed(what) => {
                write!(f, "berth: {what} is not available in this sandbox")
            }
        }
    }
}

/// One allowed call. `String` fields are the reference the learner wrote (a name, an id or an
/// id prefix), still to be resolved in the learner's scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Ping,
    Version,
    Info,
    Events,
    ContainerList,
    ContainerCreate,
    ContainerPrune,
    Container(String, ContainerOp),
    ExecStart(String),
    ExecResize(String),
    ExecInspect(String),
    ImageList,
    ImagePull,
    ImagePrune,
    ImageInspect(String),
    ImageHistory(String),
    ImageTag(String),
    ImageRemove(String),
    Build,
    BuildPrune,
    VolumeList,
    VolumeCreate,
    VolumePrune,
    VolumeInspect(String),
    VolumeRemove(String),
    NetworkList,
    NetworkCreate,
    NetworkPrune,
    NetworkInspect(String),
    NetworkRemove(String),
    NetworkConnect(String),
    NetworkDisconnect(String),
    /// `docker inspect NAME` asks every kind of object in turn, plugins too: "not found"
    /// lets it go on (and end with "No such object").
    PluginInspect(String),
}

/// What is done to one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerOp {
    Inspect,
    Top,
    Logs,
    Changes,
    Stats,
    ArchiveHead,
    ArchiveGet,
    ArchivePut,
    Start,
    Stop,
    Restart,
    Kill,
    Pause,
    Unpause,
    Wait,
    Resize,
    Rename,
    Attach,
    Exec,
    Remove,
}

impl ContainerOp {
    /// Whether the call changes which containers run (and so which ports are published).
    pub fn changes_state(self) -> bool {
        matches!(
            self,
            ContainerOp::Start
                | ContainerOp::Stop
                | ContainerOp::Restart
                | ContainerOp::Kill
                | ContainerOp::Pause
                | ContainerOp::Unpause
                | ContainerOp::Rename
                | ContainerOp::Remove
        )
    }
}

/// A request that passed the allowlist: its route, the version prefix to forward, and its
/// query, decoded (values in order of appearance for the few keys that may repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub route: Route,
    pub version: String,
    pub query: Query,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(BTreeMap<String, Vec<String>>);

impl Query {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), vec![value.into()]);
    }

    pub fn set_all(&mut self, key: &str, values: Vec<String>) {
        if values.is_empty() {
            self.0.remove(key);
        } else {
            self.0.insert(key.to_owned(), values);
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key).and_then(|v| v.into_iter().next())
    }

    /// True for `1`, `true`, `True`…, as the engine reads boolean parameters.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false"))
    }

    /// Re-encoded from the decoded values: nothing of the learner's raw query is forwarded.
    pub fn encode(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (key, values) in &self.0 {
            for value in values {
                out.append_pair(key, value);
            }
        }
        out.finish()
    }
}

/// Keys that may appear more than once in a query (`docker build -t a -t b`).
const REPEATABLE: &[&str] = &["t"];

pub fn parse_query(raw: Option<&str>) -> Result<Query, RouteError> {
    let mut query = Query::default();
    let Some(raw) = raw else { return Ok(query) };
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        let entry = query.0.entry(key.to_string()).or_default();
        if !entry.is_empty() && !REPEATABLE.contains(&key.as_ref()) {
            return Err(RouteError::BadQuery(format!("parameter {key} given twice")));
        }
        entry.push(value.into_owned());
    }
    Ok(query)
}

/// Splits `/v1.41/containers/json` into (`/v1.41`, `["containers", "json"]`), refusing any
/// path that could mean something different to the engine than it does here.
pub fn canonical_segments(path: &str) -> Result<(String, Vec<&str>), RouteError> {
    if !path.starts_with('/') {
        return Err(RouteError::BadPath("not an absolute path"));
    }
    if path.contains('%') {
        return Err(RouteError::BadPath("encoded characters"));
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b'\\' || b >= 0x80)
    {
        return Err(RouteError::BadPath("control or non-ASCII characters"));
    }
    let mut segments: Vec<&str> = path[1..].split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(RouteError::BadPath("empty segment or trailing slash"));
    }
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(RouteError::BadPath("dot segment"));
    }
    let mut version = String::new();
    if let Some(first) = segments.first()
        && is_version(first)
    {
        version = format!("/{first}");
        segments.remove(0);
    }
    Ok((version, segments))
}

fn is_version(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next();
    parts.next().is_none()
        && !major.is_empty()
        && major.bytes().all(|b| b.is_ascii_digit())
        && minor.is_none_or(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// Matches a request against the allowlist.
pub fn match_request(
    method: &Method,
    path: &str,
    raw_query: Option<&str>,
) -> Result<Matched, RouteError> {
    let (version, segments) = canonical_segments(path)?;
    let query = parse_query(raw_query)?;
    let route = route(method, &segments)?;
    Ok(Matched {
        route,
        version,
        query,
    })
}

fn route(method: &Method, segments: &[&str]) -> Result<Route, RouteError> {
    use ContainerOp as C;
    let get = *method == Method::GET;
    let head = *method == Method::HEAD;
    let post = *method == Method::POST;
    let put = *method == Method::PUT;
    let delete = *method == Method::DELETE;
    let id = |s: &str| s.to_owned();
    let route = match segments {
        ["_ping"] if get || head => Route::Ping,
        ["version"] if get => Route::Version,
        ["info"] if get => Route::Info,
        ["events"] if get => Route::Events,
        ["containers", "json"] if get => Route::ContainerList,
        ["containers", "create"] if post => Route::ContainerCreate,
        ["containers", "prune"] if post => Route::ContainerPrune,
        ["containers", c] if delete => Route::Container(id(c), C::Remove),
        ["containers", c, op] => {
            let op = match (*op, method) {
                ("json", _) if get => C::Inspect,
                ("top", _) if get => C::Top,
                ("logs", _) if get => C::Logs,
                ("changes", _) if get => C::Changes,
                ("stats", _) if get => C::Stats,
                ("archive", _) if head => C::ArchiveHead,
                ("archive", _) if get => C::ArchiveGet,
                ("archive", _) if put => C::ArchivePut,
                ("start", _) if post => C::Start,
                ("stop", _) if post => C::Stop,
                ("restart", _) if post => C::Restart,
                ("kill", _) if post => C::Kill,
                ("pause", _) if post => C::Pause,
                ("unpause", _) if post => C::Unpause,
                ("wait", _) if post => C::Wait,
                ("resize", _) if post => C::Resize,
                ("rename", _) if post => C::Rename,
                ("attach", _) if post => C::Attach,
                ("exec", _) if post => C::Exec,
                _ => return Err(not_allowed(method, segments)),
            };
            Route::Container(id(c), op)
        }
        ["exec", e, "start"] if post => Route::ExecStart(id(e)),
        ["exec", e, "resize"] if post => Route::ExecResize(id(e)),
        ["exec", e, "json"] if get => Route::ExecInspect(id(e)),
        ["images", "json"] if get => Route::ImageList,
        ["images", "create"] if post => Route::ImagePull,
        ["images", "prune"] if post => Route::ImagePrune,
        ["images", rest @ .., "json"] if get && !rest.is_empty() => {
            Route::ImageInspect(rest.join("/"))
        }
        ["images", rest @ .., "history"] if get && !rest.is_empty() => {
            Route::ImageHistory(rest.join("/"))
        }
        ["images", rest @ .., "tag"] if post && !rest.is_empty() => Route::ImageTag(rest.join("/")),
        ["images", rest @ ..] if delete && !rest.is_empty() => Route::ImageRemove(rest.join("/")),
        ["build"] if post => Route::Build,
        ["build", "prune"] if post => Route::BuildPrune,
        ["volumes"] if get => Route::VolumeList,
        ["volumes", "create"] if post => Route::VolumeCreate,
        ["volumes", "prune"] if post => Route::VolumePrune,
        ["volumes", v] if get => Route::VolumeInspect(id(v)),
        ["volumes", v] if delete => Route::VolumeRemove(id(v)),
        ["networks"] if get => Route::NetworkList,
        ["networks", "create"] if post => Route::NetworkCreate,
        ["networks", "prune"] if post => Route::NetworkPrune,
        ["networks", n] if get => Route::NetworkInspect(id(n)),
        ["networks", n] if delete => Route::NetworkRemove(id(n)),
        ["networks", n, "connect"] if post => Route::NetworkConnect(id(n)),
        ["networks", n, "disconnect"] if post => Route::NetworkDisconnect(id(n)),
        ["plugins", rest @ .., "json"] if get && !rest.is_empty() => {
            Route::PluginInspect(rest.join("/"))
        }
        _ => return Err(not_allowed(method, segments)),
    };
    Ok(route)
}

/// Names the refused call the way a learner knows it, where there is a well-known name.
fn not_allowed(method: &Method, segments: &[&str]) -> RouteError {
    let what = match segments {
        ["session", ..] | ["grpc", ..] => "BuildKit (the classic builder is used instead)",
        ["swarm", ..] | ["nodes", ..] | ["services", ..] | ["tasks", ..] => "swarm mode",
        ["secrets", ..] | ["configs", ..] => "swarm secrets and configs",
        ["plugins", ..] => "managing engine plugins",
        ["auth"] => "docker login",
        ["commit"] => "docker commit",
        ["images", "get"] | ["images", .., "get"] => "docker save",
        ["images", "load"] => "docker load",
        ["images", .., "push"] => "docker push",
        ["images", "search"] => "docker search",
        ["containers", _, "export"] => "docker export",
        ["containers", _, "update"] => "docker update",
        ["system", "df"] => "docker system df",
        ["distribution", ..] => "registry inspection",
        _ => {
            return RouteError::NotAllowed(format!("{method} /{}", segments.join("/")));
        }
    };
    RouteError::NotAllowed(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(method: Method, path: &str) -> Result<Route, RouteError> {
        match_request(&method, path, None).map(|m| m.route)
    }

    #[test]
    fn versions_are_optional_and_kept() {
        let matched = match_request(&Method::GET, "/v1.41/containers/json", Some("all=1")).unwrap();
        assert_eq!(matched.route, Route::ContainerList);
        assert_eq!(matched.version, "/v1.41");
        assert!(matched.query.flag("all"));
        assert_eq!(m(Method::GET, "/containers/json"), Ok(Route::ContainerList));
        assert_eq!(m(Method::HEAD, "/v1/_ping"), Ok(Route::Ping));
    }

    #[test]
    fn path_tricks_are_refused() {
        for path in [
            "/v1.41//containers/json",
            "/v1.41/containers/json/",
            "/v1.41/containers/%6Ason",
            "/v1.41/containers/a%2Fb/json",
            "/v1.41/containers/../info",
            "/v1.41/./info",
            "http://docker/v1.41/info",
            "containers/json",
            "/v1.41/containers/a\\b/json",
        ] {
            assert!(
                matches!(m(Method::GET, path), Err(RouteError::BadPath(_))),
                "{path}"
            );
        }
        assert!(matches!(
            m(Method::GET, "/v1.41/CONTAINERS/json"),
            Err(RouteError::NotAllowed(_))
        ));
    }

    #[test]
    fn well_known_refusals_are_named() {
        let refused = m(Method::POST, "/v1.41/session").unwrap_err();
        assert!(refused.to_string().contains("BuildKit"), "{refused}");
        let refused = m(Method::POST, "/v1.41/swarm/init").unwrap_err();
        assert!(refused.to_string().contains("swarm"), "{refused}");
        assert!(m(Method::POST, "/grpc").is_err());
        assert!(m(Method::GET, "/v1.41/containers/web/export").is_err());
    }

    #[test]
    fn duplicate_parameters_are_refused_except_tags() {
        assert!(matches!(
            parse_query(Some("filters=a&filters=b")),
            Err(RouteError::BadQuery(_))
        ));
        let query = parse_query(Some("t=a%3A1&t=b")).unwrap();
        assert_eq!(query.all("t"), ["a:1", "b"]);
        assert_eq!(query.encode(), "t=a%3A1&t=b");
    }

    #[test]
    fn image_names_may_have_slashes() {
        assert_eq!(
            m(Method::GET, "/v1.41/images/library/nginx:1.27/json"),
            Ok(Route::ImageInspect("library/nginx:1.27".to_owned()))
        );
        assert_eq!(
            m(Method::DELETE, "/v1.41/images/me/app:2"),
            Ok(Route::ImageRemove("me/app:2".to_owned()))
        );
    }
}
