// The lesson page's entry module: wires the terminal tabs, the status line, the port links,
// the Run / Copy buttons, the exercise cards, the quizzes, the divider, the drawer of narrow
// screens and the focus shortcut. The page's HTML contract (ids, classes, data attributes) is
// described in the lessons templates; each concern lives in its own module.

import { TerminalTabs } from "./tabs.js";
import { NARROW, initDivider, initDrawer, initFocusShortcut } from "./layout.js";
import { setUpTerminalKeys } from "./clipboard.js";
import { initExercises, liveCheck } from "./exercises.js";
import { initQuizzes } from "./quizzes.js";
import { initRunBlocks } from "./runblocks.js";
import { showPorts } from "./ports.js";
import { initRecovery } from "./recovery.js";
import { statusLine } from "./status.js";
import { words } from "./words.js";

const body = document.body;

function element(tag, className, text = "") {
  return Object.assign(document.createElement(tag), { className, textContent: text });
}

function startTerminal(pane, container, status) {
  const restart = element("button", "terminal-restart", words.restart);
  restart.type = "button";
  restart.hidden = true;
  status.after(restart);

  const ports = element("nav", "port-links");
  ports.setAttribute("aria-label", words.ports_label);
  ports.hidden = true;
  restart.after(ports);

  const hint = element("p", "terminal-hint");
  const kbd = (text) => element("kbd", "", text);
  hint.append(kbd("Ctrl"), "+", kbd("`"), ` ${words.focus_hint} · `);
  hint.append(kbd("Ctrl"), "+", kbd("Shift"), "+", kbd("C"), " / ", kbd("V"), ` ${words.copy_paste_hint}`);

  const show = statusLine(pane, status, restart);
  let recovery = () => {};
  const tabs = new TerminalTabs({
    container,
    lesson: `${body.dataset.lang}/${body.dataset.slug}`,
    strings: words,
    onState: show,
    onControl(message) {
      if (message.type === "check") liveCheck(message);
      if (message.type === "ports") showPorts(ports, message.ports);
      if (message.type === "notices" || message.type === "ended") recovery(message);
    },
    setup: setUpTerminalKeys,
  });
  // The shortcuts sit at the end of the tab strip, leaving the status line its room.
  tabs.strip.append(hint);
  recovery = initRecovery(ports, tabs);
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
  return { tabs, refit };
}

function main() {
  const lesson = document.getElementById("lesson");
  const pane = document.getElementById("terminal-pane");
  const container = document.getElementById("terminal");
  const status = document.getElementById("terminal-status");
  const started = pane && container && status ? startTerminal(pane, container, status) : null;
  const terminal = started?.tabs ?? null;

  const layout = document.querySelector(".layout");
  const divider = document.querySelector(".layout > .divider");
  if (layout && divider) initDivider(layout, divider, words.resize_divider);

  if (lesson) {
    let focus = null;
    const drawer =
      pane && terminal
        ? initDrawer({
            pane,
            openLabel: words.show_terminal,
            closeLabel: words.show_lesson,
            onOpen: () => {
              started.refit();
              terminal.current.term.focus();
            },
            // Back where the learner was reading: the lesson never scrolled away.
            onClose: () => focus?.left.focus({ preventScroll: true }),
          })
        : null;
    const narrow = matchMedia(NARROW);
    initRunBlocks(lesson, terminal, () => {
      if (narrow.matches && !drawer.isOpen()) drawer.open();
    });
    initExercises();
    initQuizzes(lesson);
    if (pane && terminal) {
      focus = initFocusShortcut({
        lesson,
        terminalPane: pane,
        focusTerminal: () => (narrow.matches ? drawer.open() : terminal.current.term.focus()),
        backToLesson: () => {
          if (narrow.matches && drawer.isOpen()) drawer.close();
        },
      });
    }
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
