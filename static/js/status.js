// The status line above the terminal: connecting, connected (to what), reconnecting, ended,
// full; the time the sandbox has left, with a warning in its last ten minutes; and the button
// that starts a fresh shell or sandbox.

import { words, fill } from "./words.js";

/** The status line warns this long before the sandbox reaches its lifetime. */
const ENDING_SOON_MS = 10 * 60 * 1000;

/** `3 h 59 min` / `3시간 59분`. */
function duration(ms) {
  const minutes = Math.ceil(ms / 60_000);
  const hours = Math.floor(minutes / 60);
  return hours > 0 ? fill(words.hours_minutes, { h: hours, m: minutes % 60 }) : fill(words.minutes, { m: minutes });
}

/** No exit code: the whole sandbox ended (time limit, idle, restart of berth). */
export function sandboxEnded(detail) {
  return detail.code === null || detail.code === undefined;
}

function statusText(state, detail) {
  switch (state) {
    case "connecting":
      return words.connecting;
    case "connected": {
      const key = `backend_${document.body.dataset.backend}`;
      return key in words ? `${words.connected} — ${words[key]}` : words.connected;
    }
    case "reconnecting":
      return words.reconnecting;
    case "full":
      return detail.message || words.full;
    case "exited":
      return sandboxEnded(detail) ? words.ended : fill(words.exited, { code: detail.code });
    case "replaced":
    case "error":
      return detail.message || words.ended;
    default:
      return "";
  }
}

/** The status line in `status` (inside `pane`); returns `show(state, detail)`. */
export function statusLine(pane, status, restart) {
  let deadline = 0;
  let current = { state: "connecting", detail: {} };
  const render = () => {
    const { state, detail } = current;
    let text = statusText(state, detail);
    const left = deadline - Date.now();
    const ending = state === "connected" && deadline > 0 && left < ENDING_SOON_MS;
    if (state === "connected" && deadline > 0) {
      text += ` · ${fill(ending ? words.ending_soon : words.time_left, { t: duration(Math.max(left, 0)) })}`;
    }
    pane.dataset.ending = String(ending);
    // Rewriting the same words would make screen readers announce them again.
    if (status.textContent !== text) status.textContent = text;
  };
  setInterval(render, 30_000);
  return (state, detail = {}) => {
    if (state === "connected" && Number.isFinite(detail?.expires_in)) {
      deadline = Date.now() + detail.expires_in * 1000;
    }
    current = { state, detail };
    render();
    pane.dataset.connection = state;
    restart.hidden = state !== "exited" && state !== "replaced";
    restart.textContent =
      state === "replaced" ? words.take_over : sandboxEnded(detail) ? words.restart_sandbox : words.restart;
    // The server's own words on why, for the curious (they are not translated).
    status.title = detail?.message ?? "";
  };
}
