//! Test helpers: a real berth on 127.0.0.1:0, real HTTP and WebSocket clients, and the real
//! Docker engine where a test needs one.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use berth::config::{Config, SandboxKind};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Long enough for a cold container on a busy CI machine, short enough to fail a hung test.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestServer {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub data_dir: PathBuf,
    running: Option<berth::Running>,
}

/// A fresh data dir per server, so each test has its own instance id.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "berth-test-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos:x}{}", COUNTER.fetch_add(1, Ordering::SeqCst))
}

pub fn test_config(kind: SandboxKind) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        sandbox: kind,
        data_dir: temp_dir("data"),
        // Tests that want a warm pool ask for one: the others count their containers.
        warm: 0,
        ..Config::default()
    }
}

/// berth's log goes to the test's own output, which the harness shows only when the test
/// fails: warnings and errors, or what `BERTH_LOG` asks for.
fn log_to_test_output() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        // Another test helper may have set one already; that one is kept.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

pub async fn start_with(config: Config) -> TestServer {
    log_to_test_output();
    let data_dir = config.data_dir.clone();
    let running = berth::start(config).await.expect("berth starts");
    let addr = running.local_addr;
    TestServer {
        base: format!("http://{addr}"),
        addr,
        data_dir,
        running: Some(running),
    }
}

/// berth with the local backend (a shell on this machine).
pub async fn start_local() -> TestServer {
    start_with(test_config(SandboxKind::Local)).await
}

/// berth with the docker backend; fails (never skips) when the engine or image is missing.
pub async fn start_docker() -> TestServer {
    start_docker_with(|_| {}).await
}

pub async fn start_docker_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = test_config(SandboxKind::Docker);
    tweak(&mut config);
    start_with(config).await
}

impl TestServer {
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn state(&self) -> &berth::AppState {
        &self.running.as_ref().unwrap().state
    }

    /// A new learner: the session cookie a first page view hands out.
    pub async fn new_learner(&self) -> String {
        self.new_learner_via(&self.client()).await
    }

    /// A new learner whose first page came through `client` (see [`TestServer::client_from`]).
    pub async fn new_learner_via(&self, client: &reqwest::Client) -> String {
        let response = client.get(self.url("/")).send().await.unwrap();
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .find(|value| value.starts_with("berth_session="))
            .expect("the first page sets a session cookie");
        cookie.split(';').next().unwrap().to_owned()
    }

    /// The learner id berth keeps for this session cookie (`berth_session=…`).
    pub fn learner_of(&self, cookie: &str) -> berth::session::LearnerId {
        self.state()
            .store
            .learner_of(cookie.trim_start_matches("berth_session="))
            .expect("berth knows this session")
    }

    /// A page as the learner with this session cookie sees it.
    pub async fn page(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.client()
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://{}/ws/terminal{query}", self.addr)
    }

    /// Opens a terminal as a browser on this server's page would.
    pub async fn terminal(&self, cookie: &str, query: &str) -> Term {
        self.terminal_from("127.0.0.1", cookie, query, &[]).await
    }

