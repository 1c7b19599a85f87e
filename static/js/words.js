// The page's words in the learner's language, from #berth-strings (server/i18n writes every
// one). A word missing there shows as its key, which a look at the page catches, rather than
// as "undefined" or in another language.

function read() {
  const element = document.getElementById("berth-strings");
  let words = {};
  try {
    words = element ? JSON.parse(element.textContent) : {};
  } catch {
    // A broken words block must not take the terminal down with it.
  }
  return new Proxy(words, { get: (all, key) => (typeof key === "string" && key in all ? all[key] : String(key)) });
}

export const words = read();

/** `template` with each `{key}` replaced from `values`. */
export function fill(template, values) {
  return Object.entries(values).reduce((text, [key, value]) => text.replaceAll(`{${key}}`, String(value)), template);
}
