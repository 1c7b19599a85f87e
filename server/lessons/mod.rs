//! Lessons: Markdown files with TOML front matter in `lessons/<lang>/<NN>-<slug>.md`, rendered
//! once when loaded ([`load`], [`markdown`]) and served as pages beside the terminal ([`pages`]).
//!
//! A [`LessonStore`] holds the current [`Catalog`]; with `--lessons DIR` it re-reads the folder
//! when files change and swaps the catalog whole, so a request sees either the old lessons or
//! the new ones, never a mix.

mod load;
pub mod markdown;
pub mod pages;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::Serialize;

pub use self::load::check_command;
pub use self::pages::routes;
use crate::checks::Check;

/// The languages every lesson is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ko];

    /// `en`, `ko`: the folder name, the URL segment, and `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|lang| lang.code() == code)
    }

    /// The language the switch link on a page leads to.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ko,
            Lang::Ko => Lang::En,
        }
    }
}

/// One lesson in one language, ready to serve.
#[derive(Debug, Clone)]
pub struct Lesson {
    pub lang: Lang,
    /// The file stem, the same in every language: `01-first-container`.
    pub slug: String,
    /// From the file name: 1 for `01-first-container.md`.
    pub number: u32,
    pub title: String,
    pub summary: String,
    /// Images to pull ahead of the class.
    pub images: Vec<String>,
    /// The rendered body.
    pub html: String,
    pub exercises: Vec<Check>,
    /// Where it was read from, as errors name it.
    pub path: String,
}

/// Every lesson, by language, in order.
#[derive(Debug, Default)]
pub struct Catalog {
    en: Vec<Arc<Lesson>>,
    ko: Vec<Arc<Lesson>>,
}

impl Catalog {
    /// The lessons in `lang`, ordered by file name.
    pub fn lessons(&self, lang: Lang) -> &[Arc<Lesson>] {
        match lang {
            Lang::En => &self.en,
            Lang::Ko => &self.ko,
        }
    }

    pub fn lesson(&self, lang: Lang, slug: &str) -> Option<&Arc<Lesson>> {
        self.lessons(lang).iter().find(|lesson| lesson.slug == slug)
    }

    fn lessons_mut(&mut self, lang: Lang) -> &mut Vec<Arc<Lesson>> {
        match lang {
            Lang::En => &mut self.en,
            Lang::Ko => &mut self.ko,
        }
    }
}

/// One thing wrong with the lessons: `path:line: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    /// 1-based; `None` for a problem with a whole folder.
    pub line: Option<usize>,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

/// Lessons that cannot be served; one `path:line: reason` per line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", problems_text(.problems))]
pub struct LessonError {
    pub problems: Vec<Problem>,
}

fn problems_text(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

/// The lessons being served. Cheap to clone; clones share the catalog.
#[derive(Clone)]
pub struct LessonStore {
    /// `None`: the lessons built into the binary.
    dir: Option<PathBuf>,
    catalog: Arc<RwLock<Arc<Catalog>>>,
}

impl LessonStore {
    /// Reads and renders every lesson: from `dir`, or the ones built into berth when `None`.
    /// Fails on any lesson that cannot be rendered; problems between lessons (a missing
    /// translation, a broken link) are logged, and `berth lessons check` fails on them.
    pub fn load(dir: Option<&Path>) -> Result<LessonStore, LessonError> {
        let catalog = load::load(dir)?;
        Ok(LessonStore {
            dir: dir.map(Path::to_owned),
            catalog: Arc::new(RwLock::new(Arc::new(catalog))),
        })
    }

    /// The current catalog; a reload does not change the one already returned.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Re-reads the lesson folder whenever something in it changes (nothing to do for the
    /// built-in lessons). A reload that fails keeps the lessons being served and logs why.
    /// Must be called within a tokio runtime.
    pub fn watch(&self) {
        if let Some(dir) = &self.dir {
            load::watch(dir.clone(), self.catalog.clone());
        }
    }

    /// Every image the lessons name in front matter, each once, sorted.
    pub fn images(&self) -> Vec<String> {
        let catalog = self.catalog();
        let mut images: Vec<String> = Lang::ALL
            .into_iter()
            .flat_map(|lang| catalog.lessons(lang).iter())
            .flat_map(|lesson| lesson.images.iter().cloned())
            .collect();
        images.sort();
        images.dedup();
        images
    }
}
