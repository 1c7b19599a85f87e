// The lesson | terminal split: a divider to drag (or move with the arrow keys), remembered in
// localStorage; on narrow screens a drawer that opens the terminal over the lesson, which keeps
// its place; and a keyboard shortcut that moves focus between the two sides, back to where the
// learner left the lesson.

const STORAGE_KEY = "berth.split";
const MIN_PERCENT = 20;
const MAX_PERCENT = 80;
const DEFAULT_PERCENT = 50;
const STEP_PERCENT = 2;
const BIG_STEP_PERCENT = 10;

function clamp(percent) {
  return Math.min(MAX_PERCENT, Math.max(MIN_PERCENT, percent));
}

function loadPercent() {
  try {
    const saved = Number.parseFloat(window.localStorage.getItem(STORAGE_KEY) ?? "");
    return Number.isFinite(saved) ? clamp(saved) : DEFAULT_PERCENT;
  } catch {
    return DEFAULT_PERCENT; // storage blocked (private mode, cookies off)
  }
}

function savePercent(percent) {
  try {
    window.localStorage.setItem(STORAGE_KEY, percent.toFixed(1));
  } catch {
    // Not remembering the split is fine.
  }
}

/** Makes `divider` resize the lesson column of `layout`; the share is `--lesson-share`. */
export function initDivider(layout, divider, label) {
  let percent = loadPercent();
  const apply = (next, persist) => {
    percent = clamp(next);
    layout.style.setProperty("--lesson-share", `${percent}%`);
    divider.setAttribute("aria-valuenow", String(Math.round(percent)));
    if (persist) savePercent(percent);
  };
  divider.setAttribute("aria-valuemin", String(MIN_PERCENT));
  divider.setAttribute("aria-valuemax", String(MAX_PERCENT));
  divider.setAttribute("aria-controls", "lesson");
  if (!divider.hasAttribute("aria-label") && label) divider.setAttribute("aria-label", label);
  apply(percent, false);

  const percentAt = (clientX) => {
    const box = layout.getBoundingClientRect();
    return ((clientX - box.left) / box.width) * 100;
  };
  divider.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    divider.setPointerCapture(event.pointerId);
    document.body.classList.add("is-resizing");
  });
  divider.addEventListener("pointermove", (event) => {
    if (divider.hasPointerCapture(event.pointerId)) apply(percentAt(event.clientX), false);
  });
  const stop = (event) => {
    if (!divider.hasPointerCapture(event.pointerId)) return;
    divider.releasePointerCapture(event.pointerId);
    document.body.classList.remove("is-resizing");
    apply(percent, true);
  };
  divider.addEventListener("pointerup", stop);
  divider.addEventListener("pointercancel", stop);
  divider.addEventListener("dblclick", () => apply(DEFAULT_PERCENT, true));

  divider.addEventListener("keydown", (event) => {
    const step = event.shiftKey ? BIG_STEP_PERCENT : STEP_PERCENT;
    const moves = {
      ArrowLeft: percent - step,
      ArrowRight: percent + step,
      Home: MIN_PERCENT,
      End: MAX_PERCENT,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    apply(moves[event.key], true);
  });
}

/** Whether `event` is the focus-switch shortcut, Ctrl+` (the key left of 1 on any layout). */
export function isFocusShortcut(event) {
  return event.type === "keydown" && event.ctrlKey && !event.altKey && !event.metaKey && event.code === "Backquote";
}

/** Below this width the terminal is a drawer over the lesson (the CSS says the same). */
export const NARROW = "(max-width: 899px)";

/**
 * The terminal drawer of narrow screens: a button to open it, one in it to go back. Returns
 * `{ open(), close(), isOpen() }`; on wide screens open and close do nothing visible.
 */
export function initDrawer({ pane, openLabel, closeLabel, onOpen = () => {}, onClose = () => {} }) {
  const body = document.body;
  const open = Object.assign(document.createElement("button"), {
    type: "button",
    className: "drawer-open",
    textContent: openLabel,
  });
  const close = Object.assign(document.createElement("button"), {
    type: "button",
    className: "drawer-close",
    textContent: closeLabel,
  });
  open.setAttribute("aria-controls", pane.id);
  close.setAttribute("aria-controls", pane.id);
  pane.prepend(close);
  pane.after(open);
  const set = (state) => {
    body.dataset.drawer = state;
    open.setAttribute("aria-expanded", String(state === "open"));
  };
  set("closed");
  const drawer = {
    isOpen: () => body.dataset.drawer === "open",
    open() {
      set("open");
      onOpen();
    },
    close() {
      set("closed");
      onClose();
    },
  };
  open.addEventListener("click", () => drawer.open());
  close.addEventListener("click", () => drawer.close());
  return drawer;
}

/**
 * Ctrl+` moves focus from the lesson to the terminal, and back to the element the learner left
 * in the lesson (the Run button they pressed), or the lesson itself.
 */
export function initFocusShortcut({ lesson, terminalPane, focusTerminal, backToLesson }) {
  let left = null;
  lesson.addEventListener("focusin", (event) => {
    if (event.target !== lesson) left = event.target;
  });
  window.addEventListener(
    "keydown",
    (event) => {
      if (!isFocusShortcut(event)) return;
      event.preventDefault();
      if (terminalPane.contains(document.activeElement)) {
        backToLesson();
        const target = left && lesson.contains(left) ? left : lesson;
        target.focus({ preventScroll: true });
        target.scrollIntoView({ block: "nearest" });
      } else {
        focusTerminal();
      }
    },
    { capture: true },
  );
  return {
    /** The element to return to, whatever last had focus in the lesson. */
    get left() {
      return left && lesson.contains(left) ? left : lesson;
    },
  };
}
