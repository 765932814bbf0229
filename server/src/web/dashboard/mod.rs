//! The vendor dashboard (`/admin`): server-rendered pages over the same domain operations
//! as the admin API. Every page needs an admin session; every form carries its CSRF token.
//!
//! This file is the route table; each page group has its handlers and templates in its
//! own module, the forms' rules are in `forms`, the list queries' in `filters`.

mod filters;
mod forms;
mod licenses;
mod mail;
mod offline;
mod overview;
mod products;
mod purchases;
mod releases;
mod sign_in;
mod trials;

use std::sync::Arc;

use maud::{Markup, html};
use serde::de::DeserializeOwned;
use warp::filters::BoxedFilter;
use warp::reply::Response;
use warp::{Filter, get, path, post};

use crate::api::{client, query, with_app};
use crate::app::App;
use crate::auth::sessions::Kind;
use crate::platform::error::Result;
use crate::store::SessionRow;
use crate::web::session::{self, Area, Outcome, Signed};

/// The dashboard as a web area.
const AREA: Area = Area {
    kind: Kind::Admin,
    home: "/admin",
    back: ("/admin", "Back to the dashboard"),
};

/// Every dashboard route, one line each (kept as written: a table reads better than
/// rustfmt's one call per line).
#[rustfmt::skip]
pub(crate) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let gate = session::gate(app.clone(), Kind::Admin);
    let headers = warp::header::headers_cloned;
    let files = warp::multipart::form().max_length(crate::commerce::downloads::MAX_FILE_BYTES);

    let signing_in = {
        // GET /admin: the overview, or the sign-in form.
        let home = path!("admin").and(get()).and(with_app(app.clone())).and(headers()).and(gate.clone()).then(sign_in::home);
        // POST /admin/sign-in
        let sign_in = path!("admin" / "sign-in").and(post()).and(with_app(app.clone())).and(client(app.clone())).and(headers()).and(session::sign_in_form(limit)).then(sign_in::sign_in);
        // POST /admin/sign-out
        let sign_out = path!("admin" / "sign-out").and(post()).and(form(&app)).then(sign_in::sign_out);
        home.or(sign_in).unify().or(sign_out).unify().boxed()
    };
    let product_routes = {
        // GET /admin/products
        let list = path!("admin" / "products").and(get()).and(gate.clone()).then(products::list).map(page);
        // GET /admin/products/new
        let new = path!("admin" / "products" / "new").and(get()).and(gate.clone()).then(products::new).map(page);
        // POST /admin/products: create; a refused form comes back with its input and the reason.
        let create = path!("admin" / "products").and(post()).and(form(&app)).then(products::create).map(reply);
        // GET /admin/products/{slug}?saved=
        let show = path!("admin" / "products" / String).and(get()).and(gate.clone()).and(query()).then(products::show).map(page);
        // POST /admin/products/{slug}: change the policy.
        let update = path!("admin" / "products" / String).and(post()).and(form(&app)).then(products::update).map(reply);
        // POST /admin/products/{slug}/files: attach a file (multipart: `csrf` first, then `file`).
        let upload = path!("admin" / "products" / String / "files").and(post()).and(gate.clone()).and(files).then(products::upload).map(reply);
        list.or(new).unify().or(create).unify().or(show).unify().or(update).unify().or(upload).unify().boxed()
    };
    let purchase_routes = {
        // GET /admin/purchases?email=&status=&from=&to=&failed=&page=
        let list = path!("admin" / "purchases").and(get()).and(gate.clone()).and(query()).then(purchases::list).map(page);
        // GET /admin/purchases/{id}
        let show = path!("admin" / "purchases" / String).and(get()).and(gate.clone()).then(purchases::show).map(page);
        // POST /admin/purchases/{id}/fulfil: retry fulfilment.
        let fulfil = path!("admin" / "purchases" / String / "fulfil").and(post()).and(form(&app)).then(purchases::fulfil).map(reply);
        list.or(show).unify().or(fulfil).unify().boxed()
    };
    let email_routes = {
        // GET /admin/emails: messages given up after their retry schedule.
        let failed = path!("admin" / "emails").and(get()).and(gate.clone()).then(mail::failed).map(page);
        // POST /admin/emails/{id}/retry: send a failed message again, with a fresh schedule.
        let retry = path!("admin" / "emails" / String / "retry").and(post()).and(form(&app)).then(mail::retry).map(reply);
        failed.or(retry).unify().boxed()
    };
    let license_routes = {
        // GET /admin/licenses?q=&product=&page=
        let list = path!("admin" / "licenses").and(get()).and(gate.clone()).and(query()).then(licenses::list).map(page);
        // POST /admin/licenses: issue a license.
        let issue = path!("admin" / "licenses").and(post()).and(form(&app)).then(licenses::issue).map(reply);
        // GET /admin/licenses/{id}
        let show = path!("admin" / "licenses" / String).and(get()).and(gate.clone()).then(licenses::show).map(page);
        // POST /admin/licenses/{id}/extend: a new expiry date, or none (perpetual). Before
        // the next route, which would take `extend` for an unknown action.
        let extend = path!("admin" / "licenses" / String / "extend").and(post()).and(form(&app)).then(licenses::extend).map(reply);
        // POST /admin/licenses/{id}/updates: the end of its updates, or none (its expiry).
        let updates = path!("admin" / "licenses" / String / "updates").and(post()).and(form(&app)).then(licenses::set_updates).map(reply);
        // POST /admin/licenses/{id}/{suspend|reinstate|revoke}
        let status = path!("admin" / "licenses" / String / String).and(post()).and(form(&app)).then(licenses::change_status).map(reply);
        // POST /admin/licenses/{id}/activations/{activation}/remove: free a seat.
        let remove = path!("admin" / "licenses" / String / "activations" / String / "remove").and(post()).and(form(&app)).then(licenses::remove_activation).map(reply);
        // POST /admin/licenses/{id}/seats/{seat}/end: free a floating seat at once.
        let end_seat = path!("admin" / "licenses" / String / "seats" / String / "end").and(post()).and(form(&app)).then(licenses::end_seat).map(reply);
        // POST /admin/licenses/{id}/offline/{activate|deactivate}: an air-gapped machine's
        // request or deactivation proof, pasted or as a file.
        let offline_form = || warp::multipart::form().max_length(crate::web::air_gapped::FORM_BYTES);
        let offline_activate = path!("admin" / "licenses" / String / "offline" / "activate").and(post()).and(gate.clone()).and(client(app.clone())).and(offline_form()).then(offline::activate).map(page);
        let offline_deactivate = path!("admin" / "licenses" / String / "offline" / "deactivate").and(post()).and(gate.clone()).and(client(app.clone())).and(offline_form()).then(offline::deactivate).map(page);
        let offline_routes = offline_activate.or(offline_deactivate).unify().boxed();
        list.or(issue).unify().or(show).unify().or(extend).unify().or(updates).unify().or(status).unify().or(remove).unify().or(end_seat).unify().or(offline_routes).unify().boxed()
    };
    let release_routes = {
        // Room for the upload form's other fields besides the largest file.
        let upload_form = warp::multipart::form().max_length(crate::commerce::downloads::MAX_FILE_BYTES + crate::web::uploads::FORM_OVERHEAD_BYTES);
        // GET /admin/releases: the products, each with its newest version.
        let index = path!("admin" / "releases").and(get()).and(gate.clone()).then(releases::index).map(page);
        // GET /admin/releases/{slug}?saved=
        let show = path!("admin" / "releases" / String).and(get()).and(gate.clone()).and(query()).then(releases::show).map(page);
        // POST /admin/releases/{slug}: a new draft.
        let create = path!("admin" / "releases" / String).and(post()).and(form(&app)).then(releases::create).map(reply);
        // POST /admin/releases/{slug}/{id}/files: a platform's file (multipart: `csrf` first, `file` last).
        let upload = path!("admin" / "releases" / String / String / "files").and(post()).and(gate.clone()).and(upload_form).then(releases::upload).map(reply);
        // POST /admin/releases/{slug}/{id}/{publish|yank}. After the upload route, since it
        // would take `files` for an action.
        let state = path!("admin" / "releases" / String / String / String).and(post()).and(form(&app)).then(releases::change_state).map(reply);
        index.or(show).unify().or(create).unify().or(upload).unify().or(state).unify().boxed()
    };
    // GET /admin/trials?product=&state=&page=
    let trial_routes = path!("admin" / "trials").and(get()).and(gate.clone()).and(query()).then(trials::list).map(page).boxed();
    signing_in.or(product_routes).unify().or(purchase_routes).unify().or(email_routes).unify().or(license_routes).unify().or(release_routes).unify().or(trial_routes).unify().boxed()
}

