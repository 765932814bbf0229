//! The one session gate of both web areas (the portal and the dashboard).
//!
//! A page route takes [`gate`]: the live session of the area's [`Kind`] behind its cookie, or
//! [`Refusal::SignedOut`]. A form route takes [`form_gate`]: the session, then the form, then
//! the form's CSRF token compared with the session's in constant time. Sign-in forms, shown
//! before any session exists, take [`sign_in_form`] and check their token against the
//! pre-session CSRF cookie.
//!
//! Routes never reject once matched: a refusal is a value the handler turns into a page (the
//! sign-in redirect, or an error page with its status). A warp rejection would make warp try
//! the other routes of the `.or()` chain, and the answer could surface as a 405 instead.

use std::convert::Infallible;
use std::sync::Arc;

use licet_proto::ErrorCode;
use maud::Markup;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use warp::Filter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use crate::api::body;
use crate::app::App;
use crate::auth::Admin;
use crate::auth::admin;
use crate::auth::sessions::{self, CSRF_COOKIE, Kind};
use crate::platform::error::{Error, Result};
use crate::store::SessionRow;
use crate::web::shell::{self, cookie, page, redirect};

/// One web area: which sessions open it, where its front page is, and what its error
/// pages link back to.
pub(crate) struct Area {
    pub(crate) kind: Kind,
    pub(crate) home: &'static str,
    pub(crate) back: (&'static str, &'static str),
}

impl Area {
    /// A page, the area's front page when signed out, or the error page.
    pub(crate) fn page(&self, r: Outcome<Markup>) -> Response {
        match r {
            Ok(markup) => page(StatusCode::OK, markup),
            Err(Refusal::SignedOut) => redirect(self.home),
            Err(Refusal::Failed(e)) => self.error_page(&e),
        }
    }

    /// A form's reply, or the error page.
    pub(crate) fn reply(&self, r: Result<Response>) -> Response {
        r.unwrap_or_else(|e| self.error_page(&e))
    }

    /// The page for an error, linking back to the area's front page.
    pub(crate) fn error_page(&self, e: &Error) -> Response {
        shell::error_page(e, self.back)
    }

    /// Ends the session of a signed form and clears its cookie.
    pub(crate) async fn sign_out(&self, post: Result<Signed<NoFields>>) -> Response {
        let r = async {
            let signed = post?;
            sessions::end(&signed.app, &signed.cookie).await?;
            let mut res = redirect(self.home);
            shell::clear_cookie(&mut res, &signed.app, self.kind.cookie());
            Ok(res)
        }
        .await;
        self.reply(r)
    }
}

/// Why a page is not shown.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// No live session of the area's kind: the page sends the browser to sign in.
    SignedOut,
    /// Anything else: an error page.
    Failed(Error),
}

impl Refusal {
    /// The error a form post answers: a post is not redirected to sign in, it says why it
    /// was refused.
    pub(crate) fn into_error(self, kind: Kind) -> Error {
        match self {
            Self::SignedOut => {
                let message = match kind {
                    Kind::Admin => "your session ended; sign in again",
                    Kind::Customer => "you are not signed in",
                };
                Error::new(ErrorCode::Unauthorized, message)
            }
            Self::Failed(e) => e,
        }
    }
}

