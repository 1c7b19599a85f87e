//! Evaluating a check for one learner.
//!
//! Docker state is read through the learner's own scoped engine socket, as their own `docker`
//! command would read it: names are theirs, and nothing of anyone else's is there to match.
//! Probes and history run in the learner's workstation. A failed check says, in one sentence in
//! the learner's language, what is missing.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde::Serialize;
use serde_json::Value;

use super::model::{
    Check, CheckKind, ContainerCheck, HistoryCheck, ImageCheck, NetworkCheck, ProbeCheck,
    VolumeCheck,
};
use crate::engine::Scope;
use crate::engine::wire::{Endpoint, Upstream};
use crate::i18n::{CheckWords, fill, words};
use crate::lessons::Lang;
use crate::sandbox::Sandbox;

/// A probe's output shown to the learner is at most this long.
const MAX_MESSAGE: usize = 300;

/// What a learner sees on an exercise card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub exercise: String,
    pub passed: bool,
    pub message: String,
}

/// One look at the learner's Docker for checks evaluated together (a lesson's, after a
/// change): each list is read once per look, not once per exercise. Make a new one for the
/// next look, since what it read goes stale.
#[derive(Default)]
pub struct Look {
    answers: tokio::sync::Mutex<HashMap<String, Option<Value>>>,
    /// The titles of the lesson's exercises, for "do that one first".
    titles: HashMap<String, String>,
}

impl Look {
    /// A look for checks of a lesson with these exercises.
    pub fn for_lesson(exercises: &[Check]) -> Look {
        Look {
            answers: Default::default(),
            titles: exercises
                .iter()
                .map(|check| (check.id.clone(), check.title.clone()))
                .collect(),
        }
    }

    fn title_of(&self, exercise: &str) -> String {
        self.titles
            .get(exercise)
            .cloned()
            .unwrap_or_else(|| exercise.to_owned())
    }
}

/// Evaluates `check` in `sandbox`, in the learner's language. `passed` holds the exercises of
/// the lesson the learner has passed, for checks that come `after` another.
pub async fn evaluate(
    check: &Check,
    sandbox: &Sandbox,
    lang: Lang,
    look: &Look,
    passed: &HashSet<String>,
) -> Outcome {
    let t = Texts::of(lang);
    let result = match &check.after {
        Some(first) if !passed.contains(first) => {
            Err(t.say(|w| w.after_first, &[("title", &look.title_of(first))]))
        }
        _ => verdict(check, sandbox, look, t, passed.contains(&check.id)).await,
    };
    let (passed, message) = match result {
        Ok(message) => (true, message),
        Err(message) => (false, message),
    };
    Outcome {
        exercise: check.id.clone(),
        passed,
        message,
    }
}

/// Evaluates several checks of one lesson at once (a probe waiting on the network does not
/// hold up the others), in the order given.
pub async fn evaluate_all(
    checks: &[&Check],
    sandbox: &Sandbox,
    lang: Lang,
    look: &Look,
    passed: &HashSet<String>,
) -> Vec<Outcome> {
    futures_util::future::join_all(
        checks
            .iter()
            .map(|check| evaluate(check, sandbox, lang, look, passed)),
    )
    .await
}

/// `passed_before`: the learner passed this exercise earlier (a command they ran then still
/// counts when a newer sandbox's history does not show it).
async fn verdict(
    check: &Check,
    sandbox: &Sandbox,
    look: &Look,
    t: Texts,
    passed_before: bool,
) -> Verdict {
    match &check.kind {
        CheckKind::Probe(probe) => run_probe(probe, sandbox, t).await,
        CheckKind::History(history) => run_history(history, sandbox, t, passed_before).await,
        docker_kind => match sandbox.scope() {
            Some(scope) => {
                let view = View::of(&scope, look);
                match docker_kind {
                    CheckKind::Container(c) => container(c, &view, t).await,
                    CheckKind::Image(c) => image(c, &view, t).await,
                    CheckKind::Volume(c) => volume(c, &view, t).await,
                    CheckKind::Network(c) => network(c, &view, t).await,
                    _ => Err(t.say(|w| w.unavailable, &[])),
                }
            }
            None => Err(t.say(|w| w.no_docker, &[])),
        },
    }
}

