// Run and Copy on code blocks. Run types the block into the terminal in front. A block meant
// for a shell inside a container (`data-place="inside"`) or for the mysql prompt
// (`data-place="mysql"`) is not typed at the workstation's own prompt: the page says where it
// belongs instead, since there it would fail (or `exit` would end the learner's shell).

import { copyText } from "./clipboard.js";
import { words } from "./words.js";

const COPIED_FOR_MS = 1500;
/** The workstation's prompt, as bash.bashrc writes it: `learner@host:~/dir$ `. */
const WORKSTATION_PROMPT = /^learner@[^:\s]+:[^$]*\$\s*$/;
const MYSQL_PROMPT = /(mysql|->)>?\s*$/;

/** The text of the line the cursor is on. */
function cursorLine(term) {
  const buffer = term.buffer.active;
  return buffer.getLine(buffer.baseY + buffer.cursorY)?.translateToString(true) ?? "";
}

/** Why `place` does not fit where the terminal is now, or null when it does. */
function misplaced(place, term) {
  const line = cursorLine(term);
  if (place === "inside" && WORKSTATION_PROMPT.test(line)) return words.run_inside_refused;
  if (place === "mysql" && !MYSQL_PROMPT.test(line)) return words.run_mysql_refused;
  return null;
}

function say(block, text) {
  let note = block.querySelector(".code-refusal");
  if (!note) {
    note = Object.assign(document.createElement("p"), { className: "code-refusal" });
    note.setAttribute("role", "status");
    block.append(note);
  }
  note.textContent = text ?? "";
  note.hidden = !text;
}

/** `onRun(button)` is called after a block was typed (to show the terminal, on a phone). */
export function initRunBlocks(lesson, terminal, onRun = () => {}) {
  lesson.addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button || !lesson.contains(button)) return;
    if (button.classList.contains("code-run") && terminal) {
      const block = button.closest(".code-block");
      const tab = terminal.current;
      const refusal = misplaced(block?.dataset.place, tab.term);
      if (block) say(block, refusal);
      if (refusal) return;
      tab.connection.run(button.dataset.command ?? "");
      onRun(button);
      tab.term.focus();
    } else if (button.classList.contains("code-copy")) {
      if (!(await copyText(button.dataset.command ?? ""))) return;
      const label = button.dataset.label ?? button.textContent;
      button.dataset.label = label;
      button.textContent = words.copied;
      button.classList.add("is-copied");
      clearTimeout(Number(button.dataset.timer));
      button.dataset.timer = String(
        setTimeout(() => {
          button.textContent = label;
          button.classList.remove("is-copied");
        }, COPIED_FOR_MS),
      );
    }
  });
}
