//! `docker build` with the classic builder. berth reads the context and the Dockerfile as the
//! engine would ([`context`], [`dockerfile`]), resolves every image it names in the learner's
//! view, and sends the engine a context of its own with a canonical Dockerfile naming images
//! by id. The result carries the learner's labels (the engine adds them as last steps, which
//! berth hides from the output), so it is theirs and only theirs; intermediate images a build
//! leaves behind are removed when it ends. Builds run one at a time per learner and a few at
//! a time in all, with the learner's limits.

pub mod context;
pub mod dockerfile;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use hyper::{Method, Request, Response};
use serde_json::{Map, Value, json};

use self::context::Scratch;
use super::containers::body::check_labels;
use super::dispatch::Call;
use super::gates;
use super::images::reference::{split_tag, valid_repository, valid_tag};
use super::names::{LABEL_INSTANCE, LABEL_OWNER, LABEL_ROLE, ROLE_LEARNER};
use super::refusal::Refusal;
use super::reply::{self, LineEdit, lines_response};
use super::route::Query;
use super::scope::{self, Purpose};
use super::server::Scope;
use super::wire::Body;
use super::wire::unread::Guarded;

/// A build context as sent (maybe compressed) is at most this big.
pub const MAX_UPLOAD: u64 = 64 << 20;
/// ... and at most this big unpacked.
pub const MAX_CONTEXT: u64 = 256 << 20;

/// The labels berth adds to every build (owner, instance, role): the engine makes each a
/// step of its own.
const BERTH_LABELS: usize = 3;

/// Build arguments and labels are small.
const MAX_ARG_TEXT: usize = 64 << 10;

fn build_refusal(what: &str) -> Refusal {
    Refusal::not_available(what)
}

/// The query berth sends the engine, from the learner's where it is theirs to choose.
fn build_query(scope: &Scope, q: &Query) -> Result<(Query, bool), Refusal> {
    if q.get("version").is_some_and(|v| v == "2") {
        return Err(build_refusal(
            "BuildKit (the classic builder is used instead)",
        ));
    }
    for (key, what) in [
        ("remote", "building from a remote context"),
        ("outputs", "build outputs"),
        ("cachefrom", "--cache-from"),
        ("extrahosts", "--add-host in builds"),
        ("squash", "--squash"),
    ] {
        if q.get(key)
            .is_some_and(|v| !v.is_empty() && v != "[]" && v != "0")
        {
            return Err(build_refusal(what));
        }
    }
    let names = scope.names();
    let policy = &scope.settings().policy;
    let mut query = Query::default();
    let mut tags = Vec::new();
    for t in q.all("t") {
        let (repo, tag) = split_tag(t);
        if !valid_repository(repo) || !valid_tag(tag) {
            return Err(Refusal::forbidden(format!(
                "{t:?} cannot be used as an image name here: use lowercase letters, digits, . _ - and /, without a registry"
            )));
        }
        tags.push(names.image(&format!("{repo}:{tag}")));
    }
    query.set_all("t", tags);
    // The learner's labels, then berth's: the engine adds them as the last steps of the stage
    // it builds, so the image (and only it) carries them.
    let mut labels = Map::new();
    if let Some(given) = q.get("labels").filter(|l| !l.is_empty()) {
        if given.len() > MAX_ARG_TEXT {
            return Err(Refusal::bad_request("the build labels are too long"));
        }
        labels = super::wire::json::parse_object(given.as_bytes())?;
        check_labels(&labels)?;
    }
    labels.insert(LABEL_OWNER.into(), names.learner().into());
    labels.insert(LABEL_INSTANCE.into(), names.instance().into());
    labels.insert(LABEL_ROLE.into(), ROLE_LEARNER.into());
    query.set("labels", Value::Object(labels).to_string());
    if let Some(args) = q.get("buildargs").filter(|a| !a.is_empty()) {
        if args.len() > MAX_ARG_TEXT {
            return Err(Refusal::bad_request("the build arguments are too long"));
        }
        let parsed = super::wire::json::parse_object(args.as_bytes())?;
        if parsed.values().any(|v| !(v.is_string() || v.is_null())) {
            return Err(Refusal::bad_request("build arguments must be strings"));
        }
        query.set("buildargs", Value::Object(parsed).to_string());
    }
    let network = match q.get("networkmode").unwrap_or_default() {
        "" | "default" | "bridge" if policy.allow_egress => "default",
        "" | "default" | "bridge" | "none" => "none",
        other => return Err(build_refusal(&format!("docker build --network {other}"))),
    };
    query.set("networkmode", network);
    query.set("memory", policy.memory_bytes.to_string());
    query.set("memswap", policy.memory_bytes.to_string());
    query.set("cpuperiod", "100000");
    query.set(
        "cpuquota",
        (policy.nano_cpus / 10_000).max(1000).to_string(),
    );
    if let Some(parent) = scope.settings().budget_parent(names.learner()) {
        query.set("cgroupparent", parent);
    }
    // Step containers go, whatever happens to the build.
    query.set("rm", "1");
    query.set("forcerm", "1");
    for key in ["nocache", "target"] {
        if let Some(v) = q.get(key) {
            query.set(key, v);
        }
    }
    if let Some(platform) = q.get("platform").filter(|p| !p.is_empty()) {
        let valid = platform.len() < 64
            && platform
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'.' | b'-'));
        if !valid {
            return Err(Refusal::bad_request(format!(
                "invalid platform {platform:?}"
            )));
        }
        query.set("platform", platform);
    }
    Ok((query, q.flag("q")))
}

