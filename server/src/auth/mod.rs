//! Who is asking: the vendor (admin tokens, the dashboard password), customers (sign-in
//! links), and the web sessions both hold.
//!
//! The vendor's operations (catalogue changes, signing keys, manual purchases, the dashboard
//! password, admin tokens) take an [`Admin`]: a proof of authentication that only this
//! module makes, from a bearer token ([`admin::authorize_bearer`]), a dashboard session
//! ([`admin::session`]) or the local operator ([`Admin::local_operator`]). A handler that
//! forgot to authenticate has no `Admin` to pass, so it does not compile:
//!
//! ```compile_fail,E0308
//! # async fn f(app: &licet_server::App, req: licet_proto::admin::CreateProduct) {
//! // An audit actor string is not a proof of authentication.
//! licet_server::testkit::internals::create_product(app, "admin:env", req).await;
//! # }
//! ```
//!
//! ```compile_fail,E0451
//! // Nor can code outside `auth` make one.
//! let admin = licet_server::testkit::internals::Admin { actor: "admin:env".into() };
//! ```

use std::borrow::Cow;

pub mod admin;
pub mod customer;
pub mod sessions;

/// What the domain's operations need from the running server, at the bottom of the
/// domain: the database, configuration, the root secret, rate limits and the time. The app
/// implements it, and the licensing, catalogue and commerce contexts built on it, so the
/// domain never names the app that wires it.
pub trait Context: Send + Sync + 'static {
    /// The database.
    fn store(&self) -> &crate::store::Store;
    /// Resolved configuration.
    fn config(&self) -> &crate::platform::config::Config;
    /// The root secret, for derived keys (MACs of devices, links and URLs).
    fn master(&self) -> &crate::platform::crypto::MasterKey;
    /// Request limits of the license API and the sign-in forms.
    fn limiter(&self) -> &crate::platform::rate_limit::RateLimiter;
    /// Current Unix time.
    fn now(&self) -> i64;
}

impl<T: Context> Context for std::sync::Arc<T> {
    fn store(&self) -> &crate::store::Store {
        (**self).store()
    }
    fn config(&self) -> &crate::platform::config::Config {
        (**self).config()
    }
    fn master(&self) -> &crate::platform::crypto::MasterKey {
        (**self).master()
    }
    fn limiter(&self) -> &crate::platform::rate_limit::RateLimiter {
        (**self).limiter()
    }
    fn now(&self) -> i64 {
        (**self).now()
    }
}

/// Proof that the vendor is asking, carrying the audit actor: `admin:<token id>`,
/// `admin:env`, `admin:password`, or `cli`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    actor: String,
}

impl Admin {
    /// Only the checks in this module vouch for an actor.
    pub(in crate::auth) fn new(actor: String) -> Self {
        Self { actor }
    }

    /// Whoever runs `licet-server` commands on the host: they already hold the database and
    /// the master key, so the CLI needs no token. Only the CLI (and the test kit, which
    /// plays the operator) calls this.
    pub(crate) fn local_operator() -> Self {
        Self::new("cli".into())
    }

    /// The audit actor.
    pub fn actor(&self) -> &str {
        &self.actor
    }
}

/// Who performs an operation that the vendor, the payment provider, the server itself or a
/// customer may each start (fulfilment, first-start setup, freeing a seat). Operations only
/// the vendor may start take an [`Admin`] instead; webhook-only operations keep the plain
/// `"stripe"` actor.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// The vendor, authenticated.
    Admin(&'a Admin),
    /// A verified Stripe webhook.
    Stripe,
    /// The server on its own (first start, housekeeping).
    System,
    /// A signed-in customer, by email.
    Customer(&'a str),
}

impl Actor<'_> {
    /// The name the audit log records.
    pub(crate) fn audit_name(&self) -> Cow<'_, str> {
        match self {
            Actor::Admin(admin) => Cow::Borrowed(admin.actor()),
            Actor::Stripe => Cow::Borrowed("stripe"),
            Actor::System => Cow::Borrowed("system"),
            Actor::Customer(email) => Cow::Owned(format!("customer:{email}")),
        }
    }
}

impl<'a> From<&'a Admin> for Actor<'a> {
    fn from(admin: &'a Admin) -> Self {
        Actor::Admin(admin)
    }
}

#[cfg(test)]
mod tests {
    use super::{Actor, Admin};

    #[test]
    fn audit_names_stay_what_the_log_has_always_recorded() {
        let env = Admin::new("admin:env".into());
        let cli = Admin::local_operator();
        let cases: [(Actor<'_>, &str); 5] = [
            (Actor::Admin(&env), "admin:env"),
            (Actor::Admin(&cli), "cli"),
            (Actor::Stripe, "stripe"),
            (Actor::System, "system"),
            (
                Actor::Customer("ada@example.com"),
                "customer:ada@example.com",
            ),
        ];
        for (actor, want) in cases {
            assert_eq!(actor.audit_name(), want, "{actor:?}");
        }
    }
}
