//! Reading lessons into a [`Catalog`]: from the copy built into the binary or from a folder,
//! each file's front matter and body (see [`super::markdown`]), then the rules between files:
//! every lesson in both languages with the same exercises, links and pictures that resolve.
//! Also `berth lessons check`, and the watcher behind `--lessons DIR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use include_dir::{Dir, include_dir};
use serde::Deserialize;
use toml::Spanned;

use super::markdown::{self, LinkRef, Target};
use super::{Catalog, Lang, Lesson, LessonError, Problem};

/// The repository's `lessons/` folder, as it was when berth was built.
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/lessons");

/// Editors write a file in several steps; wait for quiet before re-reading.
const RELOAD_DEBOUNCE: Duration = Duration::from_millis(200);

/// A lesson file as read, before parsing.
struct SourceFile {
    /// As problems name it: `lessons/en/01-first-container.md`.
    path: String,
    /// The language folder it sits in.
    folder: String,
    /// `01-first-container.md`.
    name: String,
    text: String,
}

/// What reading found: the lessons that could be rendered, problems that make a lesson
/// unusable, and problems between lessons (missing translations, broken links).
struct Report {
    catalog: Catalog,
    errors: Vec<Problem>,
    between: Vec<Problem>,
}

/// Loads for serving: fails on `errors`, logs `between`.
pub(super) fn load(dir: Option<&Path>) -> Result<Catalog, LessonError> {
    let report = read(dir)?;
    if !report.errors.is_empty() {
        return Err(LessonError {
            problems: report.errors,
        });
    }
    for problem in &report.between {
        tracing::warn!("{problem}");
    }
    Ok(report.catalog)
}

/// `berth lessons check [DIR]`: a one-line summary, or every problem, one per line.
pub fn check_command(dir: Option<&Path>) -> Result<String, String> {
    let report = read(dir).map_err(|error| error.to_string())?;
    let mut problems = report.errors;
    problems.extend(report.between);
    if !problems.is_empty() {
        problems.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
        return Err(LessonError { problems }.to_string());
    }
    let lessons = report.catalog.lessons(Lang::En);
    let exercises: usize = lessons.iter().map(|lesson| lesson.exercises.len()).sum();
    let plural = |n: usize, word: &str| match n {
        1 => format!("1 {word}"),
        n => format!("{n} {word}s"),
    };
    Ok(format!(
        "{}, {} each, {}: all good",
        plural(Lang::ALL.len(), "language"),
        plural(lessons.len(), "lesson"),
        plural(exercises, "exercise"),
    ))
}

fn read(dir: Option<&Path>) -> Result<Report, LessonError> {
    let mut between = Vec::new();
    let files = match dir {
        None => built_in_files(&mut between),
        Some(dir) => folder_files(dir, &mut between)?,
    };
    let mut report = build(files);
    report.between.splice(0..0, between);
    if Lang::ALL
        .iter()
        .all(|&lang| report.catalog.lessons(lang).is_empty())
        && report.errors.is_empty()
    {
        let path = dir.map_or("lessons".to_owned(), |dir| dir.display().to_string());
        report.errors.push(Problem {
            path,
            line: None,
            reason: "no lessons here: expected en/ and ko/ folders of NN-slug.md files".to_owned(),
        });
    }
    Ok(report)
}

fn built_in_files(between: &mut Vec<Problem>) -> Vec<SourceFile> {
    let mut files = Vec::new();
    for folder in BUILT_IN.dirs() {
        let folder_name = folder.path().to_string_lossy().into_owned();
        if !is_language_folder(&folder_name, &format!("lessons/{folder_name}"), between) {
            continue;
        }
        for file in folder.files() {
            let name = file
                .path()
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !is_lesson_file(&name) {
                continue;
            }
            let path = format!("lessons/{folder_name}/{name}");
            match file.contents_utf8() {
                Some(text) => files.push(SourceFile {
                    path,
                    folder: folder_name.clone(),
                    name,
                    text: text.to_owned(),
                }),
                None => between.push(not_utf8(path)),
            }
        }
    }
    files
}