    /// Opens a terminal as a browser at another address would (any 127.x.y.z is this machine),
    /// with extra request headers (as a proxy would add).
    pub async fn terminal_from(
        &self,
        source: &str,
        cookie: &str,
        query: &str,
        extra: &[(&str, &str)],
    ) -> Term {
        let mut request = self.ws_url(query).into_client_request().unwrap();
        let headers = request.headers_mut();
        headers.insert("cookie", HeaderValue::from_str(cookie).unwrap());
        headers.insert("origin", HeaderValue::from_str(&self.base).unwrap());
        for (name, value) in extra {
            headers.insert(
                tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let stream = self.connect_from(source).await;
        let (ws, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("terminal socket opens");
        Term {
            ws,
            output: Vec::new(),
            controls: Vec::new(),
        }
    }

    /// A TCP connection to berth from `source`, an address of this machine (127.0.0.2, …):
    /// what berth sees as another client.
    pub async fn connect_from(&self, source: &str) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(format!("{source}:0").parse().unwrap())
            .expect("bind a loopback source address");
        socket.connect(self.addr).await.expect("berth accepts")
    }

    /// An HTTP client whose connections come from `source`.
    pub fn client_from(&self, source: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .local_address(source.parse::<std::net::IpAddr>().unwrap())
            .build()
            .unwrap()
    }

    /// Opens a terminal and waits for the shell prompt.
    pub async fn shell(&self, cookie: &str, query: &str) -> Term {
        let mut term = self.terminal(cookie, query).await;
        term.expect_control("ready").await;
        term.read_until("$ ").await;
        term
    }

    /// berth dies without cleaning up (as with SIGKILL): its containers, images, rules and
    /// data stay for the next start to find.
    pub fn crash(mut self) {
        if let Some(running) = self.running.take() {
            running.abandon();
        }
    }

    /// Stops berth but keeps its data dir, for a restart on the same data.
    pub async fn stop_keeping_data(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Drop for TestServer {
    /// A test that failed never reached `stop`: remove what its berth started, so one failure
    /// does not leave containers behind on the engine.
    fn drop(&mut self) {
        if self.running.is_none() {
            return;
        }
        let Ok(instance) = std::fs::read_to_string(self.data_dir.join("instance-id")) else {
            return;
        };
        let instance = instance.trim().to_owned();
        let filter = format!("label=berth.instance={instance}");
        for (list, remove) in [
            (vec!["ps", "-aq", "--filter"], vec!["rm", "-f"]),
            (
                vec!["network", "ls", "-q", "--filter"],
                vec!["network", "rm"],
            ),
            (
                vec!["volume", "ls", "-q", "--filter"],
                vec!["volume", "rm", "-f"],
            ),
            (vec!["images", "-q", "--filter"], vec!["rmi", "-f"]),
        ] {
            let Ok(listed) = std::process::Command::new("docker")
                .args(list)
                .arg(&filter)
                .output()
            else {
                return;
            };
            let ids = String::from_utf8_lossy(&listed.stdout).into_owned();
            if !ids.trim().is_empty() {
                let _ = std::process::Command::new("docker")
                    .args(&remove)
                    .args(ids.split_whitespace())
                    .output();
            }
        }
        // And what berth set up on the host: its firewall chain and its learners' budgets.
        let chain = format!("BERTH-{instance}");
        let script = format!(
            "while iptables -w -D INPUT -i bth+ -j {chain} 2>/dev/null; do :; done; \
             iptables -w -F {chain} 2>/dev/null; iptables -w -X {chain} 2>/dev/null; \
             find /sys/fs/cgroup -depth -type d -path '*/berth/{instance}*' -exec rmdir {{}} + 2>/dev/null; true"
        );
        let _ = std::process::Command::new("sh")
            .args(["-c", &script])
            .output();
    }
}

/// A terminal socket seen from the browser's side.
pub struct Term {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Everything printed so far, not yet consumed by `read_until`.
    pub output: Vec<u8>,
    /// Control messages received so far.
    pub controls: Vec<serde_json::Value>,
}

impl Term {
    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::Binary(text.as_bytes().to_vec().into()))
            .await
            .unwrap();
    }

    pub async fn send_control(&mut self, json: &str) {
        self.ws.send(Message::Text(json.into())).await.unwrap();
    }

    /// Receives one frame (or None when the socket closed), recording it.
    pub async fn next_frame(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.ws.next()).await {
            Err(_) => panic!(
                "nothing from the terminal within {WAIT:?}; output so far: {:?}",
                String::from_utf8_lossy(&self.output)
            ),
            Ok(None) | Ok(Some(Err(_))) => None,
            Ok(Some(Ok(message))) => {
                match &message {
                    Message::Binary(bytes) => self.output.extend_from_slice(bytes),
                    Message::Text(text) => self
                        .controls
                        .push(serde_json::from_str(text.as_str()).expect("control is JSON")),
                    _ => {}
                }
                Some(message)
            }
        }
    }

    /// The next frame, raw (binary frames are also recorded in `output`).
    pub async fn ws_frame(&mut self) -> Message {
        self.next_frame().await.expect("socket open")
    }

    /// Reads until `needle` appears in the output; returns everything up to and including it.
    pub async fn read_until(&mut self, needle: &str) -> String {
        loop {
            let text = String::from_utf8_lossy(&self.output).into_owned();
            if let Some(at) = text.find(needle) {
                let end = at + needle.len();
                let consumed = text[..end].to_owned();
                self.output = text.as_bytes()[end..].to_vec();
                return consumed;
            }
            if self.next_frame().await.is_none() {
                panic!("socket closed before {needle:?}; output: {text:?}");
            }
        }
    }

    /// Waits for a control message of this type and returns it.
    pub async fn expect_control(&mut self, kind: &str) -> serde_json::Value {
        loop {
            if let Some(at) = self.controls.iter().position(|c| c["type"] == kind) {
                return self.controls.remove(at);
            }
            if self.next_frame().await.is_none() {
                panic!(
                    "socket closed before a {kind} message; got {:?}",
                    self.controls
                );
            }
        }
    }

    /// Runs a command and returns what it printed, as plain text (between two markers, so
    /// prompts and the echoed command line are left out).
    pub async fn run(&mut self, command: &str) -> String {
        let marker = format!("M{}", rand_suffix());
        self.send(&format!("echo {marker}-A; {command}; echo {marker}-B\r"))
            .await;
        // The echoed command line has the markers followed by `;`, the output by a line end.
        self.read_until(&format!("{marker}-A\r\n")).await;
        let output = self.read_until(&format!("{marker}-B\r\n")).await;
        plain(output.trim_end_matches(&format!("{marker}-B\r\n")))
            .trim()
            .to_owned()
    }

    /// Reads on until the server closes the socket; the close code it sent, if any.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.next_frame().await {
                Some(Message::Close(frame)) => return frame.map(|frame| u16::from(frame.code)),
                Some(_) => continue,
                None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Terminal output as a person reads it: escape sequences (colours, modes) removed.
pub fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'[') {
            chars.next();
            // CSI: parameters and intermediates, then one final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            chars.next();
        }
    }
    out
}

