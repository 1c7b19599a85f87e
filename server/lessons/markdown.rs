//! Lesson Markdown to HTML, once per lesson at load time.
//!
//! [`render`] is a pipeline of small stages over pulldown-cmark events, each a module below:
//! [`links`] rewrites link and picture targets (and records them for validation),
//! [`code_blocks`] turns fences into code blocks with Run/Copy buttons and ```` ```check ````
//! fences into exercise cards, and [`headings`] gives every heading an id and an anchor link.
//! [`options`] is the one place the parser is configured.
//!
//! Lessons are trusted, authored content: raw HTML in them passes through. Nothing a learner
//! sends ever reaches this module.

use std::collections::HashSet;
use std::ops::Range;

use pulldown_cmark::{CowStr, Event, Options, Parser};

use super::Lang;
use crate::checks::Check;
use crate::i18n::{self, Words};

/// The Markdown extensions lessons may use.
pub fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_HEADING_ATTRIBUTES
}

/// A lesson body as HTML, plus what the loader validates across lessons.
#[derive(Debug, Default)]
pub struct Rendered {
    pub html: String,
    pub exercises: Vec<Exercise>,
    pub links: Vec<LinkRef>,
    /// Problems in this file: (line in the file, reason).
    pub problems: Vec<(usize, String)>,
    /// How many quiz questions the lesson has.
    pub quizzes: usize,
    /// Every line of every Run block, trimmed: a challenge's solution must not be among them.
    pub run_lines: HashSet<String>,
}

/// A check block and the line of its `id` in the file.
#[derive(Debug, Clone)]
pub struct Exercise {
    pub check: Check,
    pub line: usize,
}

/// A link or picture as written, where it points, and its line in the file.
#[derive(Debug, Clone)]
pub struct LinkRef {
    pub dest: String,
    pub target: Target,
    pub picture: bool,
    pub line: usize,
}

/// Where a link or picture in a lesson points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `#section` on the same page.
    Fragment,
    /// `https://…`, `mailto:…`.
    External,
    /// `/`, the catalog.
    Catalog,
    /// Another lesson: `02-images.md`, `../ko/02-images.md`, `/en/02-images`.
    Lesson { lang: String, slug: String },
    /// A file in static/: `/static/img/x.svg` or `../../static/img/x.svg`; the logical asset
    /// path (`img/x.svg`).
    Asset(String),
    /// Some other path berth serves (`/healthz`); not checked.
    OtherPath,
    /// A relative path that leads neither to a lesson nor into static/.
    Unresolved(String),
}

/// Renders the Markdown `body` of a lesson in `lang`; `first_line` is the line of the file on
/// which `body` starts, so that problems name lines of the file.
pub fn render(body: &str, first_line: usize, lang: Lang) -> Rendered {
    let lines = LineIndex::new(body, first_line);
    let strings = i18n::words(lang);
    let mut rendered = Rendered::default();

    let events: Vec<(Event, Range<usize>)> = Parser::new_ext(body, options())
        .into_offset_iter()
        .collect();
    let events = links::rewrite(events, lang, &lines, &mut rendered.links);
    let events = code_blocks::render(events, strings, &lines, &mut rendered);
    let mut reserved: HashSet<String> = PAGE_IDS.iter().map(|id| (*id).to_owned()).collect();
    for exercise in &rendered.exercises {
        reserved.insert(format!("exercise-{}", exercise.check.id));
        reserved.insert(format!("exercise-{}-title", exercise.check.id));
    }
    let events = headings::anchor(events, &mut reserved);
    exercise_rules(&mut rendered);

    pulldown_cmark::html::push_html(
        &mut rendered.html,
        events.into_iter().map(|(event, _)| event),
    );
    rendered
}

/// Rules between a lesson's exercises and its text: `after` names an earlier exercise, and a
/// challenge's commands are in no Run block (the learner works them out).
fn exercise_rules(rendered: &mut Rendered) {
    let mut earlier: HashSet<&str> = HashSet::new();
    for exercise in &rendered.exercises {
        let check = &exercise.check;
        if let Some(after) = &check.after
            && !earlier.contains(after.as_str())
        {
            rendered.problems.push((
                exercise.line,
                format!(
                    "`after` of `{}` names `{after}`, which is not an earlier exercise of this \
                     lesson",
                    check.id
                ),
            ));
        }
        if check.challenge {
            for command in &check.solution {
                for line in command.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    if rendered.run_lines.contains(line) {
                        rendered.problems.push((
                            exercise.line,
                            format!(
                                "challenge `{}` is given away: a Run block carries its command \
                                 `{line}`",
                                check.id
                            ),
                        ));
                    }
                }
            }
        }
        earlier.insert(&check.id);
    }
}

