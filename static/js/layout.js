// The lesson | terminal split: a divider to drag (or move with the arrow keys), remembered in
// localStorage, and a keyboard shortcut that moves focus between the two sides.

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

/** Ctrl+` moves focus from the lesson to the terminal and back. */
export function initFocusShortcut({ lesson, terminalPane, focusTerminal }) {
  window.addEventListener(
    "keydown",
    (event) => {
      if (!isFocusShortcut(event)) return;
      event.preventDefault();
      if (terminalPane.contains(document.activeElement)) {
        lesson.focus({ preventScroll: true });
        lesson.scrollIntoView({ block: "nearest" });
      } else {
        focusTerminal();
      }
    },
    { capture: true },
  );
}