/// Opens a terminal socket with the given headers and returns the HTTP status of the refusal.
pub async fn refused_status(url: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected a refusal, but the socket opened"),
    }
}

/// The real Docker engine, for reading back what berth did.
pub async fn docker() -> bollard::Docker {
    bollard::Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .expect("a Docker engine answers (scripts/test starts one)")
}

/// What `docker …` printed in a learner's workstation.
#[derive(Debug)]
pub struct Cli {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    /// Both streams, for messages that may go to either.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A learner with a live docker sandbox, driven from outside as a test harness would.
pub struct Sandboxed {
    pub cookie: String,
    pub learner: String,
    /// The sandbox's id: what names its objects in the engine (`berth-<sandbox>-web`).
    pub sandbox: String,
    pub workstation: String,
    pub socket: PathBuf,
}

impl TestServer {
    /// A new learner whose sandbox is started now (as opening a terminal would).
    pub async fn sandboxed(&self) -> Sandboxed {
        let cookie = self.new_learner().await;
        let learner = self.learner_of(&cookie);
        let sandbox = self
            .state()
            .sandboxes
            .get_or_create(&learner)
            .await
            .expect("the sandbox starts");
        sandbox.touch();
        let scope = sandbox
            .scope()
            .expect("the docker backend has a scoped engine");
        Sandboxed {
            cookie,
            learner: learner.to_string(),
            sandbox: sandbox.id.to_string(),
            workstation: sandbox.workstation_id().to_owned(),
            socket: scope.socket().to_owned(),
        }
    }
}

impl Sandboxed {
    /// Runs a shell command as the learner in their workstation (`docker` is the workstation's
    /// own CLI, talking to the learner's scoped engine).
    pub async fn sh(&self, command: &str) -> Cli {
        let output = tokio::process::Command::new("docker")
            .args([
                "exec",
                "-u",
                "learner",
                "-w",
                "/home/learner",
                &self.workstation,
            ])
            .args(["bash", "-c", command])
            .output()
            .await
            .expect("docker exec runs");
        Cli {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `docker ARGS` in the workstation; panics with the output when it fails.
    pub async fn docker(&self, args: &str) -> String {
        let out = self.sh(&format!("docker {args}")).await;
        assert_eq!(out.code, 0, "docker {args} failed: {out:?}");
        out.stdout
    }

    /// `docker ARGS` that must fail; returns what it printed.
    pub async fn docker_fails(&self, args: &str) -> String {
        let out = self.sh(&format!("docker {args}")).await;
        assert_ne!(out.code, 0, "docker {args} should have failed: {out:?}");
        out.all()
    }

    /// The engine's name for the learner's object `name`.
    pub fn engine_name(&self, name: &str) -> String {
        format!("berth-{}-{name}", self.sandbox)
    }

    /// Writes all of `request` (failing the test if berth stops reading it part-way), then
    /// reads the answer: what a client sees that sends a large body before reading.
    pub async fn raw_sent_in_full(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::UnixStream::connect(&self.socket).await.unwrap();
        stream
            .write_all(request)
            .await
            .expect("berth stopped reading the request part-way");
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
        String::from_utf8_lossy(&response).into_owned()
    }

    /// A raw HTTP exchange on the learner's socket: what a hostile program could send.
    pub async fn raw(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::UnixStream::connect(&self.socket).await.unwrap();
        // A server that refuses early may close before all of a large body is written.
        let _ = stream.write_all(request).await;
        let mut response = Vec::new();
        let _ =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response)).await;
        String::from_utf8_lossy(&response).into_owned()
    }
}

/// Polls `check` until it gives `Some`, or `limit` has passed (`None`).
pub async fn wait_until<T, F, Fut>(limit: std::time::Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// What a shell started straight at the engine prints.
pub type ExecOutput = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<bollard::container::LogOutput, bollard::errors::Error>,
            > + Send,
    >,
>;
/// What goes to that shell's input.
pub type ExecInput = std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>;

/// `cmd` run as the learner in container `id`, with a terminal, straight at the engine (no
/// berth in the path): the baseline the benchmarks compare berth with.
pub async fn start_exec(
    docker: &bollard::Docker,
    id: &str,
    cmd: &[&str],
) -> (ExecOutput, ExecInput) {
    use bollard::exec::{StartExecOptions, StartExecResults};
    let exec = docker
        .create_exec(
            id,
            bollard::models::ExecConfig {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                user: Some("learner".into()),
                cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let options = StartExecOptions {
        detach: false,
        tty: true,
        output_capacity: None,
    };
    match docker.start_exec(&exec.id, Some(options)).await.unwrap() {
        StartExecResults::Attached { output, input } => (output, input),
        StartExecResults::Detached => unreachable!("an attached exec"),
    }
}

/// The sample at quantile `q` of `samples` (0.5 the median, 1.0 the largest); zero for none.
pub fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort();
    samples[((samples.len() - 1) as f64 * q).round() as usize]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
