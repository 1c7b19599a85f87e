//! A request body that is not thrown away unread. When berth refuses a request before reading
//! its body (a build with `--network host` refused from its query alone), hyper would close the
//! connection while the CLI is still sending the build context, and the CLI would print
//! "broken pipe" instead of berth's reason. So whatever a handler leaves unread is kept and
//! read to the end, within limits, while the answer goes out.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// At most this much of a refused request's body is read and dropped, for at most this long.
const DRAIN_LIMIT: u64 = 64 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// The request body handed to the handlers.
pub struct Guarded {
    inner: Option<Incoming>,
    left: Leftover,
}

/// Where a dropped, unfinished body waits to be drained.
#[derive(Default, Clone)]
pub struct Leftover(Arc<Mutex<Option<Incoming>>>);

impl Leftover {
    pub fn guard(&self, body: Incoming) -> Guarded {
        Guarded {
            inner: Some(body),
            left: self.clone(),
        }
    }

    /// Reads what the handler left unread in the background, so the connection stays usable
    /// and the client can finish sending while it reads the answer.
    pub fn drain(&self) {
        let body = self.0.lock().ok().and_then(|mut slot| slot.take());
        let Some(mut body) = body else { return };
        tokio::spawn(async move {
            let drained = tokio::time::timeout(DRAIN_TIME, async {
                let mut read = 0u64;
                while let Some(Ok(frame)) = body.frame().await {
                    if let Some(data) = frame.data_ref() {
                        read += data.len() as u64;
                        if read > DRAIN_LIMIT {
                            return;
                        }
                    }
                }
            })
            .await;
            if drained.is_err() {
                tracing::debug!("gave up reading a refused request's body");
            }
        });
    }
}

impl Guarded {
    /// Drops the body unread, closing the connection after the answer: for a body that
    /// announced itself as too large, reading it would only waste time.
    pub fn discard(mut self) {
        self.inner = None;
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(body) = self.inner.take().filter(|b| !b.is_end_stream())
            && let Ok(mut slot) = self.left.0.lock()
        {
            *slot = Some(body);
        }
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}
