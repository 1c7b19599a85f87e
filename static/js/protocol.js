// The terminal socket's wire format (DESIGN.md, "Terminal protocol") and the reconnect schedule.
// Pure functions, no DOM: node can import this file as it is.

/** First reconnect delay; it doubles on each failed attempt up to BACKOFF_MAX_MS. */
export const BACKOFF_START_MS = 500;
export const BACKOFF_MAX_MS = 10_000;
/** After the server sent an error and hung up, wait at least this long before trying again. */
export const BACKOFF_AFTER_ERROR_MS = 4_000;
/** WebSocket close code "Try Again Later": the server has no sandbox to spare right now. */
export const CLOSE_TRY_AGAIN_LATER = 1013;
/** WebSocket close code for "this tab was opened in another window": do not take it back. */
export const CLOSE_REPLACED = 4000;

/** Delay before reconnect attempt number `attempt` (0 for the first retry). */
export function backoffDelay(attempt) {
  const doublings = Math.min(Math.max(0, attempt), 16);
  return Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** doublings);
}

/** `ws(s)://<same host>/ws/terminal?tab=…&cols=…&rows=…` for a page at `location`. */
export function terminalUrl(location, { tab = 0, cols, rows, lesson }) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = new URLSearchParams({ tab: String(tab) });
  // The lesson beside the terminal: its exercise cards are kept up to date over this socket.
  if (lesson) query.set("lesson", lesson);
  if (cols > 0 && rows > 0) {
    query.set("cols", String(cols));
    query.set("rows", String(rows));
  }
  return `${scheme}//${location.host}/ws/terminal?${query}`;
}

/** The browser → server control message after the terminal changed size. */
export function resizeMessage(cols, rows) {
  return JSON.stringify({ type: "resize", cols, rows });
}

/** The browser → server control message that closes a tab: the server ends its shell. */
export function closeMessage() {
  return JSON.stringify({ type: "close" });
}

/** A server → browser control message, or null when the text is not one. */
export function parseControl(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return null;
  }
  if (message === null || typeof message !== "object" || typeof message.type !== "string") {
    return null;
  }
  return message;
}

const encoder = new TextEncoder();

/** Keystrokes from xterm's onData (a JS string) as the UTF-8 bytes the shell expects. */
export function encodeInput(text) {
  return encoder.encode(text);
}

/** xterm's onBinary gives a string whose char codes are bytes (e.g. mouse reports). */
export function binaryStringBytes(text) {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i += 1) {
    bytes[i] = text.charCodeAt(i) & 0xff;
  }
  return bytes;
}

/** What a Run button types: each line ends with Enter (a carriage return, as a keyboard sends). */
export function commandKeystrokes(command) {
  const lines = command.replace(/\r\n?/g, "\n").replace(/\n+$/, "");
  return `${lines.replace(/\n/g, "\r")}\r`;
}