/// The learner's Docker, as their own socket shows it.
struct View<'a> {
    socket: Upstream,
    look: &'a Look,
}

impl View<'_> {
    fn of<'a>(scope: &Arc<Scope>, look: &'a Look) -> View<'a> {
        View {
            socket: Upstream::new(Endpoint::Unix(scope.socket().to_owned())),
            look,
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let mut answers = self.look.answers.lock().await;
        if let Some(answer) = answers.get(path) {
            return answer.clone();
        }
        let answer = self.socket.ok(Method::GET, path, None).await.ok();
        answers.insert(path.to_owned(), answer.clone());
        answer
    }
}

type Verdict = Result<String, String>;

fn container_name(container: &Value) -> String {
    container["Names"][0]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned()
}

/// `nginx` matches `nginx`, `nginx:1.27` and `docker.io/library/nginx:1.27`; `nginx:1.27`
/// matches only that tag.
fn image_matches(wanted: &str, actual: &str) -> bool {
    let normal = |r: &str| {
        let r = r
            .trim_start_matches("docker.io/")
            .trim_start_matches("library/");
        r.to_owned()
    };
    let (wanted, actual) = (normal(wanted), normal(actual));
    if wanted.contains(':') || wanted.contains('@') {
        actual == wanted || (!actual.contains(':') && format!("{actual}:latest") == wanted)
    } else {
        actual == wanted || actual.split(':').next() == Some(wanted.as_str())
    }
}

async fn container(check: &ContainerCheck, view: &View<'_>, t: Texts) -> Verdict {
    let engine = || t.say(|w| w.engine, &[]);
    let list = view
        .get("/containers/json?all=1")
        .await
        .ok_or_else(engine)?;
    let all = list.as_array().cloned().unwrap_or_default();
    let named: Vec<&Value> = match &check.name {
        Some(name) => all.iter().filter(|c| container_name(c) == *name).collect(),
        None => all.iter().collect(),
    };
    let what = check
        .name
        .clone()
        .unwrap_or_else(|| check.image.clone().unwrap_or_default());
    if !check.present {
        let name = [("name", what.as_str())];
        return match named.first() {
            Some(_) => Err(t.say(|w| w.container_still, &name)),
            None => Ok(t.say(|w| w.container_gone, &name)),
        };
    }
    let mut candidates = Vec::new();
    let mut first_problem = None;
    for summary in named.iter().copied() {
        match container_problem(check, summary, view, t).await {
            None => candidates.push(summary),
            Some(problem) => {
                first_problem.get_or_insert(problem);
            }
        }
    }
    if let Some(count) = check.count {
        let found = candidates.len().to_string();
        let values = [
            ("what", what.as_str()),
            ("found", found.as_str()),
            ("count", &count.to_string()),
        ];
        return if candidates.len() >= count as usize {
            Ok(t.say(|w| w.count_ok, &values))
        } else {
            Err(t.say(|w| w.count_short, &values))
        };
    }
    match (candidates.first(), first_problem) {
        (Some(found), _) => Ok(t.say(|w| w.container_ok, &[("name", &container_name(found))])),
        (None, Some(problem)) => Err(problem),
        (None, None) => Err(match &check.name {
            Some(name) => t.say(|w| w.no_container, &[("name", name)]),
            None => t.say(|w| w.no_container_from, &[("image", &what)]),
        }),
    }
}