impl From<Error> for Refusal {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

/// What a page handler returns.
pub(crate) type Outcome<T> = std::result::Result<T, Refusal>;

/// A signed-in subject, with a form's fields (`()` for a page).
#[derive(Debug)]
pub(crate) struct Signed<T = ()> {
    pub(crate) app: Arc<App>,
    pub(crate) session: SessionRow,
    /// The vendor's proof, on a dashboard session (`None` on a portal session).
    admin: Option<Admin>,
    pub(crate) form: T,
    cookie: String,
}

/// The live session of `kind`, or `SignedOut`.
pub(crate) fn gate(
    app: Arc<App>,
    kind: Kind,
) -> impl Filter<Extract = (Outcome<Signed>,), Error = Infallible> + Clone {
    warp::header::headers_cloned().then(move |headers: HeaderMap| {
        let app = app.clone();
        async move { signed(app, kind, &headers).await }
    })
}

/// A form post of a signed-in subject whose CSRF token matches the session's.
pub(crate) fn form_gate<T>(
    app: Arc<App>,
    kind: Kind,
    limit: usize,
) -> impl Filter<Extract = (Result<Signed<T>>,), Error = warp::Rejection> + Clone
where
    T: DeserializeOwned + Send + 'static,
{
    warp::header::headers_cloned()
        .and(body::form::<CsrfForm<T>>(limit))
        .then(move |headers: HeaderMap, form: Result<CsrfForm<T>>| {
            let app = app.clone();
            async move {
                let signed = signed(app, kind, &headers)
                    .await
                    .map_err(|r| r.into_error(kind))?;
                let fields = form?.checked(&signed.session.csrf)?;
                Ok(Signed {
                    app: signed.app,
                    session: signed.session,
                    admin: signed.admin,
                    form: fields,
                    cookie: signed.cookie,
                })
            }
        })
}

impl<T> Signed<T> {
    /// The proof that the signed-in subject is the vendor; only dashboard sessions hold it.
    pub(crate) fn admin(&self) -> Result<&Admin> {
        self.admin
            .as_ref()
            .ok_or_else(|| Error::new(ErrorCode::Forbidden, "this is for the vendor only"))
    }
}

async fn signed(app: Arc<App>, kind: Kind, headers: &HeaderMap) -> Outcome<Signed> {
    let cookie = cookie(headers, kind.cookie());
    let (session, admin) = match kind {
        Kind::Admin => match admin::session(&app, cookie).await? {
            Some(s) => {
                let (row, admin) = s.into_parts();
                (row, Some(admin))
            }
            None => return Err(Refusal::SignedOut),
        },
        Kind::Customer => match sessions::find(&app, kind, cookie).await? {
            Some(row) => (row, None),
            None => return Err(Refusal::SignedOut),
        },
    };
    Ok(Signed {
        cookie: cookie.unwrap_or_default().to_owned(),
        app,
        session,
        admin,
        form: (),
    })
}

/// A sign-in form's post: its fields and the pre-session CSRF token it must carry.
pub(crate) struct SignInPost<T> {
    /// The token of the browser's CSRF cookie (empty when it has none).
    pub(crate) expected: String,
    pub(crate) form: Result<CsrfForm<T>>,
}

/// A sign-in form post, before any session exists.
pub(crate) fn sign_in_form<T>(
    limit: usize,
) -> impl Filter<Extract = (SignInPost<T>,), Error = warp::Rejection> + Clone
where
    T: DeserializeOwned + Send + 'static,
{
    warp::header::headers_cloned()
        .and(body::form::<CsrfForm<T>>(limit))
        .map(|headers: HeaderMap, form| SignInPost {
            expected: cookie(&headers, CSRF_COOKIE).unwrap_or_default().to_owned(),
            form,
        })
}

/// A form with its CSRF token (the `csrf` field) apart from the rest of its fields; the
/// rest are parsed as `T`, which may deny fields it does not know.
#[derive(Debug)]
pub(crate) struct CsrfForm<T = NoFields> {
    csrf: String,
    fields: T,
}

impl<T> CsrfForm<T> {
    /// The fields, once the token matches `expected` (compared in constant time).
    pub(crate) fn checked(self, expected: &str) -> Result<T> {
        sessions::check_csrf(expected, &self.csrf)?;
        Ok(self.fields)
    }

    /// The fields, whether or not the token matches (to show a refused form again).
    pub(crate) fn fields(&self) -> &T {
        &self.fields
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for CsrfForm<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let pairs = Vec::<(String, String)>::deserialize(d)?;
        let mut csrf = None;
        let mut rest = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            if name == "csrf" {
                if csrf.replace(value).is_some() {
                    return Err(D::Error::duplicate_field("csrf"));
                }
            } else {
                rest.push((name, value));
            }
        }
        // A form without its token is a forged or stale form, refused by `checked` as
        // FORBIDDEN like a wrong token, not as a malformed form.
        let csrf = csrf.unwrap_or_default();
        let rest = serde_urlencoded::to_string(&rest).map_err(D::Error::custom)?;
        let fields = serde_urlencoded::from_str(&rest).map_err(D::Error::custom)?;
        Ok(Self { csrf, fields })
    }
}

/// The fields of a form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoFields {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Email {
        email: String,
    }

    #[test]
    fn csrf_forms_split_the_token_from_the_fields() {
        // (body, the token and email it parses to, or None when the form is refused)
        let table: &[(&str, Option<(&str, &str)>)] = &[
            ("csrf=t&email=a%40b.c", Some(("t", "a@b.c"))),
            ("email=a+b&csrf=t", Some(("t", "a b"))),
            ("csrf=&email=x", Some(("", "x"))),
            ("email=x", Some(("", "x"))),
            ("csrf=t", None),
            ("csrf=t&csrf=u&email=x", None),
            ("csrf=t&email=x&admin=1", None),
        ];
        for (body, want) in table {
            let got = serde_urlencoded::from_str::<CsrfForm<Email>>(body).ok();
            let got = got
                .as_ref()
                .map(|f| (f.csrf.as_str(), f.fields.email.as_str()));
            assert_eq!(got, *want, "{body}");
        }
    }

    #[test]
    fn token_only_forms_refuse_other_fields() {
        for (body, ok) in [("csrf=t", true), ("csrf=t&x=1", false), ("", true)] {
            let got = serde_urlencoded::from_str::<CsrfForm>(body);
            assert_eq!(got.is_ok(), ok, "{body}");
        }
    }

    #[test]
    fn a_token_opens_its_form_only_when_it_matches() {
        let form = |t: &str| CsrfForm {
            csrf: t.to_owned(),
            fields: (),
        };
        assert!(form("abc").checked("abc").is_ok());
        assert!(form("abd").checked("abc").is_err());
        assert!(
            form("").checked("").is_err(),
            "no expected token opens nothing"
        );
        assert!(form("abc").checked("").is_err());
    }
}
