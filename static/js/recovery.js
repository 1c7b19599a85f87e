// Ways out of trouble, beside the terminal: what berth tells the learner about their sandbox
// (a limit reached: processes, disk, a container printing too much), and a small menu to stop
// everything the tab in front started or to reset the whole sandbox. Both work while the
// workstation is at its process limit: berth does them from outside it.

import { words, fill } from "./words.js";

function element(tag, className, text = "") {
  return Object.assign(document.createElement(tag), { className, textContent: text });
}

/**
 * Adds the notices and the menu after `anchor`; returns `onControl(message)` for the
 * terminal's control messages (`notices`, `ended`).
 */
export function initRecovery(anchor, tabs) {
  const notices = element("div", "terminal-notices");
  notices.setAttribute("role", "alert");
  notices.setAttribute("aria-label", words.notices_label);
  notices.hidden = true;

  const menu = element("div", "sandbox-menu");
  const toggle = element("button", "sandbox-menu-toggle", words.sandbox_menu);
  toggle.type = "button";
  toggle.setAttribute("aria-expanded", "false");
  const items = element("div", "sandbox-menu-items");
  items.id = "sandbox-menu-items";
  items.hidden = true;
  toggle.setAttribute("aria-controls", items.id);
  const stop = element("button", "sandbox-end-processes", words.end_processes);
  stop.type = "button";
  const reset = element("button", "sandbox-reset", words.reset_sandbox);
  reset.type = "button";
  const said = element("p", "sandbox-said");
  said.setAttribute("role", "status");
  items.append(stop, reset, said);
  menu.append(toggle, items);
  anchor.after(notices, menu);
  const open = (shown) => {
    items.hidden = !shown;
    toggle.setAttribute("aria-expanded", String(shown));
  };
  toggle.addEventListener("click", () => open(items.hidden));
  menu.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      open(false);
      toggle.focus();
    }
  });

  stop.addEventListener("click", () => {
    said.textContent = "";
    tabs.current.connection.sendControl(JSON.stringify({ type: "end_processes" }));
    tabs.current.term.focus();
  });
  reset.addEventListener("click", async () => {
    if (!window.confirm(words.reset_confirm)) return;
    said.textContent = "";
    let done = false;
    try {
      const answer = await fetch("/api/sandbox/reset", { method: "POST" });
      done = answer.ok;
    } catch {
      done = false;
    }
    if (!done) {
      said.textContent = words.reset_failed;
      return;
    }
    open(false);
    notices.hidden = true;
    // Every tab's shell went with the sandbox: each connects to the fresh one.
    tabs.reconnectAll();
    tabs.current.term.focus();
  });

  return (message) => {
    if (message.type === "notices") {
      const list = Array.isArray(message.notices) ? message.notices : [];
      notices.replaceChildren(...list.map((notice) => {
        const line = element("p", "terminal-notice", String(notice.message ?? ""));
        line.dataset.kind = String(notice.kind ?? "");
        return line;
      }));
      notices.hidden = list.length === 0;
    } else if (message.type === "ended") {
      said.textContent = fill(words.ended_processes, { n: message.processes ?? 0 });
      open(true);
    }
  };
}