/// Text with `code` spans, as lessons write in titles, hints and quizzes: escaped, with each
/// pair of backticks made a `<code>` element.
pub fn inline_code(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    // With an odd number of backticks, the last one opens nothing and stays as written.
    let paired = parts.len() - (parts.len() + 1) % 2;
    let mut out = String::new();
    for (n, part) in parts.iter().enumerate() {
        match (n % 2 == 1, n < paired) {
            (true, true) => out.push_str(&format!("<code>{}</code>", escape(part))),
            (true, false) => out.push_str(&format!("`{}", escape(part))),
            _ => out.push_str(&escape(part)),
        }
    }
    out
}

/// Ids the lesson page itself uses; a heading never takes one of them.
const PAGE_IDS: &[&str] = &[
    "lesson",
    "terminal",
    "terminal-pane",
    "terminal-status",
    "berth-strings",
    "main",
];

/// Byte offsets in the body to lines in the file.
struct LineIndex {
    newlines: Vec<usize>,
    first_line: usize,
}

impl LineIndex {
    fn new(body: &str, first_line: usize) -> LineIndex {
        let newlines = body.match_indices('\n').map(|(at, _)| at).collect();
        LineIndex {
            newlines,
            first_line,
        }
    }

    fn line(&self, offset: usize) -> usize {
        self.first_line + self.newlines.partition_point(|&at| at < offset)
    }
}

/// Escapes text for HTML content and double-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A heading's id: lowercase, words joined by `-`, punctuation dropped. Letters of any script
/// stay as they are (`첫-컨테이너`), so Korean headings keep readable ids; nothing that needs
/// escaping in a URL fragment or an attribute remains.
pub fn slugify(text: &str) -> String {
    let mut slug = String::new();
    let mut dash = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.extend(c.to_lowercase());
        } else if c.is_whitespace() || c == '-' || c == '_' {
            dash = true;
        }
    }
    if slug.is_empty() {
        slug.push_str("section");
    }
    slug
}

type Events<'a> = Vec<(Event<'a>, Range<usize>)>;

mod links {
    //! Rewrites link and picture targets so authors can link file to file (`02-images.md`,
    //! `../../static/img/x.svg`, which also work when browsing the repository) and readers get
    //! berth's URLs (`/en/02-images`, the content-hashed asset URL). External links open in a new
    //! tab, so the learner's terminal stays where it is. Every target is recorded for the
    //! loader to validate.

    use pulldown_cmark::{Tag, TagEnd};

    use super::*;

