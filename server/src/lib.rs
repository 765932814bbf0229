//! The Licet server: a product catalogue, the license API (activate, validate, deactivate)
//! with Ed25519-signed offline leases, and the vendor's admin API and CLI.
//!
//! # Layout
//! HTTP and pages sit on top, the domain in the middle, the store at the bottom; `platform`
//! serves everyone. Domain modules never import `api`, `web` or `app`: each states what it
//! needs as a `Context` trait that [`App`] implements
//! (`tests/layers.rs` checks the rule). `docs/architecture.md` says where each kind of change
//! goes.
//! - `api`: the JSON API (warp filters): parse, call the domain, reply.
//! - `web`: the HTML pages: the shared shell, the customer portal and the vendor dashboard.
//! - `auth`: who is asking: admin tokens, dashboard and portal sessions, customer sign-in.
//! - `licensing`: activation, validation and deactivation; signing keys; license keys.
//! - `catalogue`: the vendor's operations on products and licenses.
//! - `commerce`: purchases and fulfilment, Stripe webhooks, downloads and file storage,
//!   the email outbox.
//! - `store`: all SQL, one layer over SQLite and PostgreSQL.
//! - `platform`: configuration, crypto, clock, errors, metrics, rate limits.
//! - `app`: the state shared by requests, and how it is opened; [`serve`] runs the server;
//!   `http_server` accepts connections under the connection limits.
// The public surface of the normal build is documented in full. The `testkit` feature (tests
// only) opens the store and other internals to Licet's own tests; those are not held to it.
#![cfg_attr(not(feature = "testkit"), deny(missing_docs))]
#![cfg_attr(feature = "testkit", allow(missing_docs))]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub(crate) mod api;
pub(crate) mod app;
pub(crate) mod auth;
pub(crate) mod catalogue;
pub(crate) mod cli;
pub(crate) mod commerce;
mod http_server;
pub(crate) mod licensing;
pub(crate) mod platform;
pub(crate) mod releases;
mod routes;
pub(crate) mod store;
#[cfg(feature = "testkit")]
pub mod testkit;
pub(crate) mod web;

// The public surface, on purpose small: what the binary runs, what a vendor embedding or
// configuring the server names, and (behind the `testkit` feature) what tests drive.
pub use app::{App, Opened};
pub use cli::{Cli, run};
pub use config::Config;
pub use error::{Error, Result};
pub use platform::{clock, config, error};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Serves HTTP on `listener` until `shutdown` resolves, then drains open connections for at
/// most `shutdown_grace_secs` (see `http_server` for the connection limits). Also runs the
/// replica's background work: the email outbox, reloading signing keys and pruning old
/// rate-limit windows.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let chores = tokio::spawn(background(app.clone()));
    let outbox = tokio::spawn(commerce::mail::run_outbox(app.clone()));
    let download_log = tokio::spawn(commerce::downloads::DownloadLog::run(app.clone()));
    let service =
        hyper_util::service::TowerToHyperService::new(warp::service(routes::routes(app.clone())));
    let limits = http_server::Limits::from_config(&app.config);
    http_server::Server::new(service, limits, app.metrics.clone())
        .run(listener, shutdown)
        .await;
    chores.abort();
    outbox.abort();
    download_log.abort();
}

async fn background(app: Arc<App>) {
    let period = Duration::from_secs(app.config.key_refresh_secs.max(1));
    let mut tick = tokio::time::interval(period);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = app.keys.reload(&app.store, &app.master).await {
            tracing::warn!(error = %e, "reloading signing keys failed; keeping the ones loaded");
        }
        if let Err(e) = app.store.prune_rate_limits(app.now()).await {
            tracing::warn!(error = %e, "pruning rate-limit windows failed");
        }
        if let Err(e) = app.store.prune_sessions(app.now()).await {
            tracing::warn!(error = %e, "pruning expired sessions and sign-in links failed");
        }
        if let Err(e) = prune_audit(&app).await {
            tracing::warn!(error = %e, "pruning the audit log failed");
        }
    }
}

/// Deletes audit entries older than the configured retention, a batch per pass.
async fn prune_audit(app: &App) -> Result<u64> {
    let days = i64::from(app.config.audit_retention_days);
    if days == 0 {
        return Ok(0);
    }
    Ok(app
        .store
        .prune_audit(app.now() - days * 86_400, 10_000)
        .await?)
}
