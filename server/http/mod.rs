//! berth's HTTP port: the accept loop and each connection, with the bounds `axum::serve` does
//! not offer.
//!
//! - A client must send a request's headers within the header timeout. hyper starts that timer
//!   again whenever a kept-alive connection goes idle, so it is the idle timeout as well.
//! - Connections per client address are capped, and so is the total, below the open-file
//!   limit, so that sandboxes and the learners' docker calls always have files left
//!   ([`conns`]). A refused connection gets a short 429 (or 503) and is closed at once.
//! - The accept loop survives every error: out of files, it waits a little and goes on.
//! - WebSocket upgrades work as before, and keep their connection's place while open.

pub mod client;
pub mod conns;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use self::client::{ClientAddr, ClientIp};
use self::conns::{Connections, Refusal, Slot};

/// After an accept error that is not about one connection (out of files, out of memory), wait
/// this long before the next accept, doubling up to [`ACCEPT_BACKOFF_MAX`].
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A request's head may be this large (hyper's default is 400 KiB): what a connection held
/// open with slow headers can cost. Browsers send a few KiB.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Open files kept for everything that is not an HTTP connection (learners' engine sockets,
/// the engine itself, SQLite, lessons): a quarter of the limit, within these bounds.
const FILES_RESERVED_MIN: u64 = 64;
const FILES_RESERVED_MAX: u64 = 4096;

/// The bounds of the HTTP port.
pub struct Settings {
    pub header_timeout: Duration,
    pub connections: Arc<Connections>,
    pub clients: Arc<ClientIp>,
}

/// Raises the soft open-file limit as far as the hard limit allows (up to 2^20, what Linux
/// allows a process by default), and returns the limit in force.
pub fn raise_open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(1 << 20) {
        Ok(limit) => limit,
        Err(error) => {
            let limit = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
            tracing::warn!(%error, limit, "could not raise the open-file limit");
            limit
        }
    }
}

/// How many HTTP connections berth may hold with this open-file limit.
pub fn connection_budget(open_files: u64) -> usize {
    let reserved = (open_files / 4).clamp(FILES_RESERVED_MIN, FILES_RESERVED_MAX);
    open_files.saturating_sub(reserved).max(16) as usize
}

/// Something that accepts TCP connections: the listener, or a stand-in in tests.
pub(crate) trait Accept {
    fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// Serves `router` until `shutdown` completes, then lets open requests finish (their
/// connections close as soon as they are idle) and returns when all have.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) {
    serve_from(listener, router, settings, shutdown).await
}

pub(crate) async fn serve_from(
    listener: impl Accept,
    router: Router,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    // Every connection holds a receiver: `stop` tells them to finish, and `closed` resolves
    // when the last one has.
    let (stop, stopping) = watch::channel(false);
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut failing_since: Option<tokio::time::Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                if failing_since.take().is_some() {
                    tracing::info!("accepting connections again");
                }
                backoff = ACCEPT_BACKOFF_MIN;
                accepted
            }
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of files (EMFILE, ENFILE), buffers or memory: the listener is fine, the
                // process is not. Wait for connections to close, and say so now and then.
                let now = tokio::time::Instant::now();
                let since = *failing_since.get_or_insert(now);
                if since == now || backoff == ACCEPT_BACKOFF_MAX {
                    tracing::warn!(%error, "cannot accept connections; waiting");
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let proxy = settings.clients.is_trusted_proxy(peer.ip());
        let slot = match settings.connections.open(ClientAddr::of(peer.ip()), proxy) {
            Ok(slot) => slot,
            Err(refusal) => {
                refuse(stream, refusal);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let io = TokioIo::new(Counted {
            stream,
            _slot: slot,
        });
        let connection = builder.serve_connection(io, service).with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let mut finishing = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%peer, %error, "connection ended");
                        }
                        break;
                    }
                    _ = stopping.changed(), if !finishing => {
                        finishing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(stopping);
        });
    }
    drop(stopping);
    let _ = stop.send(true);
    stop.closed().await;
}

/// Errors about one connection (it went away before we took it): accept the next.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Tells a connection berth has no place for why, without waiting for it, and closes it.
fn refuse(stream: TcpStream, refusal: Refusal) {
    let (status, message) = match refusal {
        Refusal::TooManyFromAddress => (
            "429 Too Many Requests",
            "berth: too many connections from your address are open; close some and try again.\n",
        ),
        Refusal::Busy => (
            "503 Service Unavailable",
            "berth: too many connections are open; try again in a few seconds.\n",
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nRetry-After: 5\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{message}",
        message.len()
    );
    // Read what already arrived, so closing sends FIN (with the answer before it) rather than a
    // reset that could discard the answer.
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        if !matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
    let _ = stream.try_write(response.as_bytes());
}

/// A connection's socket together with its place in [`Connections`], which it keeps until the
/// socket closes, through a WebSocket upgrade too.
struct Counted {
    stream: TcpStream,
    _slot: Slot,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A listener whose first accepts fail as when the process is out of files.
    struct OutOfFilesAtFirst {
        listener: TcpListener,
        failures_left: AtomicUsize,
    }

    impl Accept for OutOfFilesAtFirst {
        async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
            let left = self.failures_left.load(Ordering::SeqCst);
            if left > 0 {
                self.failures_left.store(left - 1, Ordering::SeqCst);
                return Err(io::Error::from_raw_os_error(24)); // EMFILE
            }
            self.listener.accept().await
        }
    }

    #[tokio::test]
    async fn the_accept_loop_goes_on_after_running_out_of_files() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accept = OutOfFilesAtFirst {
            listener,
            failures_left: AtomicUsize::new(5),
        };
        let router = Router::new().route("/healthz", axum::routing::get(|| async { "ok\n" }));
        let settings = Settings {
            header_timeout: Duration::from_secs(5),
            connections: Connections::new(8, 64),
            clients: Arc::new(ClientIp::new(None, Vec::new())),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_from(accept, router, settings, async {
            let _ = stopped.await;
        }));
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
            .await
            .expect("answered after the accept errors")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("stops")
            .unwrap();
    }

    #[test]
    fn the_budget_leaves_files_for_everything_else() {
        assert_eq!(connection_budget(1024), 768);
        assert_eq!(connection_budget(1 << 20), (1 << 20) - 4096);
        assert_eq!(connection_budget(20), 16);
    }
}
