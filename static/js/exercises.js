// Exercise cards: their state (pending, failed, passed with its time), the stepwise hints, the
// Check button, the lesson and course progress bars, and the "lesson complete" banner.
//
// A card that passed stays passed: the live checks never send it back (the lesson's own
// clean-up removes what earlier cards looked at). Only the learner's Check button asks again.

import { words, fill } from "./words.js";

const body = document.body;

function cards() {
  return [...document.querySelectorAll(".exercise[data-exercise]")];
}

function cardOf(exercise) {
  return document.querySelector(`.exercise[data-exercise="${CSS.escape(String(exercise))}"]`);
}

function timeText(at) {
  return new Date(at).toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
}

/** Shows a result on its card. `at` (ms since the epoch) is when it passed; now when unknown. */
export function showCheck({ exercise, passed, message, at }) {
  const card = cardOf(exercise);
  if (!card) return;
  card.dataset.state = passed ? "passed" : "failed";
  if (passed) card.dataset.passedAt = String(at ?? card.dataset.passedAt ?? Date.now());
  else delete card.dataset.passedAt;
  const status = card.querySelector(".exercise-status");
  if (status) {
    const label = document.createElement("strong");
    label.textContent = passed ? words.check_passed : words.check_failed;
    status.replaceChildren(label);
    if (passed) {
      const when = Object.assign(document.createElement("span"), {
        className: "exercise-time",
        textContent: ` · ${fill(words.passed_at, { time: timeText(Number(card.dataset.passedAt)) })}`,
      });
      status.append(when);
    }
    // The card's own sentence, set apart from the label and the time.
    if (message) status.append(" — ", Object.assign(document.createElement("span"), { textContent: message }));
  }
  const button = card.querySelector(".exercise-check");
  if (button && !button.disabled) button.textContent = passed ? words.check_again : words.check_button;
  showProgress();
}

/** The lesson and course bars, from the cards that show as passed. */
function showProgress() {
  const done = cards().filter((card) => card.dataset.state === "passed").length;
  for (const bar of document.querySelectorAll(".progress-bar[data-progress]")) {
    const meter = bar.querySelector("progress");
    // The course bar started out counting this lesson's earlier passes already.
    bar.dataset.others ??= String(bar.dataset.progress === "course" ? Number(meter.value) - initialDone : 0);
    const value = Number(bar.dataset.others) + done;
    meter.value = value;
    bar.querySelector(".progress-text").textContent = fill(words.progress, { done: value, n: meter.max });
    bar.dataset.complete = String(value >= Number(meter.max));
  }
  const banner = document.getElementById("lesson-complete");
  const all = cards();
  if (banner && all.length > 0 && done === all.length) banner.hidden = false;
}

let initialDone = 0;

/** Exercises this learner passed before (#berth-progress: `[{exercise, at}]`) start out done. */
function showEarlierProgress() {
  let passed = [];
  try {
    passed = JSON.parse(document.getElementById("berth-progress")?.textContent ?? "[]");
  } catch {
    passed = [];
  }
  initialDone = passed.length;
  for (const { exercise, at } of passed) showCheck({ exercise, passed: true, message: "", at: at * 1000 });
}

/** One button per card shows the next hint, until the last (the answer) is out. */
function initHints() {
  for (const box of document.querySelectorAll(".exercise-hints")) {
    const button = box.querySelector(".exercise-hint-toggle");
    const items = [...box.querySelectorAll(".exercise-hint-list > li")];
    button.addEventListener("click", () => {
      const next = items.find((item) => item.hidden);
      if (!next) return;
      next.hidden = false;
      const shown = items.filter((item) => !item.hidden).length;
      if (shown === items.length) {
        button.hidden = true;
        next.tabIndex = -1;
        next.focus();
      } else {
        button.textContent = fill(words.hint_next, { n: shown + 1, total: items.length });
      }
    });
  }
}

/** A Check button on every card: asks the server now, and again for a card that passed. */
function initCheckButtons() {
  const { lang, slug } = body.dataset;
  for (const card of cards()) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "exercise-check";
    button.textContent = card.dataset.state === "passed" ? words.check_again : words.check_button;
    button.addEventListener("click", async () => {
      const exercise = card.dataset.exercise;
      button.disabled = true;
      button.textContent = words.checking;
      let answer;
      try {
        const response = await fetch(`/api/checks/${lang}/${encodeURIComponent(slug)}/${encodeURIComponent(exercise)}`, {
          method: "POST",
          credentials: "same-origin",
        });
        const json = await response.json();
        answer = response.ok ? json : { exercise, passed: false, message: json.error };
      } catch {
        answer = { exercise, passed: false, message: words.ended };
      }
      button.disabled = false;
      // A pass that still holds keeps its first time.
      showCheck({ ...answer, at: answer.passed ? Number(card.dataset.passedAt) || Date.now() : undefined });
    });
    const status = card.querySelector(".exercise-status");
    (status ?? card).after(button);
  }
}

export function initExercises() {
  initHints();
  initCheckButtons();
  showEarlierProgress();
}

/** A live result from the terminal socket: a card that passed does not go back by itself. */
export function liveCheck(message) {
  const card = cardOf(message.exercise);
  if (!card || card.dataset.state === "passed") return;
  showCheck(message);
}
