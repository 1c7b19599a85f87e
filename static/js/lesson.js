// The lesson page's entry module: starts the terminal, wires the Run / Copy buttons, hints,
// exercise cards, the divider and the focus shortcut. The page's HTML contract (ids, classes,
// data attributes) is described in the lessons templates.

import { TerminalTabs } from "./tabs.js";
import { initDivider, initFocusShortcut, isFocusShortcut } from "./layout.js";

const COPIED_FOR_MS = 1500;
/** The status line warns this long before the sandbox reaches its lifetime. */
const ENDING_SOON_MS = 10 * 60 * 1000;

/** `3 h 59 min` / `3시간 59분`, from the page's words. */
function duration(ms) {
  const minutes = Math.ceil(ms / 60_000);
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return hours > 0
    ? strings.hours_minutes.replace("{h}", hours).replace("{m}", rest)
    : strings.minutes.replace("{m}", minutes);
}

/**
 * The page's words in the learner's language, from #berth-strings (server/lessons/pages.rs
 * writes every one). A word missing there shows as its key, which a look at the page catches,
 * rather than as "undefined" or in another language.
 */
function readStrings() {
  const element = document.getElementById("berth-strings");
  let words = {};
  try {
    words = element ? JSON.parse(element.textContent) : {};
  } catch {
    // A broken strings block must not take the terminal down with it.
  }
  return new Proxy(words, { get: (all, key) => (typeof key === "string" && key in all ? all[key] : String(key)) });
}

const strings = readStrings();
const body = document.body;

function sandboxEnded(detail) {
  return detail.code === null || detail.code === undefined;
}

function statusText(state, detail) {
  switch (state) {
    case "connecting":
      return strings.connecting;
    case "connected": {
      const key = `backend_${body.dataset.backend}`;
      return key in strings ? `${strings.connected} — ${strings[key]}` : strings.connected;
    }
    case "reconnecting":
      return strings.reconnecting;
    case "full":
      return detail.message || strings.full;
    case "exited":
      // No exit code: the whole sandbox ended (time limit, idle, restart of berth).
      return sandboxEnded(detail) ? strings.ended : strings.exited.replace("{code}", detail.code);
    case "replaced":
    case "error":
      return detail.message || strings.ended;
    default:
      return "";
  }
}

function startTerminal(pane, container, status) {
  const restart = document.createElement("button");
  restart.type = "button";
  restart.className = "terminal-restart";
  restart.textContent = strings.restart;
  restart.hidden = true;
  status.after(restart);

  // A link per published port: opens the learner's container in a new browser tab, through berth.
  const ports = document.createElement("nav");
  ports.className = "port-links";
  ports.setAttribute("aria-label", strings.ports_label);
  ports.hidden = true;
  restart.after(ports);

  const hint = document.createElement("p");
  hint.className = "terminal-hint";
  const kbd = (text) => Object.assign(document.createElement("kbd"), { textContent: text });
  hint.append(kbd("Ctrl"), "+", kbd("`"), ` ${strings.focus_hint} · `);
  hint.append(kbd("Ctrl"), "+", kbd("Shift"), "+", kbd("C"), " / ", kbd("V"), ` ${strings.copy_paste_hint}`);

  // The sandbox's lifetime: shown while connected, with a warning in its last ten minutes.
  let deadline = 0;
  let current = { state: "connecting", detail: {} };
  const showStatus = () => {
    let text = statusText(current.state, current.detail);
    const left = deadline - Date.now();
    const ending = current.state === "connected" && deadline > 0 && left < ENDING_SOON_MS;
    if (current.state === "connected" && deadline > 0) {
      const words = ending ? strings.ending_soon : strings.time_left;
      text += ` · ${words.replace("{t}", duration(Math.max(left, 0)))}`;
    }
    pane.dataset.ending = String(ending);
    // Rewriting the same words would make screen readers announce them again.
    if (status.textContent !== text) status.textContent = text;
  };
  setInterval(showStatus, 30_000);

  const tabs = new TerminalTabs({
    container,
    lesson: `${body.dataset.lang}/${body.dataset.slug}`,
    strings,
    onState(state, detail) {
      if (state === "connected" && Number.isFinite(detail?.expires_in)) {
        deadline = Date.now() + detail.expires_in * 1000;
      }
      current = { state, detail };
      showStatus();
      pane.dataset.connection = state;
      restart.hidden = state !== "exited" && state !== "replaced";
      restart.textContent =
        state === "replaced" ? strings.take_over : sandboxEnded(detail) ? strings.restart_sandbox : strings.restart;
      // The server's own words on why, for the curious (they are not translated).
      status.title = detail?.message ?? "";
    },
    onControl(message) {
      if (message.type === "check") showCheck(message);
      if (message.type === "ports") showPorts(ports, message.ports);
    },
    setup: setUpKeys,
  });
  // The shortcuts sit at the end of the tab strip, leaving the status line its room.
  tabs.strip.append(hint);
  restart.addEventListener("click", () => {
    tabs.current.connection.reconnectNow();
    tabs.current.term.focus();
  });

  // Fit once per frame at most while the pane is being resized; xterm's onResize then tells the
  // server the new size. Tabs behind the front one are fitted when they come to the front.
  let fitQueued = false;
  const refit = () => {
    if (fitQueued) return;
    fitQueued = true;
    requestAnimationFrame(() => {
      fitQueued = false;
      tabs.fitCurrent();
    });
  };
  new ResizeObserver(refit).observe(container);
  window.addEventListener("resize", refit);
  tabs.fitCurrent();
  // Web fonts may arrive after the first fit and change the cell size.
  document.fonts?.ready.then(refit);
  return tabs;
}

