//! The HTTP server: accepts TCP connections and serves each with hyper's HTTP/1.1, under the
//! limits `warp::serve` does not set (warp 0.4 runs hyper without a timer or a cap):
//!
//! - **Header timeout.** A request head must arrive whole within `header_timeout` of the
//!   connection opening, or of its first byte after a keep-alive pause.
//! - **Idle timeout.** A keep-alive connection that sends nothing for `idle_timeout` is closed.
//! - **Body timeout.** A request whose handler waits `body_timeout` for the next bytes of the
//!   request body is dropped with its connection (a trickled body would otherwise hold a
//!   connection busy, out of the cap's reach, for as long as the client likes).
//! - **Header size.** A head over `max_header_bytes` is answered 431 and the connection closed;
//!   hyper's read buffer is bounded as well, so an open connection costs tens of kilobytes.
//! - **Connection cap.** At `max_connections`, the connection that has waited longest without
//!   a request in flight (idle, or still sending its head) is closed to admit the new one.
//!   When every connection has a request in flight, the new one is answered 503
//!   (`UNAVAILABLE`, `Retry-After: 1`, `Connection: close`); past [`REFUSING_AT_ONCE`] such
//!   answers in progress, further connections are closed unanswered.
//! - **Accept errors.** Running out of file descriptors (EMFILE) or memory pauses accepting
//!   for [`ACCEPT_BACKOFF`] instead of spinning, logged at most once per [`LOG_EVERY`].
//! - **Shutdown.** Stop accepting, close idle connections, let requests in flight finish for
//!   `shutdown_grace`, then cut what is left: [`Server::run`] returns in bounded time.
//!
//! Each connection is one task running hyper's connection future beside a watchdog that
//! checks its deadlines every [`Limits::check_every`]. The connection's [`Tracker`] is what
//! its I/O, its requests, the watchdog and the cap share.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use licet_proto::{ErrorBody, ErrorCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

mod tracking;

use tracking::*;

use crate::platform::config::Config;
use crate::platform::metrics::{Closed, Metrics};

/// Connections being answered 503 at once, on top of the cap; more are closed unanswered.
const REFUSING_AT_ONCE: usize = 64;
/// How long a refused client gets to send its request and read the 503.
const REFUSAL_DEADLINE: Duration = Duration::from_secs(2);
/// Request-body bytes a refused client may send before its 503 (read so that closing the
/// socket does not reset it before the client has read the answer).
const REFUSAL_BODY_BYTES: usize = 64 * 1024;
/// Pause after an accept error that is not about one connection (EMFILE, ENFILE, ENOMEM):
/// the listener stays readable, so retrying at once would spin a core.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per this period for repeated accept errors and refusals.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Bound of hyper's read buffer (its default is about 400 KiB per connection).
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time to receive a whole request head.
    pub header_timeout: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Time a request's handler may wait for the next bytes of its body.
    pub body_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// Time requests in flight get to finish at shutdown.
    pub shutdown_grace: Duration,
}

impl Limits {
    /// How often a connection's deadlines are checked: a quarter of the shortest timeout,
    /// between 250 ms and 1 s. Timeouts fire up to that much late.
    fn check_every(&self) -> Duration {
        let shortest = self
            .header_timeout
            .min(self.idle_timeout)
            .min(self.body_timeout);
        (shortest / 4).clamp(Duration::from_millis(250), Duration::from_secs(1))
    }

    pub(crate) fn from_config(config: &Config) -> Self {
        Self {
            header_timeout: Duration::from_secs(config.header_timeout_secs),
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            body_timeout: Duration::from_secs(config.body_timeout_secs),
            max_header_bytes: config.max_header_bytes,
            max_connections: config.max_connections,
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
        }
    }
}

/// The client's socket address, in every request's extensions (warp's own `addr::remote()`
/// only works under `warp::serve`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// The server: the application's service and what every connection task needs.
pub(crate) struct Server<S> {
    service: S,
    http: http1::Builder,
    limits: Limits,
    /// Cancelled at shutdown: connections finish their request in flight, then close.
    drain: CancellationToken,
    metrics: Arc<Metrics>,
}

impl<S> Server<S> {
    /// A server for `service` (warp's routes through `warp::service`).
    pub(crate) fn new(service: S, limits: Limits, metrics: Arc<Metrics>) -> Arc<Self> {
        let mut http = http1::Builder::new();
        http.header_read_timeout(None)
            .max_header_size(limits.max_header_bytes)
            .max_buf_size(READ_BUFFER_BYTES.max(limits.max_header_bytes));
        Arc::new(Self {
            service,
            http,
            limits,
            drain: CancellationToken::new(),
            metrics,
        })
    }
}

