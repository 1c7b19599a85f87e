// The terminal pane: an xterm.js terminal fitted to its box, wired to /ws/terminal, reconnecting
// with backoff when the socket drops.

import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { WebLinksAddon } from "@xterm/addon-web-links";
import {
  BACKOFF_AFTER_ERROR_MS,
  CLOSE_REPLACED,
  CLOSE_TRY_AGAIN_LATER,
  backoffDelay,
  binaryStringBytes,
  closeMessage,
  commandKeystrokes,
  encodeInput,
  parseControl,
  resizeMessage,
  terminalUrl,
} from "./protocol.js";

/** Dark colours that stay readable on any page theme (after GitHub's dark palette). */
const THEME = {
  background: "#0d1117",
  foreground: "#e6edf3",
  cursor: "#58a6ff",
  cursorAccent: "#0d1117",
  selectionBackground: "rgba(56, 139, 253, 0.4)",
  black: "#484f58",
  red: "#ff7b72",
  green: "#3fb950",
  yellow: "#d29922",
  blue: "#58a6ff",
  magenta: "#bc8cff",
  cyan: "#39c5cf",
  white: "#b1bac4",
  brightBlack: "#6e7681",
  brightRed: "#ffa198",
  brightGreen: "#56d364",
  brightYellow: "#e3b341",
  brightBlue: "#79c0ff",
  brightMagenta: "#d2a8ff",
  brightCyan: "#56d4dd",
  brightWhite: "#ffffff",
};

const FONT_FAMILY =
  'ui-monospace, "D2Coding", "Noto Sans Mono CJK KR", "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace';

function openLink(event, uri) {
  event.preventDefault?.();
  window.open(uri, "_blank", "noopener,noreferrer");
}

