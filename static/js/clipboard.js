// Copying: the Copy buttons, and the terminal's copy keys and copy-on-select.

import { isFocusShortcut } from "./layout.js";

/** Writes `text` to the clipboard; true when it worked. */
export async function copyText(text) {
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

/** Keys the page keeps from the shell: the focus shortcut, and copy / paste as in a desktop terminal. */
export function setUpTerminalKeys(term) {
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