/// Pulls a public image for a build, as the classic builder would, within the allowlist.
async fn pull_for_build(scope: &Scope, name: &str) {
    let Some(parsed) = super::images::reference::Reference::parse(name) else {
        return;
    };
    let familiar = parsed.familiar();
    if !scope.settings().pulls.allows(&familiar) || parsed.digest.is_some() {
        return;
    }
    let (repo, tag) = split_tag(&familiar);
    let path = super::wire::path_with_query("/images/create", &[("fromImage", repo), ("tag", tag)]);
    if let Ok(response) = scope.upstream().call(Method::POST, &path, None).await {
        tracing::debug!(status = %response.0, image = familiar, "pulled for a build");
    }
}

/// Resolves every image a Dockerfile names, pulling allowed public ones that are missing.
async fn resolve_images(
    scope: &Scope,
    names: &[String],
) -> Result<HashMap<String, scope::ImageRef>, Refusal> {
    let mut out = HashMap::new();
    for name in names {
        let found = match scope::image(scope, name, Purpose::Use).await {
            Ok(found) => found,
            Err(refusal) if refusal.is_not_found() => {
                pull_for_build(scope, name).await;
                scope::image(scope, name, Purpose::Use).await?
            }
            Err(refusal) => return Err(refusal),
        };
        // A base image's ONBUILD triggers run in this build: none may copy from an image.
        let info = scope::inspect_image(scope, &found.id).await?;
        for trigger in info["Config"]["OnBuild"].as_array().into_iter().flatten() {
            dockerfile::check_trigger(trigger.as_str().unwrap_or_default(), 0).map_err(|_| {
                Refusal::forbidden(format!(
                    "{name} has an ONBUILD trigger that copies from another image, which berth cannot follow"
                ))
            })?;
        }
        out.insert(name.clone(), found);
    }
    Ok(out)
}

/// What the build's output tells berth, and how it is shown to the learner.
#[derive(Default)]
struct Progress {
    /// Short ids the output mentioned (` ---> abc123…`).
    mentioned: HashSet<String>,
    final_id: Option<String>,
    /// Steps berth added (its labels): hidden, and the numbers of the others shifted.
    hiding: bool,
    hidden_before: usize,
    /// berth's steps on the learner's bases (one after each `FROM`).
    chain_steps: usize,
}

/// `Step 3/5 : LABEL berth.owner=…` → (3, 5, rest).
fn step_line(text: &str) -> Option<(usize, usize, &str)> {
    let rest = text.strip_prefix("Step ")?;
    let (numbers, instruction) = rest.split_once(" : ")?;
    let (at, of) = numbers.split_once('/')?;
    Some((at.parse().ok()?, of.parse().ok()?, instruction))
}

