//! `-v ~/site:/usr/share/nginx/html`: folders of the learner's workstation home, mounted into
//! their containers. The home is a tmpfs-backed volume of its own (`berth-home-<learner>`), so
//! no host path is ever bound: the container gets that volume at `/home/learner`, as in the
//! workstation, and the target becomes a symbolic link to the folder, written into the
//! container before it starts. Links resolve inside the container, so whatever the learner puts
//! in their home (links to `/` included) can only ever reach the container's own files.

use std::path::{Component, Path};

use hyper::Method;
use serde_json::{Value, json};

use super::super::names::LABEL_BINDS;
use super::super::refusal::Refusal;
use super::super::route::Query;
use super::super::server::Scope;

/// The learner's home, in the workstation and in every container that mounts a folder of it.
pub const HOME: &str = "/home/learner";
/// The learner's user and group in the workstation: their folders are theirs.
const LEARNER_UID: u64 = 1000;

/// One folder of the home mounted into a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeBind {
    /// As the learner wrote it: `/home/learner/site`.
    pub source: String,
    /// The folder under the home: `site` (empty for the home itself).
    pub folder: String,
    pub target: String,
    pub read_only: bool,
}

/// The names in a path, without `.` and empty ones; None when it has `..`, which could climb
/// out of where it seems to point.
fn names_in(path: &str) -> Option<Vec<&str>> {
    let mut names = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => names.push(name.to_str()?),
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(names)
}

/// The folder under the home that `source` names, or None when it is not in the home.
pub fn folder_of(source: &str) -> Option<String> {
    let rest = source.strip_prefix(HOME)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None; // /home/learner2
    }
    Some(names_in(rest)?.join("/"))
}

fn clean_target(target: &str) -> Result<String, Refusal> {
    let names = names_in(target).ok_or_else(|| {
        Refusal::bad_request(format!(
            "invalid mount path {target:?}: write it without .."
        ))
    })?;
    Ok(format!("/{}", names.join("/")))
}

/// Whether `path` is `dir` or inside it.
fn within(path: &str, dir: &str) -> bool {
    path == dir || dir == "/" || path.starts_with(&format!("{dir}/"))
}

/// Whether one path is the other or inside it.
fn overlaps(a: &str, b: &str) -> bool {
    within(a, b) || within(b, a)
}

/// Checks the targets of home folders: a link can replace a folder of the image, but not the
/// home itself, the kernel's file systems, the files the engine writes, or another mount.
pub fn check_targets(binds: &mut [HomeBind], other_targets: &[String]) -> Result<(), Refusal> {
    let mut seen: Vec<String> = Vec::new();
    for bind in binds.iter_mut() {
        let target = clean_target(&bind.target)?;
        let reserved = [
            "/proc",
            "/sys",
            "/dev",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
        ];
        // `/` and `/home` overlap the home too.
        if overlaps(&target, HOME) || reserved.iter().any(|r| within(&target, r)) {
            return Err(Refusal::forbidden(format!(
                "a folder of your home cannot be mounted at {target} in this sandbox; pick another path"
            )));
        }
        if let Some(other) = seen
            .iter()
            .chain(other_targets)
            .find(|other| overlaps(&target, other))
        {
            return Err(Refusal::bad_request(format!(
                "{target} overlaps another mount at {other}; give each mount a path of its own"
            )));
        }
        seen.push(target.clone());
        bind.target = target;
    }
    Ok(())
}

/// The mount that brings the home into a container: read-only when every folder is.
pub fn mount(learner: &str, binds: &[HomeBind]) -> Value {
    json!({
        "Type": "volume",
        "Source": super::super::names::home_volume(learner),
        "Target": HOME,
        "ReadOnly": binds.iter().all(|b| b.read_only),
        "VolumeOptions": {"NoCopy": true},
    })
}

/// The label value that remembers the binds as written.
pub fn label(binds: &[HomeBind]) -> String {
    let list: Vec<Value> = binds
        .iter()
        .map(|b| json!([b.source, b.target, b.read_only]))
        .collect();
    Value::from(list).to_string()
}

fn from_label(container: &Value) -> Vec<(String, String, bool)> {
    container["Config"]["Labels"][LABEL_BINDS]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// A tar of the links, to unpack at `/` in the new container.
pub fn links_archive(binds: &[HomeBind]) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for bind in binds {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        let link = match bind.folder.as_str() {
            "" => HOME.to_owned(),
            folder => format!("{HOME}/{folder}"),
        };
        let name = bind.target.trim_start_matches('/');
        archive.append_link(&mut header, name, &link)?;
    }
    archive.into_inner()
}

/// A tar of the folder (and those above it) as the learner's, to unpack at the home: what the
/// engine does for a bind source that does not exist yet.
pub fn folder_archive(folder: &str) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    let mut path = String::new();
    for part in folder.split('/').filter(|p| !p.is_empty()) {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o755);
        header.set_uid(LEARNER_UID);
        header.set_gid(LEARNER_UID);
        archive.append_data(&mut header, format!("{path}/"), std::io::empty())?;
    }
    archive.into_inner()
}

/// The learner's workstation, where their home is; backends without one have no home to mount.
fn workstation(scope: &Scope) -> Result<&str, Refusal> {
    scope.workstation().ok_or_else(|| {
        Refusal::forbidden(
            "mounting a folder is not available with this sandbox; use a named volume (-v NAME:/path)",
        )
    })
}

