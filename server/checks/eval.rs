//! Evaluating a check for one learner.
//!
//! Docker state is read through the learner's own scoped engine socket, as their own `docker`
//! command would read it: names are theirs, and nothing of anyone else's is there to match.
//! Probes and history run in the learner's workstation. A failed check says, in one sentence in
//! the learner's language, what is missing.

use std::collections::HashMap;
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
}

/// Evaluates `check` in `sandbox`, in the learner's language.
pub async fn evaluate(check: &Check, sandbox: &Sandbox, lang: Lang, look: &Look) -> Outcome {
    let t = Texts(lang);
    let result = match &check.kind {
        CheckKind::Probe(probe) => run_probe(probe, sandbox, t).await,
        CheckKind::History(history) => run_history(history, sandbox, t).await,
        docker_kind => match sandbox.scope() {
            Some(scope) => {
                let view = View::of(&scope, look);
                match docker_kind {
                    CheckKind::Container(c) => container(c, &view, t).await,
                    CheckKind::Image(c) => image(c, &view, t).await,
                    CheckKind::Volume(c) => volume(c, &view, t).await,
                    CheckKind::Network(c) => network(c, &view, t).await,
                    _ => Err(t.unavailable()),
                }
            }
            None => Err(t.no_docker()),
        },
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
    let list = view
        .get("/containers/json?all=1")
        .await
        .ok_or_else(|| t.engine())?;
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
        return match named.first() {
            Some(_) => Err(t.still_exists(&what)),
            None => Ok(t.gone(&what)),
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
        let found = candidates.len() as u32;
        return if found >= count {
            Ok(t.count_ok(found, &what))
        } else {
            Err(t.count_short(found, count, &what))
        };
    }
    match (candidates.first(), first_problem) {
        (Some(found), _) => Ok(t.container_ok(&container_name(found))),
        (None, Some(problem)) => Err(problem),
        (None, None) => Err(match &check.name {
            Some(name) => t.no_container(name),
            None => t.no_container_from(&what),
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
    if let Some(image) = &check.image {
        let actual = summary["Image"].as_str().unwrap_or_default();
        if !image_matches(image, actual) {
            return Some(t.wrong_image(&name, actual, image));
        }
    }
    let running = summary["State"] == "running";
    if let Some(wanted) = check.running
        && wanted != running
    {
        return Some(if wanted {
            t.not_running(&name)
        } else {
            t.still_running(&name)
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
        return Some(t.engine());
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
            return Some(t.not_published(&name, publish));
        }
    }
    let env: Vec<&str> = detail["Config"]["Env"]
        .as_array()
        .map(|e| e.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for wanted in &check.env {
        if !env.contains(&wanted.as_str()) {
            return Some(t.missing_env(&name, wanted));
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
            return Some(t.missing_volume(&name, wanted));
        }
    }
    if let Some(network) = &check.network {
        let networks = &detail["NetworkSettings"]["Networks"];
        if networks.get(network).is_none() {
            return Some(t.not_on_network(&name, network));
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
            return Some(t.not_linked(&name, target));
        }
    }
    None
}

async fn image(check: &ImageCheck, view: &View<'_>, t: Texts) -> Verdict {
    let list = view.get("/images/json").await.ok_or_else(|| t.engine())?;
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
    match (check.present, found) {
        (true, true) => Ok(t.image_ok(&wanted)),
        (true, false) => Err(t.no_image(&wanted)),
        (false, true) => Err(t.image_still(&wanted)),
        (false, false) => Ok(t.gone(&wanted)),
    }
}

async fn volume(check: &VolumeCheck, view: &View<'_>, t: Texts) -> Verdict {
    let list = view.get("/volumes").await.ok_or_else(|| t.engine())?;
    let found = list["Volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|v| v["Name"] == check.name.as_str());
    present_verdict(
        check.present,
        found,
        &check.name,
        t.no_volume(&check.name),
        t,
    )
}

async fn network(check: &NetworkCheck, view: &View<'_>, t: Texts) -> Verdict {
    let list = view.get("/networks").await.ok_or_else(|| t.engine())?;
    let found = list
        .as_array()
        .into_iter()
        .flatten()
        .any(|n| n["Name"] == check.name.as_str());
    present_verdict(
        check.present,
        found,
        &check.name,
        t.no_network(&check.name),
        t,
    )
}

fn present_verdict(present: bool, found: bool, name: &str, missing: String, t: Texts) -> Verdict {
    match (present, found) {
        (true, true) => Ok(t.exists(name)),
        (true, false) => Err(missing),
        (false, true) => Err(t.still_exists(name)),
        (false, false) => Ok(t.gone(name)),
    }
}

async fn run_probe(probe: &ProbeCheck, sandbox: &Sandbox, t: Texts) -> Verdict {
    let ran = sandbox.run(&probe.command, probe.timeout).await;
    let (code, stdout) = match ran {
        Ok(ran) => ran,
        Err(crate::sandbox::SandboxError::Shell(why)) if why == "timeout" => {
            return Err(t.timed_out(probe.timeout));
        }
        Err(_) => return Err(t.unavailable()),
    };
    let text = shorten(stdout.trim());
    let expected = probe
        .expect
        .as_ref()
        .is_none_or(|expect| stdout.contains(expect.as_str()));
    if code == 0 && expected {
        Ok(if text.is_empty() { t.done() } else { text })
    } else if text.is_empty() {
        Err(t.not_yet())
    } else {
        Err(text)
    }
}

async fn run_history(check: &HistoryCheck, sandbox: &Sandbox, t: Texts) -> Verdict {
    let Ok((_, history)) = sandbox
        .run("cat ~/.bash_history 2>/dev/null", Duration::from_secs(5))
        .await
    else {
        return Err(t.unavailable());
    };
    let ran = history.lines().map(str::trim).any(|line| {
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
    });
    let what = check
        .command
        .clone()
        .or_else(|| check.contains.clone())
        .unwrap_or_default();
    if ran {
        Ok(t.ran(&what))
    } else {
        Err(t.not_ran(&what))
    }
}

fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_MESSAGE).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The sentences a learner reads, in their language.
#[derive(Clone, Copy)]
struct Texts(Lang);

impl Texts {
    fn ko(self) -> bool {
        self.0 == Lang::Ko
    }
    fn pick(self, en: String, ko: String) -> String {
        if self.ko() { ko } else { en }
    }
    fn engine(self) -> String {
        self.pick(
            "Your Docker is not answering right now; try again in a moment.".into(),
            "지금은 Docker가 응답하지 않아요. 잠시 뒤에 다시 확인해 보세요.".into(),
        )
    }
    fn unavailable(self) -> String {
        self.pick(
            "This check cannot run right now: is your terminal open?".into(),
            "지금은 확인할 수 없어요. 터미널이 열려 있나요?".into(),
        )
    }
    fn no_docker(self) -> String {
        self.pick(
            "This sandbox has no Docker, so this check cannot pass here.".into(),
            "이 샌드박스에는 Docker가 없어서 이 확인은 통과할 수 없어요.".into(),
        )
    }
    fn done(self) -> String {
        self.pick("Done.".into(), "완료!".into())
    }
    fn not_yet(self) -> String {
        self.pick("Not done yet.".into(), "아직이에요.".into())
    }
    fn timed_out(self, after: Duration) -> String {
        let s = after.as_secs();
        self.pick(
            format!("The check gave up after {s} seconds."),
            format!("{s}초 안에 확인을 마치지 못했어요."),
        )
    }
    fn container_ok(self, name: &str) -> String {
        self.pick(
            format!("{name} is just as it should be."),
            format!("{name} 컨테이너가 제대로 준비됐어요."),
        )
    }
    fn count_ok(self, found: u32, what: &str) -> String {
        self.pick(
            format!("Found {found} containers from {what}."),
            format!("{what} 컨테이너를 {found}개 찾았어요."),
        )
    }
    fn count_short(self, found: u32, wanted: u32, what: &str) -> String {
        self.pick(
            format!("Found {found} containers from {what}; {wanted} are needed."),
            format!("{what} 컨테이너가 {found}개 있어요. {wanted}개가 필요해요."),
        )
    }
    fn no_container(self, name: &str) -> String {
        self.pick(
            format!("There is no container named {name} yet."),
            format!("아직 {name}이라는 이름의 컨테이너가 없어요."),
        )
    }
    fn no_container_from(self, image: &str) -> String {
        self.pick(
            format!("There is no container from {image} yet."),
            format!("아직 {image} 이미지로 만든 컨테이너가 없어요."),
        )
    }
    fn wrong_image(self, name: &str, actual: &str, wanted: &str) -> String {
        self.pick(
            format!("{name} runs {actual}, not {wanted}."),
            format!("{name} 컨테이너는 {wanted}가 아니라 {actual} 이미지로 돌고 있어요."),
        )
    }
    fn not_running(self, name: &str) -> String {
        self.pick(
            format!("{name} exists but is not running."),
            format!("{name} 컨테이너는 있지만 실행 중이 아니에요."),
        )
    }
    fn still_running(self, name: &str) -> String {
        self.pick(
            format!("{name} is still running."),
            format!("{name} 컨테이너가 아직 실행 중이에요."),
        )
    }
    fn not_published(self, name: &str, publish: &str) -> String {
        self.pick(
            format!("{name} does not publish {publish}."),
            format!("{name} 컨테이너가 {publish} 포트를 연결하지 않았어요."),
        )
    }
    fn missing_env(self, name: &str, env: &str) -> String {
        self.pick(
            format!("{name} does not have {env} in its environment."),
            format!("{name} 컨테이너의 환경 변수에 {env}가 없어요."),
        )
    }
    fn missing_volume(self, name: &str, volume: &str) -> String {
        self.pick(
            format!("{name} does not mount {volume}."),
            format!("{name} 컨테이너에 {volume}가 연결되어 있지 않아요."),
        )
    }
    fn not_on_network(self, name: &str, network: &str) -> String {
        self.pick(
            format!("{name} is not on the network {network}."),
            format!("{name} 컨테이너가 {network} 네트워크에 없어요."),
        )
    }
    fn not_linked(self, name: &str, target: &str) -> String {
        self.pick(
            format!("{name} is not linked to {target}."),
            format!("{name} 컨테이너가 {target}에 링크되어 있지 않아요."),
        )
    }
    fn image_ok(self, image: &str) -> String {
        self.pick(
            format!("{image} is in your images."),
            format!("이미지 목록에 {image}가 있어요."),
        )
    }
    fn no_image(self, image: &str) -> String {
        self.pick(
            format!("{image} is not in your images yet."),
            format!("아직 이미지 목록에 {image}가 없어요."),
        )
    }
    fn image_still(self, image: &str) -> String {
        self.pick(
            format!("{image} is still in your images."),
            format!("이미지 목록에 아직 {image}가 남아 있어요."),
        )
    }
    fn no_volume(self, name: &str) -> String {
        self.pick(
            format!("There is no volume named {name} yet."),
            format!("아직 {name}이라는 볼륨이 없어요."),
        )
    }
    fn no_network(self, name: &str) -> String {
        self.pick(
            format!("There is no network named {name} yet."),
            format!("아직 {name}이라는 네트워크가 없어요."),
        )
    }
    fn exists(self, name: &str) -> String {
        self.pick(format!("{name} is there."), format!("{name}가 있어요."))
    }
    fn still_exists(self, name: &str) -> String {
        self.pick(
            format!("{name} still exists."),
            format!("{name}가 아직 남아 있어요."),
        )
    }
    fn gone(self, name: &str) -> String {
        self.pick(format!("{name} is gone."), format!("{name}가 사라졌어요."))
    }
    fn ran(self, command: &str) -> String {
        self.pick(
            format!("You ran {command}."),
            format!("{command} 명령을 실행했어요."),
        )
    }
    fn not_ran(self, command: &str) -> String {
        self.pick(
            format!("You have not run {command} yet."),
            format!("아직 {command} 명령을 실행하지 않았어요."),
        )
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
