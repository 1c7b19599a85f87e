//! Every word berth shows a learner, one table per language ([`en`], [`ko`]): the pages, the
//! browser code's words (sent whole as JSON, so no key list is kept by hand), and the sentences
//! exercise cards say. Templates name their blanks, `{name}`; [`fill`] puts values in.
//!
//! Korean templates never put a particle straight after a blank (`{name}가`): which particle is
//! right depends on how the name ends when read aloud, so the sentence is written around it
//! (`{name} 컨테이너가`). A test below holds every template to that.

mod en;
mod ko;

use serde::Serialize;

use crate::lessons::Lang;

/// Every word of one language.
#[derive(Serialize)]
pub struct Words {
    /// The language's own name, as its switch link says it.
    pub language_name: &'static str,
    pub catalog_title: &'static str,
    pub catalog_intro: &'static str,
    pub lessons_heading: &'static str,
    pub lesson_label: &'static str,
    pub terminal_label: &'static str,
    pub skip_to_lesson: &'static str,
    pub all_lessons: &'static str,
    pub previous: &'static str,
    pub next: &'static str,
    pub exercise: &'static str,
    pub challenge: &'static str,
    /// How many exercises a lesson has, `{n}` replaced: one, and more than one.
    pub exercise_count: [&'static str; 2],
    pub hint: &'static str,
    /// The button that shows the next of several hints, `{n}` and `{total}` replaced.
    pub hint_next: &'static str,
    pub run: &'static str,
    pub copy: &'static str,
    /// The label of a Run block meant for a shell inside a container.
    pub run_inside: &'static str,
    /// The label of a Run block meant for the `mysql>` prompt.
    pub run_mysql: &'static str,
    /// Said when such a block's Run is pressed at the workstation's own prompt.
    pub run_inside_refused: &'static str,
    pub run_mysql_refused: &'static str,
    pub switch_language: &'static str,
    pub theme_toggle: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
    pub back_to_catalog: &'static str,
    pub full_banner: &'static str,
    pub backend_note: &'static str,
    pub connecting: &'static str,
    /// The page's scripts could not all be fetched, even after loading the page again.
    pub incomplete: &'static str,
    pub connected: &'static str,
    pub reconnecting: &'static str,
    pub ended: &'static str,
    pub full: &'static str,
    pub copied: &'static str,
    pub exited: &'static str,
    pub backend_docker: &'static str,
    pub backend_local: &'static str,
    pub check_passed: &'static str,
    pub check_failed: &'static str,
    pub check_pending: &'static str,
    pub check_button: &'static str,
    pub check_again: &'static str,
    /// When an exercise passed, `{time}` replaced by the local time.
    pub passed_at: &'static str,
    pub time_left: &'static str,
    pub ending_soon: &'static str,
    pub hours_minutes: &'static str,
    pub minutes: &'static str,
    pub ports_label: &'static str,
    /// After a port that does not answer HTTP, instead of a link.
    pub port_not_http: &'static str,
    pub quiz: &'static str,
    pub quiz_submit: &'static str,
    pub quiz_right: &'static str,
    pub quiz_wrong: &'static str,
    pub quiz_choose: &'static str,
    pub checking: &'static str,
    pub lesson_complete: &'static str,
    /// A lesson's progress, `{done}` and `{n}` replaced.
    pub progress: &'static str,
    pub restart: &'static str,
    pub restart_sandbox: &'static str,
    pub take_over: &'static str,
    /// The terminal's menu of ways out of trouble.
    pub sandbox_menu: &'static str,
    /// Ends everything the shell of the tab in front started, keeping the shell.
    pub end_processes: &'static str,
    /// After that, `{n}` replaced by how many processes ended.
    pub ended_processes: &'static str,
    /// Removes the learner's whole sandbox and starts a fresh one.
    pub reset_sandbox: &'static str,
    pub reset_confirm: &'static str,
    pub reset_failed: &'static str,
    /// The label of what berth tells the learner about their sandbox (a limit reached).
    pub notices_label: &'static str,
    pub focus_hint: &'static str,
    pub resize_divider: &'static str,
    pub tabs_label: &'static str,
    /// A terminal tab's name, `{n}` replaced by its number from 1.
    pub tab_label: &'static str,
    pub tab_new: &'static str,
    /// `{tab}` replaced by the tab's name.
    pub tab_close: &'static str,
    pub copy_paste_hint: &'static str,
    pub lesson_progress: &'static str,
    pub course_progress: &'static str,
    /// Narrow screens: the button that opens the terminal over the lesson, and the one back.
    pub show_terminal: &'static str,
    pub show_lesson: &'static str,
    /// What exercise cards say; the page never needs these.
    #[serde(skip)]
    pub checks: CheckWords,
}

/// The sentences of exercise cards. Blanks: `{name}` (a container, image, volume or network as
/// the learner named it), `{image}`, `{wanted}`, `{actual}`, `{found}`, `{count}`, `{what}`,
/// `{seconds}`, `{title}`.
pub struct CheckWords {
    pub engine: &'static str,
    pub unavailable: &'static str,
    pub no_docker: &'static str,
    pub timed_out: &'static str,
    pub container_ok: &'static str,
    pub count_ok: &'static str,
    pub count_short: &'static str,
    pub no_container: &'static str,
    pub no_container_from: &'static str,
    pub wrong_image: &'static str,
    pub not_running: &'static str,
    pub still_running: &'static str,
    pub not_published: &'static str,
    pub missing_env: &'static str,
    pub missing_volume: &'static str,
    pub not_on_network: &'static str,
    pub not_linked: &'static str,
    pub image_ok: &'static str,
    pub no_image: &'static str,
    pub image_still: &'static str,
    pub volume_ok: &'static str,
    pub no_volume: &'static str,
    pub volume_still: &'static str,
    pub network_ok: &'static str,
    pub no_network: &'static str,
    pub network_still: &'static str,
    pub container_still: &'static str,
    pub container_gone: &'static str,
    pub image_gone: &'static str,
    pub volume_gone: &'static str,
    pub network_gone: &'static str,
    pub ran: &'static str,
    pub not_ran: &'static str,
    /// The command ran, but exited with an error.
    pub ran_failed: &'static str,
    /// An exercise that counts only after another one (`after`).
    pub after_first: &'static str,
    /// A command exercise passed earlier, checked again in a newer sandbox whose history is
    /// empty: it stays passed.
    pub ran_earlier: &'static str,
    /// The Check button, pressed before the learner has a sandbox.
    pub no_sandbox: &'static str,
}

/// The words of `lang`.
pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &en::WORDS,
        Lang::Ko => &ko::WORDS,
    }
}

