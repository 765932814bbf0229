//! The HTML pages: the customer portal and the vendor dashboard, their shared shell, and
//! charts.

pub(crate) mod charts;
mod dashboard;
mod portal;
pub(crate) mod shell;

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
