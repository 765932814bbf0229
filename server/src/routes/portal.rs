//! The customer portal's pages (server-rendered with maud; no JavaScript).

use std::sync::Arc;

use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::{body, with_app};
use crate::app::App;
use crate::crypto::random_secret;
use crate::error::{Error, Result};
use crate::portal::{self, CSRF_COOKIE, SESSION_COOKIE};
use crate::store::{PurchaseFilter, parse_list};

/// Every portal route.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    // GET /portal: the sign-in form (or, signed in, the purchases).
    let home = warp::path!("portal")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .then(|app: Arc<App>, headers: HeaderMap| async move {
            match portal::session(&app, cookie(&headers, SESSION_COOKIE)).await {
                Ok(Some(_)) => redirect("/portal/purchases", None),
                Ok(None) => {
                    let token = cookie(&headers, CSRF_COOKIE)
                        .map(str::to_owned)
                        .unwrap_or_else(|| random_secret("").to_string());
                    let mut res = page(StatusCode::OK, sign_in_page(&token, "", None));
                    set_cookie(&mut res, &app, CSRF_COOKIE, &token, 3600);
                    res
                }
                Err(e) => error_page(&e),
            }
        });
    // POST /portal/sign-in: email a sign-in link (the answer never says whether one was sent).
    let sign_in = warp::path!("portal" / "sign-in")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .and(body::form::<SignInForm>(limit))
        .then(
            |app: Arc<App>, headers: HeaderMap, form: Result<SignInForm>| async move {
                let form = match form {
                    Ok(f) => f,
                    Err(e) => return error_page(&e),
                };
                let expected = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
                if let Err(e) = portal::check_csrf(expected, &form.csrf) {
                    return error_page(&e);
                }
                match portal::request_sign_in(&app, &form.email).await {
                    Ok(()) => page(StatusCode::OK, sent_page(&form.email)),
                    Err(e @ Error::Api { .. }) => page(
                        StatusCode::BAD_REQUEST,
                        sign_in_page(expected, &form.email, Some(&e.public_message())),
                    ),
                    Err(e) => error_page(&e),
                }
            },
        );
    // GET /portal/auth/{token}: use a sign-in link, start a session.
    let auth = warp::path!("portal" / "auth" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .then(|token: String, app: Arc<App>| async move {
            match portal::redeem(&app, &token).await {
                Ok(session) => redirect("/portal/purchases", Some((&app, &session.cookie))),
                Err(e) => error_page(&e),
            }
        });
    // GET /portal/purchases: the signed-in customer's purchases.
    let purchases = warp::path!("portal" / "purchases")
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .then(|app: Arc<App>, headers: HeaderMap| async move {
            let session = match portal::session(&app, cookie(&headers, SESSION_COOKIE)).await {
                Ok(Some(s)) => s,
                Ok(None) => return redirect("/portal", None),
                Err(e) => return error_page(&e),
            };
            let filter = PurchaseFilter {
                email: Some(session.email.clone()),
                limit: 200,
                ..PurchaseFilter::default()
            };
            match app.store.purchases(&filter).await {
                Ok(rows) => page(
                    StatusCode::OK,
                    purchases_page(&session.email, &session.csrf, &rows),
                ),
                Err(e) => error_page(&Error::from(e)),
            }
        });
    // GET /portal/purchases/{id}: one purchase: keys with their machines, downloads.
    let purchase = warp::path!("portal" / "purchases" / String)
        .and(warp::get())
        .and(with_app(app.clone()))
        .and(warp::header::headers_cloned())
        .then(|id: String, app: Arc<App>, headers: HeaderMap| async move {
            let r = async {
                let Some(session) = portal::session(&app, cookie(&headers, SESSION_COOKIE)).await?
                else {
                    return Ok(None);
                };
                let view = portal::purchase(&app, &session.email, &id).await?;
                Ok(Some((session, view)))
            }
            .await;
            match r {
                Ok(Some((session, view))) => {
                    page(StatusCode::OK, purchase_page(&session.csrf, &view, None))
                }
                Ok(None) => redirect("/portal", None),
                Err(e) => error_page(&e),
            }
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
                        portal::deactivate_machine(&app, &session.email, &id, &activation).await?;
                        Ok(id)
                    }
                    .await;
                    match r {
                        Ok(id) => redirect_to(&format!("/portal/purchases/{id}")),
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
                    let view = portal::purchase(&app, &session.email, &id).await?;
                    let links = crate::downloads::new_links(&app, &view.purchase.id).await?;
                    Ok((session, view, links))
                }
                .await;
                match r {
                    Ok((session, view, links)) => page(
                        StatusCode::OK,
                        purchase_page(&session.csrf, &view, Some(&links)),
                    ),
                    Err(e) => error_page(&e),
                }
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
                    let form = form?;
                    let value = cookie(&headers, SESSION_COOKIE).unwrap_or_default();
                    let session = portal::session(&app, Some(value)).await?.ok_or_else(|| {
                        Error::new(
                            licet_proto::ErrorCode::Unauthorized,
                            "you are not signed in",
                        )
                    })?;
                    portal::check_csrf(&session.csrf, &form.csrf)?;
                    portal::sign_out(&app, value).await
                }
                .await;
                match r {
                    Ok(()) => {
                        let mut res = redirect("/portal", None);
                        res.headers_mut().append(
                            header::SET_COOKIE,
                            HeaderValue::from_static(
                                "licet_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax",
                            ),
                        );
                        res
                    }
                    Err(e) => error_page(&e),
                }
            },
        );
    home.or(sign_in)
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

