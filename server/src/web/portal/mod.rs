//! The customer portal (`/portal`): server-rendered with maud; the only script adds copy
//! buttons, and every page works without it. Customers sign in with an emailed link; the
//! pages show their purchases, keys with the machines using them, the releases each key
//! covers, downloads and access.
//!
//! This file is the route table; `sign_in` and `purchases` hold the handlers and pages,
//! `releases` a license's releases on its purchase's page, `offline` the air-gapped
//! activation of the purchase's licenses.

mod offline;
mod purchases;
mod releases;
mod sign_in;

use std::sync::Arc;

use maud::{Markup, html};
use serde::de::DeserializeOwned;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, get, path, post};

use crate::api::{client, with_app};
use crate::app::App;
use crate::auth::sessions::Kind;
use crate::platform::error::Result;
use crate::store::SessionRow;
use crate::web::session::{self, Area, Outcome, Signed};

/// The portal as a web area.
const AREA: Area = Area {
    kind: Kind::Customer,
    home: "/portal",
    back: ("/portal", "Back to your purchases"),
};

/// Every portal route, one line each (kept as written: a table reads better than
/// rustfmt's one call per line).
#[rustfmt::skip]
pub(crate) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let gate = session::gate(app.clone(), Kind::Customer);
    let headers = warp::header::headers_cloned;

    // GET /portal: the sign-in form (or, signed in, the purchases).
    let home = path!("portal").and(get()).and(with_app(app.clone())).and(headers()).and(gate.clone()).then(sign_in::home);
    // POST /portal/sign-in: email a sign-in link (the answer never says whether one was sent).
    let sign_in = path!("portal" / "sign-in").and(post()).and(with_app(app.clone())).and(client(app.clone())).and(session::sign_in_form(limit)).then(sign_in::sign_in);
    // GET /portal/auth/{token}: a "Sign in" button for the link. Fetching it uses nothing,
    // so mail scanners that open links cannot burn them.
    let confirm = path!("portal" / "auth" / String).and(get()).and(with_app(app.clone())).and(headers()).then(sign_in::confirm);
    // POST /portal/auth/{token}: use the link (once), start a session.
    let redeem = path!("portal" / "auth" / String).and(post()).and(with_app(app.clone())).and(session::sign_in_form(limit)).then(sign_in::redeem);
    // GET /portal/purchases: the signed-in customer's purchases.
    let list = path!("portal" / "purchases").and(get()).and(gate.clone()).then(purchases::list).map(page);
    // GET /portal/purchases/{id}: one purchase: keys with their machines, downloads, access.
    let show = path!("portal" / "purchases" / String).and(get()).and(gate.clone()).then(purchases::show).map(page);
    // POST /portal/purchases/{id}/activations/{activation}/deactivate: free a seat.
    let deactivate = path!("portal" / "purchases" / String / "activations" / String / "deactivate").and(post()).and(form(&app)).then(purchases::deactivate).map(reply);
    // POST /portal/purchases/{id}/links: fresh download links.
    let links = path!("portal" / "purchases" / String / "links").and(post()).and(form(&app)).then(purchases::links).map(page);
    // POST /portal/sign-out
    let sign_out = path!("portal" / "sign-out").and(post()).and(form(&app)).then(sign_in::sign_out);

    let signing_in = home.or(sign_in).unify().or(confirm).unify().or(redeem).unify().or(sign_out).unify().boxed();
    // POST /portal/purchases/{id}/seats/{seat}/release: free a stuck floating seat.
    let release_seat = path!("portal" / "purchases" / String / "seats" / String / "release").and(post()).and(form(&app)).then(purchases::release_seat).map(reply);
    // POST /portal/purchases/{id}/offline/{activate|deactivate}: an air-gapped machine's
    // request or deactivation proof, pasted or as a file.
    let offline_form = || warp::multipart::form().max_length(crate::web::air_gapped::FORM_BYTES);
    let offline_activate = path!("portal" / "purchases" / String / "offline" / "activate").and(post()).and(gate.clone()).and(client(app.clone())).and(offline_form()).then(offline::activate).map(page);
    let offline_deactivate = path!("portal" / "purchases" / String / "offline" / "deactivate").and(post()).and(gate.clone()).and(client(app.clone())).and(offline_form()).then(offline::deactivate).map(page);
    let purchase_routes = list.or(show).unify().or(deactivate).unify().or(links).unify().or(release_seat).unify().or(offline_activate).unify().or(offline_deactivate).unify().boxed();
    signing_in.or(purchase_routes).unify().boxed()
}

/// A form post of the signed-in customer, its CSRF token checked.
fn form<T>(
    app: &Arc<App>,
) -> impl Filter<Extract = (Result<Signed<T>>,), Error = warp::Rejection> + Clone + use<T>
where
    T: DeserializeOwned + Send + 'static,
{
    session::form_gate(app.clone(), Kind::Customer, app.config.max_body_bytes)
}

/// A portal page, the sign-in page when signed out, or the error page.
fn page(r: Outcome<Markup>) -> Response {
    AREA.page(r)
}

/// A portal form's reply, or the error page.
fn reply(r: Result<Response>) -> Response {
    AREA.reply(r)
}

/// The navigation of every signed-in page.
fn nav(session: &SessionRow) -> Markup {
    html! {
        nav aria-label="Portal" {
            a href="/portal/purchases" { "Your purchases" }
            span { (session.email) }
            form method="post" action="/portal/sign-out" {
                input type="hidden" name="csrf" value=(session.csrf);
                button type="submit" { "Sign out" }
            }
        }
    }
}