fn folder_files(dir: &Path, between: &mut Vec<Problem>) -> Result<Vec<SourceFile>, LessonError> {
    let unreadable = |path: &Path, error: std::io::Error| LessonError {
        problems: vec![Problem {
            path: path.display().to_string(),
            line: None,
            reason: format!("cannot read the lessons folder: {error}"),
        }],
    };
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|error| unreadable(dir, error))?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .map(|entry| entry.path())
        .collect();
    folders.sort();
    let mut files = Vec::new();
    for folder in folders {
        let folder_name = file_name(&folder);
        if folder_name.starts_with('.')
            || !is_language_folder(&folder_name, &folder.display().to_string(), between)
        {
            continue;
        }
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .map_err(|error| unreadable(&folder, error))?
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
            .map(|entry| file_name(&entry.path()))
            .filter(|name| is_lesson_file(name))
            .collect();
        names.sort();
        for name in names {
            let path = folder.join(&name);
            match std::fs::read(&path).map(String::from_utf8) {
                Ok(Ok(text)) => files.push(SourceFile {
                    path: path.display().to_string(),
                    folder: folder_name.clone(),
                    name,
                    text,
                }),
                Ok(Err(_)) => between.push(not_utf8(path.display().to_string())),
                Err(error) => return Err(unreadable(&path, error)),
            }
        }
    }
    Ok(files)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Markdown files, but not editors' hidden swap and backup files.
fn is_lesson_file(name: &str) -> bool {
    name.ends_with(".md") && !name.starts_with('.')
}

fn is_language_folder(name: &str, path: &str, between: &mut Vec<Problem>) -> bool {
    if Lang::from_code(name).is_some() {
        return true;
    }
    between.push(Problem {
        path: path.to_owned(),
        line: None,
        reason: format!("`{name}` is not a language berth speaks: lessons go in en/ and ko/"),
    });
    false
}

fn not_utf8(path: String) -> Problem {
    Problem {
        path,
        line: None,
        reason: "not UTF-8 text".to_owned(),
    }
}

/// A lesson and what the rules between lessons need to know about it.
struct Parsed {
    lesson: Lesson,
    links: Vec<LinkRef>,
    exercise_lines: Vec<usize>,
}

fn build(files: Vec<SourceFile>) -> Report {
    let mut errors = Vec::new();
    let mut parsed: BTreeMap<(Lang, String), Parsed> = BTreeMap::new();
    for file in &files {
        let Some(lang) = Lang::from_code(&file.folder) else {
            continue;
        };
        match parse_lesson(lang, file) {
            Ok(lesson) => {
                parsed.insert((lang, lesson.lesson.slug.clone()), lesson);
            }
            Err(problems) => errors.extend(problems),
        }
    }
    // Files that failed to parse still count as present, so a syntax error in ko/ is not also
    // reported as "no Korean version".
    let present = |lang: Lang, slug: &str| {
        files
            .iter()
            .any(|file| file.folder == lang.code() && file.name.strip_suffix(".md") == Some(slug))
    };

    let mut between = Vec::new();
    for ((lang, slug), this) in &parsed {
        let at = |line: Option<usize>, reason: String| Problem {
            path: this.lesson.path.clone(),
            line,
            reason,
        };
        let other = lang.other();
        if !present(other, slug) {
            between.push(at(
                Some(1),
                format!(
                    "no {} version: add {}/{slug}.md (every lesson is written in en and ko)",
                    crate::i18n::words(other).language_name,
                    other.code()
                ),
            ));
        }
        // Compare exercises once per pair, reported on the Korean file.
        let english = match lang {
            Lang::Ko => parsed.get(&(Lang::En, slug.clone())),
            Lang::En => None,
        };
        if let Some(english) = english {
            let ids = |p: &Parsed| -> Vec<String> {
                p.lesson.exercises.iter().map(|c| c.id.clone()).collect()
            };
            let (en_ids, ko_ids) = (ids(english), ids(this));
            if en_ids != ko_ids {
                let first_difference = ko_ids
                    .iter()
                    .zip(&en_ids)
                    .position(|(ko, en)| ko != en)
                    .unwrap_or(en_ids.len().min(ko_ids.len()));
                let line = this
                    .exercise_lines
                    .get(first_difference)
                    .copied()
                    .unwrap_or(1);
                between.push(at(
                    Some(line),
                    format!(
                        "exercises differ from en/{slug}.md: en has [{}], this file has [{}]; \
                         both languages need the same check ids in the same order",
                        en_ids.join(", "),
                        ko_ids.join(", ")
                    ),
                ));
            }
        }
        let exercises = &this.lesson.exercises;
        if !exercises.is_empty() && !exercises.iter().any(|check| check.challenge) {
            between.push(at(
                this.exercise_lines.first().copied(),
                "no challenge: make at least one exercise `challenge = true`, a task the \
                 learner works out without a Run block, with hints in steps"
                    .to_owned(),
            ));
        }
        for link in &this.links {
            if let Some(reason) = broken(link, &present) {
                between.push(at(Some(link.line), reason));
            }
        }
    }

    let mut catalog = Catalog::default();
    for ((lang, _), this) in parsed {
        catalog.lessons_mut(lang).push(Arc::new(this.lesson));
    }
    for lang in Lang::ALL {
        let lessons = catalog.lessons(lang);
        for pair in lessons.windows(2) {
            if pair[0].number == pair[1].number {
                between.push(Problem {
                    path: pair[1].path.clone(),
                    line: Some(1),
                    reason: format!(
                        "two lessons are numbered {:02} in {}/: number them in the order to read",
                        pair[1].number,
                        lang.code()
                    ),
                });
            }
        }
    }
    Report {
        catalog,
        errors,
        between,
    }
}

