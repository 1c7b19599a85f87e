//! `berth lessons check [DIR]` and `berth serve --lessons DIR`, run as the real binary: good
//! lessons pass, a broken check block is reported with its file, line and reason.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// A folder of lessons in the temp dir, removed on drop.
struct Lessons(PathBuf);

impl Lessons {
    fn new(name: &str) -> Lessons {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "berth-lessons-check-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Lessons(dir)
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// An English lesson whose check has a typo (`timout`) on line 14, and a good Korean one.
    fn with_a_typo(name: &str) -> (Lessons, PathBuf) {
        let lessons = Lessons::new(name);
        let front = "+++\ntitle = \"First\"\nsummary = \"s\"\nimages = []\n+++\n";
        let bad = format!(
            "{front}\nSome text.\n\n```check\nid = \"note-created\"\ntitle = \"A note\"\n\
             [probe]\ncommand = \"test -f ~/note.txt\"\ntimout = \"5s\"\n```\n"
        );
        let good = format!(
            "{front}\n```check\nid = \"note-created\"\ntitle = \"노트\"\n[probe]\ncommand = \"true\"\n```\n"
        );
        let path = lessons.write("en/01-first.md", &bad);
        lessons.write("ko/01-first.md", &good);
        (lessons, path)
    }
}

impl Drop for Lessons {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn berth(args: &[&str], cwd: &Path) -> Output {
    Command::new(BERTH)
        .args(args)
        .current_dir(cwd)
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_LESSONS")
        .output()
        .expect("berth runs")
}

#[test]
fn the_lessons_in_the_repository_pass() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lessons = repo.join("lessons");
    for args in [
        vec!["lessons", "check"],
        vec!["lessons", "check", lessons.to_str().unwrap()],
    ] {
        let output = berth(&args, repo);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains("2 languages"), "{stdout}");
        assert!(stdout.contains("all good"), "{stdout}");
    }
}

#[test]
fn a_malformed_check_fails_with_its_file_line_and_reason() {
    let (lessons, bad) = Lessons::with_a_typo("malformed");
    let output = berth(
        &["lessons", "check", lessons.0.to_str().unwrap()],
        &lessons.0,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:14: ", bad.display())),
        "the problem should name the file and the line of `timout`: {stderr}"
    );
    assert!(stderr.contains("unknown field `timout`"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn a_lesson_without_its_translation_fails_the_check() {
    let lessons = Lessons::new("untranslated");
    let lesson = "+++\ntitle = \"Only English\"\nsummary = \"s\"\n+++\nText.\n";
    lessons.write("en/01-only.md", lesson);
    lessons.write("ko/02-other.md", lesson);
    let output = berth(
        &["lessons", "check", lessons.0.to_str().unwrap()],
        &lessons.0,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("01-only.md:1: no 한국어 version"),
        "{stderr}"
    );
    assert!(
        stderr.contains("02-other.md:1: no English version"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_broken_lessons_at_start_up() {
    let (lessons, bad) = Lessons::with_a_typo("serve");
    let data = lessons.0.join("data");
    let mut child = Command::new(BERTH)
        .args(["serve", "--listen", "127.0.0.1:0", "--sandbox", "local"])
        .arg("--lessons")
        .arg(&lessons.0)
        .arg("--data-dir")
        .arg(&data)
        .current_dir(&lessons.0)
        .env_remove("BERTH_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("berth starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth serve kept running with broken lessons");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:14: ", bad.display())),
        "{stderr}"
    );
    assert!(stderr.contains("unknown field `timout`"), "{stderr}");
}

/// A lesson in both languages with `body` (the same text: only the rules are under test).
fn one_lesson(name: &str, body: &str) -> Lessons {
    let lessons = Lessons::new(name);
    let text = format!("+++\ntitle = \"First\"\nsummary = \"s\"\nimages = []\n+++\n{body}");
    lessons.write("en/01-first.md", &text);
    lessons.write("ko/01-first.md", &text);
    lessons
}

fn check_fails_with(lessons: &Lessons, says: &[&str]) {
    let output = berth(
        &["lessons", "check", lessons.0.to_str().unwrap()],
        &lessons.0,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for text in says {
        assert!(stderr.contains(text), "should say {text:?}: {stderr}");
    }
}

const CHALLENGE: &str = "```check\nid = \"made\"\ntitle = \"A volume v\"\nchallenge = true\n\
    hints = [\"a volume\", \"`docker volume create v`\"]\nsolution = \"docker volume create v\"\n\
    [volume]\nname = \"v\"\n```\n";

#[test]
fn a_history_check_without_a_success_requirement_fails_the_check() {
    let history =
        "```check\nid = \"typed\"\ntitle = \"Ran ps\"\n[history]\ncommand = \"ps\"\n```\n";
    let lessons = one_lesson("history", &format!("{CHALLENGE}\n{history}"));
    // Line 19 of each file is the [history] table.
    check_fails_with(
        &lessons,
        &["01-first.md:19: check: [history] needs `succeeded = true`"],
    );

    let fixed = history.replace("command = \"ps\"\n", "command = \"ps\"\nsucceeded = true\n");
    let lessons = one_lesson("history-ok", &format!("{CHALLENGE}\n{fixed}"));
    let output = berth(
        &["lessons", "check", lessons.0.to_str().unwrap()],
        &lessons.0,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_lesson_without_a_challenge_or_with_a_given_away_one_fails_the_check() {
    let plain = "```check\nid = \"made\"\ntitle = \"A volume v\"\n[volume]\nname = \"v\"\n```\n";
    check_fails_with(&one_lesson("no-challenge", plain), &["no challenge"]);

    let given_away = format!("```bash run\ndocker volume create v\n```\n\n{CHALLENGE}");
    check_fails_with(
        &one_lesson("given-away", &given_away),
        &[
            "challenge `made` is given away: a Run block carries its command `docker volume create v`",
        ],
    );

    let one_hint = CHALLENGE.replace(
        "hints = [\"a volume\", \"`docker volume create v`\"]",
        "hint = \"`docker volume create v`\"",
    );
    check_fails_with(
        &one_lesson("one-hint", &one_hint),
        &["needs at least two `hints`"],
    );

    let before = "```check\nid = \"gone\"\ntitle = \"No v\"\nafter = \"made\"\n[volume]\nname = \"v\"\npresent = false\n```\n";
    check_fails_with(
        &one_lesson("after-later", &format!("{before}\n{CHALLENGE}")),
        &["`after` of `gone` names `made`, which is not an earlier exercise"],
    );
}
