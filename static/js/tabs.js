// Terminal tabs: one xterm.js terminal and one socket (`?tab=N`) per tab, a strip of tab
// buttons with + to open another shell and × to close one. Which tabs are open, and which one
// is in front, is remembered in localStorage so a reload brings the same shells back.

import { TerminalConnection, createTerminal } from "./terminal.js";

const STORAGE_KEY = "berth.tabs";
/** The server keeps tabs 0 to 7 (MAX_TABS in server/sandbox/mod.rs). */
export const MAX_TABS = 8;

/** The saved `{ open: [numbers], active: number }`, cleaned of anything impossible. */
export function parseSaved(text) {
  let saved = null;
  try {
    saved = JSON.parse(text ?? "null");
  } catch {
    saved = null;
  }
  const valid = (n) => Number.isInteger(n) && n >= 0 && n < MAX_TABS;
  const open = [...new Set(Array.isArray(saved?.open) ? saved.open.filter(valid) : [])].sort((a, b) => a - b);
  // Tab 0 is always there: it is the one the lesson's checks follow.
  if (!open.includes(0)) open.unshift(0);
  const active = open.includes(saved?.active) ? saved.active : 0;
  return { open, active };
}

/** The lowest tab number not in use, or null when every tab is open. */
export function nextFreeTab(open) {
  for (let n = 0; n < MAX_TABS; n += 1) if (!open.includes(n)) return n;
  return null;
}

function load() {
  try {
    return parseSaved(window.localStorage.getItem(STORAGE_KEY));
  } catch {
    return parseSaved(null); // storage blocked
  }
}

export class TerminalTabs {
  /**
   * `container` holds the terminals; the strip of tab buttons goes right before it.
   * `onState(state, detail)` hears the front tab's connection (and is called again on a switch);
   * `onControl(message)` hears every tab's check and ports messages; `setup(term)` is called
   * for each new terminal (key handlers and the like).
   */
  constructor({ container, lesson, strings, onState = () => {}, onControl = () => {}, setup = () => {} }) {
    this.container = container;
    this.lesson = lesson;
    this.strings = strings;
    this.onState = onState;
    this.onControl = onControl;
    this.setup = setup;
    this.tabs = new Map();
    this.active = 0;

    this.strip = document.createElement("div");
    this.strip.className = "terminal-tabs";
    this.list = document.createElement("div");
    this.list.className = "terminal-tab-list";
    this.list.setAttribute("role", "tablist");
    this.list.setAttribute("aria-label", strings.tabs_label);
    this.list.addEventListener("keydown", (event) => this.keydown(event));
    this.add = document.createElement("button");
    this.add.type = "button";
    this.add.className = "terminal-tab-new";
    this.add.textContent = "+";
    this.add.title = strings.tab_new;
    this.add.setAttribute("aria-label", strings.tab_new);
    this.add.addEventListener("click", () => this.openNew());
    this.strip.append(this.list, this.add);
    container.before(this.strip);

    const saved = load();
    for (const number of saved.open) this.open(number);
    this.activate(saved.active, { focus: false });
  }

  /** The tab in front: `{ number, term, fit, connection, view, button }`. */
  get current() {
    return this.tabs.get(this.active);
  }

  label(number) {
    return this.strings.tab_label.replace("{n}", number + 1);
  }

  /** Every open tab connects again (after the sandbox was reset: each gets a fresh shell). */
  reconnectAll() {
    for (const tab of this.tabs.values()) tab.connection.reconnectNow();
  }

