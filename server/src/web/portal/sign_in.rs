//! Signing customers in with an emailed link, and out.

use std::sync::Arc;

use maud::{Markup, html};
use serde::Deserialize;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use super::AREA;
use crate::app::App;
use crate::auth::customer;
use crate::auth::sessions::Kind;
use crate::commerce::customers;
use crate::licensing::Caller;
use crate::platform::error::{Error, Result};
use crate::web::session::{NoFields, Outcome, Refusal, SignInPost, Signed};
use crate::web::shell::{self, layout, page, redirect};

/// Where a refused sign-in link sends the customer.
const ASK_AGAIN: (&str, &str) = ("/portal", "Ask for a new sign-in link");

/// `POST /portal/sign-in`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SignInForm {
    email: String,
}

/// `GET /portal`: the sign-in form, or the purchases when signed in.
pub(super) async fn home(app: Arc<App>, headers: HeaderMap, gate: Outcome<Signed>) -> Response {
    match gate {
        Ok(_) => redirect("/portal/purchases"),
        Err(Refusal::SignedOut) => {
            shell::sign_in_form(&app, &headers, |csrf| sign_in_page(csrf, "", None))
        }
        Err(Refusal::Failed(e)) => AREA.error_page(&e),
    }
}

/// `POST /portal/sign-in`: emails a sign-in link to an address with purchases; the answer
/// is the same either way.
pub(super) async fn sign_in(
    app: Arc<App>,
    caller: Caller,
    post: SignInPost<SignInForm>,
) -> Response {
    let SignInPost { expected, form } = post;
    let form = match form {
        Ok(f) => f,
        Err(e) => return AREA.error_page(&e),
    };
    let email = form.fields().email.clone();
    let r = async {
        form.checked(&expected)?;
        app.limiter
            .check_sign_in_link(&app.store, app.now(), &caller.ip, &email)
            .await?;
        customers::request_sign_in(&app, &email)
    }
    .await;
    match r {
        Ok(()) => page(StatusCode::OK, sent_page(&email)),
        Err(e @ (Error::Api { .. } | Error::RateLimited { .. })) => page(
            StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            sign_in_page(&expected, &email, Some(&e.public_message())),
        ),
        Err(e) => AREA.error_page(&e),
    }
}

/// `GET /portal/auth/{token}`
pub(super) async fn confirm(token: String, app: Arc<App>, headers: HeaderMap) -> Response {
    match customer::link_is_usable(&app, &token).await {
        Ok(true) => shell::sign_in_form(&app, &headers, |csrf| confirm_page(&token, csrf)),
        Ok(false) => shell::error_page(&link_refused(), ASK_AGAIN),
        Err(e) => AREA.error_page(&e),
    }
}

/// `POST /portal/auth/{token}`
pub(super) async fn redeem(token: String, app: Arc<App>, post: SignInPost<NoFields>) -> Response {
    let r = async {
        post.form?.checked(&post.expected)?;
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
        Err(e) => shell::error_page(&e, ASK_AGAIN),
    }
}

/// `POST /portal/sign-out`
pub(super) async fn sign_out(post: Result<Signed<NoFields>>) -> Response {
    AREA.sign_out(post).await
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
