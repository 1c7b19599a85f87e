//! The learner's images: those they built (berth's labels, set at build time), those they
//! tagged (`berth-<learner>/…`), and the public images they pulled or used. Lists are filtered
//! by berth in the learner's view; removals only ever delete what the learner owns, and never
//! force across owners: a public image leaves their view, the shared copy stays.

pub mod reference;

use std::collections::HashSet;

use futures_util::FutureExt;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use self::reference::{Reference, valid_repository, valid_tag};
use super::dispatch::Call;
use super::filters::{self, glob_matches, label_matches};
use super::names::{LABEL_INSTANCE, LABEL_OWNER};
use super::refusal::Refusal;
use super::reply::{self, LineEdit, json_lines, lines_response, unscope_lines};
use super::scope::{self, ImageRef, Purpose, own_tags};
use super::server::Scope;
use super::wire::Body;

pub fn pull_refusal(reference: &str) -> Refusal {
    Refusal::forbidden(format!(
        "the image {reference} is not on this sandbox's list; it offers official images and the images its lessons use"
    ))
}

/// The tags the learner sees on an image: their own (without the prefix) and, on a public
/// image, its public ones.
fn shown_tags(scope: &Scope, image: &Value) -> Vec<String> {
    let prefix = scope.names().image_prefix();
    let public = image["Labels"].get(LABEL_OWNER).is_none();
    image["RepoTags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| {
            t.starts_with(&prefix) || (public && !t.starts_with("berth") && *t != "<none>:<none>")
        })
        .map(|t| t.strip_prefix(&prefix).unwrap_or(t).to_owned())
        .collect()
}

/// Docker's `reference` filter: a pattern against `name` or `name:tag`.
fn reference_matches(pattern: &str, tags: &[String]) -> bool {
    tags.iter().any(|tag| {
        let name = reference::split_tag(tag).0;
        glob_matches(pattern, tag) || glob_matches(pattern, name)
    })
}

