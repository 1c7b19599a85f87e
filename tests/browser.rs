//! The learner's page in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver (nothing downloads a browser), against berth with the docker backend.
//! Screenshots of the lesson page in both languages are saved in target/browser/.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/test installs Debian's chromium-driver)");
        let driver = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + common::WAIT;
        while driver
            .http
            .get(format!("{}/status", driver.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    /// A new browser: its own profile, so its own cookies (a different learner).
    async fn browser(&self) -> Browser {
        // A profile of its own: its own cookies, so its own learner.
        let profile = common::temp_dir("chromium-profile");
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1400,900",
                    "--lang=en-US", format!("--user-data-dir={}", profile.display()),
                ],
            },
            // The page's console, for the message of a wait that timed out.
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let answer: Value = self
            .http
            .post(format!("{}/session", self.base))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        Browser {
            http: self.http.clone(),
            session: format!("{}/session/{id}", self.base),
        }
    }
}

struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    /// chromedriver's whole answer to a command, errors included.
    async fn answer(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let request = self.http.request(method, format!("{}{path}", self.session));
        let request = if body.is_null() {
            request
        } else {
            request.json(&body)
        };
        request.send().await.unwrap().json().await.unwrap()
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let answer = self.answer(method, path, body).await;
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("webdriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    /// Opens `url`. Chromium drops a navigation in flight when the machine's network
    /// interfaces change (Docker adds one for every network it makes), as a learner would see
    /// an error page and reload: so does this, a few times.
    async fn go(&self, url: &str) {
        for _ in 0..3 {
            let answer = self
                .answer(reqwest::Method::POST, "/url", json!({"url": url}))
                .await;
            let Some(error) = answer["value"]["error"].as_str() else {
                return;
            };
            let message = answer["value"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("ERR_NETWORK_CHANGED"),
                "webdriver /url: {error}: {message}"
            );
        }
        panic!("{url} did not load: the network kept changing");
    }

    async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Waits until `expression` (JavaScript) is truthy; returns its value.
    async fn until(&self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let value = self.script(&format!("return ({expression});")).await;
            if !(value.is_null() || value == false || value == "") {
                return value;
            }
            if Instant::now() >= deadline {
                let page = self.script(PAGE_STATE).await;
                // chromedriver's own endpoint; whatever it answers goes into the message.
                let console = self
                    .answer(reqwest::Method::POST, "/se/log", json!({"type": "browser"}))
                    .await;
                panic!("timed out waiting for {what}; the page: {page}; its console: {console}");
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// What the terminal shows, all of its buffer as text.
    async fn terminal_text(&self) -> String {
        self.script(TERMINAL_TEXT)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the shell shows its prompt, ready for the next line.
    async fn until_prompt(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = self.terminal_text().await;
            if text.trim_end().ends_with('$') {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the terminal never showed a prompt:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn until_terminal_shows(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.terminal_text().await.contains(text) {
            assert!(
                Instant::now() < deadline,
                "the terminal never showed {text:?}:\n{}",
                self.terminal_text().await
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn connected(&self) {
        self.until(
            "the terminal to connect",
            "window.berth && window.berth.state === 'connected'",
        )
        .await;
        // The first prompt.
        self.until_terminal_shows("$ ").await;
    }

    /// Types into the front tab's terminal as a keyboard would (into xterm's hidden textarea).
    async fn type_text(&self, text: &str) {
        let id = self
            .element(".terminal-view:not([hidden]) .xterm-helper-textarea")
            .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    /// The WebDriver id of the first element matching a CSS selector.
    async fn element(&self, selector: &str) -> String {
        let element = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": selector}),
            )
            .await;
        element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {selector}"))
            .to_owned()
    }

    async fn click(&self, selector: &str) {
        let id = self.element(selector).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.command(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
        .await
    }

    /// Types Hangul the way a Korean input method does: each syllable is composed jamo by jamo
    /// (`ㅎ`, `하`, `한`), then committed.
    async fn compose_korean(&self, syllables: &[&[&str]]) {
        for stages in syllables {
            for stage in *stages {
                let length = stage.chars().count();
                self.cdp(
                    "Input.imeSetComposition",
                    json!({"text": stage, "selectionStart": length, "selectionEnd": length}),
                )
                .await;
            }
            let last = stages.last().copied().unwrap_or_default();
            self.cdp("Input.insertText", json!({"text": last})).await;
        }
    }

    /// Presses keys together (WebDriver key codes: \u{E009} Control, \u{E008} Shift).
    async fn chord(&self, keys: &[&str]) {
        let mut actions: Vec<Value> = keys
            .iter()
            .map(|k| json!({"type": "keyDown", "value": k}))
            .collect();
        actions.extend(
            keys.iter()
                .rev()
                .map(|k| json!({"type": "keyUp", "value": k})),
        );
        self.command(
            reqwest::Method::POST,
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
        self.command(reqwest::Method::DELETE, "/actions", Value::Null)
            .await;
    }

    /// Runs an async script (its last argument is the callback) and returns what it passed.
    async fn script_async(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Waits until the clipboard holds `text` (copying is a promise: give it a moment).
    async fn until_clipboard_has(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let copied = self
                .script_async(
                    "const done = arguments[arguments.length - 1]; \
                     navigator.clipboard.readText().then(done, (e) => done(`error: ${e}`));",
                )
                .await;
            if copied.as_str().unwrap_or_default().contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the clipboard never held {text:?}: {copied}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        use base64_png::decode;
        let png = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), decode(png.as_str().unwrap())).unwrap();
    }

    async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

const TERMINAL_TEXT: &str = "const b = window.berth && window.berth.term && window.berth.term.buffer.active; \
    if (!b) return ''; const lines = []; \
    for (let i = 0; i < b.length; i++) { const l = b.getLine(i); if (l) lines.push(l.translateToString(true)); } \
    return lines.join('\\n');";

/// Base64 without a dependency: screenshots are the only binary this test reads.
mod base64_png {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let clean: Vec<u8> = text
            .bytes()
            .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
            .collect();
        let mut out = Vec::with_capacity(clean.len() * 3 / 4);
        for chunk in clean.chunks(4) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, c)| {
                acc | (u32::from(value(*c)) << (18 - 6 * i))
            });
            out.push((n >> 16) as u8);
            if chunk.len() > 2 {
                out.push((n >> 8) as u8);
            }
            if chunk.len() > 3 {
                out.push(n as u8);
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_works_through_a_lesson_in_a_real_browser() {
    let server = common::start_docker().await;
    let driver = Driver::start().await;
    let alice = driver.browser().await;

    // The lesson renders, the prompt appears.
    alice.go(&server.url("/en/02-what-docker-does")).await;
    alice.connected().await;
    let title = alice.script("return document.title;").await;
    assert_eq!(title, "What Docker does · berth");
    // The status line says how long the sandbox has left.
    let status = alice
        .script("return document.getElementById('terminal-status').textContent;")
        .await;
    assert!(status.as_str().unwrap().contains(" left"), "{status}");

    // The theme button switches light and dark, and the choice survives a reload.
    let before = alice
        .script("return document.documentElement.dataset.theme;")
        .await;
    alice.click(".theme-toggle").await;
    let after = alice
        .script("return document.documentElement.dataset.theme;")
        .await;
    assert_ne!(before, after);
    alice.script("location.reload(); return true;").await;
    alice.connected().await;
    assert_eq!(
        alice
            .script("return document.documentElement.dataset.theme;")
            .await,
        after
    );
    alice.click(".theme-toggle").await;

    // Run on a code block types it into the terminal; the exercise card turns green by itself.
    alice
        .click(".code-run[data-command^='docker run -d --name box']")
        .await;
    alice.until_terminal_shows("sleep 3600").await;
    alice
        .until(
            "the box card to pass",
            "document.querySelector('.exercise[data-exercise=\"box-running\"]').dataset.state === 'passed'",
        )
        .await;
    // The progress bars count it: this lesson's and the whole course's.
    alice
        .until(
            "the lesson's progress",
            "document.querySelector('.progress-bar[data-progress=lesson] .progress-text').textContent.startsWith('1 of')",
        )
        .await;
    let course = alice
        .script(
            "return document.querySelector('.progress-bar[data-progress=course] progress').value;",
        )
        .await;
    assert_eq!(course, 1);
    // A block meant for inside a container says so, and pressed at the workstation's own
    // prompt it types nothing: it says where it belongs.
    let place = alice
        .script("return document.querySelector(\".code-block[data-place='inside'] .code-place\").textContent;")
        .await;
    assert_eq!(place, "inside the container");
    // The Run block above (`docker run …` then `docker ps`) has finished: the prompt is back.
    alice
        .until(
            "the workstation's prompt",
            "(() => { const b = window.berth.term.buffer.active; return /\\$\\s*$/.test(b.getLine(b.baseY + b.cursorY)?.translateToString(true) ?? '') && b.getLine(b.baseY + b.cursorY - 1)?.translateToString(true).includes('box'); })()",
        )
        .await;
    alice
        .click(".code-block[data-place='inside'] .code-run")
        .await;
    let refusal = alice
        .until(
            "the block to say where it belongs",
            "document.querySelector(\".code-block[data-place='inside'] .code-refusal\")?.textContent",
        )
        .await;
    assert!(
        refusal.as_str().unwrap().contains("not inside a container"),
        "{refusal}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!alice.terminal_text().await.contains("hostname"));
    alice.screenshot("lesson-en.png").await;

    // Typing, and a reload gives the same shell back with its output.
    alice.click("#terminal").await;
    alice.type_text("echo typed-$((6*7))\n").await;
    alice.until_terminal_shows("typed-42").await;
    alice.script("location.reload(); return true;").await;
    alice.connected().await;
    alice.until_terminal_shows("typed-42").await;

    // A second tab is a second shell; the first keeps its own; both come back after a reload,
    // and closing one leaves the other.
    alice.click(".terminal-tab-new").await;
    alice
        .until("the second tab", "window.berth.tabs.active === 1")
        .await;
    alice.connected().await;
    alice.type_text("echo tab-two-$((2+2))\n").await;
    alice.until_terminal_shows("tab-two-4").await;
    alice.click("#terminal-tab-0").await;
    alice.until_terminal_shows("typed-42").await;
    assert!(!alice.terminal_text().await.contains("tab-two-4"));
    alice.script("location.reload(); return true;").await;
    alice.connected().await;
    alice
        .until(
            "both tabs back",
            "document.querySelectorAll('.terminal-tab').length === 2",
        )
        .await;
    alice.click("#terminal-tab-1").await;
    alice.until_terminal_shows("tab-two-4").await;
    alice
        .click(".terminal-tab[data-tab='1'] .terminal-tab-close")
        .await;
    alice
        .until(
            "the tab to close",
            "document.querySelectorAll('.terminal-tab').length === 1 && window.berth.tabs.active === 0",
        )
        .await;
    alice.until_terminal_shows("typed-42").await;

    // Keyboard only: Run leaves the focus in the terminal; Ctrl+` moves it back to that Run
    // button, where the learner left the lesson, and to the terminal again.
    alice
        .script("document.querySelector(\".code-run[data-command='docker top box']\").focus(); return true;")
        .await;
    alice.chord(&["\u{E007}"]).await;
    alice.until_terminal_shows("sleep 3600").await;
    alice
        .until(
            "the terminal focused",
            "document.activeElement.classList.contains('xterm-helper-textarea')",
        )
        .await;
    alice.chord(&["\u{E009}", "`"]).await;
    alice
        .until(
            "the Run button focused again",
            "document.activeElement.matches(\".code-run[data-command='docker top box']\")",
        )
        .await;
    alice.chord(&["\u{E009}", "`"]).await;
    alice
        .until(
            "the terminal focused",
            "document.activeElement.classList.contains('xterm-helper-textarea')",
        )
        .await;

    // Copy and paste as in a desktop terminal: selecting copies, Ctrl+Shift+V pastes.
    alice
        .cdp(
            "Browser.grantPermissions",
            json!({"origin": server.base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]}),
        )
        .await;
    alice.click("#terminal").await;
    alice.type_text("echo copy-$((5*5))\n").await;
    alice.until_terminal_shows("copy-25").await;
    alice
        .script("window.berth.term.selectAll(); return true;")
        .await;
    alice.until_clipboard_has("copy-25").await;
    // Ctrl+Shift+C copies the selection again, over whatever the clipboard held.
    alice
        .script_async(
            "const done = arguments[arguments.length - 1]; \
             navigator.clipboard.writeText('something else').then(() => done(true), (e) => done(`${e}`));",
        )
        .await;
    alice
        .script("document.querySelector('.terminal-view:not([hidden]) .xterm-helper-textarea').focus(); return true;")
        .await;
    alice.chord(&["\u{E009}", "\u{E008}", "c"]).await;
    alice.until_clipboard_has("copy-25").await;
    alice
        .script_async(
            "const done = arguments[arguments.length - 1]; \
             navigator.clipboard.writeText('echo pasted-$((3*3))').then(() => done(true), (e) => done(`${e}`));",
        )
        .await;
    alice.click("#terminal").await;
    alice.chord(&["\u{E009}", "\u{E008}", "v"]).await;
    alice.type_text("\n").await;
    alice.until_terminal_shows("pasted-9").await;

    // Shrinking the window changes the terminal's size, as stty sees it.
    alice.click("#terminal").await;
    alice
        .type_text("stty size > /tmp/big; echo saved-$((6*7))\n")
        .await;
    alice.until_terminal_shows("saved-42").await;
    alice
        .command(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": 800, "height": 700}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    // Narrow: the terminal is a drawer over the lesson, closed until the learner opens it.
    alice
        .until(
            "the terminal drawer closed",
            "getComputedStyle(document.getElementById('terminal-pane')).visibility === 'hidden'",
        )
        .await;
    alice.click(".drawer-open").await;
    alice.until("the terminal drawer open", DRAWER_OPEN).await;
    // The terminal was fitted to the drawer; give the new size a moment to reach the shell.
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.click("#terminal").await;
    alice
        .type_text("echo size-$(stty size | tr ' ' x)-was-$(tr ' ' x < /tmp/big)-$((2+3))\n")
        .await;
    alice.until_terminal_shows("-5\n").await;
    let text = alice.terminal_text().await;
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("size-"))
        .unwrap_or_default()
        .to_owned();
    let parts: Vec<&str> = line
        .trim_start_matches("size-")
        .trim_end_matches("-5")
        .split("-was-")
        .collect();
    assert_eq!(parts.len(), 2, "{line:?} in {text}");
    assert_ne!(
        parts[0], parts[1],
        "the terminal follows the window: {line}"
    );
    alice
        .command(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": 1400, "height": 900}),
        )
        .await;

    // A published port gets a link that opens what the container serves.
    alice
        .type_text("docker run -d --name web -p 8080:80 busybox sh -c 'mkdir /www && echo hello-from-web > /www/index.html && httpd -f -p 80 -h /www'\n")
        .await;
    let href = alice
        .until(
            "a port link",
            "document.querySelector('.port-link')?.getAttribute('href')",
        )
        .await;
    assert_eq!(href, "/ports/8080/");
    // A port that does not answer HTTP gets no link, and says so.
    alice
        .type_text("docker run -d --name cache -p 6379:6379 redis:7\n")
        .await;
    let plain = alice
        .until(
            "Redis's port listed without a link",
            "document.querySelector('.port-plain')?.textContent",
        )
        .await;
    assert_eq!(plain, "6379 → cache:6379 (not a web page)");
    assert_eq!(
        alice
            .script("return document.querySelectorAll('a.port-link').length;")
            .await,
        1
    );
    alice.go(&server.url("/ports/8080/")).await;
    let served = alice
        .until(
            "the container's page",
            "document.body && document.body.innerText",
        )
        .await;
    assert!(
        served.as_str().unwrap().contains("hello-from-web"),
        "{served}"
    );

    // Korean: the switch leads to the Korean lesson; Korean typed into the shell comes back.
    alice.go(&server.url("/en/02-what-docker-does")).await;
    alice.connected().await;
    alice.click(".lang-switch").await;
    alice
        .until("the Korean page", "document.documentElement.lang === 'ko'")
        .await;
    alice.connected().await;
    let title = alice.script("return document.title;").await;
    assert!(
        title.as_str().unwrap().contains("berth") && title != "What Docker does · berth",
        "{title}"
    );
    alice.click("#terminal").await;
    alice.type_text("echo 안녕하세요-$((1+1))\n").await;
    alice.until_terminal_shows("안녕하세요-2").await;
    // And through an input method, composed jamo by jamo as a Korean keyboard does.
    alice.type_text("echo ime-").await;
    alice
        .compose_korean(&[&["ㅎ", "하", "한"], &["ㄱ", "그", "글"]])
        .await;
    alice.type_text("-$((2+3))\n").await;
    alice.until_terminal_shows("ime-한글-5").await;
    alice.screenshot("lesson-ko.png").await;

    // When the sandbox ends (berth removes it, as at its time limit), the page says so in the
    // learner's language and offers a fresh one.
    server.state().sandboxes.remove_all().await;
    alice
        .until(
            "the sandbox-ended status",
            "window.berth.state === 'exited' && !document.querySelector('.terminal-restart').hidden",
        )
        .await;
    let status = alice
        .script("return document.getElementById('terminal-status').textContent;")
        .await;
    assert_eq!(status, "샌드박스가 끝났습니다.");
    alice.click(".terminal-restart").await;
    alice.connected().await;
    alice.type_text("echo fresh-$((4*4))\n").await;
    alice.until_terminal_shows("fresh-16").await;

    // A second browser is a second learner, with a sandbox of their own.
    let bob = driver.browser().await;
    bob.go(&server.url("/en/02-what-docker-does")).await;
    bob.connected().await;
    bob.click("#terminal").await;
    bob.type_text("echo bob-sees-$(docker ps -aq | wc -l)-containers\n")
        .await;
    bob.until_terminal_shows("bob-sees-0-containers").await;
    let cookies = |browser: &Browser| {
        let browser = browser.session.clone();
        async move {
            reqwest::get(format!("{browser}/cookie"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        server.state().sandboxes.stats().alive,
        2,
        "alice {} bob {}",
        cookies(&alice).await,
        cookies(&bob).await
    );

    alice.quit().await;
    bob.quit().await;
    server.stop().await;
}

/// What a failed wait reports of the page: the terminal's state and what the page says.
const PAGE_STATE: &str = "return JSON.stringify({url: location.href, \
    state: window.berth && window.berth.state, \
    status: (document.getElementById('terminal-status') || {}).textContent, \
    terminal: (document.querySelector('.xterm-rows') || {}).textContent, \
    resources: performance.getEntriesByType('resource').map(e => \
        e.name.replace(location.origin, '') + ' ' + e.responseStatus + ' ' + Math.round(e.duration) + 'ms')});";

/// The drawer of narrow screens is open, and done sliding in.
const DRAWER_OPEN: &str = "document.body.dataset.drawer === 'open' && \
    getComputedStyle(document.getElementById('terminal-pane')).visibility === 'visible' && \
    getComputedStyle(document.getElementById('terminal-pane')).transform === 'none'";

/// Records every binary frame the page sends on its terminal sockets (keystrokes), from the
/// first script of every page on: what the page types by itself is then plain to see.
const RECORD_KEYSTROKES: &str = "window.__typed = []; \
    const send = WebSocket.prototype.send; \
    WebSocket.prototype.send = function (data) { \
      if (typeof data !== 'string') { \
        const bytes = ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data); \
        window.__typed.push(new TextDecoder().decode(bytes)); \
      } \
      return send.call(this, data); \
    };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_query_in_the_replay_is_never_answered_again() {
    let server = common::start_docker().await;
    let driver = Driver::start().await;
    let alice = driver.browser().await;
    alice
        .cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": RECORD_KEYSTROKES}),
        )
        .await;
    alice.go(&server.url("/en/01-first-container")).await;
    alice.connected().await;
    // A program that asks the terminal where its cursor is and what it is (as an interactive
    // `sh` in a container does), and reads the answers: the live page must answer.
    alice.click("#terminal").await;
    alice
        .type_text("printf '\\033[6n\\033[c'; read -rs -t 5 -d c reply; echo answered-$((40+2))\n")
        .await;
    alice.until_terminal_shows("answered-42").await;

    // Then every way back to the same shell replays that query: none may type anything.
    let quiet = |what: &'static str| {
        let alice = &alice;
        async move {
            alice.connected().await;
            alice.until_terminal_shows("answered-42").await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let typed = alice.script("return window.__typed;").await;
            assert_eq!(
                typed,
                json!([]),
                "after {what}, the page typed into the shell"
            );
        }
    };
    alice.script("location.reload(); return true;").await;
    quiet("a reload").await;
    alice.click(".lang-switch").await;
    alice
        .until("the Korean page", "document.documentElement.lang === 'ko'")
        .await;
    quiet("the language switch").await;
    alice.click(".lesson-nav-next").await;
    alice
        .until(
            "the next lesson",
            "location.pathname === '/ko/02-what-docker-does'",
        )
        .await;
    quiet("the next lesson").await;

    // And the learner's next command runs as typed.
    alice.click("#terminal").await;
    alice.type_text("echo clean-$((3+4))\n").await;
    alice.until_terminal_shows("clean-7").await;
    let text = alice.terminal_text().await;
    assert!(
        !text.contains("syntax error")
            && !text.contains("command not found")
            && !text.contains(";1R"),
        "{text}"
    );
    alice.quit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lesson_that_tidies_up_after_itself_ends_complete() {
    let server = common::start_docker().await;
    let lesson = server
        .state()
        .lessons
        .catalog()
        .lesson(berth::lessons::Lang::En, "03-images-and-containers")
        .cloned()
        .expect("lesson 03");
    let driver = Driver::start().await;
    let alice = driver.browser().await;
    alice.go(&server.url("/en/03-images-and-containers")).await;
    alice.connected().await;
    alice.click("#terminal").await;
    // Each exercise in turn, typed as the learner types it; its card turns green by itself.
    for exercise in &lesson.exercises {
        for line in &exercise.solution {
            alice.type_text(&format!("{line}\n")).await;
        }
        alice
            .until(
                &format!("the card {} to pass", exercise.id),
                &format!(
                    "document.querySelector('.exercise[data-exercise=\"{}\"]').dataset.state === 'passed'",
                    exercise.id
                ),
            )
            .await;
    }
    // The last exercise removed every container the earlier cards looked at: they stay green,
    // with the time they passed, and the lesson says it is complete.
    let total = lesson.exercises.len();
    let shown = alice
        .script(
            "return [...document.querySelectorAll('.exercise')].map(c => \
               c.dataset.state + ':' + (c.querySelector('.exercise-time') ? 'time' : 'none'));",
        )
        .await;
    assert_eq!(shown, json!(vec!["passed:time"; total]), "{shown}");
    alice
        .until(
            "the lesson-complete banner",
            "!document.getElementById('lesson-complete').hidden",
        )
        .await;
    let progress = alice
        .script("return document.querySelector('.progress-bar[data-progress=lesson] .progress-text').textContent;")
        .await;
    assert_eq!(progress, format!("{total} of {total} done"));
    alice.quit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_run_opens_the_terminal_over_the_lesson_and_back_keeps_the_place() {
    let server = common::start_docker().await;
    let driver = Driver::start().await;
    let alice = driver.browser().await;
    alice
        .command(
            reqwest::Method::POST,
            "/window/rect",
            json!({"width": 420, "height": 860}),
        )
        .await;
    alice.go(&server.url("/en/02-what-docker-does")).await;
    alice.connected().await;
    let run = ".code-run[data-command^='docker run -d --name box']";
    // Read down to the Run button.
    let place = alice
        .script(&format!(
            "document.querySelector(\"{run}\").scrollIntoView({{block: 'center'}}); return window.scrollY;"
        ))
        .await;
    assert!(
        place.as_f64().unwrap() > 200.0,
        "the button is down the lesson: {place}"
    );
    alice.click(run).await;
    // The terminal opens over the lesson, on screen, and runs the block.
    alice.until("the terminal drawer open", DRAWER_OPEN).await;
    alice.until_terminal_shows("sleep 3600").await;
    let on_screen = alice
        .script(
            "const r = document.getElementById('terminal-pane').getBoundingClientRect(); \
             return [r.top >= 0 && r.bottom <= window.innerHeight + 1 && r.height > 200, r.top, r.bottom, r.height, window.innerHeight];",
        )
        .await;
    assert_eq!(on_screen[0], true, "the terminal is on screen: {on_screen}");
    assert_eq!(
        alice.script("return window.scrollY;").await,
        place,
        "the lesson moved"
    );
    alice
        .until(
            "the box card to pass",
            "document.querySelector('.exercise[data-exercise=\"box-running\"]').dataset.state === 'passed'",
        )
        .await;
    // Back to the lesson: where the learner was reading, on the Run button they pressed.
    alice.click(".drawer-close").await;
    alice
        .until(
            "the terminal drawer closed",
            "document.body.dataset.drawer === 'closed' && \
             getComputedStyle(document.getElementById('terminal-pane')).visibility === 'hidden'",
        )
        .await;
    assert_eq!(
        alice.script("return window.scrollY;").await,
        place,
        "the lesson moved"
    );
    let focused = alice
        .script(&format!(
            "return document.activeElement === document.querySelector(\"{run}\");"
        ))
        .await;
    assert_eq!(focused, true);
    alice.screenshot("lesson-phone.png").await;
    alice.quit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_gets_a_learner_out_of_trouble() {
    let server = common::start_docker_with(|config| config.limits.pids = 96).await;
    let driver = Driver::start().await;
    let alice = driver.browser().await;
    alice.go(&server.url("/en/01-first-container")).await;
    alice.connected().await;
    alice.click("#terminal").await;
    // A fork bomb: the workstation sits at its process limit, and the page says so.
    alice.type_text("touch ~/before-reset\n").await;
    alice.type_text("bomb() { bomb | bomb & }; bomb\n").await;
    let notice = alice
        .until(
            "a notice of the process limit",
            "document.querySelector('.terminal-notices:not([hidden]) .terminal-notice[data-kind=processes]')?.textContent",
        )
        .await;
    assert!(
        notice
            .as_str()
            .unwrap_or_default()
            .contains("limit of 96 processes"),
        "{notice}"
    );
    // "Stop everything in this tab" from the sandbox menu: the shell answers again.
    alice.click(".sandbox-menu-toggle").await;
    alice.click(".sandbox-end-processes").await;
    let said = alice
        .until(
            "the menu to say what it stopped",
            "document.querySelector('.sandbox-said')?.textContent",
        )
        .await;
    assert!(
        said.as_str().unwrap_or_default().starts_with("Stopped "),
        "{said}"
    );
    // Ctrl-C flushes what is typed with it (the terminal's own rule): wait for the prompt.
    alice.type_text("\u{3}").await;
    alice.until_terminal_shows("^C").await;
    alice.until_prompt().await;
    alice.type_text("echo back-$((40+2))\n").await;
    alice.until_terminal_shows("back-42").await;
    alice
        .until(
            "the notice to go",
            "document.querySelector('.terminal-notices').hidden",
        )
        .await;
    // "Reset my sandbox": a fresh sandbox, the file gone, the same page.
    alice
        .script("window.confirm = () => true; return true;")
        .await;
    alice.click(".sandbox-reset").await;
    alice.connected().await;
    alice.click("#terminal").await;
    alice
        .type_text("ls ~/before-reset 2>&1 | grep -c 'No such'\n")
        .await;
    alice.until_terminal_shows("\n1\n").await;
    alice.quit().await;
    server.stop().await;
}