/// What is wrong with one container for this check, if anything.
async fn container_problem(
    check: &ContainerCheck,
    summary: &Value,
    view: &View<'_>,
    t: Texts,
) -> Option<String> {
    let name = container_name(summary);
    let about = |pick: fn(&CheckWords) -> &'static str, wanted: &str| {
        t.say(pick, &[("name", &name), ("wanted", wanted)])
    };
    if let Some(image) = &check.image {
        let actual = summary["Image"].as_str().unwrap_or_default();
        if !image_matches(image, actual) {
            return Some(t.say(
                |w| w.wrong_image,
                &[("name", &name), ("actual", actual), ("wanted", image)],
            ));
        }
    }
    let running = summary["State"] == "running";
    if let Some(wanted) = check.running
        && wanted != running
    {
        return Some(if wanted {
            about(|w| w.not_running, "")
        } else {
            about(|w| w.still_running, "")
        });
    }
    let needs_detail = !check.publish.is_empty()
        || !check.env.is_empty()
        || !check.volumes.is_empty()
        || check.network.is_some()
        || !check.links.is_empty();
    if !needs_detail {
        return None;
    }
    let id = summary["Id"].as_str().unwrap_or_default();
    let Some(detail) = view.get(&format!("/containers/{id}/json")).await else {
        return Some(t.say(|w| w.engine, &[]));
    };
    for publish in &check.publish {
        let (host, inner) = publish.split_once(':').unwrap_or(("", publish));
        let key = if inner.contains('/') {
            inner.to_owned()
        } else {
            format!("{inner}/tcp")
        };
        let bound = detail["HostConfig"]["PortBindings"][&key]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["HostPort"] == host));
        if !bound {
            return Some(about(|w| w.not_published, publish));
        }
    }
    let env: Vec<&str> = detail["Config"]["Env"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for wanted in &check.env {
        if !env.contains(&wanted.as_str()) {
            return Some(about(|w| w.missing_env, wanted));
        }
    }
    let mounts = detail["Mounts"].as_array().cloned().unwrap_or_default();
    for wanted in &check.volumes {
        let mut parts = wanted.split(':');
        let source = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let found = mounts
            .iter()
            .any(|m| m["Destination"] == target && (m["Name"] == source || m["Source"] == source));
        if !found {
            return Some(about(|w| w.missing_volume, wanted));
        }
    }
    if let Some(network) = &check.network {
        let networks = &detail["NetworkSettings"]["Networks"];
        if networks.get(network).is_none() {
            return Some(about(|w| w.not_on_network, network));
        }
    }
    for link in &check.links {
        let target = link.split(':').next().unwrap_or(link);
        let linked = detail["NetworkSettings"]["Networks"]
            .as_object()
            .into_iter()
            .flat_map(|n| n.values())
            .flat_map(|n| n["Links"].as_array().cloned().unwrap_or_default())
            .chain(
                detail["HostConfig"]["Links"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            )
            .filter_map(|l| l.as_str().map(str::to_owned))
            .any(|l| l.trim_start_matches('/').split(':').next() == Some(target));
        if !linked {
            return Some(about(|w| w.not_linked, target));
        }
    }
    None
}

async fn image(check: &ImageCheck, view: &View<'_>, t: Texts) -> Verdict {
    let list = view
        .get("/images/json")
        .await
        .ok_or_else(|| t.say(|w| w.engine, &[]))?;
    let wanted = match &check.tag {
        Some(tag) => format!("{}:{tag}", check.name),
        None => check.name.clone(),
    };
    let found = list.as_array().into_iter().flatten().any(|image| {
        image["RepoTags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|tag| image_matches(&wanted, tag))
    });
    let image = [("image", wanted.as_str())];
    match (check.present, found) {
        (true, true) => Ok(t.say(|w| w.image_ok, &image)),
        (true, false) => Err(t.say(|w| w.no_image, &image)),
        (false, true) => Err(t.say(|w| w.image_still, &image)),
        (false, false) => Ok(t.say(|w| w.image_gone, &image)),
    }
}

/// The four sentences of a kind of named object: there, missing, still there, gone.
type Sentences = [fn(&CheckWords) -> &'static str; 4];

async fn volume(check: &VolumeCheck, view: &View<'_>, t: Texts) -> Verdict {
    let list = view
        .get("/volumes")
        .await
        .ok_or_else(|| t.say(|w| w.engine, &[]))?;
    let found = list["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v["Name"] == check.name.as_str());
    let sentences: Sentences = [
        |w| w.volume_ok,
        |w| w.no_volume,
        |w| w.volume_still,
        |w| w.volume_gone,
    ];
    present_verdict(check.present, found, &check.name, sentences, t)
}

async fn network(check: &NetworkCheck, view: &View<'_>, t: Texts) -> Verdict {
    let list = view
        .get("/networks")
        .await
        .ok_or_else(|| t.say(|w| w.engine, &[]))?;
    let found = list
        .as_array()
        .into_iter()
        .flatten()
        .any(|n| n["Name"] == check.name.as_str());
    let sentences: Sentences = [
        |w| w.network_ok,
        |w| w.no_network,
        |w| w.network_still,
        |w| w.network_gone,
    ];
    present_verdict(check.present, found, &check.name, sentences, t)
}

fn present_verdict(present: bool, found: bool, name: &str, says: Sentences, t: Texts) -> Verdict {
    let [there, missing, still, gone] = says;
    let name = [("name", name)];
    match (present, found) {
        (true, true) => Ok(t.say(there, &name)),
        (true, false) => Err(t.say(missing, &name)),
        (false, true) => Err(t.say(still, &name)),
        (false, false) => Ok(t.say(gone, &name)),
    }
}

/// A probe passes on exit 0 (with `expect` in its output, when given). What it printed is the
/// card's message; a probe that printed nothing leaves the card's own label to speak.
async fn run_probe(probe: &ProbeCheck, sandbox: &Sandbox, t: Texts) -> Verdict {
    let ran = sandbox.run(&probe.command, probe.timeout).await;
    let (code, stdout) = match ran {
        Ok(ran) => ran,
        Err(crate::sandbox::SandboxError::Shell(why)) if why == "timeout" => {
            let seconds = probe.timeout.as_secs().to_string();
            return Err(t.say(|w| w.timed_out, &[("seconds", &seconds)]));
        }
        Err(_) => return Err(t.say(|w| w.unavailable, &[])),
    };
    let text = shorten(stdout.trim());
    let expected = probe
        .expect
        .as_ref()
        .is_none_or(|expect| stdout.contains(expect.as_str()));
    if code == 0 && expected {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Where the workstation's shell writes each command with its exit status (see
/// images/workstation/bash.bashrc).
const HISTORY_FILE: &str = "/tmp/.berth-history";

async fn run_history(
    check: &HistoryCheck,
    sandbox: &Sandbox,
    t: Texts,
    passed_before: bool,
) -> Verdict {
    let Ok((_, history)) = sandbox
        .run(
            &format!("cat {HISTORY_FILE} 2>/dev/null"),
            Duration::from_secs(5),
        )
        .await
    else {
        return Err(t.say(|w| w.unavailable, &[]));
    };
    let matches = |line: &str| {
        // `cd ~ && ps aux` ran `ps` too: any command of the line may start with the words.
        let starts = check.command.as_ref().is_none_or(|command| {
            line.split([';', '&', '|'])
                .map(str::trim)
                .any(|part| part == command || part.starts_with(&format!("{command} ")))
        });
        let contains = check
            .contains
            .as_ref()
            .is_none_or(|text| line.contains(text.as_str()));
        starts && contains
    };
    let mut ran = false;
    let mut succeeded = false;
    for entry in history.lines() {
        let Some((status, line)) = entry.split_once('\t') else {
            continue;
        };
        if matches(line.trim()) {
            ran = true;
            succeeded |= status.trim() == "0";
        }
    }
    let what = check
        .command
        .clone()
        .or_else(|| check.contains.clone())
        .unwrap_or_default();
    let what = [("what", what.as_str())];
    match (ran, succeeded || !check.succeeded) {
        (true, true) => Ok(t.say(|w| w.ran, &what)),
        (true, false) => Err(t.say(|w| w.ran_failed, &what)),
        (false, _) if passed_before => Ok(t.say(|w| w.ran_earlier, &what)),
        (false, _) => Err(t.say(|w| w.not_ran, &what)),
    }
}

fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_MESSAGE).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The sentences a learner reads, in their language (the templates live in [`crate::i18n`]).
#[derive(Clone, Copy)]
struct Texts(&'static CheckWords);

impl Texts {
    fn of(lang: Lang) -> Texts {
        Texts(&words(lang).checks)
    }
    fn say(self, pick: fn(&CheckWords) -> &'static str, values: &[(&str, &str)]) -> String {
        fill(pick(self.0), values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_match_as_people_write_them() {
        assert!(image_matches("nginx", "nginx:1.27"));
        assert!(image_matches("nginx", "nginx"));
        assert!(image_matches("nginx:1.27", "nginx:1.27"));
        assert!(!image_matches("nginx:1.27", "nginx:1.26"));
        assert!(image_matches("busybox:latest", "busybox"));
        assert!(!image_matches("nginx", "nginx-proxy:1"));
        assert!(image_matches("myapp:1", "myapp:1"));
    }
}