/// Why a link or picture does not resolve, if it does not.
fn broken(link: &LinkRef, lesson_exists: &dyn Fn(Lang, &str) -> bool) -> Option<String> {
    let dest = &link.dest;
    if link.picture {
        return match &link.target {
            Target::Asset(path) if crate::assets::exists(path) => None,
            Target::Asset(path) => Some(format!("picture {dest}: there is no static/{path}")),
            Target::External => Some(format!(
                "picture {dest} is not in static/: pictures must be berth's own files, so \
                 lessons work offline"
            )),
            _ => Some(format!(
                "picture {dest} is not a file in static/ (write /static/img/NAME.svg)"
            )),
        };
    }
    match &link.target {
        Target::Lesson { lang, slug } => match Lang::from_code(lang) {
            Some(code) if lesson_exists(code, slug) => None,
            _ => Some(format!("link {dest}: there is no lesson {lang}/{slug}.md")),
        },
        Target::Asset(path) if !crate::assets::exists(path) => {
            Some(format!("link {dest}: there is no static/{path}"))
        }
        Target::Unresolved(path) => Some(format!(
            "link {dest} leads to {path}, which is neither a lesson nor a file in static/"
        )),
        _ => None,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: Spanned<String>,
    summary: Spanned<String>,
    #[serde(default)]
    images: Vec<Spanned<String>>,
}

fn parse_lesson(lang: Lang, file: &SourceFile) -> Result<Parsed, Vec<Problem>> {
    let problem = |line: usize, reason: String| Problem {
        path: file.path.clone(),
        line: Some(line),
        reason,
    };
    let (slug, number) = lesson_name(&file.name).ok_or_else(|| {
        vec![problem(
            1,
            "the file name should be NN-slug.md, like 01-first-container.md (a number, a dash, \
             then lowercase letters, digits and dashes)"
                .to_owned(),
        )]
    })?;
    let parts =
        split_front_matter(&file.text).map_err(|(line, reason)| vec![problem(line, reason)])?;
    // The front matter starts on line 2, after the opening `+++`.
    let line_in_file =
        |offset: usize| 1 + crate::checks::model::line_of(parts.front_matter, offset);
    let front: FrontMatter = toml::from_str(parts.front_matter).map_err(|error| {
        let line = error.span().map_or(2, |span| line_in_file(span.start));
        vec![problem(
            line,
            format!("front matter: {}", error.message().trim()),
        )]
    })?;

    let mut problems = Vec::new();
    for (field, value) in [("title", &front.title), ("summary", &front.summary)] {
        if value.get_ref().trim().is_empty() {
            let line = line_in_file(value.span().start);
            problems.push(problem(line, format!("front matter: `{field}` is empty")));
        }
    }
    for image in &front.images {
        let name = image.get_ref();
        if name.is_empty() || name.contains(char::is_whitespace) {
            let line = line_in_file(image.span().start);
            problems.push(problem(
                line,
                format!("front matter: image `{name}` should be a reference like \"nginx:1.27\""),
            ));
        }
    }

    let rendered = markdown::render(parts.body, parts.body_line, lang);
    problems.extend(
        rendered
            .problems
            .iter()
            .map(|(line, reason)| problem(*line, reason.clone())),
    );
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Parsed {
        exercise_lines: rendered.exercises.iter().map(|e| e.line).collect(),
        links: rendered.links,
        lesson: Lesson {
            lang,
            slug,
            number,
            title: front.title.into_inner().trim().to_owned(),
            summary: front.summary.into_inner().trim().to_owned(),
            images: front.images.into_iter().map(Spanned::into_inner).collect(),
            html: rendered.html,
            exercises: rendered.exercises.into_iter().map(|e| e.check).collect(),
            path: file.path.clone(),
        },
    })
}

