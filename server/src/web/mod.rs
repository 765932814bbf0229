//! The HTML pages: the customer portal and the vendor dashboard, their shared shell, the one
//! session/CSRF gate both use, and charts.
//!
//! # Layout
//! - `shell`: the page shell, cookies, redirects, security headers, error pages, badges.
//! - `session`: the session gate and CSRF-checked forms of both areas.
//! - `portal/`: the customer portal (`/portal`): route table in `mod.rs`, pages by group.
//! - `dashboard/`: the vendor dashboard (`/admin`): route table in `mod.rs`, one module per
//!   page group, form rules in `forms`, list queries in `filters`.
//! - `charts`: the dashboard's SVG charts (the overview, a floating license's seats).
//! - `uploads`: reading `multipart/form-data` uploads part by part, CSRF token first.
//! - `air_gapped`: the air-gapped activation forms and answer pages of both areas.
//! - `subscriptions`: how a subscription's state reads, in both areas.

pub(crate) mod air_gapped;
pub(crate) mod charts;
mod dashboard;
mod portal;
pub(crate) mod session;
pub(crate) mod shell;
pub(crate) mod subscriptions;
pub(crate) mod uploads;

use std::sync::Arc;

use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::app::App;

/// Every page route.
pub(crate) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    portal::routes(app.clone())
        .or(dashboard::routes(app.clone()))
        .unify()
        .or(shell::routes(app))
        .unify()
        .boxed()
}