fn is_berth_step(instruction: &str) -> bool {
    instruction.starts_with("LABEL berth.")
}

/// Rewrites one line of the engine's output for the learner.
#[cfg(test)]
fn edit_line(
    line: &str,
    progress: &mut Progress,
    shown: &[(String, String)],
    quiet: bool,
) -> Option<String> {
    edit_line_for(line, progress, shown, quiet, &mut |_| {})
}

/// [`edit_line`], telling `step` about each step container that starts.
fn edit_line_for(
    line: &str,
    progress: &mut Progress,
    shown: &[(String, String)],
    quiet: bool,
    step: &mut dyn FnMut(Option<String>),
) -> Option<String> {
    let mut value: Value = serde_json::from_str(line).ok()?;
    if let Some(id) = value["aux"]["ID"].as_str() {
        progress.final_id = Some(id.to_owned());
        return (!quiet).then(|| line.to_owned());
    }
    let Some(text) = value["stream"].as_str().map(str::to_owned) else {
        // Errors and anything else pass (rewritten into the learner's names later).
        return Some(line.to_owned());
    };
    if let Some(id) = text.trim().strip_prefix("---> ")
        && id.len() == 12
        && id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        progress.mentioned.insert(id.to_owned());
        step(None);
    }
    if let Some(id) = text.trim().strip_prefix("---> Running in ")
        && id.len() == 12
        && id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        step(Some(id.to_owned()));
    }
    if let Some((at, of, instruction)) = step_line(&text) {
        if is_berth_step(instruction) {
            progress.hiding = true;
            progress.hidden_before += 1;
            return None;
        }
        progress.hiding = false;
        let at = at.saturating_sub(progress.hidden_before);
        let of = of.saturating_sub(BERTH_LABELS + progress.chain_steps);
        let mut instruction = instruction.to_owned();
        for (id, name) in shown {
            instruction = instruction.replace(id, name);
        }
        value["stream"] = format!("Step {at}/{of} : {instruction}").into();
        return (!quiet).then(|| value.to_string());
    }
    if text.starts_with("Successfully built ") || text.starts_with("Successfully tagged ") {
        progress.hiding = false;
        return (!quiet).then(|| line.to_owned());
    }
    if progress.hiding || quiet {
        return None;
    }
    Some(line.to_owned())
}