/// The session of a form post whose CSRF token matches it.
async fn signed_in(
    app: &App,
    headers: &HeaderMap,
    csrf: Result<String>,
) -> Result<crate::store::SessionRow> {
    let csrf = csrf?;
    let session = portal::session(app, cookie(headers, SESSION_COOKIE))
        .await?
        .ok_or_else(|| {
            Error::new(
                licet_proto::ErrorCode::Unauthorized,
                "you are not signed in",
            )
        })?;
    portal::check_csrf(&session.csrf, &csrf)?;
    Ok(session)
}

fn redirect_to(to: &str) -> Response {
    let mut res = Response::new(Default::default());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// A cookie's value from the request headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(res: &mut Response, app: &App, name: &str, value: &str, max_age: i64) {
    let secure = if app.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn redirect(to: &str, session: Option<(&App, &str)>) -> Response {
    let mut res = redirect_to(to);
    if let Some((app, value)) = session {
        set_cookie(&mut res, app, SESSION_COOKIE, value, portal::SESSION_SECS);
    }
    res
}

fn page(status: StatusCode, markup: Markup) -> Response {
    let mut res = Response::new(markup.into_string().into());
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
        ),
    );
    res
}

fn error_page(e: &Error) -> Response {
    if matches!(e, Error::Database(_) | Error::Internal(_)) {
        tracing::error!(error = %e, "portal request failed");
    }
    let status =
        StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page(
        status,
        layout(
            "Something went wrong",
            html! {
                p role="alert" { (e.public_message()) }
                p { a href="/portal" { "Back to sign-in" } }
            },
        ),
    )
}

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Licet" }
                style { (maud::PreEscaped(CSS)) }
            }
            body { main { h1 { (title) } (body) } }
        }
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24}\
main{max-width:46rem;margin:2rem auto;padding:0 1rem}label{display:block;margin:.5rem 0 .25rem}\
input[type=email]{width:100%;max-width:24rem;padding:.5rem;font-size:1rem}\
button{margin-top:.75rem;padding:.5rem 1rem;font-size:1rem}table{width:100%;border-collapse:collapse}\
td,th{text-align:left;padding:.4rem;border-bottom:1px solid #d8dde3}[role=alert]{color:#a40e26}";

fn sign_in_page(csrf: &str, email: &str, error: Option<&str>) -> Markup {
    layout(
        "Your purchases",
        html! {
            p { "Enter the email you bought with. We will send you a link to sign in." }
            @if let Some(e) = error { p role="alert" { (e) } }
            form method="post" action="/portal/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="email" { "Email" }
                input type="email" id="email" name="email" required autocomplete="email" value=(email);
                button type="submit" { "Email me a sign-in link" }
            }
        },
    )
}