/// `01-first-container.md` → (`01-first-container`, 1).
fn lesson_name(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".md")?;
    let (number, rest) = stem.split_once('-')?;
    let slug_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    let valid = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && !rest.is_empty()
        && rest.chars().all(slug_char)
        && !rest.starts_with('-')
        && !rest.ends_with('-');
    if !valid {
        return None;
    }
    Some((stem.to_owned(), number.parse().ok()?))
}

struct Parts<'a> {
    front_matter: &'a str,
    body: &'a str,
    /// The file line on which `body` starts.
    body_line: usize,
}

/// Splits `+++`-fenced TOML front matter from the Markdown body.
fn split_front_matter(text: &str) -> Result<Parts<'_>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let missing = || {
        (
            1,
            "missing front matter: start the file with a line `+++`, then title = \"…\" and \
             summary = \"…\", then `+++`"
                .to_owned(),
        )
    };
    let (first, rest) = text.split_once('\n').ok_or_else(missing)?;
    if first.trim_end() != "+++" {
        return Err(missing());
    }
    let mut offset = 0;
    for (index, line) in rest.split_inclusive('\n').enumerate() {
        if line.trim_end() == "+++" {
            return Ok(Parts {
                front_matter: &rest[..offset],
                body: &rest[offset + line.len()..],
                // Line 1 is the opening `+++`, line `index + 2` the closing one.
                body_line: index + 3,
            });
        }
        offset += line.len();
    }
    Err((1, "the front matter has no closing `+++` line".to_owned()))
}

