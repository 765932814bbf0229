//! Prometheus metrics in the text exposition format, without a metrics framework: request
//! counts by route and status, a latency histogram per route, license-operation counts, and
//! what the connection limits did (open connections, and connections closed by the server).
//! Each replica exports its own; Prometheus sums them.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// License operations counted apart from HTTP traffic.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// A new seat was taken.
    Activation,
    /// A lease was refreshed.
    Validation,
    /// A validation confirmed the lease the machine holds instead of signing a new one.
    ValidationUnchanged,
    /// A seat was freed.
    Deactivation,
}

/// Why the server closed a client connection (see `http_server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The request head did not arrive within the header timeout.
    HeaderTimeout,
    /// A keep-alive connection sent nothing within the idle timeout.
    IdleTimeout,
    /// A request's handler waited longer than the body timeout for more of its body.
    BodyTimeout,
    /// At the connection cap, the longest-waiting connection without a request in flight made
    /// room for a new one.
    Evicted,
    /// At the cap with every connection busy: answered 503 and closed.
    Refused,
    /// Beyond the cap and the refusals in progress: closed without an answer.
    Shed,
    /// Still open when the shutdown's drain time ran out.
    Shutdown,
}

impl Closed {
    const ALL: [Closed; 7] = [
        Closed::HeaderTimeout,
        Closed::IdleTimeout,
        Closed::BodyTimeout,
        Closed::Evicted,
        Closed::Refused,
        Closed::Shed,
        Closed::Shutdown,
    ];

    fn label(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::BodyTimeout => "body_timeout",
            Closed::Evicted => "evicted",
            Closed::Refused => "refused",
            Closed::Shed => "shed",
            Closed::Shutdown => "shutdown",
        }
    }
}
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str, u16), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    activations: AtomicU64,
    validations: AtomicU64,
    validations_unchanged: AtomicU64,
    deactivations: AtomicU64,
    connections_open: AtomicI64,
    closed: [AtomicU64; Closed::ALL.len()],
    accept_errors: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        let mut requests = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *requests.entry((method, route, status)).or_default() += 1;
        drop(requests);
        let secs = elapsed.as_secs_f64();
        let mut latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let h = latency.entry(route).or_default();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    /// Counts a license operation.
    pub fn event(&self, event: Event) {
        let counter = match event {
            Event::Activation => &self.activations,
            Event::Validation => &self.validations,
            Event::ValidationUnchanged => &self.validations_unchanged,
            Event::Deactivation => &self.deactivations,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A client connection was admitted (`opened`) or has ended (`!opened`).
    pub fn connection(&self, opened: bool) {
        self.connections_open
            .fetch_add(if opened { 1 } else { -1 }, Ordering::Relaxed);
    }

    /// Counts a connection the server closed on its own.
    pub fn closed(&self, why: Closed) {
        self.closed[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a failed `accept` (the listener then pauses).
    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP licet_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE licet_http_requests_total counter\n");
        for ((method, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "licet_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP licet_http_request_duration_seconds Request latency by route.\n");
        out.push_str("# TYPE licet_http_request_duration_seconds histogram\n");
        for (route, h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(h.counts) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "licet_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "licet_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 licet_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 licet_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
        for (name, help, counter) in [
            ("licet_activations_total", "Seats taken.", &self.activations),
            (
                "licet_validations_total",
                "Leases refreshed.",
                &self.validations,
            ),
            (
                "licet_validations_unchanged_total",
                "Validations that confirmed the lease the machine holds (nothing signed).",
                &self.validations_unchanged,
            ),
            (
                "licet_deactivations_total",
                "Seats freed.",
                &self.deactivations,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP licet_connections_open Client connections open.\n\
             # TYPE licet_connections_open gauge\n\
             licet_connections_open {}\n\
             # HELP licet_connections_closed_total Connections the server closed, by reason.\n\
             # TYPE licet_connections_closed_total counter",
            self.connections_open.load(Ordering::Relaxed)
        );
        for why in Closed::ALL {
            let _ = writeln!(
                out,
                "licet_connections_closed_total{{reason=\"{}\"}} {}",
                why.label(),
                self.closed[why as usize].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP licet_accept_errors_total Failed accepts (e.g. out of file descriptors).\n\
             # TYPE licet_accept_errors_total counter\n\
             licet_accept_errors_total {}",
            self.accept_errors.load(Ordering::Relaxed)
        );
        out
    }
}

/// Maps a request path to a low-cardinality route label (ids collapse to `:id`).
pub fn route_label(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] => "/healthz",
        ["metrics"] => "/metrics",
        [".well-known", "jwks.json"] => "/.well-known/jwks.json",
        ["v1", "licenses", "activate"] => "/v1/licenses/activate",
        ["v1", "licenses", "validate"] => "/v1/licenses/validate",
        ["v1", "licenses", "deactivate"] => "/v1/licenses/deactivate",
        ["v1", "admin", "products"] => "/v1/admin/products",
        ["v1", "admin", "products", _] => "/v1/admin/products/:slug",
        ["v1", "admin", "products", _, "files"] => "/v1/admin/products/:slug/files",
        ["v1", "admin", "files", ..] => "/v1/admin/files/:id/signed-url",
        ["v1", "downloads", _] => "/v1/downloads/:token",
        ["v1", "files", _] => "/v1/files/:id",
        ["v1", "admin", "licenses"] => "/v1/admin/licenses",
        ["v1", "admin", "licenses", _] => "/v1/admin/licenses/:id",
        ["v1", "admin", "licenses", _, "activations", _] => {
            "/v1/admin/licenses/:id/activations/:id"
        }
        ["v1", "admin", "licenses", _, _] => "/v1/admin/licenses/:id/:action",
        ["v1", "admin", "keys", ..] => "/v1/admin/keys",
        ["v1", "admin", "audit"] => "/v1/admin/audit",
        ["v1", "admin", "purchases"] => "/v1/admin/purchases",
        ["v1", "admin", "purchases", ..] => "/v1/admin/purchases/:id",
        ["v1", "webhooks", "stripe"] => "/v1/webhooks/stripe",
        ["v1", "access"] => "/v1/access",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_counters_and_histogram() {
        let m = Metrics::default();
        m.observe(
            "POST",
            "/v1/licenses/validate",
            200,
            Duration::from_millis(2),
        );
        m.event(Event::Validation);
        let text = m.render();
        assert!(text.contains(
            "licet_http_requests_total{method=\"POST\",route=\"/v1/licenses/validate\",status=\"200\"} 1"
        ));
        assert!(text.contains("licet_validations_total 1"));
        m.event(Event::ValidationUnchanged);
        assert!(m.render().contains("licet_validations_unchanged_total 1"));
        assert!(text.contains("le=\"0.0025\"} 1"));
    }

    #[test]
    fn render_has_connection_counts() {
        let m = Metrics::default();
        m.connection(true);
        m.connection(true);
        m.connection(false);
        m.closed(Closed::Evicted);
        m.accept_error();
        let text = m.render();
        assert!(text.contains("licet_connections_open 1\n"), "{text}");
        assert!(text.contains("licet_connections_closed_total{reason=\"evicted\"} 1\n"));
        assert!(text.contains("licet_connections_closed_total{reason=\"refused\"} 0\n"));
        assert!(text.contains("licet_accept_errors_total 1\n"));
    }

    #[test]
    fn ids_collapse_in_route_labels() {
        assert_eq!(
            route_label("/v1/admin/licenses/lic_123/revoke"),
            "/v1/admin/licenses/:id/:action"
        );
        assert_eq!(route_label("/nope/x"), "other");
    }
}