impl<S, B> Server<S>
where
    S: hyper::service::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Serves on `listener` until `shutdown` resolves, then drains (see the module docs).
    pub(crate) async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) {
        let (limits, metrics) = (self.limits, &self.metrics);
        let registry = Arc::new(Registry {
            table: Mutex::default(),
            max: limits.max_connections,
            metrics: metrics.clone(),
        });
        let refusing = Arc::new(AtomicUsize::new(0));
        let epoch = Instant::now();
        let mut tasks = JoinSet::new();
        let mut shutdown = pin!(shutdown);
        let mut accept_log = Throttle::default();
        let mut refusal_log = Throttle::default();
        loop {
            while tasks.try_join_next().is_some() {}
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) if is_about_one_connection(&e) => continue,
                Err(e) => {
                    metrics.accept_error();
                    if let Some(held_back) = accept_log.ready() {
                        tracing::warn!(
                            error = %e,
                            held_back,
                            "accepting a connection failed; pausing before the next try"
                        );
                    }
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            };
            let tracker = Arc::new(Tracker::new(epoch));
            if let Some(slot) = registry.admit(tracker.clone()) {
                tasks.spawn(self.clone().serve(stream, peer, tracker, slot));
                continue;
            }
            let busy = refusing.load(Relaxed) >= REFUSING_AT_ONCE;
            if let Some(held_back) = refusal_log.ready() {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    held_back,
                    "every connection has a request in flight; refusing new ones"
                );
            }
            if busy {
                metrics.closed(Closed::Shed);
                continue;
            }
            metrics.closed(Closed::Refused);
            tasks.spawn(refuse(stream, limits, Refusing::new(&refusing)));
        }
        drop(listener);
        self.drain.cancel();
        tracing::info!(
            open = tasks.len(),
            grace_secs = limits.shutdown_grace.as_secs(),
            "stopped accepting; draining connections"
        );
        let drained = tokio::time::timeout(limits.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                cut = tasks.len(),
                "drain time over; closing the connections still open"
            );
            for _ in 0..tasks.len() {
                metrics.closed(Closed::Shutdown);
            }
            tasks.shutdown().await;
        }
    }

    /// Runs one connection until it ends, times out, is evicted or is drained.
    async fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        tracker: Arc<Tracker>,
        _slot: Slot,
    ) {
        let io = TokioIo::new(Watched {
            stream,
            tracker: tracker.clone(),
        });
        let service = Tracked {
            inner: self.service.clone(),
            tracker: tracker.clone(),
            peer,
        };
        let mut conn = pin!(self.http.serve_connection(io, service));
        let mut draining = false;
        let period = self.limits.check_every();
        let mut check = tokio::time::interval_at(Instant::now() + period, period);
        check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Returning drops the connection, which closes the socket.
        let closed = loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    break None;
                }
                _ = check.tick() => {
                    if let Some((at, why)) = tracker.deadline(&self.limits)
                        && at <= Instant::now()
                    {
                        break Some(why);
                    }
                }
                () = tracker.evict.notified() => {
                    if tracker.evicted.load(Relaxed) {
                        if tracker.in_flight.load(Relaxed) == 0 {
                            break Some(Closed::Evicted);
                        }
                        // A request began as it was chosen: let it finish, then close.
                        if !draining {
                            draining = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
                () = self.drain.cancelled(), if !draining => {
                    // hyper closes at once when idle or before any byte, else after the
                    // response in progress.
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        };
        if let Some(why) = closed {
            tracing::debug!(%peer, ?why, "closing a connection");
            self.metrics.closed(why);
        }
    }
}

/// Errors `accept` reports about one connection (already gone); the next accept is fine.
fn is_about_one_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    )
}

/// A place among the connections being refused; given back on drop.
struct Refusing(Arc<AtomicUsize>);

impl Refusing {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Relaxed);
        Self(count.clone())
    }
}

impl Drop for Refusing {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Answers one request with 503 and closes, all within [`REFUSAL_DEADLINE`].
async fn refuse(stream: TcpStream, limits: Limits, _place: Refusing) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_DEADLINE)
        .keep_alive(false)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(READ_BUFFER_BYTES.max(limits.max_header_bytes));
    let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
        // Read (a bounded amount of) the body first: closing a socket with unread data
        // resets it, and the client could lose the answer.
        let mut body = req.into_body();
        let mut read = 0;
        while read < REFUSAL_BODY_BYTES {
            match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                Some(Err(_)) | None => break,
            }
        }
        Ok::<_, Infallible>(at_capacity())
    });
    let served = http.serve_connection(TokioIo::new(stream), service);
    let _ = tokio::time::timeout(REFUSAL_DEADLINE, served).await;
}

