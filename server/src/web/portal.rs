//! The customer portal's pages (server-rendered with maud; the only script adds copy
//! buttons, and every page works without it).

use std::sync::Arc;

use maud::{Markup, html};
use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use crate::api::{body, client, with_app};
use crate::app::App;
use crate::auth::customer;
use crate::auth::sessions::{self, CSRF_COOKIE, Kind};
use crate::licensing::Caller;
use crate::platform::error::{Error, Result};
use crate::store::{PurchaseFilter, SessionRow, parse_list};
use crate::web::shell::{self, cookie, copy_button, date, layout, page, redirect};

const BACK: (&str, &str) = ("/portal", "Back to your purchases");

fn error_page(e: &Error) -> Response {
    shell::error_page(e, BACK)
}

/// Every portal route.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    // GET /portal: the sign-in form (or, signed in, the purchases).
    let home = warp::path!("portal")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .then(|app: Arc<App>, headers: HeaderMap| async move {
            match customer::session(&app, cookie(&headers, Kind::Customer.cookie())).await {
                Ok(Some(_)) => redirect("/portal/purchases"),
                Ok(None) => {
                    shell::sign_in_form(&app, &headers, |csrf| sign_in_page(csrf, "", None))
                }
                Err(e) => error_page(&e),
            }
        });
    // POST /portal/sign-in: email a sign-in link (the answer never says whether one was sent).
    let sign_in = warp::path!("portal" / "sign-in")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client(app.clone()))
        .and(warp::header::headers_cloned())
        .and(body::form::<SignInForm>(limit))
        .then(
            |app: Arc<App>, caller: Caller, headers: HeaderMap, form: Result<SignInForm>| async move {
                let form = match form {
                    Ok(f) => f,
                    Err(e) => return error_page(&e),
                };
                let expected = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
                let r = async {
                    sessions::check_csrf(expected, &form.csrf)?;
                    app.limiter
                        .check_sign_in_link(&app.store, app.now(), &caller.ip, &form.email)
                        .await?;
                    customer::request_sign_in(&app, &form.email)
                }
                .await;
                match r {
                    Ok(()) => page(StatusCode::OK, sent_page(&form.email)),
                    Err(e @ (Error::Api { .. } | Error::RateLimited { .. })) => page(
                        StatusCode::from_u16(e.code().http_status())
                            .unwrap_or(StatusCode::BAD_REQUEST),
                        sign_in_page(expected, &form.email, Some(&e.public_message())),
                    ),
                    Err(e) => error_page(&e),
                }
            },
        );
    // GET /portal/auth/{token}: a "Sign in" button for the link. Fetching it uses nothing,
    // so mail scanners that open links cannot burn them.
    let confirm = warp::path!("portal" / "auth" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .then(
            |token: String, app: Arc<App>, headers: HeaderMap| async move {
                match customer::link_is_usable(&app, &token).await {
                    Ok(true) => {
                        shell::sign_in_form(&app, &headers, |csrf| confirm_page(&token, csrf))
                    }
                    Ok(false) => shell::error_page(
                        &link_refused(),
                        ("/portal", "Ask for a new sign-in link"),
                    ),
                    Err(e) => error_page(&e),
                }
            },
        );
    // POST /portal/auth/{token}: use the link (once), start a session.
    let auth = warp::path!("portal" / "auth" / String)
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .and(body::form::<CsrfForm>(limit))
        .then(
            |token: String, app: Arc<App>, headers: HeaderMap, form: Result<CsrfForm>| async move {
                let r = async {
                    let form = form?;
                    let expected = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
                    sessions::check_csrf(expected, &form.csrf)?;
                    customer::redeem(&app, &token).await
                }
                .await;
                match r {
                    Ok(session) => {
                        let mut res = redirect("/portal/purchases");
                        shell::set_cookie(
                            &mut res,
                            &app,
                            Kind::Customer.cookie(),
                            &session.cookie,
                            customer::SESSION_SECS,
                        );
                        res
                    }
                    Err(e) => shell::error_page(&e, ("/portal", "Ask for a new sign-in link")),
                }
            },
        );
    // GET /portal/purchases: the signed-in customer's purchases.
    let purchases = warp::path!("portal" / "purchases")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .then(|app: Arc<App>, headers: HeaderMap| async move {
            let r = async {
                let Some(session) = current(&app, &headers).await? else {
                    return Ok(None);
                };
                let filter = PurchaseFilter {
                    email: Some(session.email.clone()),
                    limit: 200,
                    ..PurchaseFilter::default()
                };
                let rows = app.store.purchases(&filter).await?;
                Ok(Some(purchases_page(&session, &rows)))
            }
            .await;
            respond(r)
        });
    // GET /portal/purchases/{id}: one purchase: keys with their machines, downloads, access.
    let purchase = warp::path!("portal" / "purchases" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .then(|id: String, app: Arc<App>, headers: HeaderMap| async move {
            let r = async {
                let Some(session) = current(&app, &headers).await? else {
                    return Ok(None);
                };
                let view = customer::purchase(&app, &session.email, &id).await?;
                Ok(Some(purchase_page(&session, &view, None)))
            }
            .await;
            respond(r)
        });
    // POST /portal/purchases/{id}/activations/{activation}/deactivate: free a seat.
    let deactivate =
        warp::path!("portal" / "purchases" / String / "activations" / String / "deactivate")
            .and(warp::post())
            .and(with_app(app.clone()))
            .and(warp::header::headers_cloned())
            .and(body::form::<CsrfForm>(limit))
            .then(
                |id: String,
                 activation: String,
                 app: Arc<App>,
                 headers: HeaderMap,
                 form: Result<CsrfForm>| async move {
                    let r = async {
                        let session = signed_in(&app, &headers, form.map(|f| f.csrf)).await?;
                        customer::deactivate_machine(&app, &session.email, &id, &activation)
                            .await?;
                        Ok(id)
                    }
                    .await;
                    match r {
                        Ok(id) => redirect(&format!("/portal/purchases/{id}")),
                        Err(e) => error_page(&e),
                    }
                },
            );
    // POST /portal/purchases/{id}/links: fresh download links.
    let links = warp::path!("portal" / "purchases" / String / "links")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .and(body::form::<CsrfForm>(limit))
        .then(
            |id: String, app: Arc<App>, headers: HeaderMap, form: Result<CsrfForm>| async move {
                let r = async {
                    let session = signed_in(&app, &headers, form.map(|f| f.csrf)).await?;
                    let view = customer::purchase(&app, &session.email, &id).await?;
                    let links =
                        crate::commerce::downloads::new_links(&app, &view.purchase.id).await?;
                    Ok(Some(purchase_page(&session, &view, Some(&links))))
                }
                .await;
                respond(r)
            },
        );
    // POST /portal/sign-out
    let sign_out = warp::path!("portal" / "sign-out")
        .and(warp::post())
        .and(with_app(app))
        .and(warp::header::headers_cloned())
        .and(body::form::<CsrfForm>(limit))
        .then(
            |app: Arc<App>, headers: HeaderMap, form: Result<CsrfForm>| async move {
                let r = async {
                    signed_in(&app, &headers, form.map(|f| f.csrf)).await?;
                    let value = cookie(&headers, Kind::Customer.cookie()).unwrap_or_default();
                    sessions::end(&app, value).await
                }
                .await;
                match r {
                    Ok(()) => {
                        let mut res = redirect("/portal");
                        shell::clear_cookie(&mut res, &app, Kind::Customer.cookie());
                        res
                    }
                    Err(e) => error_page(&e),
                }
            },
        );
    home.or(sign_in)
        .unify()
        .or(confirm)
        .unify()
        .or(auth)
        .unify()
        .or(purchases)
        .unify()
        .or(purchase)
        .unify()
        .or(deactivate)
        .unify()
        .or(links)
        .unify()
        .or(sign_out)
        .unify()
        .boxed()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInForm {
    email: String,
    csrf: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsrfForm {
    csrf: String,
}

/// The signed-in customer's session, if any.
async fn current(app: &App, headers: &HeaderMap) -> Result<Option<SessionRow>> {
    customer::session(app, cookie(headers, Kind::Customer.cookie())).await
}

/// A page, or the sign-in form when not signed in, or the error page.
fn respond(r: Result<Option<Markup>>) -> Response {
    match r {
        Ok(Some(markup)) => page(StatusCode::OK, markup),
        Ok(None) => redirect("/portal"),
        Err(e) => error_page(&e),
    }
}

/// The session of a form post whose CSRF token matches it.
async fn signed_in(app: &App, headers: &HeaderMap, csrf: Result<String>) -> Result<SessionRow> {
    let csrf = csrf?;
    let session = current(app, headers).await?.ok_or_else(|| {
        Error::new(
            licet_proto::ErrorCode::Unauthorized,
            "you are not signed in",
        )
    })?;
    sessions::check_csrf(&session.csrf, &csrf)?;
    Ok(session)
}

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

fn sign_in_page(csrf: &str, email: &str, error: Option<&str>) -> Markup {
    layout(
        "Your purchases",
        None,
        html! {
            p { "Enter the email you bought with. We will send you a link to sign in." }
            @if let Some(e) = error { p role="alert" { (e) } }
            form method="post" action="/portal/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="email" { "Email" }
                input type="email" id="email" name="email" required autocomplete="email" value=(email);
                button type="submit" class="primary" { "Email me a sign-in link" }
            }
        },
    )
}

/// What an unusable sign-in link answers.
fn link_refused() -> Error {
    Error::new(
        licet_proto::ErrorCode::LinkExpired,
        "this sign-in link was used or has expired; ask for a new one",
    )
}

/// The page a sign-in link opens: one button that uses the link.
fn confirm_page(token: &str, csrf: &str) -> Markup {
    layout(
        "Sign in",
        None,
        html! {
            p { "Sign in to see your purchases, downloads and activated machines." }
            form method="post" action={"/portal/auth/" (token)} {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" class="primary" { "Sign in" }
            }
        },
    )
}

fn sent_page(email: &str) -> Markup {
    layout(
        "Check your email",
        None,
        html! {
            p { "If " strong { (email) } " has purchases, a sign-in link is on its way. It works once, for 15 minutes." }
        },
    )
}

fn status_text(status: &str) -> Markup {
    html! {
        span class={"status-" (status)} {
            @match status {
                "REFUNDED" => "Refunded",
                "DISPUTED" => "Disputed",
                "COMPLETED" => "Completed",
                "PENDING" => "Pending",
                "FAILED" => "Failed",
                other => (other.to_lowercase()),
            }
        }
    }
}

fn purchases_page(session: &SessionRow, rows: &[crate::store::PurchaseRow]) -> Markup {
    layout(
        "Your purchases",
        Some(nav(session)),
        html! {
            @if rows.is_empty() {
                p { "No purchases yet." }
            } @else {
                div class="scroll" {
                    table {
                        thead { tr { th scope="col" { "Products" } th scope="col" { "Date" } th scope="col" { "Status" } } }
                        tbody {
                            @for p in rows {
                                tr {
                                    td { a href={"/portal/purchases/" (p.id)} { (parse_list(&p.products).join(", ")) } }
                                    td { (date(p.created_at)) }
                                    td { (status_text(&p.status)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn purchase_page(
    session: &SessionRow,
    view: &customer::PurchaseView,
    links: Option<&[crate::commerce::downloads::Link]>,
) -> Markup {
    let p = &view.purchase;
    let active = p.status == "COMPLETED";
    let csrf = &session.csrf;
    layout(
        &parse_list(&p.products).join(", "),
        Some(nav(session)),
        html! {
            p { "Bought " (date(p.created_at)) ". Status: " (status_text(&p.status)) }
            @if !active {
                p role="alert" { "This purchase is " (p.status.to_lowercase()) ": its keys, downloads and access no longer work." }
            }
            @for lic in &view.licenses {
                section {
                    h2 { "License for " (lic.product) }
                    p {
                        "Key: " code id={"key-" (lic.id)} { (lic.key) } " "
                        @if active { (copy_button(&lic.key, "Copy the license key")) }
                    }
                    p { "Status: " span class={"status-" (lic.status.as_str())} { (lic.status.as_str().to_lowercase()) } ". "
                        @match lic.expires_at { Some(t) => { "Expires " (date(t)) "." }, None => { "Never expires." } } }
                    @let live: Vec<_> = lic.activations.iter().flatten().filter(|a| a.deactivated_at.is_none()).collect();
                    p { (live.len()) " of " (lic.max_activations) " machines in use." }
                    @if !live.is_empty() {
                        div class="scroll" {
                            table {
                                caption class="visually-hidden" { "Machines using this key" }
                                thead { tr { th scope="col" { "Machine" } th scope="col" { "Platform" } th scope="col" { "Last seen" } th scope="col" { span hidden { "Action" } } } }
                                tbody {
                                    @for a in live {
                                        tr {
                                            td { (a.name.as_deref().unwrap_or("unnamed")) }
                                            td { (a.platform.as_deref().unwrap_or("")) }
                                            td { (date(a.last_seen_at)) }
                                            td {
                                                form method="post" action={"/portal/purchases/" (p.id) "/activations/" (a.id) "/deactivate"} {
                                                    input type="hidden" name="csrf" value=(csrf);
                                                    button type="submit" class="danger" { "Deactivate this machine" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @for (name, url) in &view.access {
                section {
                    h2 { "Access to " (name) }
                    @match url {
                        Some(url) => p { a href=(url) rel="noopener" { "Open " (name) } " " (copy_button(url, "Copy the access link")) },
                        None => p { "Your access is active. Sign in at the vendor's site with " strong { (p.email) } "." },
                    }
                }
            }
            @if view.has_files {
                section {
                    h2 { "Downloads" }
                    p { (p.download_limit - p.download_count) " of " (p.download_limit) " downloads left." }
                    @if let Some(links) = links {
                        ul { @for l in links { li { a href=(l.url) { "Download " (l.file) } } } }
                        p { "The links work for 24 hours." }
                    } @else if active && p.download_count < p.download_limit {
                        form method="post" action={"/portal/purchases/" (p.id) "/links"} {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" class="primary" { "Generate download link" }
                        }
                    }
                }
            }
        },
    )
}
