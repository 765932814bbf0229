//! What the portal's and the dashboard's pages share: the page shell and its stylesheet,
//! cookies, redirects, security headers, error pages, and the one script (copy buttons).

use std::sync::Arc;

use licet_proto::admin::PurchaseStatus;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, HeaderValue, StatusCode, header};
use warp::reply::Response;

use crate::app::App;
use crate::platform::error::Error;

pub use crate::platform::dates::{date, date_time, parse_date};

/// A cookie's value from the request headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Adds a `Set-Cookie` (`HttpOnly`, `SameSite=Lax`, `Secure` when the public URL is HTTPS).
pub fn set_cookie(res: &mut Response, app: &App, name: &str, value: &str, max_age: i64) {
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

/// Removes a cookie.
pub fn clear_cookie(res: &mut Response, app: &App, name: &str) {
    set_cookie(res, app, name, "", 0);
}

/// A sign-in form page: the form gets the browser's pre-session CSRF token (a new one when
/// it has none), which also goes into a cookie the form's post is checked against.
pub fn sign_in_form(app: &App, headers: &HeaderMap, form: impl FnOnce(&str) -> Markup) -> Response {
    let token = cookie(headers, crate::auth::sessions::CSRF_COOKIE)
        .filter(|t| !t.is_empty() && t.len() <= 100)
        .map(str::to_owned)
        .unwrap_or_else(|| crate::platform::crypto::random_secret("").to_string());
    let mut res = page(StatusCode::OK, form(&token));
    set_cookie(
        &mut res,
        app,
        crate::auth::sessions::CSRF_COOKIE,
        &token,
        3600,
    );
    res
}

/// `303 See Other` to a path of this server.
pub fn redirect(to: &str) -> Response {
    let mut res = Response::new(Default::default());
    *res.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// An HTML page with the security headers every page gets.
pub fn page(status: StatusCode, markup: Markup) -> Response {
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
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
             script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

/// The page for an error, with its HTTP status; internal errors are logged, never shown.
pub fn error_page(e: &Error, back: (&str, &str)) -> Response {
    if matches!(e, Error::Database(_) | Error::Busy | Error::Internal(_)) {
        tracing::error!(error = %e, "page request failed");
    }
    let status =
        StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    page(
        status,
        layout(
            "Something went wrong",
            None,
            html! {
                p role="alert" { (e.public_message()) }
                p { a href=(back.0) { (back.1) } }
            },
        ),
    )
}

/// The page shell: title, optional navigation, content.
pub fn layout(title: &str, nav: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Licet" }
                style { (PreEscaped(CSS)) }
                script src="/assets/licet.js" defer {}
            }
            body {
                @if let Some(nav) = nav { header { (nav) } }
                main { h1 { (title) } (body) }
            }
        }
    }
}

const CSS: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1b1f24;line-height:1.45}\
header{background:#1b1f24;color:#fff;padding:.5rem 1rem}\
header nav{max-width:64rem;margin:0 auto;display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center}\
header a{color:#fff}header form{margin:0 0 0 auto}header button{margin:0}\
main{max-width:64rem;margin:1.5rem auto;padding:0 1rem}\
label{display:block;margin:.6rem 0 .2rem;font-weight:600}\
input,select,textarea{width:100%;max-width:28rem;padding:.45rem;font-size:1rem;border:1px solid #9aa4ae;border-radius:4px}\
input[type=checkbox]{width:auto}\
button{margin-top:.6rem;padding:.45rem 1rem;font-size:1rem;border-radius:4px;border:1px solid #1b1f24;background:#fff;cursor:pointer}\
button.primary,a.button{background:#1d5fd1;border-color:#1d5fd1;color:#fff}\
a.button{display:inline-block;padding:.3rem .8rem;border:1px solid #1d5fd1;border-radius:4px;text-decoration:none}\
button.danger{border-color:#a40e26;color:#a40e26}\
.scroll{overflow-x:auto}table{width:100%;border-collapse:collapse;background:#fff}\
td,th{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #d8dde3;vertical-align:top}\
[role=alert]{color:#a40e26;font-weight:600}.ok{color:#1a7f37;font-weight:600}\
.row{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:end}.row label{margin-top:0}\
.inline{display:inline}.inline button{margin:0 .25rem 0 0}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:1rem;margin-bottom:1rem}\
.card{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:.75rem 1rem}\
.card svg{width:100%;height:auto}section.card{margin-bottom:1rem}\
.status-ACTIVE,.status-COMPLETED{color:#1a7f37}.status-REVOKED,.status-REFUNDED,.status-FAILED{color:#a40e26}\
.status-SUSPENDED,.status-DISPUTED,.status-PENDING{color:#9a6700}\
code{word-break:break-all}.notes{white-space:pre-wrap;overflow-wrap:anywhere}\
.status-published{color:#1a7f37}.status-yanked{color:#a40e26}.status-draft{color:#9a6700}\
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}";

/// The copy buttons' script: the only JavaScript; pages work without it.
const SCRIPT: &str = "document.addEventListener('click',function(e){\
var b=e.target.closest('[data-copy]');if(!b)return;\
var done=function(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy'},1500)};\
if(navigator.clipboard){navigator.clipboard.writeText(b.dataset.copy).then(done)}});\
document.querySelectorAll('[data-copy]').forEach(function(b){b.hidden=false});";

/// A status as a word coloured by its `status-…` class, in lower case (`active`).
pub(crate) fn status_badge(status: &str) -> Markup {
    badge(status, &status.to_lowercase())
}

/// A purchase's status as a customer reads it, capitalised (`Refunded`).
pub(crate) fn purchase_status(status: PurchaseStatus) -> Markup {
    badge(status.as_str(), status.label())
}

fn badge(status: &str, label: &str) -> Markup {
    html! { span class={"status-" (status)} { (label) } }
}

/// A byte count as people read it, in tenths of the largest unit below it, never rounded
/// up: `900 bytes`, `1.5 KiB`, `23.3 MiB`, `1.2 GiB`.
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    // Tenths of the unit, in integers: exact, and no float casts to reason about.
    let mut unit = 0;
    let mut scaled = u128::from(bytes) * 10 / 1024;
    while scaled >= 10_240 && unit + 1 < UNITS.len() {
        scaled /= 1024;
        unit += 1;
    }
    format!("{}.{} {}", scaled / 10, scaled % 10, UNITS[unit])
}

/// A copy button for `value` (hidden until the script runs).
pub fn copy_button(value: &str, label: &str) -> Markup {
    html! {
        button type="button" data-copy=(value) aria-label=(label) hidden { "Copy" }
    }
}

/// `GET /assets/licet.js`.
pub fn routes(_app: Arc<App>) -> BoxedFilter<(Response,)> {
    warp::path!("assets" / "licet.js")
        .and(warp::get())
        .map(|| {
            let mut res = Response::new(SCRIPT.into());
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            );
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            );
            h.insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            res
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_in_the_largest_unit_below_them() {
        let table: &[(u64, &str)] = &[
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1.0 KiB"),
            (1536, "1.5 KiB"),
            (1024 * 1024 - 1, "1023.9 KiB"),
            (1024 * 1024, "1.0 MiB"),
            (24_536_678, "23.3 MiB"),
            (5 * 1024 * 1024 * 1024, "5.0 GiB"),
            (u64::MAX, "16777215.9 TiB"),
        ];
        for (bytes, want) in table {
            assert_eq!(size(*bytes), *want, "{bytes}");
        }
    }
}