pub async fn list(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let filters = filters::parse(
        &call.query,
        &["before", "dangling", "label", "reference", "since"],
    )?;
    filters::refuse_berth_labels(&filters)?;
    let mut created_before = i64::MAX;
    let mut created_after = i64::MIN;
    for (key, bound) in [
        ("before", &mut created_before),
        ("since", &mut created_after),
    ] {
        for value in filters.get(key).into_iter().flatten() {
            let image = scope::image(scope, value, Purpose::Look).await?;
            let info = scope::inspect_image(scope, &image.id).await?;
            let created = info["Created"]
                .as_str()
                .and_then(|c| humantime::parse_rfc3339_weak(c.split('.').next().unwrap_or(c)).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            *bound = created;
        }
    }
    let dangling = filters
        .get("dangling")
        .and_then(|d| d.first())
        .map(|d| d == "true" || d == "1");
    let mut out = Vec::new();
    for mut image in scope::images(scope).await? {
        let tags = shown_tags(scope, &image);
        let created = image["Created"].as_i64().unwrap_or(0);
        let keep = created < created_before
            && created > created_after
            && dangling.is_none_or(|d| d == tags.is_empty())
            && filters
                .get("label")
                .into_iter()
                .flatten()
                .all(|l| label_matches(l, &image["Labels"]))
            && filters
                .get("reference")
                .into_iter()
                .flatten()
                .all(|r| reference_matches(r, &tags));
        if !keep {
            continue;
        }
        let digests: Vec<Value> = image["RepoDigests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d.as_str().is_some_and(|d| !d.starts_with("berth")))
            .cloned()
            .collect();
        image["RepoTags"] = if tags.is_empty() {
            json!(["<none>:<none>"])
        } else {
            json!(tags)
        };
        image["RepoDigests"] = Value::from(digests);
        image["ParentId"] = "".into();
        image["Containers"] = (-1).into();
        out.push(image);
    }
    let mut value = Value::Array(out);
    scope.names().unscope(&mut value);
    Ok(reply::json_ok(value))
}

/// What of an image's details is the host's or berth's.
fn hide_host(image: &mut Value) {
    if image.get("GraphDriver").is_some() {
        image["GraphDriver"] = json!({"Name": "overlay2", "Data": null});
    }
    if let Some(object) = image.as_object_mut() {
        object.remove("ContainerConfig");
        object.insert("Container".into(), "".into());
        object.insert("Parent".into(), "".into());
    }
}

pub async fn inspect(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let image = scope::image(scope, reference, Purpose::Look).await?;
    let response = call
        .send(
            Method::GET,
            call.path(&format!("/images/{}/json", image.id)),
        )
        .await?;
    let tags = match scope::inspect_image(scope, &image.id).await {
        Ok(info) => shown_tags(scope, &info),
        Err(_) => Vec::new(),
    };
    let answer = reply::json_response_with(scope.names(), response, |info| {
        hide_host(info);
        info["RepoTags"] = json!(tags);
    })
    .await?;
    // Looking at a lesson's image brings it into view, as using it would.
    if image.public {
        scope.mark_seen(&image.id);
    }
    Ok(answer)
}

/// The history of a build without berth's own `LABEL` steps. Each run of them stands on top
/// of the learner's last step, so that step's row takes the id of the run's top: the image's
/// own id (and, below, the ids of the learner's images it was built on).
fn hide_berth_steps(history: &mut Value) {
    let Value::Array(rows) = history else { return };
    let mut kept = Vec::with_capacity(rows.len());
    let mut run_top: Option<Value> = None;
    let chain_step = format!("LABEL {}=", super::names::LABEL_CHAIN);
    for mut row in rows.drain(..) {
        let created_by = row["CreatedBy"].as_str().unwrap_or_default();
        // The step on each base is not the top of anything the learner named: it goes alone.
        if created_by.contains(&chain_step) {
            continue;
        }
        let berth = created_by.contains("LABEL berth.");
        if berth {
            run_top.get_or_insert_with(|| row["Id"].clone());
            continue;
        }
        if let Some(id) = run_top.take() {
            row["Id"] = id;
        }
        kept.push(row);
    }
    *rows = kept;
}

pub async fn history(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let image = scope::image(call.scope, reference, Purpose::Look).await?;
    let response = call
        .send(
            Method::GET,
            call.path(&format!("/images/{}/history", image.id)),
        )
        .await?;
    reply::json_response_with(call.scope.names(), response, hide_berth_steps).await
}

pub async fn tag(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let source = scope::image(scope, reference, Purpose::Look).await?;
    let repo = call.query.get("repo").unwrap_or_default();
    let tag = call
        .query
        .get("tag")
        .filter(|t| !t.is_empty())
        .unwrap_or("latest");
    if !valid_repository(repo) {
        return Err(Refusal::forbidden(format!(
            "{repo:?} cannot be used as an image name here: use lowercase letters, digits, . _ - and /, without a registry (push is not available)"
        )));
    }
    if !valid_tag(tag) {
        return Err(Refusal::bad_request(format!("invalid tag {tag:?}")));
    }
    let path = super::wire::path_with_query(
        &call.path(&format!("/images/{}/tag", source.id)),
        &[("repo", &scope.names().image(repo)), ("tag", tag)],
    );
    scope.upstream().ok(Method::POST, &path, None).await?;
    Ok(reply::no_content(StatusCode::CREATED))
}

/// The engine's refusal to remove an image a container uses, in its words.
async fn in_use(scope: &Scope, reference: &str, id: &str) -> Result<(), Refusal> {
    let user = scope::containers(scope, true)
        .await?
        .into_iter()
        .find(|c| c["ImageID"] == id);
    if let Some(user) = user {
        let short = |s: &str| {
            s.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>()
        };
        return Err(Refusal {
            status: 409,
            message: format!(
                "conflict: unable to remove repository reference \"{reference}\" (must force) - container {} is using its referenced image {}",
                short(user["Id"].as_str().unwrap_or_default()),
                short(id)
            ),
        });
    }
    Ok(())
}

/// Deletes a tag or an owned image at the engine; the engine's answer items.
async fn delete(
    scope: &Scope,
    target: &str,
    force: bool,
    noprune: bool,
) -> Result<Vec<Value>, Refusal> {
    let mut pairs = Vec::new();
    if force {
        pairs.push(("force", "1"));
    }
    if noprune {
        pairs.push(("noprune", "1"));
    }
    let path = super::wire::path_with_query(&format!("/images/{target}"), &pairs);
    let answer = scope.upstream().ok(Method::DELETE, &path, None).await?;
    Ok(answer.as_array().cloned().unwrap_or_default())
}

pub async fn remove(call: &Call<'_>, reference: &str) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let names = scope.names();
    let image: ImageRef = scope::image(scope, reference, Purpose::Look).await?;
    let info = scope::inspect_image(scope, &image.id).await?;
    let built = names.owns(info.get("Labels"));
    let tags = own_tags(scope, &info);
    let force = call.query.flag("force");
    let noprune = call.query.flag("noprune");
    let by_id = image.shown == image.id;
    let mut answer = Vec::new();
    if !by_id && !image.public {
        // One of the learner's own tags: untag it (the engine deletes what it leaves unused).
        let target = names.image(&image.shown);
        answer.extend(delete(scope, &target, force && built, noprune).await?);
    } else if by_id && built {
        if tags.len() > 1 && !force {
            return Err(must_be_forced(&image.id));
        }
        answer.extend(delete(scope, &image.id, force, noprune).await?);
    } else {
        // A public image (by name or id), perhaps with tags of the learner's own on it.
        if !force {
            in_use(scope, reference, &image.id).await?;
        }
        if by_id && !tags.is_empty() {
            if tags.len() > 1 && !force {
                return Err(must_be_forced(&image.id));
            }
            for tag in &tags {
                answer.extend(delete(scope, tag, false, true).await?);
            }
        }
        if scope.forget_seen(&image.id) || image.public {
            answer.push(json!({"Untagged": image.shown}));
        }
    }
    if answer.is_empty() {
        return Err(Refusal::no_such("image", reference));
    }
    let mut value = Value::Array(answer);
    names.unscope(&mut value);
    Ok(reply::json_ok(value))
}

fn must_be_forced(id: &str) -> Refusal {
    let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
    Refusal {
        status: 409,
        message: format!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        ),
    }
}

pub async fn prune(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let filters = filters::parse(&call.query, &["dangling", "label", "until"])?;
    filters::refuse_berth_labels(&filters)?;
    // `docker image prune -a` sends dangling=false: every image no container uses.
    let all = filters
        .get("dangling")
        .is_some_and(|d| d.iter().any(|v| v == "false" || v == "0"));
    let used: HashSet<String> = scope::containers(scope, true)
        .await?
        .iter()
        .filter_map(|c| c["ImageID"].as_str().map(str::to_owned))
        .collect();
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for image in scope::images(scope).await? {
        let id = image["Id"].as_str().unwrap_or_default().to_owned();
        if used.contains(&id) || !scope::image_owned(scope, &image) {
            continue;
        }
        let tags = own_tags(scope, &image);
        let dangling = tags.is_empty();
        if !dangling && !all {
            continue;
        }
        let built = scope.names().owns(image.get("Labels"));
        let targets = if dangling && built {
            vec![id.clone()]
        } else {
            tags
        };
        for target in targets {
            if let Ok(items) = delete(scope, &target, false, false).await {
                if items.iter().any(|i| i.get("Deleted").is_some()) {
                    reclaimed += image["Size"].as_u64().unwrap_or(0);
                }
                deleted.extend(items);
            }
        }
    }
    if all {
        scope.retain_seen(|id| used.contains(id));
    }
    let mut value = json!({"ImagesDeleted": deleted, "SpaceReclaimed": reclaimed});
    scope.names().unscope(&mut value);
    Ok(reply::json_ok(value))
}

pub async fn pull(call: &Call<'_>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    if call.query.get("fromSrc").is_some() {
        return Err(Refusal::not_available("docker import"));
    }
    let image = call.query.get("fromImage").unwrap_or_default();
    let tag = call.query.get("tag").unwrap_or_default();
    let written = match tag {
        "" => image.to_owned(),
        t if t.starts_with("sha256:") => format!("{image}@{t}"),
        t => format!("{image}:{t}"),
    };
    let parsed = Reference::parse(&written)
        .ok_or_else(|| Refusal::bad_request(format!("invalid reference format: {written}")))?;
    let familiar = parsed.familiar();
    if !scope.settings().pulls.allows(&familiar) {
        return Err(pull_refusal(&familiar));
    }
    let (name, tag_or_digest) = match (&parsed.digest, &parsed.tag) {
        (Some(digest), _) => (
            familiar.split('@').next().unwrap_or_default().to_owned(),
            digest.clone(),
        ),
        (None, tag) => (
            reference::split_tag(&familiar).0.to_owned(),
            tag.clone().unwrap_or_else(|| "latest".to_owned()),
        ),
    };
    let mut pairs = vec![
        ("fromImage", name.as_str()),
        ("tag", tag_or_digest.as_str()),
    ];
    let platform = call.query.get("platform").unwrap_or_default();
    let platform_ok = platform
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
    if !platform.is_empty() && platform_ok {
        pairs.push(("platform", platform));
    }
    let path = super::wire::path_with_query(&call.path("/images/create"), &pairs);
    let response = call.send(Method::POST, path).await?;
    let local = scope::image(scope, &familiar, Purpose::Use).await.ok();
    if !response.status().is_success() {
        let refusal = reply::engine_error(response).await;
        if let Some(local) = local {
            scope.mark_seen(&local.id);
            return Ok(json_lines(offline_lines(&familiar, &refusal.message)));
        }
        return Err(refusal);
    }
    let mut unscope = unscope_lines(scope.names());
    let offline = local.is_some();
    let for_edit = familiar.clone();
    let edit: LineEdit = Box::new(move |line: &str| {
        let is_error = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("errorDetail").or(v.get("error")).cloned())
            .is_some();
        if is_error && offline {
            return offline_lines(&for_edit, line);
        }
        unscope(line)
    });
    let finish_scope = call.scope.clone();
    let finish = async move {
        if let Ok(found) = scope::image(&finish_scope, &familiar, Purpose::Use).await {
            finish_scope.mark_seen(&found.id);
        }
        Vec::new()
    }
    .boxed();
    lines_response(response, edit, Some(finish))
}