/// Re-reads `dir` into `slot` whenever something in it changes.
pub(super) fn watch(dir: PathBuf, slot: Arc<RwLock<Arc<Catalog>>>) {
    let (changed, mut changes) = tokio::sync::mpsc::channel::<()>(1);
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading the files (our own reload included) is not a change.
        let is_change = event.is_ok_and(|event| !event.kind.is_access());
        if is_change {
            // A full channel already holds a pending reload.
            let _ = changed.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!(%error, "cannot watch the lessons folder; restart berth to see edits");
            return;
        }
    };
    if let Err(error) = notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::Recursive)
    {
        tracing::warn!(%error, dir = %dir.display(), "cannot watch the lessons folder; restart berth to see edits");
        return;
    }
    tracing::info!(dir = %dir.display(), "watching lessons for changes");
    tokio::spawn(async move {
        // Dropping the watcher stops it: it lives as long as this task.
        let _watcher = watcher;
        while changes.recv().await.is_some() {
            loop {
                match tokio::time::timeout(RELOAD_DEBOUNCE, changes.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_quiet) => break,
                }
            }
            let from = dir.clone();
            match tokio::task::spawn_blocking(move || load(Some(&from))).await {
                Ok(Ok(catalog)) => {
                    *slot
                        .write()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(catalog);
                    tracing::info!(dir = %dir.display(), "lessons reloaded");
                }
                Ok(Err(error)) => {
                    for problem in &error.problems {
                        tracing::error!(
                            file = %problem.path,
                            line = problem.line.unwrap_or(0),
                            reason = %problem.reason,
                            "cannot reload lessons; still serving the ones from before"
                        );
                    }
                }
                Err(error) => tracing::error!(%error, "lesson reload panicked"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lesson folder in the system temp dir, removed on drop.
    struct Folder(PathBuf);

    impl Folder {
        fn new(name: &str) -> Folder {
            let unique = format!(
                "berth-lessons-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            )
            .replace([' ', ':', '{', '}', ','], "");
            let path = std::env::temp_dir().join(unique);
            std::fs::create_dir_all(&path).unwrap();
            Folder(path)
        }

        fn write(&self, relative: &str, text: &str) {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const CHECK: &str = "```check\nid = \"note-created\"\ntitle = \"A note\"\nchallenge = true\nhints = [\"a file\", \"echo hi > ~/note.txt\"]\n[probe]\ncommand = \"test -f ~/note.txt\"\n```\n";

    fn lesson(title: &str, body: &str) -> String {
        format!("+++\ntitle = \"{title}\"\nsummary = \"s\"\nimages = [\"nginx:1.27\"]\n+++\n{body}")
    }

    #[test]
    fn a_good_folder_checks_clean_and_loads() {
        let folder = Folder::new("good");
        folder.write("en/01-first.md", &lesson("First", CHECK));
        folder.write("ko/01-first.md", &lesson("첫 번째", CHECK));
        folder.write(
            "en/02-second.md",
            &lesson("Second", "[back](01-first.md)\n"),
        );
        folder.write(
            "ko/02-second.md",
            &lesson("두 번째", "[처음](01-first.md)\n"),
        );
        folder.write("README.md", "not a lesson\n");
        let summary = check_command(Some(&folder.0)).unwrap();
        assert_eq!(summary, "2 languages, 2 lessons each, 1 exercise: all good");

        let store = super::super::LessonStore::load(Some(&folder.0)).unwrap();
        let catalog = store.catalog();
        let ko = catalog.lessons(Lang::Ko);
        assert_eq!(ko.len(), 2);
        assert_eq!((ko[0].slug.as_str(), ko[0].number), ("01-first", 1));
        assert_eq!(ko[0].title, "첫 번째");
        assert!(
            ko[1].html.contains(r#"href="/ko/01-first""#),
            "{}",
            ko[1].html
        );
        assert_eq!(store.images(), ["nginx:1.27"]);
    }

    #[test]
    fn a_malformed_check_names_the_file_and_line() {
        let folder = Folder::new("malformed");
        // Line 6 is `[probe]`'s typo: +++, title, summary, images, +++, then the body.
        let body = "Intro.\n\n```check\nid = \"note-created\"\ntitle = \"A note\"\n[probe]\ncommand = \"true\"\ntimout = \"5s\"\n```\n";
        folder.write("en/01-first.md", &lesson("First", body));
        folder.write("ko/01-first.md", &lesson("첫 번째", CHECK));
        let problems = check_command(Some(&folder.0)).unwrap_err();
        let expected = format!(
            "{}:13: check: unknown field `timout`",
            folder.0.join("en/01-first.md").display()
        );
        assert!(problems.starts_with(&expected), "{problems}");

        let error = super::super::LessonStore::load(Some(&folder.0))
            .err()
            .unwrap();
        assert!(error.to_string().starts_with(&expected), "{error}");
    }

    #[test]
    fn a_missing_translation_and_different_exercises_are_reported() {
        let folder = Folder::new("missing");
        folder.write("en/01-first.md", &lesson("First", CHECK));
        folder.write("en/02-second.md", &lesson("Second", "Text.\n"));
        folder.write("ko/01-first.md", &lesson("첫 번째", "No exercise.\n"));
        let problems = check_command(Some(&folder.0)).unwrap_err();
        let en = folder.0.join("en/02-second.md").display().to_string();
        assert!(
            problems.contains(&format!("{en}:1: no 한국어 version: add ko/02-second.md")),
            "{problems}"
        );
        let ko = folder.0.join("ko/01-first.md").display().to_string();
        assert!(problems.contains(&format!("{ko}:1: exercises differ from en/01-first.md: en has [note-created], this file has []")), "{problems}");
        // Serving still works: a lesson being translated does not take the server down.
        assert!(super::super::LessonStore::load(Some(&folder.0)).is_ok());
    }

    #[test]
    fn broken_links_and_pictures_are_reported_on_their_line() {
        let folder = Folder::new("links");
        let body =
            "[next](02-nowhere.md)\n\n![diagram](/static/img/no-such-picture.svg)\n\n[ok](/)\n";
        folder.write("en/01-first.md", &lesson("First", body));
        folder.write("ko/01-first.md", &lesson("첫 번째", "[ok](01-first.md)\n"));
        let problems = check_command(Some(&folder.0)).unwrap_err();
        let en = folder.0.join("en/01-first.md").display().to_string();
        assert!(
            problems.contains(&format!(
                "{en}:6: link 02-nowhere.md: there is no lesson en/02-nowhere.md"
            )),
            "{problems}"
        );
        assert!(problems.contains(&format!("{en}:8: picture /static/img/no-such-picture.svg: there is no static/img/no-such-picture.svg")), "{problems}");
        assert_eq!(problems.lines().count(), 2, "{problems}");
    }

    #[test]
    fn front_matter_problems_point_at_their_line() {
        let folder = Folder::new("front");
        folder.write(
            "en/01-first.md",
            "+++\ntitle = \"First\"\nsumary = \"typo\"\n+++\nBody\n",
        );
        folder.write("ko/01-first.md", "# No front matter\n");
        folder.write("ko/first.md", &lesson("x", ""));
        let problems = check_command(Some(&folder.0)).unwrap_err();
        let path = |p: &str| folder.0.join(p).display().to_string();
        assert!(
            problems.contains(&format!(
                "{}:3: front matter: unknown field `sumary`",
                path("en/01-first.md")
            )),
            "{problems}"
        );
        assert!(
            problems.contains(&format!(
                "{}:1: missing front matter",
                path("ko/01-first.md")
            )),
            "{problems}"
        );
        assert!(
            problems.contains(&format!(
                "{}:1: the file name should be NN-slug.md",
                path("ko/first.md")
            )),
            "{problems}"
        );
    }

    #[test]
    fn an_empty_or_missing_folder_is_an_error() {
        let folder = Folder::new("empty");
        assert!(
            check_command(Some(&folder.0))
                .unwrap_err()
                .contains("no lessons here")
        );
        let missing = folder.0.join("nope");
        let error = super::super::LessonStore::load(Some(&missing))
            .err()
            .unwrap();
        assert!(
            error.to_string().contains("cannot read the lessons folder"),
            "{error}"
        );
    }

    #[test]
    fn the_built_in_lessons_are_valid() {
        check_command(None).unwrap();
    }

    #[test]
    fn lesson_names() {
        assert_eq!(
            lesson_name("01-first-container.md"),
            Some(("01-first-container".into(), 1))
        );
        assert_eq!(lesson_name("12-x.md"), Some(("12-x".into(), 12)));
        assert_eq!(lesson_name("first.md"), None);
        assert_eq!(lesson_name("01-First.md"), None);
        assert_eq!(lesson_name("01-.md"), None);
    }

    #[tokio::test]
    async fn edits_are_picked_up_and_a_broken_edit_keeps_the_old_lessons() {
        let folder = Folder::new("watch");
        folder.write("en/01-first.md", &lesson("First", "One\n"));
        folder.write("ko/01-first.md", &lesson("첫 번째", "하나\n"));
        let store = super::super::LessonStore::load(Some(&folder.0)).unwrap();
        store.watch();
        let title = || store.catalog().lessons(Lang::En)[0].title.clone();

        folder.write("en/01-first.md", &lesson("First, edited", "One\n"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while title() != "First, edited" {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the edit was not picked up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        folder.write("en/01-first.md", "+++\ntitle = \n+++\n");
        tokio::time::sleep(RELOAD_DEBOUNCE * 4).await;
        assert_eq!(title(), "First, edited");
    }
}
