//! Every outcome of a license operation other than "licensed".
//!
//! Two kinds, kept apart on purpose: **verdicts** about the license (not activated, expired,
//! suspended, revoked, limit reached, forged or foreign token, clock set back, stored state
//! edited), which an app
//! acts on, and **failures** to reach a verdict (network, server, storage), which must never
//! take a still-valid offline license away.

use licet_proto::ErrorCode;

/// Why this machine counts as not activated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotActivatedReason {
    /// Nothing is stored: the app was never activated here (or was deactivated).
    NoLicense,
    /// The stored lease could not be read (truncated or corrupt file); activate again.
    CorruptCache(String),
    /// The stored lease was written by an earlier SDK, whose files were not sealed: it is not
    /// trusted. The next online validation replaces it (`check` does that by itself when the
    /// server is reachable; the stored key is kept).
    LegacyCache,
    /// The server no longer knows this machine (deactivated elsewhere, or removed by support).
    ServerForgot,
}

impl std::fmt::Display for NotActivatedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoLicense => f.write_str("no license is activated on this machine"),
            Self::CorruptCache(why) => write!(f, "the stored license could not be read ({why})"),
            Self::LegacyCache => f.write_str(
                "the stored license was written by an older version and must be validated online",
            ),
            Self::ServerForgot => f.write_str("the server no longer lists this machine"),
        }
    }
}