/// Offline classrooms: the registry cannot be reached, but the image is here already.
fn offline_lines(reference: &str, why: &str) -> Vec<String> {
    tracing::info!(reference, why, "pull failed; using the local copy");
    vec![
        json!({"status": format!("berth: the registry cannot be reached, so this uses the copy of {reference} already on this machine")}).to_string(),
        json!({"status": format!("Status: Image is up to date for {reference}")}).to_string(),
    ]
}

/// Removes the learner's tags and the images they built (children first, never forced).
pub async fn remove_owned(scope: &Scope) -> Result<(), Refusal> {
    let upstream = scope.upstream();
    let all = upstream.ok(Method::GET, "/images/json", None).await?;
    for image in all.as_array().into_iter().flatten() {
        for tag in own_tags(scope, image) {
            let _ = upstream.remove(&format!("/images/{tag}?noprune=0")).await;
        }
    }
    let filters = std::collections::BTreeMap::from([(
        "label".to_owned(),
        vec![
            scope.names().owner_label(),
            format!("{LABEL_INSTANCE}={}", scope.names().instance()),
        ],
    )]);
    remove_labelled(scope.upstream(), &filters).await
}

/// Removes the images carrying these labels, newest (children) first; never forced.
pub async fn remove_labelled(
    upstream: &super::wire::Upstream,
    filters: &std::collections::BTreeMap<String, Vec<String>>,
) -> Result<(), Refusal> {
    let encoded = filters::encode_filters(filters);
    let path = super::wire::path_with_query("/images/json", &[("filters", &encoded)]);
    for _ in 0..2 {
        let mut images: Vec<Value> = upstream
            .ok(Method::GET, &path, None)
            .await?
            .as_array()
            .cloned()
            .unwrap_or_default();
        if images.is_empty() {
            return Ok(());
        }
        images.sort_by_key(|i| std::cmp::Reverse(i["Created"].as_i64().unwrap_or(0)));
        for image in images {
            if let Some(id) = image["Id"].as_str() {
                let _ = upstream.remove(&format!("/images/{id}")).await;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berth_s_steps_leave_the_history() {
        let mut history = json!([
            {"Id": "sha256:top", "CreatedBy": "/bin/sh -c #(nop)  LABEL berth.role=learner"},
            {"Id": "sha256:b", "CreatedBy": "/bin/sh -c #(nop)  LABEL berth.owner=x"},
            {"Id": "sha256:c", "CreatedBy": "/bin/sh -c #(nop) COPY file:x in /www"},
            {"Id": "sha256:base", "CreatedBy": "/bin/sh -c #(nop)  LABEL berth.role=learner"},
            {"Id": "sha256:d", "CreatedBy": "/bin/sh -c echo hi > /x"},
            {"Id": "<missing>", "CreatedBy": "/bin/sh -c #(nop) ADD file:abc in / "},
        ]);
        hide_berth_steps(&mut history);
        assert_eq!(history.as_array().unwrap().len(), 3);
        assert_eq!(history[0]["Id"], "sha256:top");
        assert_eq!(
            history[0]["CreatedBy"],
            "/bin/sh -c #(nop) COPY file:x in /www"
        );
        // The image it was built on keeps its own id too.
        assert_eq!(history[1]["Id"], "sha256:base");
        assert_eq!(history[2]["Id"], "<missing>");
    }

    #[test]
    fn reference_filters_match_names_and_tags() {
        let tags = vec!["app:1".to_owned(), "me/tool:latest".to_owned()];
        assert!(reference_matches("app", &tags));
        assert!(reference_matches("app:1", &tags));
        assert!(reference_matches("a*", &tags));
        assert!(reference_matches("me/*", &tags));
        assert!(!reference_matches("app:2", &tags));
    }
}
