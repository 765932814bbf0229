//! States, statuses and kinds as enums, decoded once where a row is read: a state column is
//! read as [`StateText`] and turned into its enum, so no caller compares status strings. A
//! value the enum does not know (a corrupt row, a newer server's state) reads as the
//! state that grants least, with a warning in the log.

use licet_proto::admin::{ProductKind, PurchaseStatus};
use licet_proto::releases::ReleaseState;
use licet_proto::{LicenseStatus, SubscriptionStatus};
use sqlx::Any;
use sqlx::any::{AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;

/// Where a signing key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens (exactly one key at a time).
    Current,
    /// Verifies tokens and is listed in the JWKS, but signs nothing.
    Published,
    /// Withdrawn: neither signs nor verifies.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Published => "published",
            Self::Retired => "retired",
        }
    }

    /// The state of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "current" => Some(Self::Current),
            "published" => Some(Self::Published),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// Who a web session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A customer signed in by an email link; the session's subject is their email.
    Customer,
    /// The vendor signed in with an admin token or password; the subject is the audit actor.
    Admin,
}

impl SessionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }
}

/// The text of a state column, before it becomes its enum.
#[derive(Debug)]
pub(super) struct StateText(String);

impl sqlx::Type<Any> for StateText {
    fn type_info() -> AnyTypeInfo {
        <String as sqlx::Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as sqlx::Type<Any>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, Any> for StateText {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        <String as sqlx::Decode<'r, Any>>::decode(value).map(Self)
    }
}

impl From<String> for StateText {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl StateText {
    /// The enum `parse` finds, or `fallback` (logged: the row holds a value no state has).
    fn decode<T: Copy>(&self, what: &str, parse: impl Fn(&str) -> Option<T>, fallback: T) -> T {
        parse(&self.0).unwrap_or_else(|| {
            tracing::warn!(column = what, value = %self.0, "unknown state read from the database");
            fallback
        })
    }
}

impl From<StateText> for PurchaseStatus {
    /// Unknown reads as `Pending`: not paid, so nothing is granted or delivered.
    fn from(text: StateText) -> Self {
        text.decode(
            "purchases.status",
            PurchaseStatus::parse,
            PurchaseStatus::Pending,
        )
    }
}

impl From<StateText> for LicenseStatus {
    /// Unknown reads as `Revoked`: the license works nowhere.
    fn from(text: StateText) -> Self {
        text.decode(
            "licenses.status",
            LicenseStatus::parse,
            LicenseStatus::Revoked,
        )
    }
}

impl From<StateText> for SubscriptionStatus {
    /// Unknown reads as `Canceled`: nothing renews; licenses keep only what was paid.
    fn from(text: StateText) -> Self {
        text.decode(
            "subscriptions.status",
            SubscriptionStatus::parse,
            SubscriptionStatus::Canceled,
        )
    }
}

impl From<StateText> for ProductKind {
    /// Unknown reads as the default kind (`License`), as before.
    fn from(text: StateText) -> Self {
        text.decode("products.kind", ProductKind::parse, ProductKind::default())
    }
}

impl From<StateText> for KeyState {
    /// Unknown reads as `Retired`: the key neither signs nor verifies.
    fn from(text: StateText) -> Self {
        text.decode("signing_keys.state", KeyState::parse, KeyState::Retired)
    }
}

impl From<StateText> for ReleaseState {
    /// Unknown reads as `Yanked`: no client is offered the release.
    fn from(text: StateText) -> Self {
        text.decode("releases.state", ReleaseState::parse, ReleaseState::Yanked)
    }
}

impl From<StateText> for SessionKind {
    /// Unknown reads as `Customer`, the session that can do least.
    fn from(text: StateText) -> Self {
        text.decode(
            "web_sessions.kind",
            |s| match s {
                "customer" => Some(SessionKind::Customer),
                "admin" => Some(SessionKind::Admin),
                _ => None,
            },
            SessionKind::Customer,
        )
    }
}
