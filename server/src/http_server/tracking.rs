//! What a connection is doing: its phase and deadlines (the [`Tracker`] its I/O, requests,
//! watchdog and the cap share), the registry the cap picks a connection to close from, and
//! the wrappers that report reads, writes and request bodies to the tracker.

use super::*;

/// What a connection is doing, as its watchdog and the cap see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for (the rest of) a request head: since the connection opened, or since the
    /// first byte after a keep-alive pause.
    Head,
    /// Between requests on a keep-alive connection, nothing received yet.
    Idle,
}

/// `Tracker::phase`'s bit for [`Phase::Idle`]; the other bits hold milliseconds.
pub(super) const IDLE_BIT: u64 = 1 << 63;

/// One connection's state, shared by its task, its I/O ([`Watched`]), its requests
/// ([`InFlight`], [`RequestBody`]) and the [`Registry`]. Everything but eviction happens on
/// the connection's own task, so relaxed atomics suffice. The request path only stores a
/// phase and a time; the task's periodic check reads them (waking the task on every change
/// cost about a tenth of the throughput of a cheap route).
pub(super) struct Tracker {
    /// Requests whose response body hyper has not finished with.
    pub(super) in_flight: AtomicU32,
    /// The [`Phase`] (top bit) and when it began (milliseconds since `epoch`), in one word so
    /// that the cap never reads one without the other.
    pub(super) phase: AtomicU64,
    /// Since when (milliseconds since `epoch`, plus one; 0: not waiting) the request's
    /// handler has waited for more of the request body.
    pub(super) body_stalled: AtomicU64,
    /// Chosen to make room at the cap; its task closes the connection.
    pub(super) evicted: AtomicBool,
    /// Wakes the task when the cap chose it.
    pub(super) evict: Notify,
    pub(super) epoch: Instant,
}

impl Tracker {
    pub(super) fn new(epoch: Instant) -> Self {
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

    pub(super) fn millis(&self) -> u64 {
        u64::try_from(Instant::now().duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
            & !IDLE_BIT
    }

    pub(super) fn enter(&self, phase: Phase) {
        let millis = self.millis();
        let bit = if phase == Phase::Idle { IDLE_BIT } else { 0 };
        self.phase.store(millis | bit, Relaxed);
    }

    /// The phase and when it began.
    pub(super) fn phase(&self) -> (Phase, Instant) {
        let bits = self.phase.load(Relaxed);
        let phase = if bits & IDLE_BIT == 0 {
            Phase::Head
        } else {
            Phase::Idle
        };
        (phase, self.epoch + Duration::from_millis(bits & !IDLE_BIT))
    }

    /// Bytes arrived: the first after a keep-alive pause start the header clock.
    pub(super) fn received(&self) {
        if self.in_flight.load(Relaxed) == 0 && self.phase.load(Relaxed) & IDLE_BIT != 0 {
            self.enter(Phase::Head);
        }
    }

    /// The handler waits for request-body bytes: starts the body clock unless it runs.
    pub(super) fn body_stalled(&self) {
        if self.body_stalled.load(Relaxed) == 0 {
            self.body_stalled.store(self.millis() + 1, Relaxed);
        }
    }

    /// Body bytes came (or the body is done with): stops the body clock.
    pub(super) fn body_flowing(&self) {
        self.body_stalled.store(0, Relaxed);
    }

    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    /// When the connection is due to be closed and why; `None` while a request is in flight
    /// and not waiting for its body.
    pub(super) fn deadline(&self, limits: &Limits) -> Option<(Instant, Closed)> {
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
    pub(super) fn waiting_since(&self) -> Option<u64> {
        (self.in_flight.load(Relaxed) == 0 && !self.evicted.load(Relaxed))
            .then(|| self.phase.load(Relaxed) & !IDLE_BIT)
    }
}

/// A request in flight; dropped with its response body (or the request, if it never got one).
pub(super) struct InFlight(pub(super) Arc<Tracker>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.body_flowing();
        if self.0.in_flight.fetch_sub(1, Relaxed) == 1 {
            self.0.enter(Phase::Idle);
        }
    }
}

/// The open connections, for the cap.
pub(super) struct Registry {
    pub(super) table: Mutex<Table>,
    pub(super) max: usize,
    pub(super) metrics: Arc<Metrics>,
}

#[derive(Default)]
pub(super) struct Table {
    pub(super) open: HashMap<u64, Arc<Tracker>>,
    /// Entries of `open` chosen to make room, not yet closed: they no longer count.
    pub(super) evicting: usize,
    pub(super) next_id: u64,
}

impl Registry {
    /// Admits a connection, first choosing one to close if at the cap; `None` when every
    /// open connection has a request in flight.
    pub(super) fn admit(self: &Arc<Self>, tracker: Arc<Tracker>) -> Option<Slot> {
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
pub(super) struct Slot {
    pub(super) registry: Arc<Registry>,
    pub(super) id: u64,
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
pub(super) struct Watched {
    pub(super) stream: TcpStream,
    pub(super) tracker: Arc<Tracker>,
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
pub(super) struct Tracked<S> {
    pub(super) inner: S,
    pub(super) tracker: Arc<Tracker>,
    pub(super) peer: SocketAddr,
}

pub(super) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

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
pub(super) struct Counted<B> {
    pub(super) body: B,
    pub(super) _in_flight: InFlight,
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