/** Keys the page keeps from the shell: the focus shortcut, and copy / paste as in a desktop terminal. */
function setUpKeys(term) {
  term.attachCustomKeyEventHandler((event) => {
    if (isFocusShortcut(event)) return false;
    if (event.type === "keydown" && event.ctrlKey && event.shiftKey && !event.altKey && !event.metaKey) {
      if (event.code === "KeyC") {
        event.preventDefault();
        const selection = term.getSelection();
        if (selection) copyText(selection);
        return false;
      }
      // The browser pastes into xterm's text area, and xterm sends it to the shell.
      if (event.code === "KeyV") return false;
    }
    return true;
  });
  // Selecting copies, as in most terminals on Linux. Only where the clipboard API allows it
  // without taking focus from the terminal (https, or localhost).
  term.onSelectionChange(() => {
    const selection = term.getSelection();
    if (selection && window.isSecureContext && navigator.clipboard) {
      navigator.clipboard.writeText(selection).catch(() => {});
    }
  });
}

/** Exercises of this lesson passed at some point: progress counts them even if undone later. */
const everPassed = new Set();

/** The lesson and course bars, from the exercises passed on this page and before it. */
function showProgress() {
  const bars = Object.fromEntries(
    [...document.querySelectorAll(".progress-bar[data-progress]")].map((bar) => [bar.dataset.progress, bar]),
  );
  const set = (bar, done) => {
    if (!bar) return;
    const meter = bar.querySelector("progress");
    const total = Number(meter.max);
    // The course bar's first value counts this lesson's earlier passes already.
    bar.dataset.start ??= meter.value;
    meter.value = done;
    bar.querySelector(".progress-text").textContent = strings.progress
      .replace("{done}", done)
      .replace("{n}", total);
    bar.dataset.complete = String(done >= total);
  };
  const lessonDone = everPassed.size;
  const lessonStart = Number(bars.lesson?.dataset.start ?? bars.lesson?.querySelector("progress").value ?? 0);
  set(bars.lesson, lessonDone);
  if (bars.course) {
    const courseStart = Number(bars.course.dataset.start ?? bars.course.querySelector("progress").value);
    set(bars.course, courseStart - lessonStart + lessonDone);
  }
}

function showCheck({ exercise, passed, message }) {
  const card = document.querySelector(`.exercise[data-exercise="${CSS.escape(String(exercise))}"]`);
  if (!card) return;
  card.dataset.state = passed ? "passed" : "failed";
  if (passed && !everPassed.has(card.dataset.exercise)) {
    everPassed.add(card.dataset.exercise);
    showProgress();
  }
  const status = card.querySelector(".exercise-status");
  if (status) {
    const label = document.createElement("strong");
    label.textContent = passed ? strings.check_passed : strings.check_failed;
    status.replaceChildren(label);
    if (message) status.append(` ${message}`);
  }
  celebrateWhenDone();
}

function showPorts(bar, ports) {
  const links = (Array.isArray(ports) ? ports : []).map((port) => {
    const link = document.createElement("a");
    link.className = "port-link";
    link.href = port.url;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = `${port.port} → ${port.container}:${port.target}`;
    return link;
  });
  const label = Object.assign(document.createElement("span"), {
    className: "port-links-label",
    textContent: strings.ports_label,
  });
  bar.replaceChildren(label, ...links);
  bar.hidden = links.length === 0;
}