  open(number) {
    if (this.tabs.has(number)) return this.tabs.get(number);
    const view = document.createElement("div");
    view.className = "terminal-view";
    view.id = `terminal-view-${number}`;
    view.setAttribute("role", "tabpanel");
    view.hidden = true;
    this.container.append(view);

    const item = document.createElement("div");
    item.className = "terminal-tab";
    item.dataset.tab = String(number);
    const button = document.createElement("button");
    button.type = "button";
    button.id = `terminal-tab-${number}`;
    button.className = "terminal-tab-button";
    button.setAttribute("role", "tab");
    button.setAttribute("aria-controls", view.id);
    button.setAttribute("aria-selected", "false");
    button.tabIndex = -1;
    button.textContent = this.label(number);
    button.addEventListener("click", () => this.activate(number));
    view.setAttribute("aria-labelledby", button.id);
    item.append(button);
    // The first shell stays: the lesson's checks follow it, and a page without a terminal
    // would be a dead end.
    if (number !== 0) {
      const close = document.createElement("button");
      close.type = "button";
      close.className = "terminal-tab-close";
      close.textContent = "×";
      const closeLabel = this.strings.tab_close.replace("{tab}", this.label(number));
      close.title = closeLabel;
      close.setAttribute("aria-label", closeLabel);
      close.addEventListener("click", () => this.close(number));
      item.append(close);
    }
    const after = [...this.list.children].find((other) => Number(other.dataset.tab) > number);
    this.list.insertBefore(item, after ?? null);

    // A hidden element has no size; xterm is opened while shown so its first fit is right.
    view.hidden = false;
    const { term, fit } = createTerminal(view);
    view.hidden = number !== this.active;
    this.setup(term);
    const tab = { number, term, fit, view, button, item, state: "connecting", detail: {} };
    tab.connection = new TerminalConnection({
      term,
      tab: number,
      // Tab 0 keeps the lesson's cards live; the server ignores the lesson on other tabs.
      lesson: number === 0 ? this.lesson : "",
      onState: (state, detail) => {
        tab.state = state;
        tab.detail = detail;
        item.dataset.connection = state;
        if (number === this.active) this.onState(state, detail);
      },
      onControl: (message) => this.onControl(message),
    });
    this.tabs.set(number, tab);
    this.updateAdd();
    tab.connection.connect();
    return tab;
  }

  /** Opens the lowest free tab and brings it to the front. */
  openNew() {
    const number = nextFreeTab([...this.tabs.keys()]);
    if (number === null) return;
    this.open(number);
    this.activate(number);
    this.save();
  }

  activate(number, { focus = true } = {}) {
    const tab = this.tabs.get(number) ?? this.tabs.get(0);
    this.active = tab.number;
    for (const other of this.tabs.values()) {
      const front = other === tab;
      other.view.hidden = !front;
      other.button.setAttribute("aria-selected", String(front));
      other.button.tabIndex = front ? 0 : -1;
      other.item.classList.toggle("is-active", front);
    }
    this.fitCurrent();
    this.onState(tab.state, tab.detail);
    if (focus) tab.term.focus();
    this.save();
  }

  /** Ends the tab's shell on the server and removes the tab. */
  close(number) {
    const tab = this.tabs.get(number);
    if (!tab || number === 0) return;
    const wasActive = number === this.active;
    const numbers = [...this.tabs.keys()].sort((a, b) => a - b);
    const neighbour = numbers[numbers.indexOf(number) - 1] ?? 0;
    tab.connection.close();
    tab.term.dispose();
    tab.view.remove();
    tab.item.remove();
    this.tabs.delete(number);
    this.updateAdd();
    if (wasActive) this.activate(neighbour);
    else this.save();
  }

  /** Arrow keys, Home and End move between tabs, as in any tab list. */
  keydown(event) {
    const numbers = [...this.tabs.keys()].sort((a, b) => a - b);
    const at = numbers.indexOf(this.active);
    const moves = {
      ArrowLeft: numbers[(at - 1 + numbers.length) % numbers.length],
      ArrowRight: numbers[(at + 1) % numbers.length],
      Home: numbers[0],
      End: numbers[numbers.length - 1],
    };
    if (event.key === "Delete" && this.active !== 0) {
      event.preventDefault();
      this.close(this.active);
      this.current.button.focus();
      return;
    }
    if (!(event.key in moves)) return;
    event.preventDefault();
    this.activate(moves[event.key], { focus: false });
    this.current.button.focus();
  }

  fitCurrent() {
    const tab = this.current;
    if (tab && tab.view.clientWidth > 0 && tab.view.clientHeight > 0) tab.fit.fit();
  }

  updateAdd() {
    this.add.disabled = this.tabs.size >= MAX_TABS;
  }

  save() {
    try {
      const open = [...this.tabs.keys()].sort((a, b) => a - b);
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify({ open, active: this.active }));
    } catch {
      // Not remembering the tabs is fine.
    }
  }
}