fn sent_page(email: &str) -> Markup {
    layout(
        "Check your email",
        html! {
            p { "If " strong { (email) } " has purchases, a sign-in link is on its way. It works once, for 15 minutes." }
        },
    )
}

fn purchases_page(email: &str, csrf: &str, rows: &[crate::store::PurchaseRow]) -> Markup {
    layout(
        "Your purchases",
        html! {
            p { "Signed in as " strong { (email) } }
            @if rows.is_empty() {
                p { "No purchases yet." }
            } @else {
                table {
                    thead { tr { th { "Products" } th { "Date" } th { "Status" } } }
                    tbody {
                        @for p in rows {
                            tr {
                                td { a href={"/portal/purchases/" (p.id)} { (parse_list(&p.products).join(", ")) } }
                                td { (date(p.created_at)) }
                                td { @if p.status == "REFUNDED" { "Refunded" } @else { (p.status.to_lowercase()) } }
                            }
                        }
                    }
                }
            }
            form method="post" action="/portal/sign-out" {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Sign out" }
            }
        },
    )
}

fn purchase_page(
    csrf: &str,
    view: &portal::PurchaseView,
    links: Option<&[crate::downloads::Link]>,
) -> Markup {
    let p = &view.purchase;
    let active = p.status == "COMPLETED";
    layout(
        &parse_list(&p.products).join(", "),
        html! {
            p { a href="/portal/purchases" { "← All purchases" } }
            p { "Bought " (date(p.created_at)) ". Status: "
                @if p.status == "REFUNDED" { strong { "refunded" } } @else { (p.status.to_lowercase()) } }
            @for lic in &view.licenses {
                h2 { "License for " (lic.product) }
                p { "Key: " code { (lic.key) } " (" (lic.status.as_str().to_lowercase()) ")" }
                p { @match lic.expires_at { Some(t) => { "Expires " (date(t)) }, None => { "Never expires" } } }
                @let live: Vec<_> = lic.activations.iter().flatten().filter(|a| a.deactivated_at.is_none()).collect();
                @if live.is_empty() {
                    p { "No machine is activated." }
                } @else {
                    table {
                        thead { tr { th { "Machine" } th { "Platform" } th { "Last seen" } th {} } }
                        tbody {
                            @for a in live {
                                tr {
                                    td { (a.name.as_deref().unwrap_or("unnamed")) }
                                    td { (a.platform.as_deref().unwrap_or("")) }
                                    td { (date(a.last_seen_at)) }
                                    td {
                                        form method="post" action={"/portal/purchases/" (p.id) "/activations/" (a.id) "/deactivate"} {
                                            input type="hidden" name="csrf" value=(csrf);
                                            button type="submit" { "Deactivate this machine" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if view.has_files {
                h2 { "Downloads" }
                p { (p.download_limit - p.download_count) " of " (p.download_limit) " downloads left." }
                @if let Some(links) = links {
                    ul { @for l in links { li { a href=(l.url) { (l.file) } } } }
                    p { "The links work for 24 hours." }
                } @else if active && p.download_count < p.download_limit {
                    form method="post" action={"/portal/purchases/" (p.id) "/links"} {
                        input type="hidden" name="csrf" value=(csrf);
                        button type="submit" { "Generate download link" }
                    }
                }
            }
        },
    )
}

/// `YYYY-MM-DD` of a Unix time (UTC).
fn date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::date;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_745_638), "2026-11-27");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