/// Before the container is made: each folder exists in the home, as the engine would make a
/// missing bind source (but owned by the learner).
pub async fn make_folders(scope: &Scope, binds: &[HomeBind]) -> Result<(), Refusal> {
    let workstation = workstation(scope)?;
    for bind in binds.iter().filter(|b| !b.folder.is_empty()) {
        let mut query = Query::default();
        query.set("path", format!("{HOME}/{}", bind.folder));
        let (status, _) = scope
            .upstream()
            .call(
                Method::HEAD,
                &format!("/containers/{workstation}/archive?{}", query.encode()),
                None,
            )
            .await?;
        if status != hyper::StatusCode::NOT_FOUND {
            continue;
        }
        let archive = folder_archive(&bind.folder)
            .map_err(|e| Refusal::bad_request(format!("cannot make {}: {e}", bind.source)))?;
        let mut query = Query::default();
        query.set("path", HOME.to_owned());
        scope
            .upstream()
            .upload(
                &format!("/containers/{workstation}/archive?{}", query.encode()),
                archive,
            )
            .await?;
    }
    Ok(())
}

/// After the container is made, before it starts: the links from each target to its folder.
pub async fn write_links(
    scope: &Scope,
    container: &str,
    binds: &[HomeBind],
) -> Result<(), Refusal> {
    let archive = links_archive(binds)
        .map_err(|e| Refusal::bad_request(format!("cannot mount the folders: {e}")))?;
    // An image's folder at the target is replaced by the link (noOverwriteDirNonDir=false).
    scope
        .upstream()
        .upload(
            &format!("/containers/{container}/archive?path=%2F&noOverwriteDirNonDir=false"),
            archive,
        )
        .await
}

/// In `docker inspect`: the binds as the learner wrote them, instead of the home volume.
pub fn show_in_inspect(container: &mut Value) {
    let binds = from_label(container);
    if binds.is_empty() {
        return;
    }
    let is_home = |mount: &Value| mount["Destination"] == HOME || mount["Target"] == HOME;
    let host = &mut container["HostConfig"];
    let written: Vec<Value> = binds
        .iter()
        .map(|(source, target, ro)| {
            Value::from(if *ro {
                format!("{source}:{target}:ro")
            } else {
                format!("{source}:{target}")
            })
        })
        .collect();
    match host["Binds"].as_array_mut() {
        Some(list) => list.extend(written),
        None => host["Binds"] = Value::from(written),
    }
    if let Some(mounts) = host["Mounts"].as_array_mut() {
        mounts.retain(|m| !is_home(m));
    }
    let shown: Vec<Value> = binds
        .iter()
        .map(|(source, target, ro)| {
            json!({"Type": "bind", "Source": source, "Destination": target, "Mode": if *ro { "ro" } else { "" }, "RW": !ro, "Propagation": "rprivate"})
        })
        .collect();
    match container["Mounts"].as_array_mut() {
        Some(mounts) => {
            mounts.retain(|m| !is_home(m));
            mounts.extend(shown);
        }
        None => container["Mounts"] = Value::from(shown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(target: &str) -> HomeBind {
        HomeBind {
            source: "/home/learner/site".into(),
            folder: "site".into(),
            target: target.into(),
            read_only: false,
        }
    }

    #[test]
    fn only_folders_of_the_home_are_home_folders() {
        assert_eq!(folder_of("/home/learner/site").as_deref(), Some("site"));
        assert_eq!(folder_of("/home/learner/a/./b/").as_deref(), Some("a/b"));
        assert_eq!(folder_of("/home/learner").as_deref(), Some(""));
        assert_eq!(folder_of("/home/learner/../../etc"), None);
        assert_eq!(folder_of("/home/learner/a/../../x"), None);
        assert_eq!(folder_of("/home/learner2/x"), None);
        assert_eq!(folder_of("/etc"), None);
        assert_eq!(folder_of("/"), None);
    }

    #[test]
    fn targets_that_would_hurt_are_refused() {
        for target in [
            "/",
            "/home",
            "/home/learner",
            "/home/learner/x",
            "/proc",
            "/proc/sys",
            "/sys/fs",
            "/dev/shm",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/a/../etc/hosts",
        ] {
            assert!(check_targets(&mut [bind(target)], &[]).is_err(), "{target}");
        }
        assert!(check_targets(&mut [bind("/data")], &["/data/x".into()]).is_err());
        assert!(check_targets(&mut [bind("/data"), bind("/data")], &[]).is_err());
        let mut ok = [bind("/usr/share/nginx/html/"), bind("/etc/nginx/conf.d")];
        check_targets(&mut ok, &["/var/lib/mysql".into()]).unwrap();
        assert_eq!(ok[0].target, "/usr/share/nginx/html");
    }

    #[test]
    fn inspect_shows_the_binds_as_written() {
        let mut binds = [bind("/srv")];
        binds[0].read_only = true;
        let mut container = json!({
            "Config": {"Labels": {LABEL_BINDS: label(&binds)}},
            "HostConfig": {"Binds": ["berth-x-data:/data"], "Mounts": [mount("x", &binds)]},
            "Mounts": [{"Type": "volume", "Name": "berth-home-x", "Destination": HOME}],
        });
        show_in_inspect(&mut container);
        assert_eq!(
            container["HostConfig"]["Binds"],
            json!(["berth-x-data:/data", "/home/learner/site:/srv:ro"])
        );
        assert_eq!(container["HostConfig"]["Mounts"], json!([]));
        assert_eq!(container["Mounts"][0]["Source"], "/home/learner/site");
        assert_eq!(container["Mounts"][0]["RW"], false);
    }
}