/// An outcome other than a valid license.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Verdict: this machine is not activated.
    #[error("not activated: {0}")]
    NotActivated(NotActivatedReason),
    /// Verdict: the license itself has expired (its `expires_at` has passed, or the server
    /// says so): renew the purchase.
    #[error("the license has expired; renew it")]
    Expired,
    /// Verdict: the signed lease that lets this machine check offline has run out, though the
    /// license may well still be valid: connect to the internet so it can be renewed.
    /// [`crate::Client::check`] tries that on its own when the network is allowed.
    #[error("the offline lease ran out; connect to the internet to renew it")]
    LeaseExpired,
    /// Verdict: this machine's trial has ended (or a license took over from it): enter a
    /// license key to go on. A trial never restarts on the same machine.
    #[error("the trial has ended; enter a license key to go on")]
    TrialExpired,
    /// Verdict: the product offers no trial (or the server knows no such product).
    #[error("this product offers no trial")]
    TrialNotAvailable,
    /// Verdict: the vendor suspended the license.
    #[error("the license is suspended")]
    Suspended,
    /// Verdict: the license was revoked.
    #[error("the license was revoked")]
    Revoked,
    /// Verdict: every seat of the license is in use.
    #[error("every seat of this license is in use; deactivate another machine first")]
    ActivationLimitReached,
    /// Verdict: every seat of a floating license is held by other machines right now. A
    /// seat frees up when its holder releases it or its lease ends; `retry_after` is the
    /// server's estimate of the seconds until the earliest lease ends (`Retry-After`).
    #[error("every floating seat of this license is in use; try again later")]
    NoFreeSeat {
        /// Seconds until the earliest held seat's lease ends, if the server said.
        retry_after: Option<u64>,
    },
    /// Verdict: the key is not a valid license key, or no license has it.
    #[error("this license key is not valid")]
    InvalidKey,
    /// Verdict: the token (stored, or just received) is forged, altered, for another product,
    /// signed by a key that is not pinned, or older than a lease or verdict already seen (a
    /// replay).
    #[error("the license token is invalid: {0}")]
    InvalidToken(String),
    /// Verdict: the token belongs to another machine (e.g. copied from one).
    #[error("the license token belongs to another machine")]
    FingerprintMismatch,
    /// Verdict: the system clock is behind time already seen, by this many seconds.
    #[error(
        "the system clock is {behind_secs} seconds behind trusted time; set it right and go \
         online: a successful online validation resets the trusted time"
    )]
    ClockTampered {
        /// How far behind.
        behind_secs: i64,
    },
    /// Verdict: the stored license state was edited, comes from another machine or product,
    /// or was sealed with a keyring secret this machine no longer has. Nothing stored is
    /// trusted until [`crate::Client::validate`] brings a lease newer than any seen, or
    /// [`crate::Client::forget`] / [`crate::Client::deactivate`] clear it.
    #[error("the stored license state was tampered with ({0}); validate online or activate again")]
    StateTampered(String),
    /// Failure: the server could not be reached: offline, DNS, connection refused, a proxy,
    /// or no answer in time. The detail names the host and the cause. Retry later.
    #[error("network error: {0}")]
    Network(String),
    /// Failure: a TLS connection to the server could not be set up (an untrusted or expired
    /// certificate, a name mismatch, a proxy that intercepts TLS, plain HTTP on an https
    /// URL). Retrying will not help; the setup (server certificate, root CA) needs fixing.
    #[error("TLS error: {0}")]
    Tls(String),
    /// Failure: the server answered with an error that is not a license verdict.
    #[error("server error {code}: {message}")]
    Server {
        /// The server's stable code.
        code: ErrorCode,
        /// Its message.
        message: String,
    },
    /// Failure: too many requests; retry after this many seconds.
    #[error("rate limited; retry in {retry_after} seconds")]
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Failure: the key or lease could not be stored or read, or a downloaded update could
    /// not be written next to its destination.
    #[error("storage error: {0}")]
    Storage(String),
    /// Failure: no machine id could be read; set a fingerprint override.
    #[error("no machine id could be read ({0}); set ClientBuilder::fingerprint_override")]
    NoMachineId(String),
    /// Failure: the client is misconfigured (bad URL, no pinned keys, …).
    #[error("configuration error: {0}")]
    Config(String),
    /// Update check: the product has no published release on the channel asked for.
    #[error("the product has no published release on this channel")]
    ReleaseNotFound,
    /// Update check: the product's releases have no file for this machine's platform.
    #[error("the product's releases have no file for this platform")]
    PlatformNotFound,
    /// Download: the license does not cover this update, so there is nothing to download
    /// (see [`crate::Update::not_allowed_reason`]).
    #[error("this license does not cover the update; renew it to get the update")]
    UpdateNotAllowed,
    /// Download: the update was refused. Its signed manifest is forged, expired, or for
    /// another product, machine or license; or it does not describe the offered file; or
    /// the bytes received are not the ones the vendor published (size or SHA-256). Nothing
    /// was written at the destination and the partial download was removed.
    #[error("the update failed verification: {reason}")]
    UpdateVerification {
        /// What did not match.
        reason: String,
    },
    /// Air-gapped activation: the text pasted or the file given is not a readable Licet
    /// document (a character mistyped or missing, which the checksum catches; another
    /// document, e.g. the request instead of the response).
    #[error("the offline activation text could not be read: {0}")]
    OfflineText(String),
    /// Air-gapped activation: the response is genuine but does not answer the request this
    /// machine is waiting for (it answers an older request, or none is pending), or there
    /// is no air-gapped activation to deactivate.
    #[error("{0}")]
    OfflineMismatch(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True for a definite verdict about the license; false for a failure to get one.
    pub fn is_verdict(&self) -> bool {
        matches!(
            self,
            Self::NotActivated(_)
                | Self::Expired
                | Self::LeaseExpired
                | Self::TrialExpired
                | Self::TrialNotAvailable
                | Self::Suspended
                | Self::Revoked
                | Self::ActivationLimitReached
                | Self::NoFreeSeat { .. }
                | Self::InvalidKey
                | Self::InvalidToken(_)
                | Self::FingerprintMismatch
                | Self::ClockTampered { .. }
                | Self::StateTampered(_)
        )
    }

    /// The stable code: the server's where the verdict came from the server, else Licet's
    /// client-side code (`LEASE_EXPIRED`, `INVALID_TOKEN`, `FINGERPRINT_MISMATCH`, `CLOCK_TAMPERED`,
    /// `STATE_TAMPERED`, `NETWORK`, `STORAGE`, `NO_MACHINE_ID`, `CONFIG`, `UPDATE_NOT_ALLOWED`,
    /// `UPDATE_VERIFICATION`, `OFFLINE_TEXT`, `OFFLINE_MISMATCH`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotActivated(_) => ErrorCode::NotActivated.as_str(),
            Self::Expired => ErrorCode::LicenseExpired.as_str(),
            Self::LeaseExpired => "LEASE_EXPIRED",
            Self::TrialExpired => ErrorCode::TrialExpired.as_str(),
            Self::TrialNotAvailable => ErrorCode::TrialNotAvailable.as_str(),
            Self::Suspended => ErrorCode::LicenseSuspended.as_str(),
            Self::Revoked => ErrorCode::LicenseRevoked.as_str(),
            Self::ActivationLimitReached => ErrorCode::ActivationLimitReached.as_str(),
            Self::NoFreeSeat { .. } => ErrorCode::NoFreeSeat.as_str(),
            Self::InvalidKey => ErrorCode::InvalidKeyFormat.as_str(),
            Self::InvalidToken(_) => "INVALID_TOKEN",
            Self::FingerprintMismatch => "FINGERPRINT_MISMATCH",
            Self::ClockTampered { .. } => "CLOCK_TAMPERED",
            Self::StateTampered(_) => "STATE_TAMPERED",
            Self::Network(_) => "NETWORK",
            Self::Tls(_) => "TLS",
            Self::Server { code, .. } => code.as_str(),
            Self::RateLimited { .. } => ErrorCode::RateLimited.as_str(),
            Self::Storage(_) => "STORAGE",
            Self::NoMachineId(_) => "NO_MACHINE_ID",
            Self::Config(_) => "CONFIG",
            Self::ReleaseNotFound => ErrorCode::ReleaseNotFound.as_str(),
            Self::PlatformNotFound => ErrorCode::PlatformNotFound.as_str(),
            Self::UpdateNotAllowed => "UPDATE_NOT_ALLOWED",
            Self::UpdateVerification { .. } => "UPDATE_VERIFICATION",
            Self::OfflineText(_) => "OFFLINE_TEXT",
            Self::OfflineMismatch(_) => "OFFLINE_MISMATCH",
        }
    }

    /// Maps a server error code to an SDK outcome.
    pub(crate) fn from_server(code: ErrorCode, message: String, retry_after: Option<u64>) -> Self {
        match code {
            ErrorCode::NotActivated => Self::NotActivated(NotActivatedReason::ServerForgot),
            ErrorCode::LicenseExpired => Self::Expired,
            ErrorCode::TrialExpired => Self::TrialExpired,
            ErrorCode::TrialNotAvailable => Self::TrialNotAvailable,
            ErrorCode::LicenseSuspended => Self::Suspended,
            ErrorCode::LicenseRevoked => Self::Revoked,
            ErrorCode::ActivationLimitReached => Self::ActivationLimitReached,
            ErrorCode::NoFreeSeat => Self::NoFreeSeat { retry_after },
            ErrorCode::InvalidKeyFormat | ErrorCode::LicenseNotFound => Self::InvalidKey,
            ErrorCode::ReleaseNotFound => Self::ReleaseNotFound,
            ErrorCode::PlatformNotFound => Self::PlatformNotFound,
            ErrorCode::RateLimited => Self::RateLimited {
                retry_after: retry_after.unwrap_or(60),
            },
            other => Self::Server {
                code: other,
                message,
            },
        }
    }
}
