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

/// What a connection is doing, as its watchdog and the cap see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head: since the connection opened, or since the
    /// first byte after a keep-alive pause.
    Head,
    /// Between requests on a keep-alive connection, nothing received yet.
    Idle,
}

/// `Tracker::phase`'s bit for [`Phase::Idle`]; the other bits hold milliseconds.
const IDLE_BIT: u64 = 1 << 63;

/// One connection's state, shared by its task, its I/O ([`Watched`]), its requests
/// ([`InFlight`], [`RequestBody`]) and the [`Registry`]. Everything but eviction happens on
/// the connection's own task, so relaxed atomics suffice. The request path only stores a
/// phase and a time; the task's periodic check reads them (waking the task on every change
/// cost about a tenth of the throughput of a cheap route).
struct Tracker {
    /// Requests whose response body hyper has not finished with.
    in_flight: AtomicU32,
    /// The [`Phase`] (top bit) and when it began (milliseconds since `epoch`), in one word so
    /// that the cap never reads one without the other.
    phase: AtomicU64,
    /// Since when (milliseconds since `epoch`, plus one; 0: not waiting) the request's
    /// handler has waited for more of the request body.
    body_stalled: AtomicU64,
    /// Chosen to make room at the cap; its task closes the connection.
    evicted: AtomicBool,
    /// Wakes the task when the cap chose it.
    evict: Notify,
    epoch: Instant,
}

impl Tracker {
    fn new(epoch: Instant) -> Self {
        let tracker = Self {
            in_flight: AtomicU32::new(0),
            phase: AtomicU64::new(0),
            body_stalled: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            epoch,
        };
        tracker.enter(Phase::Head);
        tracker
    }

    fn millis(&self) -> u64 {
        u64::try_from(Instant::now().duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
            & !IDLE_BIT
    }

    fn enter(&self, phase: Phase) {
        let millis = self.millis();
        let bit = if phase == Phase::Idle { IDLE_BIT } else { 0 };
        self.phase.store(millis | bit, Relaxed);
    }

    /// The phase and when it began.
    fn phase(&self) -> (Phase, Instant) {
        let bits = self.phase.load(Relaxed);
        let phase = if bits & IDLE_BIT == 0 {
            Phase::Head
        } else {
            Phase::Idle
        };
        (phase, self.epoch + Duration::from_millis(bits & !IDLE_BIT))
    }

    /// Bytes arrived: the first after a keep-alive pause start the header clock.
    fn received(&self) {
        if self.in_flight.load(Relaxed) == 0 && self.phase.load(Relaxed) & IDLE_BIT != 0 {
            self.enter(Phase::Head);
        }
    }

    /// The handler waits for request-body bytes: starts the body clock unless it runs.
    fn body_stalled(&self) {
        if self.body_stalled.load(Relaxed) == 0 {
            self.body_stalled.store(self.millis() + 1, Relaxed);
        }
    }

    /// Body bytes came (or the body is done with): stops the body clock.
    fn body_flowing(&self) {
        self.body_stalled.store(0, Relaxed);
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    /// When the connection is due to be closed and why; `None` while a request is in flight
    /// and not waiting for its body.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, Closed)> {
        if self.in_flight.load(Relaxed) > 0 {
            let stalled = self.body_stalled.load(Relaxed).checked_sub(1)?;
            let since = self.epoch + Duration::from_millis(stalled);
            return Some((since + limits.body_timeout, Closed::BodyTimeout));
        }
        Some(match self.phase() {
            (Phase::Head, since) => (since + limits.header_timeout, Closed::HeaderTimeout),
            (Phase::Idle, since) => (since + limits.idle_timeout, Closed::IdleTimeout),
        })
    }

    /// Since when it has waited without a request in flight; `None` if it has one (or is
    /// already on its way out). The cap closes the one that has waited longest.
    fn waiting_since(&self) -> Option<u64> {
        (self.in_flight.load(Relaxed) == 0 && !self.evicted.load(Relaxed))
            .then(|| self.phase.load(Relaxed) & !IDLE_BIT)
    }
}

/// A request in flight; dropped with its response body (or the request, if it never got one).
struct InFlight(Arc<Tracker>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.body_flowing();
        if self.0.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.0.enter(Phase::Idle);
        }
    }
}

/// The open connections, for the cap.
struct Registry {
    table: Mutex<Table>,
    max: usize,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct Table {
    open: HashMap<u64, Arc<Tracker>>,
    /// Entries of `open` chosen to make room, not yet closed: they no longer count.
    evicting: usize,
    next_id: u64,
}

impl Registry {
    /// Admits a connection, first choosing one to close if at the cap; `None` when every
    /// open connection has a request in flight.
    fn admit(self: &Arc<Self>, tracker: Arc<Tracker>) -> Option<Slot> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table.open.len().saturating_sub(table.evicting) >= self.max {
            let victim = table
                .open
                .values()
                .filter_map(|c| c.waiting_since().map(|since| (since, c)))
                .min_by_key(|(since, _)| *since)
                .map(|(_, c)| c.clone())?;
            victim.evicted.store(true, Relaxed);
            victim.evict.notify_one();
            table.evicting += 1;
        }
        let id = table.next_id;
        table.next_id += 1;
        table.open.insert(id, tracker);
        drop(table);
        self.metrics.connection(true);
        Some(Slot {
            registry: self.clone(),
            id,
        })
    }
}

/// A connection's place in the [`Registry`], given back when its task ends (or is aborted).
struct Slot {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self
            .registry
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = table.open.remove(&self.id)
            && c.evicted.load(Relaxed)
        {
            table.evicting = table.evicting.saturating_sub(1);
        }
        drop(table);
        self.registry.metrics.connection(false);
    }
}

/// The socket, reporting received bytes to the tracker.
struct Watched {
    stream: TcpStream,
    tracker: Arc<Tracker>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.tracker.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// The application's service, with the peer address added to requests and each request
/// counted in flight until hyper is done with its response body.
struct Tracked<S> {
    inner: S,
    tracker: Arc<Tracker>,
    peer: SocketAddr,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> hyper::service::Service<Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<Request<RequestBody>, Response = Response<B>, Error = Infallible>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
{
    type Response = Response<Counted<B>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let mut req = req.map(|inner| RequestBody {
            inner,
            tracker: self.tracker.clone(),
        });
        req.extensions_mut().insert(PeerAddr(self.peer));
        let in_flight = self.tracker.request_started();
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| Counted {
                body,
                _in_flight: in_flight,
            }))
        })
    }
}

/// A request body that tells the tracker while its handler waits for the client's bytes.
pub(crate) struct RequestBody {
    inner: Incoming,
    tracker: Arc<Tracker>,
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if polled.is_pending() {
            this.tracker.body_stalled();
        } else {
            this.tracker.body_flowing();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        // A handler that stops reading is no longer waiting on the client.
        self.tracker.body_flowing();
    }
}

/// A response body that keeps its request counted in flight until hyper drops it.
struct Counted<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
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
