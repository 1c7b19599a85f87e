// A link per published port, above the terminal: it opens the learner's container in a new
// browser tab, through berth. Only ports that answer HTTP get a link; the others (Redis,
// MySQL…) are listed as what they are, so a click never ends on a proxy error.

import { words } from "./words.js";

/** A server that is still starting answers nothing yet: ask again this often, at most. */
const ASK_AGAIN_MS = [2000, 5000, 10000];

/** berth answers 502 when nothing at the port speaks HTTP; any other answer came from it. */
async function speaksHttp(port) {
  try {
    const response = await fetch(port.url, { credentials: "same-origin", redirect: "manual", cache: "no-store" });
    return response.type === "opaqueredirect" || response.status !== 502;
  } catch {
    return false;
  }
}

function item(port, http) {
  const text = `${port.port} → ${port.container}:${port.target}`;
  if (http) {
    return Object.assign(document.createElement("a"), {
      className: "port-link",
      href: port.url,
      target: "_blank",
      rel: "noopener",
      textContent: text,
    });
  }
  const plain = Object.assign(document.createElement("span"), { className: "port-plain", textContent: text });
  plain.append(Object.assign(document.createElement("small"), { textContent: ` (${words.port_not_http})` }));
  return plain;
}

let shown = 0;

/** Shows `ports` (the server's `ports` message) in `bar`. */
export async function showPorts(bar, ports) {
  const list = Array.isArray(ports) ? ports : [];
  const turn = ++shown;
  let http = await Promise.all(list.map(speaksHttp));
  const render = () => {
    const label = Object.assign(document.createElement("span"), {
      className: "port-links-label",
      textContent: words.ports_label,
    });
    bar.replaceChildren(label, ...list.map((port, n) => item(port, http[n])));
    bar.hidden = list.length === 0;
  };
  if (turn !== shown) return;
  render();
  for (const wait of ASK_AGAIN_MS) {
    if (http.every(Boolean)) return;
    await new Promise((resolve) => setTimeout(resolve, wait));
    if (turn !== shown) return;
    http = await Promise.all(list.map((port, n) => (http[n] ? true : speaksHttp(port))));
    if (turn !== shown) return;
    render();
  }
}