/** A Check button on every exercise card: asks the server now, instead of waiting. */
function initCheckButtons() {
  const { lang, slug } = body.dataset;
  for (const card of document.querySelectorAll(".exercise[data-exercise]")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "exercise-check";
    button.textContent = strings.check_button;
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = strings.checking;
      try {
        const exercise = encodeURIComponent(card.dataset.exercise);
        const response = await fetch(`/api/checks/${lang}/${encodeURIComponent(slug)}/${exercise}`, {
          method: "POST",
          credentials: "same-origin",
        });
        const answer = await response.json();
        if (response.ok) showCheck(answer);
        else showCheck({ exercise: card.dataset.exercise, passed: false, message: answer.error });
      } catch {
        showCheck({ exercise: card.dataset.exercise, passed: false, message: strings.ended });
      } finally {
        button.disabled = false;
        button.textContent = strings.check_button;
      }
    });
    const status = card.querySelector(".exercise-status");
    (status ?? card).after(button);
  }
}

/** Quiz questions are answered in the page: the answer is in the form, nothing goes to berth. */
function initQuizzes(lesson) {
  for (const form of lesson.querySelectorAll("form.quiz")) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const chosen = form.querySelector("input[type=radio]:checked");
      const result = form.querySelector(".quiz-result");
      const explain = form.querySelector(".quiz-explain");
      if (!chosen) {
        result.textContent = strings.quiz_choose;
        form.dataset.state = "";
        return;
      }
      const right = chosen.value === form.dataset.answer;
      form.dataset.state = right ? "right" : "wrong";
      result.textContent = right ? strings.quiz_right : strings.quiz_wrong;
      if (explain) explain.hidden = !right;
    });
  }
}

/** Exercises this learner passed before (in #berth-progress) start out done. */
function showEarlierProgress() {
  const element = document.getElementById("berth-progress");
  let passed = [];
  try {
    passed = element ? JSON.parse(element.textContent) : [];
  } catch {
    passed = [];
  }
  for (const exercise of passed) showCheck({ exercise, passed: true, message: "" });
}

/** When every exercise of the lesson is done, say so once, and point to the next lesson. */
function celebrateWhenDone() {
  const cards = [...document.querySelectorAll(".exercise[data-exercise]")];
  const banner = document.getElementById("lesson-complete");
  if (!banner || cards.length === 0) return;
  const done = cards.every((card) => card.dataset.state === "passed");
  if (done && banner.hidden) {
    banner.hidden = false;
  }
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API outside a secure context (plain http on a LAN address): the old way.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.append(area);
    area.select();
    let copied = false;
    try {
      copied = document.execCommand("copy");
    } catch {
      copied = false;
    }
    area.remove();
    return copied;
  }
}

function wireLesson(lesson, terminal) {
  lesson.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button || !lesson.contains(button)) return;

    if (button.classList.contains("code-run") && terminal) {
      // Into the shell in front: the one the learner is looking at.
      terminal.current.connection.run(button.dataset.command ?? "");
      terminal.current.term.focus();
      document.getElementById("terminal-pane")?.scrollIntoView({ block: "nearest" });
    } else if (button.classList.contains("code-copy")) {
      if (!(await copyText(button.dataset.command ?? ""))) return;
      const label = button.dataset.label ?? button.textContent;
      button.dataset.label = label;
      button.textContent = strings.copied;
      button.classList.add("is-copied");
      clearTimeout(Number(button.dataset.timer));
      button.dataset.timer = String(
        setTimeout(() => {
          button.textContent = label;
          button.classList.remove("is-copied");
        }, COPIED_FOR_MS),
      );
    } else if (button.classList.contains("exercise-hint-toggle")) {
      const hint = button.closest(".exercise")?.querySelector(".exercise-hint");
      if (!hint) return;
      hint.hidden = !hint.hidden;
      button.setAttribute("aria-expanded", String(!hint.hidden));
    }
  });
}

function main() {
  const lesson = document.getElementById("lesson");
  const pane = document.getElementById("terminal-pane");
  const container = document.getElementById("terminal");
  const status = document.getElementById("terminal-status");
  const terminal = pane && container && status ? startTerminal(pane, container, status) : null;

  if (lesson) {
    wireLesson(lesson, terminal);
    initCheckButtons();
    showEarlierProgress();
    initQuizzes(lesson);
  }

  const layout = document.querySelector(".layout");
  const divider = document.querySelector(".layout > .divider");
  if (layout && divider) initDivider(layout, divider, strings.resize_divider);
  if (lesson && pane && terminal) {
    initFocusShortcut({ lesson, terminalPane: pane, focusTerminal: () => terminal.current.term.focus() });
  }

  // For tests and for the curious in devtools.
  window.berth = {
    tabs: terminal,
    get term() {
      return terminal?.current.term ?? null;
    },
    get fit() {
      return terminal?.current.fit ?? null;
    },
    get connection() {
      return terminal?.current.connection ?? null;
    },
    get state() {
      return terminal?.current.connection.state ?? null;
    },
  };
}

main();
