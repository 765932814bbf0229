//! Signing in and out of the dashboard; a signed-in vendor's front page is the overview.

use std::sync::Arc;

use maud::{Markup, html};
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use super::forms::SignInForm;
use super::{AREA, overview, page};
use crate::app::App;
use crate::auth::admin;
use crate::auth::sessions::Kind;
use crate::licensing::Caller;
use crate::platform::error::Result;
use crate::web::session::{NoFields, Outcome, Refusal, SignInPost, Signed};
use crate::web::shell::{self, cookie, layout, redirect};

/// `GET /admin`: the overview, or the sign-in form.
pub(super) async fn home(app: Arc<App>, headers: HeaderMap, gate: Outcome<Signed>) -> Response {
    match gate {
        Ok(signed) => page(overview::overview(signed).await),
        Err(Refusal::SignedOut) => {
            shell::sign_in_form(&app, &headers, |csrf| sign_in_page(csrf, None))
        }
        Err(e) => page(Err(e)),
    }
}

/// `POST /admin/sign-in`: an admin token or the dashboard password starts a session; a
/// refused secret shows the form again with the reason.
pub(super) async fn sign_in(
    app: Arc<App>,
    caller: Caller,
    headers: HeaderMap,
    post: SignInPost<SignInForm>,
) -> Response {
    let SignInPost { expected, form } = post;
    let r = async {
        let form = form?.checked(&expected)?;
        let device = cookie(&headers, admin::DEVICE_COOKIE);
        admin::sign_in(&app, &caller.ip, device, &form.secret).await
    }
    .await;
    match r {
        Ok(signed_in) => {
            let mut res = redirect("/admin");
            shell::set_cookie(
                &mut res,
                &app,
                Kind::Admin.cookie(),
                &signed_in.session.cookie,
                admin::SESSION_SECS,
            );
            shell::set_cookie(
                &mut res,
                &app,
                admin::DEVICE_COOKIE,
                &signed_in.device,
                admin::DEVICE_COOKIE_SECS,
            );
            res
        }
        Err(e) => shell::page(
            StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            sign_in_page(&expected, Some(&e.public_message())),
        ),
    }
}

/// `POST /admin/sign-out`
pub(super) async fn sign_out(post: Result<Signed<NoFields>>) -> Response {
    AREA.sign_out(post).await
}

fn sign_in_page(csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Licet dashboard",
        None,
        html! {
            p { "Sign in with an admin token (" code { "licet-server admin-token" } ") or the dashboard password (" code { "licet-server admin-password" } ")." }
            @if let Some(e) = error { p role="alert" { (e) } }
            form method="post" action="/admin/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="secret" { "Admin token or password" }
                input type="password" id="secret" name="secret" required autocomplete="current-password";
                button type="submit" class="primary" { "Sign in" }
            }
        },
    )
}