/** An xterm.js terminal opened in `container`, with the fit and web-links addons loaded. */
export function createTerminal(container) {
  const term = new Terminal({
    cursorBlink: true,
    fontFamily: FONT_FAMILY,
    fontSize: 14,
    lineHeight: 1.15,
    scrollback: 5000,
    theme: THEME,
    linkHandler: { activate: openLink, allowNonHttpProtocols: false },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new WebLinksAddon(openLink));
  term.open(container);
  return { term, fit };
}

/**
 * One terminal tab's connection. States: "connecting", "connected", "reconnecting", "exited",
 * "replaced" (another window took the shell), "error", "full". `onState(state, detail)` hears
 * every change; `onControl(message)` hears check and ports messages.
 */
export class TerminalConnection {
  constructor({ term, tab = 0, lesson = "", location = window.location, onState = () => {}, onControl = () => {} }) {
    this.lesson = lesson;
    this.term = term;
    this.tab = tab;
    this.location = location;
    this.onState = onState;
    this.onControl = onControl;
    this.socket = null;
    this.state = "connecting";
    this.attempt = 0;
    this.retryTimer = 0;
    this.exited = false;
    this.lastError = null;
    this.pending = [];
    /** Bytes of the replay still to come after "ready", and replays being parsed now. */
    this.replayLeft = 0;
    this.replaying = 0;

    // What xterm says by itself while it parses a replay is its answer to a query that was
    // answered long ago (a cursor-position report, `ESC[6n` → `;5R`): never send it again.
    term.onData((data) => {
      if (this.replaying === 0) this.send(encodeInput(data));
    });
    term.onBinary((data) => {
      if (this.replaying === 0) this.send(binaryStringBytes(data));
    });
    term.onResize(({ cols, rows }) => this.sendControl(resizeMessage(cols, rows)));
    // A learner coming back online should not wait out a 10 s backoff.
    window.addEventListener("online", () => {
      if (this.retryTimer && !this.exited) this.reconnectNow();
    });
  }

  get open() {
    return this.socket !== null && this.socket.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.exited = false;
    this.lastError = null;
    // After an error, keep its message up while retrying quietly; the next "ready" replaces it.
    if (this.state !== "error" && this.state !== "full") {
      this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    }
    const url = terminalUrl(this.location, {
      tab: this.tab,
      cols: this.term.cols,
      rows: this.term.rows,
      lesson: this.lesson,
    });
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    // A socket replaced on purpose (a reset, a reconnect) may still deliver its last words
    // ("exit", "error"); they are about the old shell, not this one.
    socket.addEventListener("message", (event) => {
      if (socket === this.socket) this.receive(event.data);
    });
    socket.addEventListener("close", (event) => this.closed(socket, event));
    this.socket = socket;
  }

  /** Drop any waiting and connect again, e.g. after the shell exited. */
  reconnectNow() {
    this.attempt = 0;
    this.state = "connecting";
    const old = this.socket;
    this.socket = null;
    if (old && old.readyState <= WebSocket.OPEN) old.close();
    this.connect();
  }

  /** Closes the tab for good: the server ends its shell, and nothing reconnects. */
  close() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.exited = true;
    this.pending = [];
    const socket = this.socket;
    this.socket = null;
    if (socket?.readyState === WebSocket.OPEN) {
      socket.send(closeMessage());
      socket.close();
      return;
    }
    // Not connected just now (retrying): connect once only to say so, or the shell would stay.
    socket?.close();
    const once = new WebSocket(terminalUrl(this.location, { tab: this.tab }));
    once.addEventListener("open", () => {
      once.send(closeMessage());
      once.close();
    });
  }

  /** Types `command` into the shell as if from the keyboard; queued until the shell is ready. */
  run(command) {
    const keys = encodeInput(commandKeystrokes(command));
    if (this.state === "connected" && this.open) {
      this.socket.send(keys);
    } else {
      this.pending.push(keys);
      if (this.state === "exited") this.reconnectNow();
    }
  }

  send(bytes) {
    if (this.state === "connected" && this.open) this.socket.send(bytes);
  }

  sendControl(text) {
    if (this.open) this.socket.send(text);
  }

  receive(data) {
    if (typeof data !== "string") {
      this.output(new Uint8Array(data));
      return;
    }
    const message = parseControl(data);
    if (message === null) return;
    switch (message.type) {
      case "ready":
        // The replay of recent output follows; start from a clean screen so it is not doubled.
        this.term.reset();
        this.replayLeft = Number.isInteger(message.replay) ? message.replay : 0;
        this.attempt = 0;
        this.setState("connected", message);
        this.sendControl(resizeMessage(this.term.cols, this.term.rows));
        for (const keys of this.pending.splice(0)) this.socket.send(keys);
        break;
      case "exit":
        this.exited = true;
        // When the whole sandbox ended, the server said why just before.
        this.setState("exited", { code: message.code, message: this.lastError });
        break;
      case "error":
        this.lastError = String(message.message ?? "");
        this.setState("error", { message: this.lastError });
        break;
      default:
        this.onControl(message);
    }
  }

  /** Shell output: the first `replayLeft` bytes after "ready" are the replay, written muted. */
  output(bytes) {
    const replay = Math.min(this.replayLeft, bytes.length);
    if (replay > 0) {
      this.replayLeft -= replay;
      this.replaying += 1;
      this.term.write(bytes.subarray(0, replay), () => {
        this.replaying -= 1;
      });
    }
    if (replay < bytes.length) this.term.write(bytes.subarray(replay));
  }

  closed(socket, event) {
    if (socket !== this.socket) return; // an old socket we replaced on purpose
    this.socket = null;
    if (this.exited) return; // the learner decides when to start a new shell
    if (event.code === CLOSE_REPLACED) {
      // Another window has this shell now; reconnecting by ourselves would take it back.
      this.exited = true;
      this.setState("replaced", { message: this.lastError });
      return;
    }
    let delay = backoffDelay(this.attempt);
    this.attempt += 1;
    if (event.code === CLOSE_TRY_AGAIN_LATER) {
      delay = Math.max(delay, BACKOFF_AFTER_ERROR_MS);
      this.setState("full", { message: this.lastError, delay });
    } else if (this.lastError !== null) {
      delay = Math.max(delay, BACKOFF_AFTER_ERROR_MS);
      this.setState("error", { message: this.lastError, delay });
    } else {
      this.setState("reconnecting", { delay });
    }
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }
}