/// A form post of the signed-in vendor, its CSRF token checked.
fn form<T>(
    app: &Arc<App>,
) -> impl Filter<Extract = (Result<Signed<T>>,), Error = warp::Rejection> + Clone + use<T>
where
    T: DeserializeOwned + Send + 'static,
{
    session::form_gate(app.clone(), Kind::Admin, app.config.max_body_bytes)
}

/// A dashboard page, the sign-in page when signed out, or the error page.
fn page(r: Outcome<Markup>) -> Response {
    AREA.page(r)
}

/// A dashboard form's reply, or the error page.
fn reply(r: Result<Response>) -> Response {
    AREA.reply(r)
}

/// The navigation of every signed-in page; `current` is the page group shown.
fn nav(s: &SessionRow, current: &str) -> Markup {
    let item = |href: &str, name: &str, label: &str| {
        html! {
            @if name == current { a href=(href) aria-current="page" { strong { (label) } } }
            @else { a href=(href) { (label) } }
        }
    };
    html! {
        nav aria-label="Dashboard" {
            (item("/admin", "overview", "Overview"))
            (item("/admin/products", "products", "Products"))
            (item("/admin/purchases", "purchases", "Purchases"))
            (item("/admin/licenses", "licenses", "Licenses"))
            (item("/admin/releases", "releases", "Releases"))
            (item("/admin/trials", "trials", "Trials"))
            form method="post" action="/admin/sign-out" {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" { "Sign out" }
            }
        }
    }
}

/// An amount in a currency's smallest unit, shown with two decimals (`-0.50 EUR`).
fn money(amount: i128, currency: &str) -> String {
    let cur = currency.to_uppercase();
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {cur}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_shows_two_decimals_and_the_sign_of_any_amount() {
        let table: &[(i128, &str, &str)] = &[
            (0, "usd", "0.00 USD"),
            (5, "usd", "0.05 USD"),
            (1999, "eur", "19.99 EUR"),
            (100_000, "jpy", "1000.00 JPY"),
            (-50, "eur", "-0.50 EUR"),
            (-150, "eur", "-1.50 EUR"),
            (i128::from(i64::MIN), "", "-92233720368547758.08 "),
        ];
        for (amount, currency, want) in table {
            assert_eq!(money(*amount, currency), *want, "{amount} {currency}");
        }
    }
}