/// The image ids on the engine now (intermediates included), with their parents.
async fn image_ids(scope: &Scope) -> Result<HashMap<String, String>, Refusal> {
    let list = scope
        .upstream()
        .ok(Method::GET, "/images/json?all=1", None)
        .await?;
    Ok(list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            Some((
                i["Id"].as_str()?.to_owned(),
                i["ParentId"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect())
}

/// After a build: images it made that are not the result or one of its parents (other
/// stages, a failed build's steps) are removed, children first.
async fn remove_leftovers(
    scope: &Scope,
    before: &HashMap<String, String>,
    mentioned: &HashSet<String>,
    final_id: Option<&str>,
) {
    let Ok(after) = image_ids(scope).await else {
        return;
    };
    let mut keep: HashSet<&str> = HashSet::new();
    let mut cursor = final_id;
    while let Some(id) = cursor.filter(|id| !id.is_empty()) {
        if !keep.insert(id) {
            break;
        }
        cursor = after.get(id).map(String::as_str);
    }
    let mut leftovers: Vec<&str> = after
        .keys()
        .filter(|id| !before.contains_key(*id) && !keep.contains(id.as_str()))
        .filter(|id| {
            let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
            mentioned.contains(&short)
        })
        .map(String::as_str)
        .collect();
    // Children before parents: a parent is removed only once nothing builds on it.
    leftovers.sort_by_key(|id| {
        let mut depth = 0;
        let mut cursor = after.get(*id);
        while let Some(parent) = cursor.filter(|p| !p.is_empty()) {
            depth += 1;
            cursor = after.get(parent);
            if depth > 1000 {
                break;
            }
        }
        std::cmp::Reverse(depth)
    });
    for id in leftovers {
        if let Err(error) = scope.upstream().remove(&format!("/images/{id}")).await {
            tracing::debug!(id, error = %error.message, "could not remove a build's leftover image");
        }
    }
}

pub async fn build(call: &Call<'_>, request: Request<Guarded>) -> Result<Response<Body>, Refusal> {
    let scope = call.scope;
    let (query, quiet) = build_query(scope, &call.query)?;
    let dockerfile_name =
        context::dockerfile_name(call.query.get("dockerfile").unwrap_or_default())?;
    gates::disk(scope, "build an image").await?;
    gates::pace(scope, gates::Costly::Build).await?;
    let Ok(own_slot) = scope.builds_permit() else {
        return Err(Refusal::limit(
            "one of your builds is still running; wait for it to finish",
        ));
    };
    let Ok(shared_slot) = scope.settings().builds.clone().try_acquire_owned() else {
        return Err(Refusal {
            status: 429,
            message: "berth: others are building images right now; try again in a moment"
                .to_owned(),
        });
    };
    let declared = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_UPLOAD) {
        request.into_body().discard();
        return Err(Refusal::too_large(MAX_UPLOAD));
    }
    let scratch_dir = scope.settings().scratch.clone();
    let input = context::spool(request.into_body(), &scratch_dir, MAX_UPLOAD).await?;
    let input = Arc::new(input);
    let read = {
        let input = input.clone();
        let name = dockerfile_name.clone();
        tokio::task::spawn_blocking(move || {
            context::read_dockerfile(input.path(), &name, MAX_CONTEXT)
        })
    };
    let text = read
        .await
        .map_err(|e| Refusal::bad_request(format!("berth: reading the context failed: {e}")))??;
    let parsed = dockerfile::parse(&text)?;
    if let Some(target) = query.get("target").filter(|t| !t.is_empty())
        && !parsed.has_stage(target)
    {
        return Err(Refusal::bad_request(format!(
            "failed to reach build target {target} in Dockerfile"
        )));
    }
    let resolved = resolve_images(scope, &parsed.images()).await?;
    let canonical = parsed.canonical(
        |name| resolved.get(name).map(|r| r.id.clone()),
        Some(scope.names().learner()),
    )?;
    let chain_steps = parsed.bases_built(query.get("target"));
    let output = Scratch::new(&scratch_dir).map_err(|e| Refusal {
        status: 500,
        message: format!("berth: could not keep the build context: {e}"),
    })?;
    let output = Arc::new(output);
    let written = {
        let (input, output, name) = (input.clone(), output.clone(), dockerfile_name.clone());
        tokio::task::spawn_blocking(move || {
            context::write_canonical(input.path(), &name, &canonical, MAX_CONTEXT, output.path())
        })
    };
    written
        .await
        .map_err(|e| Refusal::bad_request(format!("berth: writing the context failed: {e}")))??;
    drop(input);

    let mut query = query;
    query.set(
        "dockerfile",
        String::from_utf8_lossy(&dockerfile_name).into_owned(),
    );
    let before = image_ids(scope).await?;
    let file = tokio::fs::File::open(output.path())
        .await
        .map_err(|e| Refusal {
            status: 500,
            message: format!("berth: could not read the build context back: {e}"),
        })?;
    let body = file_body(file);
    let response = call
        .forward(
            Method::POST,
            call.path_query("/build", &query),
            Some("application/x-tar"),
            body,
        )
        .await?;
    let response = reply::succeeded(response).await?;

    let shown: Vec<(String, String)> = resolved
        .iter()
        .map(|(name, image)| (image.id.clone(), name.clone()))
        .collect();
    let progress = Arc::new(Mutex::new(Progress {
        chain_steps,
        ..Progress::default()
    }));
    let mut unscope = reply::unscope_lines(scope.names());
    let edit_progress = progress.clone();
    let step_scope = scope.clone();
    let mut step = move |id: Option<String>| step_scope.set_build_step(id);
    let edit: LineEdit = Box::new(move |line: &str| {
        let mut progress = edit_progress.lock().unwrap_or_else(|e| e.into_inner());
        match edit_line_for(line, &mut progress, &shown, quiet, &mut step) {
            Some(line) => unscope(&line),
            None => Vec::new(),
        }
    });
    let finish_scope = scope.clone();
    let public: Vec<String> = resolved
        .values()
        .filter(|r| r.public)
        .map(|r| r.id.clone())
        .collect();
    let finish = async move {
        let _slots = (own_slot, shared_slot, output);
        finish_scope.set_build_step(None);
        let (mentioned, final_id) = {
            let progress = progress.lock().unwrap_or_else(|e| e.into_inner());
            (progress.mentioned.clone(), progress.final_id.clone())
        };
        remove_leftovers(&finish_scope, &before, &mentioned, final_id.as_deref()).await;
        let mut last = Vec::new();
        if let Some(id) = &final_id {
            for image in &public {
                finish_scope.mark_seen(image);
            }
            if quiet {
                last.push(json!({"stream": format!("{id}\n")}).to_string());
            }
        }
        last
    }
    .boxed();
    lines_response(response, edit, Some(finish))
}

/// A file as a request body, read in chunks as the engine takes them.
fn file_body(file: tokio::fs::File) -> Body {
    use http_body_util::BodyExt;
    use tokio::io::AsyncReadExt;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; 64 << 10];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((
                    Ok::<_, super::wire::BoxError>(hyper::body::Frame::data(bytes::Bytes::from(
                        buffer,
                    ))),
                    file,
                ))
            }
            Err(error) => Some((Err(error.into()), file)),
        }
    });
    http_body_util::StreamBody::new(stream).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str], quiet: bool) -> Vec<String> {
        let mut progress = Progress::default();
        let shown = vec![("sha256:abc".to_owned(), "busybox".to_owned())];
        lines
            .iter()
            .filter_map(|l| edit_line(l, &mut progress, &shown, quiet))
            .collect()
    }

    const OUTPUT: &[&str] = &[
        r#"{"stream":"Step 1/5 : FROM sha256:abc"}"#,
        r#"{"stream":"\n"}"#,
        r#"{"stream":" ---\u003e 8d9cb3b9b7be\n"}"#,
        r#"{"stream":"Step 2/5 : RUN echo hi"}"#,
        r#"{"stream":"\n"}"#,
        r#"{"stream":" ---\u003e 480d5355c5a8\n"}"#,
        r#"{"stream":"Step 3/5 : LABEL berth.instance=i"}"#,
        r#"{"stream":"\n"}"#,
        r#"{"stream":" ---\u003e Running in 4c3020bd0322\n"}"#,
        r#"{"stream":" ---\u003e 811f5acbb316\n"}"#,
        r#"{"stream":"Step 4/5 : LABEL berth.owner=x"}"#,
        r#"{"stream":"Step 5/5 : LABEL berth.role=learner"}"#,
        r#"{"stream":" ---\u003e 479636f12014\n"}"#,
        r#"{"aux":{"ID":"sha256:479636f12014cd22"}}"#,
        r#"{"stream":"Successfully built 479636f12014\n"}"#,
    ];

    #[test]
    fn berth_s_steps_are_hidden_and_the_rest_renumbered() {
        let shown = run(OUTPUT, false).join("");
        assert!(shown.contains("Step 1/2 : FROM busybox"), "{shown}");
        assert!(shown.contains("Step 2/2 : RUN echo hi"), "{shown}");
        assert!(!shown.contains("berth."), "{shown}");
        assert!(!shown.contains("811f5acbb316"), "{shown}");
        assert!(shown.contains("Successfully built 479636f12014"), "{shown}");
    }

    #[test]
    fn quiet_builds_say_nothing_but_errors() {
        let mut lines = OUTPUT.to_vec();
        lines.push(r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#);
        let shown = run(&lines, true);
        assert_eq!(
            shown,
            [r#"{"errorDetail":{"message":"boom"},"error":"boom"}"#]
        );
    }
}