/// The 503 of a server at its connection cap: the usual JSON error shape, `UNAVAILABLE`.
fn at_capacity() -> Response<String> {
    let body = ErrorBody::new(
        ErrorCode::Unavailable,
        "the server is at its connection limit; retry shortly",
    );
    let mut response = Response::new(serde_json::to_string(&body).unwrap_or_default());
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    for (name, value) in [
        (http::header::CONTENT_TYPE, "application/json"),
        (http::header::RETRY_AFTER, "1"),
        (http::header::CONNECTION, "close"),
        (http::header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, http::HeaderValue::from_static(value));
    }
    response
}

/// Lets one log line through per [`LOG_EVERY`], counting the ones held back.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// `Some(lines held back since the last one)` when a line may be logged now.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < LOG_EVERY) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// Raises the soft limit on open files to the hard limit (systemd starts services at 1024),
/// and warns when what is left is too little for `max_connections`.
pub(crate) fn raise_open_files_limit(config: &Config) {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let limit = getrlimit(Resource::Nofile);
        let mut soft = limit.current;
        if let (Some(current), Some(hard)) = (limit.current, limit.maximum)
            && current < hard
        {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => soft = Some(hard),
                Err(e) => tracing::debug!(error = %e, "could not raise the open-files limit"),
            }
        }
        // The database pool, the data files and the listener need descriptors too.
        let needed = config.max_connections
            + REFUSING_AT_ONCE
            + usize::try_from(config.db_max_connections).unwrap_or(usize::MAX)
            + 64;
        if let Some(soft) = soft
            && soft < u64::try_from(needed).unwrap_or(u64::MAX)
        {
            tracing::warn!(
                open_files_limit = soft,
                max_connections = config.max_connections,
                "the open-files limit leaves too little room for max_connections (about \
                 {needed} descriptors); past it, accepting pauses: raise the limit \
                 (LimitNOFILE=) or lower max_connections"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = config;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            body_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 2,
            shutdown_grace: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn the_header_clock_runs_until_a_request_then_the_idle_clock_after_it() {
        let t = Arc::new(Tracker::new(Instant::now()));
        let (_, why) = t
            .deadline(&limits())
            .expect("a new connection has a deadline");
        assert_eq!(why, Closed::HeaderTimeout);
        let request = t.request_started();
        assert!(t.deadline(&limits()).is_none(), "no deadline while busy");
        t.received();
        assert!(
            t.deadline(&limits()).is_none(),
            "body bytes do not start a clock"
        );
        drop(request);
        assert_eq!(t.phase().0, Phase::Idle);
        assert_eq!(
            t.deadline(&limits()).map(|(_, why)| why),
            Some(Closed::IdleTimeout)
        );
        t.received();
        assert_eq!(
            t.deadline(&limits()).map(|(_, why)| why),
            Some(Closed::HeaderTimeout),
            "the first byte after a pause starts the header clock"
        );
    }

    /// If this fails, a full server refuses newcomers although it could close an idle
    /// connection, or it closes a connection in the middle of a request.
    #[tokio::test]
    async fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let registry = Arc::new(Registry {
            table: Mutex::default(),
            max: 2,
            metrics: Arc::default(),
        });
        let epoch = Instant::now();
        let oldest = Arc::new(Tracker::new(epoch));
        let busy = Arc::new(Tracker::new(epoch));
        let _a = registry.admit(oldest.clone()).expect("room");
        let _b = registry.admit(busy.clone()).expect("room");
        let _request = busy.request_started();
        let newcomer = Arc::new(Tracker::new(epoch));
        let c = registry
            .admit(newcomer.clone())
            .expect("the idle one makes room");
        assert!(oldest.evicted.load(Relaxed));
        assert!(!busy.evicted.load(Relaxed));
        let _newcomer_request = newcomer.request_started();
        assert!(
            registry.admit(Arc::new(Tracker::new(epoch))).is_none(),
            "everyone left is busy: refuse"
        );
        drop(c);
        assert!(
            registry.admit(Arc::new(Tracker::new(epoch))).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn the_refusal_is_a_json_503_that_closes() {
        let r = at_capacity();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["connection"], "close");
        assert_eq!(r.headers()["retry-after"], "1");
        let body: ErrorBody = serde_json::from_str(r.body()).expect("error body");
        assert_eq!(body.error.code, ErrorCode::Unavailable);
    }
}