    pub fn rewrite<'a>(
        events: Events<'a>,
        lang: Lang,
        lines: &LineIndex,
        found: &mut Vec<LinkRef>,
    ) -> Events<'a> {
        let mut out = Vec::with_capacity(events.len());
        let mut external_open = false;
        for (event, range) in events {
            match event {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) => {
                    let target = resolve(&dest_url, lang);
                    found.push(LinkRef {
                        dest: dest_url.to_string(),
                        target: target.clone(),
                        picture: false,
                        line: lines.line(range.start),
                    });
                    if target == Target::External {
                        let title = match title.is_empty() {
                            true => String::new(),
                            false => format!(r#" title="{}""#, escape(&title)),
                        };
                        let html = format!(
                            r#"<a href="{}"{title} target="_blank" rel="noopener noreferrer">"#,
                            escape(&dest_url)
                        );
                        external_open = true;
                        out.push((Event::Html(html.into()), range));
                        continue;
                    }
                    let dest_url = href(&dest_url, &target).map_or(dest_url, CowStr::from);
                    let tag = Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    };
                    out.push((Event::Start(tag), range));
                }
                Event::End(TagEnd::Link) if external_open => {
                    external_open = false;
                    out.push((Event::Html("</a>".into()), range));
                }
                Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                }) => {
                    let target = resolve(&dest_url, lang);
                    found.push(LinkRef {
                        dest: dest_url.to_string(),
                        target: target.clone(),
                        picture: true,
                        line: lines.line(range.start),
                    });
                    let dest_url = href(&dest_url, &target).map_or(dest_url, CowStr::from);
                    let tag = Tag::Image {
                        link_type,
                        dest_url,
                        title,
                        id,
                    };
                    out.push((Event::Start(tag), range));
                }
                event => out.push((event, range)),
            }
        }
        out
    }

    /// Where `dest`, written in a lesson in `lang`, points. Relative paths are resolved from the
    /// lesson file's place in the repository, `lessons/<lang>/`.
    pub fn resolve(dest: &str, lang: Lang) -> Target {
        if dest.is_empty() || dest.starts_with('#') {
            return Target::Fragment;
        }
        if dest.starts_with("//") || has_scheme(dest) {
            return Target::External;
        }
        let path = &dest[..dest.find(['?', '#']).unwrap_or(dest.len())];
        if let Some(absolute) = path.strip_prefix('/') {
            let segments: Vec<&str> = absolute.split('/').filter(|s| !s.is_empty()).collect();
            return match segments.as_slice() {
                [] => Target::Catalog,
                ["static", rest @ ..] if !rest.is_empty() => Target::Asset(rest.join("/")),
                [code, slug] if Lang::from_code(code).is_some() => Target::Lesson {
                    lang: (*code).to_owned(),
                    slug: (*slug).to_owned(),
                },
                _ => Target::OtherPath,
            };
        }
        let mut segments = vec!["lessons", lang.code()];
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    if segments.pop().is_none() {
                        return Target::Unresolved(path.to_owned());
                    }
                }
                segment => segments.push(segment),
            }
        }
        match segments.as_slice() {
            ["lessons"] | ["lessons", _] => Target::Catalog,
            ["lessons", code, file] => Target::Lesson {
                lang: (*code).to_owned(),
                slug: file.strip_suffix(".md").unwrap_or(file).to_owned(),
            },
            ["static", rest @ ..] if !rest.is_empty() => Target::Asset(rest.join("/")),
            other => Target::Unresolved(other.join("/")),
        }
    }

    /// The URL to put in the page for `target`, when it differs from what was written.
    fn href(dest: &str, target: &Target) -> Option<String> {
        let suffix = &dest[dest.find(['?', '#']).unwrap_or(dest.len())..];
        match target {
            Target::Lesson { lang, slug } => Some(format!("/{lang}/{slug}{suffix}")),
            Target::Asset(path) => Some(format!("{}{suffix}", crate::assets::url(path))),
            Target::Catalog => Some(format!("/{suffix}")),
            _ => None,
        }
    }

    fn has_scheme(dest: &str) -> bool {
        match dest.split_once(':') {
            Some((scheme, _)) => {
                scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            }
            None => false,
        }
    }
}

pub use self::links::resolve;

mod code_blocks {
    //! Fenced code becomes a `code-block` with a Copy button; ```` ```bash run ```` (or
    //! `sh run`) adds a Run button that types the command into the terminal. ```` ```check ````
    //! fences are exercises: their TOML is parsed into a [`Check`] and shown as an exercise card.
    //! ```` ```quiz ```` fences are multiple-choice questions answered in the page.

    use pulldown_cmark::{CodeBlockKind, Tag, TagEnd};

    use super::*;
    use crate::checks::model;