/// `template` with each `{key}` replaced by its value; unknown blanks stay as written.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after
            .find('}')
            .and_then(|close| Some((close, values.iter().find(|(k, _)| *k == &after[..close])?)))
        {
            Some((close, (_, value))) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl Words {
    /// The page's words as JSON for the browser code, safe inside a `<script>` element.
    pub fn client_json(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        script_safe_json(&json)
    }
}

/// JSON with `<`, `>` and `&` written as `\u003c`…, so no `</script>` or `<!--` can appear.
pub fn script_safe_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_are_filled_and_unknown_ones_kept() {
        assert_eq!(
            fill(
                "{name} runs {actual}, not {wanted}.",
                &[("name", "web"), ("actual", "a"), ("wanted", "b")]
            ),
            "web runs a, not b."
        );
        assert_eq!(fill("{x} {y", &[("x", "1")]), "1 {y");
        assert_eq!(fill("no blanks", &[]), "no blanks");
    }

    /// Every check sentence of a language, for the rules below.
    fn check_templates(words: &CheckWords) -> Vec<&'static str> {
        let w = words;
        vec![
            w.engine,
            w.unavailable,
            w.no_docker,
            w.timed_out,
            w.container_ok,
            w.count_ok,
            w.count_short,
            w.no_container,
            w.no_container_from,
            w.wrong_image,
            w.not_running,
            w.still_running,
            w.not_published,
            w.missing_env,
            w.missing_volume,
            w.not_on_network,
            w.not_linked,
            w.image_ok,
            w.no_image,
            w.image_still,
            w.volume_ok,
            w.no_volume,
            w.volume_still,
            w.network_ok,
            w.no_network,
            w.network_still,
            w.container_still,
            w.container_gone,
            w.image_gone,
            w.volume_gone,
            w.network_gone,
            w.ran,
            w.not_ran,
            w.ran_failed,
            w.after_first,
            w.ran_earlier,
            w.no_sandbox,
        ]
    }

    #[test]
    fn no_korean_particle_follows_a_name() {
        let particles = [
            "이",
            "가",
            "을",
            "를",
            "은",
            "는",
            "와",
            "과",
            "로",
            "으로",
            "이라는",
            "라는",
            "에",
            "의",
            "도",
        ];
        for template in check_templates(&ko::WORDS.checks) {
            for (at, _) in template.match_indices('}') {
                let next = &template[at + 1..];
                assert!(
                    !particles.iter().any(|p| next.starts_with(p)),
                    "a particle follows a blank in {template:?}: write the sentence around the name"
                );
            }
        }
    }

    #[test]
    fn both_languages_use_the_same_blanks() {
        let blanks = |template: &str| {
            let mut found: Vec<String> = template
                .split('{')
                .skip(1)
                .filter_map(|part| part.split_once('}').map(|(key, _)| key.to_owned()))
                .collect();
            found.sort();
            found
        };
        let en = check_templates(&en::WORDS.checks);
        let ko = check_templates(&ko::WORDS.checks);
        for (en, ko) in en.iter().zip(&ko) {
            assert_eq!(blanks(en), blanks(ko), "{en:?} / {ko:?}");
        }
    }

    #[test]
    fn client_words_cannot_close_their_script_element() {
        let json = script_safe_json(r#"{"a":"</script><!-- & "}"#);
        assert!(
            !json.contains('<') && !json.contains('>') && !json.contains('&'),
            "{json}"
        );
        for lang in Lang::ALL {
            let value: serde_json::Value =
                serde_json::from_str(&words(lang).client_json()).unwrap();
            assert!(value["connecting"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(
                value.get("checks").is_none(),
                "card sentences stay on the server"
            );
        }
    }
}