    pub fn render<'a>(
        events: Events<'a>,
        strings: &Words,
        lines: &LineIndex,
        rendered: &mut Rendered,
    ) -> Events<'a> {
        let mut out = Vec::with_capacity(events.len());
        let mut open: Option<(String, Range<usize>, Option<usize>, String)> = None;
        for (event, range) in events {
            match (&mut open, event) {
                (None, Event::Start(Tag::CodeBlock(kind))) => {
                    let info = match kind {
                        CodeBlockKind::Fenced(info) => info.to_string(),
                        CodeBlockKind::Indented => String::new(),
                    };
                    open = Some((info, range, None, String::new()));
                }
                (Some((_, _, start, code)), Event::Text(text)) => {
                    start.get_or_insert(range.start);
                    code.push_str(&text);
                }
                (Some(_), Event::End(TagEnd::CodeBlock)) => {
                    let Some((info, fence, start, code)) = open.take() else {
                        continue;
                    };
                    let html = match info.split_whitespace().next() {
                        Some("check") => {
                            // An empty block has no text: its content would start on the line
                            // after the fence.
                            let first =
                                start.map_or(lines.line(fence.start) + 1, |at| lines.line(at));
                            check_card(&code, first, strings, rendered)
                        }
                        Some("quiz") => {
                            let first =
                                start.map_or(lines.line(fence.start) + 1, |at| lines.line(at));
                            quiz(&code, first, strings, rendered)
                        }
                        _ => code_block(&info, &code, strings, rendered),
                    };
                    out.push((Event::Html(html.into()), fence.start..range.end));
                }
                (Some(_), _) => {}
                (None, event) => out.push((event, range)),
            }
        }
        out
    }

    /// Where a Run block's command is meant to be typed: the workstation's own shell, a shell
    /// inside a container (```` ```sh run inside ````), or the mysql client's prompt
    /// (```` ```sql run mysql ````). The page refuses to type the last two at the
    /// workstation's prompt, and says why.
    fn run_place(language: &str, words: &[&str]) -> Option<&'static str> {
        if !words.contains(&"run") {
            return None;
        }
        match language {
            "bash" | "sh" if words.contains(&"inside") => Some("inside"),
            "bash" | "sh" => Some("workstation"),
            "sql" if words.contains(&"mysql") => Some("mysql"),
            _ => None,
        }
    }

    fn code_block(info: &str, code: &str, strings: &Words, rendered: &mut Rendered) -> String {
        let mut words = info.split_whitespace();
        let language = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        let place = run_place(language, &rest);
        let code = code.strip_suffix('\n').unwrap_or(code);
        let escaped = escape(code);
        let class = match language {
            "" => String::new(),
            language => format!(r#" class="language-{}""#, escape(language)),
        };
        let (run, label, data) = match place {
            Some(place) => {
                rendered
                    .run_lines
                    .extend(code.lines().map(|l| l.trim().to_owned()));
                let label = match place {
                    "inside" => strings.run_inside,
                    "mysql" => strings.run_mysql,
                    _ => "",
                };
                let label = match label {
                    "" => String::new(),
                    label => format!(r#"<p class="code-place">{}</p>"#, escape(label)),
                };
                (
                    format!(
                        r#"<button type="button" class="code-run" data-command="{escaped}">{}</button>"#,
                        escape(strings.run)
                    ),
                    label,
                    format!(r#" data-place="{place}""#),
                )
            }
            None => (String::new(), String::new(), String::new()),
        };
        format!(
            r#"<div class="code-block{}"{data}>{label}<pre><code{class}>{escaped}</code></pre><div class="code-actions">{run}<button type="button" class="code-copy" data-command="{escaped}">{}</button></div></div>"#,
            if place.is_some() { " runnable" } else { "" },
            escape(strings.copy),
        ) + "\n"
    }

    /// A ```` ```quiz ```` block: `question`, `choices`, `answer` (1-based), optional `explain`.
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Quiz {
        question: String,
        choices: Vec<String>,
        answer: usize,
        #[serde(default)]
        explain: Option<String>,
    }

    fn quiz(code: &str, first: usize, strings: &Words, rendered: &mut Rendered) -> String {
        let quiz: Quiz = match toml::from_str(code) {
            Ok(quiz) => quiz,
            Err(error) => {
                let line = error
                    .span()
                    .map_or(1, |span| crate::checks::model::line_of(code, span.start));
                rendered.problems.push((
                    first + line - 1,
                    format!("quiz: {}", error.message().trim()),
                ));
                return String::new();
            }
        };
        let problem = if quiz.question.trim().is_empty() {
            Some("`question` is empty".to_owned())
        } else if quiz.choices.len() < 2 {
            Some("a quiz needs at least two `choices`".to_owned())
        } else if !(1..=quiz.choices.len()).contains(&quiz.answer) {
            Some(format!(
                "`answer` must be a choice's number, 1 to {}",
                quiz.choices.len()
            ))
        } else {
            None
        };
        if let Some(reason) = problem {
            rendered.problems.push((first, format!("quiz: {reason}")));
            return String::new();
        }
        rendered.quizzes += 1;
        let n = rendered.quizzes;
        let choices: String = quiz
            .choices
            .iter()
            .enumerate()
            .map(|(i, choice)| {
                format!(
                    "<label class=\"quiz-choice\"><input type=\"radio\" name=\"quiz-{n}\" value=\"{}\"> <span>{}</span></label>",
                    i + 1,
                    inline_code(choice)
                )
            })
            .collect();
        let explain = quiz.explain.as_deref().map_or(String::new(), |text| {
            format!("<p class=\"quiz-explain\" hidden>{}</p>", inline_code(text))
        });
        format!(
            "<form class=\"quiz\" id=\"quiz-{n}\" data-answer=\"{}\"><fieldset><legend class=\"quiz-question\"><span class=\"quiz-label\">{}</span> {}</legend>{choices}</fieldset><button type=\"submit\" class=\"quiz-submit\">{}</button><p class=\"quiz-result\" role=\"status\"></p>{explain}</form>\n",
            quiz.answer,
            escape(strings.quiz),
            inline_code(&quiz.question),
            escape(strings.quiz_submit),
        )
    }

    /// `first` is the file line of the block's first TOML line.
    fn check_card(code: &str, first: usize, strings: &Words, rendered: &mut Rendered) -> String {
        let parsed = match model::parse(code) {
            Ok(parsed) => parsed,
            Err(error) => {
                rendered
                    .problems
                    .push((first + error.line - 1, format!("check: {}", error.reason)));
                return String::new();
            }
        };
        let line = first + parsed.id_line - 1;
        let check = parsed.check;
        if rendered.exercises.iter().any(|e| e.check.id == check.id) {
            rendered.problems.push((
                line,
                format!("check id `{}` is used twice in this lesson", check.id),
            ));
            return String::new();
        }
        let id = escape(&check.id);
        let hints = hints_html(&check.hints, strings);
        let (class, label) = match check.challenge {
            true => ("exercise challenge", strings.challenge),
            false => ("exercise", strings.exercise),
        };
        let html = format!(
            "<section class=\"{class}\" id=\"exercise-{id}\" data-exercise=\"{id}\" data-state=\"pending\" aria-labelledby=\"exercise-{id}-title\">\n  \
             <h3 class=\"exercise-title\" id=\"exercise-{id}-title\"><span class=\"exercise-label\">{}</span> {}</h3>\n  \
             <p class=\"exercise-status\" role=\"status\">{}</p>{hints}\n</section>\n",
            escape(label),
            inline_code(&check.title),
            escape(strings.check_pending),
        );
        rendered.exercises.push(Exercise { check, line });
        html
    }
}

/// An exercise's hints, revealed one at a time by one button: `Hint`, then `Next hint (2 of
/// 3)`, until the last (the answer) is shown.
fn hints_html(hints: &[String], strings: &Words) -> String {
    if hints.is_empty() {
        return String::new();
    }
    let items: String = hints
        .iter()
        .map(|hint| format!("<li hidden>{}</li>", inline_code(hint)))
        .collect();
    format!(
        "\n  <div class=\"exercise-hints\"><ol class=\"exercise-hint-list\">{items}</ol><button type=\"button\" class=\"exercise-hint-toggle\" data-total=\"{}\">{}</button></div>",
        hints.len(),
        escape(strings.hint),
    )
}

mod headings {
    //! Every heading gets an id (its text slugified, or `{#id}` when the author wrote one),
    //! unique within the page, and a small `#` anchor link to share the section.

    use pulldown_cmark::{Tag, TagEnd};

    use super::*;

    pub fn anchor<'a>(events: Events<'a>, used: &mut HashSet<String>) -> Events<'a> {
        let mut out = Vec::with_capacity(events.len());
        let mut open: Option<(Tag<'a>, Range<usize>, Vec<Event<'a>>)> = None;
        for (event, range) in events {
            match (&mut open, event) {
                (None, Event::Start(tag @ Tag::Heading { .. })) => {
                    open = Some((tag, range, Vec::new()))
                }
                (Some(_), Event::End(TagEnd::Heading(_))) => {
                    let Some((tag, start, inner)) = open.take() else {
                        continue;
                    };
                    out.push((
                        Event::Html(heading(tag, inner, used).into()),
                        start.start..range.end,
                    ));
                }
                (Some((_, _, inner)), event) => inner.push(event),
                (None, event) => out.push((event, range)),
            }
        }
        out
    }

    fn heading(tag: Tag, inner: Vec<Event>, used: &mut HashSet<String>) -> String {
        let Tag::Heading {
            level,
            id,
            classes,
            attrs,
        } = tag
        else {
            return String::new();
        };
        let text: String = inner
            .iter()
            .filter_map(|event| match event {
                Event::Text(text) | Event::Code(text) => Some(text.as_ref()),
                _ => None,
            })
            .collect();
        let id = match id {
            Some(id) => id.to_string(),
            None => unique(slugify(&text), used),
        };
        used.insert(id.clone());
        let id = escape(&id);
        let mut attributes = format!(r#" id="{id}""#);
        if !classes.is_empty() {
            let classes: Vec<&str> = classes.iter().map(|class| class.as_ref()).collect();
            attributes.push_str(&format!(r#" class="{}""#, escape(&classes.join(" "))));
        }
        for (name, value) in &attrs {
            attributes.push_str(&format!(" {}", escape(name)));
            if let Some(value) = value {
                attributes.push_str(&format!(r#"="{}""#, escape(value)));
            }
        }
        let mut content = String::new();
        pulldown_cmark::html::push_html(&mut content, inner.into_iter());
        format!(
            "<{level}{attributes}>{content} <a class=\"anchor\" href=\"#{id}\" aria-hidden=\"true\" tabindex=\"-1\">#</a></{level}>\n"
        )
    }

    fn unique(slug: String, used: &HashSet<String>) -> String {
        if !used.contains(&slug) {
            return slug;
        }
        (1..)
            .map(|n| format!("{slug}-{n}"))
            .find(|candidate| !used.contains(candidate))
            .unwrap_or(slug)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(markdown: &str) -> String {
        render(markdown, 1, Lang::En).html
    }

    #[test]
    fn run_blocks_get_run_and_copy_buttons_with_the_escaped_command() {
        let out = html("```bash run\necho \"<hi>\" && ls\n```\n");
        assert_eq!(
            out.trim(),
            r#"<div class="code-block runnable" data-place="workstation"><pre><code class="language-bash">echo &quot;&lt;hi&gt;&quot; &amp;&amp; ls</code></pre><div class="code-actions"><button type="button" class="code-run" data-command="echo &quot;&lt;hi&gt;&quot; &amp;&amp; ls">Run</button><button type="button" class="code-copy" data-command="echo &quot;&lt;hi&gt;&quot; &amp;&amp; ls">Copy</button></div></div>"#
        );
        assert!(html("```sh run\nps\n```\n").contains(r#"class="code-run" data-command="ps""#));
    }

    #[test]
    fn run_blocks_for_a_container_or_the_mysql_prompt_say_where_they_go() {
        let out = html("```sh run inside\nps\n```\n\n```sql run mysql\nSHOW DATABASES;\n```\n");
        assert!(
            out.contains(r#"<div class="code-block runnable" data-place="inside"><p class="code-place">inside the container</p>"#),
            "{out}"
        );
        assert!(
            out.contains(r#"<div class="code-block runnable" data-place="mysql"><p class="code-place">at the mysql&gt; prompt</p>"#),
            "{out}"
        );
        let korean = render("```sh run inside\nps\n```\n", 1, Lang::Ko).html;
        assert!(korean.contains("컨테이너 안에서"), "{korean}");
        // Plain sql is only copied.
        assert!(!html("```sql\nSELECT 1;\n```\n").contains("code-run"));
    }

    #[test]
    fn backticks_in_quizzes_hints_and_titles_become_code() {
        assert_eq!(
            inline_code("run `ps` <now>"),
            "run <code>ps</code> &lt;now&gt;"
        );
        assert_eq!(inline_code("a ` alone"), "a ` alone");
        let rendered = render(
            "```quiz\nquestion = \"What does `ps` do?\"\nchoices = [\"`ls`\", \"b\"]\nanswer = 2\n```\n",
            1,
            Lang::En,
        );
        assert!(
            rendered.html.contains("What does <code>ps</code> do?"),
            "{}",
            rendered.html
        );
        assert!(
            rendered.html.contains("<span><code>ls</code></span>"),
            "{}",
            rendered.html
        );
    }

    #[test]
    fn challenges_and_after_are_held_to_their_rules() {
        let challenge = "```check\nid = \"c\"\ntitle = \"t\"\nchallenge = true\nhints = [\"nudge\", \"`docker volume create v`\"]\nsolution = \"docker volume create v\"\n[volume]\nname = \"v\"\n```\n";
        let rendered = render(challenge, 1, Lang::En);
        assert!(rendered.problems.is_empty(), "{:?}", rendered.problems);
        assert!(
            rendered
                .html
                .contains(r#"<section class="exercise challenge""#),
            "{}",
            rendered.html
        );
        assert!(rendered.html.contains(">Challenge<"), "{}", rendered.html);
        assert!(
            rendered.html.contains(r#"<li hidden>nudge</li><li hidden><code>docker volume create v</code></li></ol><button type="button" class="exercise-hint-toggle" data-total="2">Hint</button>"#),
            "{}",
            rendered.html
        );

        let given_away = format!("```bash run\ndocker volume create v\n```\n\n{challenge}");
        let rendered = render(&given_away, 1, Lang::En);
        assert_eq!(rendered.problems.len(), 1, "{:?}", rendered.problems);
        assert!(
            rendered.problems[0].1.contains("given away"),
            "{:?}",
            rendered.problems
        );

        let later = "```check\nid = \"gone\"\ntitle = \"t\"\nafter = \"made\"\n[volume]\nname = \"v\"\npresent = false\n```\n";
        let rendered = render(later, 1, Lang::En);
        assert!(
            rendered.problems[0].1.contains("not an earlier exercise"),
            "{:?}",
            rendered.problems
        );
    }

    #[test]
    fn quizzes_are_forms_answered_in_the_page() {
        let rendered = render(
            "```quiz\nquestion = \"Which <one>?\"\nchoices = [\"a\", \"b\"]\nanswer = 2\nexplain = \"Because.\"\n```\n",
            1,
            Lang::En,
        );
        assert!(rendered.problems.is_empty(), "{:?}", rendered.problems);
        assert_eq!(rendered.quizzes, 1);
        let out = rendered.html;
        assert!(
            out.contains(r#"<form class="quiz" id="quiz-1" data-answer="2">"#),
            "{out}"
        );
        assert!(out.contains("Which &lt;one&gt;?"), "{out}");
        assert!(
            out.contains(r#"<input type="radio" name="quiz-1" value="2"> <span>b</span>"#),
            "{out}"
        );
        assert!(
            out.contains(r#"<p class="quiz-explain" hidden>Because.</p>"#),
            "{out}"
        );
        for (bad, says) in [
            (
                "question = \"q\"\nchoices = [\"a\"]\nanswer = 1\n",
                "at least two",
            ),
            (
                "question = \"q\"\nchoices = [\"a\", \"b\"]\nanswer = 3\n",
                "1 to 2",
            ),
            (
                "question = \"q\"\nchoices = [\"a\", \"b\"]\nanswr = 1\n",
                "unknown field",
            ),
        ] {
            let rendered = render(&format!("text\n\n```quiz\n{bad}```\n"), 1, Lang::En);
            let (line, reason) = &rendered.problems[0];
            assert!(reason.contains(says), "{reason}");
            assert!(*line >= 4, "{line}");
        }
    }

    #[test]
    fn other_fences_only_copy() {
        let out = html("```bash\ndocker ps\n```\n\n```\nplain\n```\n");
        assert!(!out.contains("code-run"), "{out}");
        assert!(out.contains(r#"<div class="code-block"><pre><code class="language-bash">docker ps</code></pre><div class="code-actions"><button type="button" class="code-copy" data-command="docker ps">Copy</button></div></div>"#), "{out}");
        assert!(out.contains(r#"<pre><code>plain</code></pre>"#), "{out}");
    }

    #[test]
    fn multi_line_commands_keep_their_lines() {
        let out = html("```bash run\nmkdir demo\ncd demo\n```\n");
        assert!(
            out.contains("data-command=\"mkdir demo\ncd demo\""),
            "{out}"
        );
    }

    #[test]
    fn check_blocks_become_exercise_cards_in_the_lesson_language() {
        let markdown = "Intro\n\n```check\nid = \"note-created\"\ntitle = \"A file <note.txt>\"\nhint = \"Use echo\"\n[probe]\ncommand = \"test -f ~/note.txt\"\n```\n";
        let rendered = render(markdown, 1, Lang::En);
        assert!(rendered.problems.is_empty(), "{:?}", rendered.problems);
        assert_eq!(rendered.exercises.len(), 1);
        assert_eq!(rendered.exercises[0].line, 4);
        let expected = "<section class=\"exercise\" id=\"exercise-note-created\" data-exercise=\"note-created\" data-state=\"pending\" aria-labelledby=\"exercise-note-created-title\">\n  \
            <h3 class=\"exercise-title\" id=\"exercise-note-created-title\"><span class=\"exercise-label\">Exercise</span> A file &lt;note.txt&gt;</h3>\n  \
            <p class=\"exercise-status\" role=\"status\">Not checked yet</p>\n  \
            <div class=\"exercise-hints\"><ol class=\"exercise-hint-list\"><li hidden>Use echo</li></ol><button type=\"button\" class=\"exercise-hint-toggle\" data-total=\"1\">Hint</button></div>\n</section>";
        assert!(rendered.html.contains(expected), "{}", rendered.html);

        let korean = render(markdown, 1, Lang::Ko).html;
        assert!(korean.contains("연습 문제"), "{korean}");
        assert!(korean.contains(">힌트<"), "{korean}");
    }

    #[test]
    fn malformed_checks_name_the_line_in_the_file() {
        // The body starts on line 5 of the file (after front matter); the typo is on the
        // fourth line inside the block, which is on the sixth line of the body.
        let body =
            "# Title\n\n```check\nid = \"a\"\ntitle = \"t\"\n[probe]\ncomand = \"true\"\n```\n";
        let rendered = render(body, 5, Lang::En);
        assert_eq!(rendered.problems.len(), 1, "{:?}", rendered.problems);
        let (line, reason) = &rendered.problems[0];
        assert_eq!(*line, 5 + 6, "{reason}");
        assert!(reason.contains("comand"), "{reason}");
    }

    #[test]
    fn duplicate_exercise_ids_are_reported_at_the_second_id() {
        let block = "```check\nid = \"same\"\ntitle = \"t\"\n[volume]\nname = \"v\"\n```\n";
        let rendered = render(&format!("{block}\n{block}"), 1, Lang::En);
        assert_eq!(rendered.problems.len(), 1);
        assert_eq!(rendered.problems[0].0, 9);
        assert!(rendered.problems[0].1.contains("twice"));
    }

    #[test]
    fn headings_get_unique_ids_and_anchor_links() {
        let out = html(
            "## Run a command\n\n## Run a command\n\n## 첫 컨테이너!\n\n## Terminal\n\n## Custom {#mine}\n",
        );
        assert!(out.contains(r##"<h2 id="run-a-command">Run a command <a class="anchor" href="#run-a-command" aria-hidden="true" tabindex="-1">#</a></h2>"##), "{out}");
        assert!(out.contains(r#"<h2 id="run-a-command-1">"#), "{out}");
        assert!(
            out.contains(
                r##"<h2 id="첫-컨테이너">첫 컨테이너! <a class="anchor" href="#첫-컨테이너""##
            ),
            "{out}"
        );
        // `terminal` is the terminal's own element on the page.
        assert!(out.contains(r#"<h2 id="terminal-1">"#), "{out}");
        assert!(out.contains(r#"<h2 id="mine">Custom"#), "{out}");
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Your first container"), "your-first-container");
        assert_eq!(slugify("What is `ps aux`?"), "what-is-ps-aux");
        assert_eq!(slugify("  --Ports & volumes--  "), "ports-volumes");
        assert_eq!(slugify("프로세스 살펴보기"), "프로세스-살펴보기");
        assert_eq!(slugify("\"<>\""), "section");
    }

    #[test]
    fn tables_and_strikethrough_are_on() {
        let out = html("| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~\n");
        assert!(out.contains("<table>"), "{out}");
        assert!(out.contains("<del>old</del>"), "{out}");
    }

    #[test]
    fn links_between_lessons_become_page_urls() {
        let rendered = render(
            "[next](02-images.md) [ko](../ko/02-images.md#top) [web](https://docs.docker.com) ![d](../../static/img/x.svg)\n",
            3,
            Lang::En,
        );
        let out = &rendered.html;
        assert!(out.contains(r#"<a href="/en/02-images">next</a>"#), "{out}");
        assert!(
            out.contains(r#"<a href="/ko/02-images#top">ko</a>"#),
            "{out}"
        );
        assert!(
            out.contains(r#"<a href="https://docs.docker.com" target="_blank" rel="noopener noreferrer">web</a>"#),
            "{out}"
        );
        assert!(out.contains(r#"<img src="/static/img/x"#), "{out}");
        let targets: Vec<_> = rendered
            .links
            .iter()
            .map(|l| (&l.target, l.picture, l.line))
            .collect();
        assert_eq!(targets.len(), 4);
        assert_eq!(targets[3], (&Target::Asset("img/x.svg".into()), true, 3));
    }

    #[test]
    fn link_targets_resolve_from_the_lesson_folder() {
        let lesson = |lang: &str, slug: &str| Target::Lesson {
            lang: lang.into(),
            slug: slug.into(),
        };
        assert_eq!(resolve("02-images.md", Lang::Ko), lesson("ko", "02-images"));
        assert_eq!(resolve("./02-images", Lang::En), lesson("en", "02-images"));
        assert_eq!(
            resolve("/ko/02-images#x", Lang::En),
            lesson("ko", "02-images")
        );
        assert_eq!(
            resolve("/static/img/a.svg", Lang::En),
            Target::Asset("img/a.svg".into())
        );
        assert_eq!(resolve("/", Lang::En), Target::Catalog);
        assert_eq!(resolve("#top", Lang::En), Target::Fragment);
        assert_eq!(resolve("mailto:a@b.c", Lang::En), Target::External);
        assert_eq!(
            resolve("img/a.svg", Lang::En),
            Target::Unresolved("lessons/en/img/a.svg".into())
        );
        assert_eq!(
            resolve("../../../x", Lang::En),
            Target::Unresolved("../../../x".into())
        );
    }
}
