//! Result codes.

use std::ffi::c_char;

/// The outcome of a call. One `uint32_t` code space in bands:
///
/// - `0`: success (for `check`, `activate` and `validate`: the license is valid);
/// - `1000`–`1999`: license states, a definite verdict about the license;
/// - `2000`–`2999`: the caller's mistakes (bad arguments, small buffers);
/// - `3000`–`3999`: failures to reach a verdict (network, server, storage, configuration);
/// - `4000`–`4999`: updates: nothing published for this channel or platform, or an update
///   that may not be downloaded or failed its verification;
/// - `9000`: a bug in the library (a caught panic).
///
/// `licet_result_message` describes any code; `licet_last_error_message` has the detail of
/// the calling thread's last failure.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum licet_result {
    /// Success; the license is valid.
    LICET_OK = 0,
    /// This machine is not activated (or its stored lease is unreadable).
    LICET_NOT_ACTIVATED = 1000,
    /// The license itself has expired: the customer must renew it. (A lease that ran out
    /// while the license is still valid is `LICET_LEASE_EXPIRED`.)
    LICET_EXPIRED = 1001,
    /// The vendor suspended the license.
    LICET_SUSPENDED = 1002,
    /// The license was revoked.
    LICET_REVOKED = 1003,
    /// Every seat of the license is in use.
    LICET_ACTIVATION_LIMIT_REACHED = 1004,
    /// The system clock is behind trusted time.
    LICET_CLOCK_TAMPERED = 1005,
    /// The license key is not valid.
    LICET_INVALID_KEY = 1006,
    /// The token is forged, altered, for another product, or a replay of an older one.
    LICET_INVALID_TOKEN = 1007,
    /// The stored token belongs to another machine.
    LICET_FINGERPRINT_MISMATCH = 1008,
    /// The stored license state was edited (or sealed with a keyring secret that is gone);
    /// `licet_client_validate` or `licet_client_activate` replaces it.
    LICET_STATE_TAMPERED = 1009,
    /// The offline lease ran out though the license may still be valid: connect so it can be
    /// renewed (`licet_client_check` tries on its own when the network is allowed). Unlike
    /// `LICET_EXPIRED`, which means the license itself expired and must be renewed.
    LICET_LEASE_EXPIRED = 1010,
    /// This machine's trial has ended (or a license took over from it); it never restarts
    /// on the same machine: enter a license key.
    LICET_TRIAL_EXPIRED = 1011,
    /// The product offers no trial.
    LICET_TRIAL_NOT_AVAILABLE = 1012,
    /// Every seat of a floating license is held by other machines right now. One frees up
    /// when its holder releases it or its lease ends: `licet_last_error_retry_after` gives
    /// the seconds until the earliest lease ends (0 if the server did not say).
    LICET_NO_FREE_SEAT = 1013,
    /// The seat was given back (`licet_seat_release`): it no longer licenses the app; check
    /// out again for a new one.
    LICET_SEAT_RELEASED = 1014,
    /// A required pointer was NULL, or a string was not UTF-8, or a value was out of range.
    LICET_INVALID_ARGUMENT = 2000,
    /// The output buffer is too small: nothing was written to it, and `*out_len` holds the
    /// length needed *without* the NUL (so the buffer must hold `*out_len + 1` bytes).
    LICET_BUFFER_TOO_SMALL = 2001,
    /// The item asked for does not exist (e.g. a metadata key the license does not have).
    LICET_NOT_FOUND = 2002,
    /// The server could not be reached.
    LICET_NETWORK = 3000,
    /// The server answered with an error that is not a license verdict.
    LICET_SERVER = 3001,
    /// Too many requests; retry later.
    LICET_RATE_LIMITED = 3002,
    /// The key or lease could not be stored or read.
    LICET_STORAGE = 3003,
    /// The configuration is unusable (no pinned keys, bad URL, …).
    LICET_CONFIG = 3004,
    /// No machine id could be read; set a fingerprint override.
    LICET_NO_MACHINE_ID = 3005,
    /// A TLS connection to the server could not be set up (untrusted or expired certificate,
    /// name mismatch, plain HTTP on an https URL): fix the setup, retrying will not help.
    /// `LICET_NETWORK` is for being offline or the server being unreachable.
    LICET_TLS = 3006,
    /// The product has no published release on the channel asked for.
    LICET_RELEASE_NOT_FOUND = 4000,
    /// The product's releases have no file for this machine's platform.
    LICET_PLATFORM_NOT_FOUND = 4001,
    /// The license does not cover this update, so there is nothing to download
    /// (`licet_update_not_allowed_reason` says why).
    LICET_UPDATE_NOT_ALLOWED = 4002,
    /// The update was refused: its signed manifest is forged, expired, or for another
    /// product, machine or license, or the bytes received are not the ones the vendor
    /// published. Nothing was written at the destination; the partial file was removed.
    LICET_UPDATE_VERIFICATION = 4003,
    /// Air-gapped activation: the text given is not a readable Licet document (a character
    /// mistyped or missing, caught by its checksum; or another document).
    LICET_OFFLINE_TEXT = 5000,
    /// Air-gapped activation: the response answers another (or an older) request, none is
    /// waiting, or there is no air-gapped activation to deactivate.
    LICET_OFFLINE_MISMATCH = 5001,
    /// A bug inside the library was caught; the call had no effect.
    LICET_PANIC = 9000,
}

impl licet_result {
    /// The code for an SDK outcome.
    pub fn from_error(e: &licet::Error) -> Self {
        use licet::Error as E;
        match e {
            E::NotActivated(_) => Self::LICET_NOT_ACTIVATED,
            E::Expired => Self::LICET_EXPIRED,
            E::LeaseExpired => Self::LICET_LEASE_EXPIRED,
            E::TrialExpired => Self::LICET_TRIAL_EXPIRED,
            E::TrialNotAvailable => Self::LICET_TRIAL_NOT_AVAILABLE,
            E::Suspended => Self::LICET_SUSPENDED,
            E::Revoked => Self::LICET_REVOKED,
            E::ActivationLimitReached => Self::LICET_ACTIVATION_LIMIT_REACHED,
            E::NoFreeSeat { .. } => Self::LICET_NO_FREE_SEAT,
            E::ClockTampered { .. } => Self::LICET_CLOCK_TAMPERED,
            E::InvalidKey => Self::LICET_INVALID_KEY,
            E::InvalidToken(_) => Self::LICET_INVALID_TOKEN,
            E::FingerprintMismatch => Self::LICET_FINGERPRINT_MISMATCH,
            E::StateTampered(_) => Self::LICET_STATE_TAMPERED,
            E::Network(_) => Self::LICET_NETWORK,
            E::Tls(_) => Self::LICET_TLS,
            E::RateLimited { .. } => Self::LICET_RATE_LIMITED,
            E::Storage(_) => Self::LICET_STORAGE,
            E::NoMachineId(_) => Self::LICET_NO_MACHINE_ID,
            E::Config(_) => Self::LICET_CONFIG,
            E::ReleaseNotFound => Self::LICET_RELEASE_NOT_FOUND,
            E::PlatformNotFound => Self::LICET_PLATFORM_NOT_FOUND,
            E::UpdateNotAllowed => Self::LICET_UPDATE_NOT_ALLOWED,
            E::UpdateVerification { .. } => Self::LICET_UPDATE_VERIFICATION,
            E::OfflineText(_) => Self::LICET_OFFLINE_TEXT,
            E::OfflineMismatch(_) => Self::LICET_OFFLINE_MISMATCH,
            _ => Self::LICET_SERVER,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Self::LICET_OK => "ok: the license is valid\0",
            Self::LICET_NOT_ACTIVATED => "this machine is not activated\0",
            Self::LICET_EXPIRED => "the license has expired; renew it\0",
            Self::LICET_LEASE_EXPIRED => "the offline lease ran out; connect to renew it\0",
            Self::LICET_TRIAL_EXPIRED => "the trial has ended; enter a license key\0",
            Self::LICET_TRIAL_NOT_AVAILABLE => "this product offers no trial\0",
            Self::LICET_NO_FREE_SEAT => "every floating seat of this license is in use\0",
            Self::LICET_SEAT_RELEASED => "the seat was given back\0",
            Self::LICET_SUSPENDED => "the license is suspended\0",
            Self::LICET_REVOKED => "the license was revoked\0",
            Self::LICET_ACTIVATION_LIMIT_REACHED => "every seat of this license is in use\0",
            Self::LICET_CLOCK_TAMPERED => "the system clock is behind trusted time\0",
            Self::LICET_INVALID_KEY => "the license key is not valid\0",
            Self::LICET_INVALID_TOKEN => "the stored license token is invalid\0",
            Self::LICET_FINGERPRINT_MISMATCH => "the license token belongs to another machine\0",
            Self::LICET_STATE_TAMPERED => "the stored license state was tampered with\0",
            Self::LICET_INVALID_ARGUMENT => {
                "invalid argument (NULL pointer, non-UTF-8 string or bad value)\0"
            }
            Self::LICET_BUFFER_TOO_SMALL => "the output buffer is too small\0",
            Self::LICET_NOT_FOUND => "the item asked for does not exist\0",
            Self::LICET_NETWORK => "the license server could not be reached\0",
            Self::LICET_SERVER => "the license server reported an error\0",
            Self::LICET_RATE_LIMITED => "too many requests; retry later\0",
            Self::LICET_STORAGE => "the license could not be stored or read\0",
            Self::LICET_CONFIG => "the configuration is unusable\0",
            Self::LICET_NO_MACHINE_ID => {
                "no machine id could be read; set a fingerprint override\0"
            }
            Self::LICET_TLS => "a TLS connection to the server could not be set up\0",
            Self::LICET_RELEASE_NOT_FOUND => "no release is published on this channel\0",
            Self::LICET_PLATFORM_NOT_FOUND => "no release has a file for this platform\0",
            Self::LICET_UPDATE_NOT_ALLOWED => "the license does not cover this update\0",
            Self::LICET_UPDATE_VERIFICATION => {
                "the update failed verification; nothing was installed\0"
            }
            Self::LICET_OFFLINE_TEXT => "the offline activation text could not be read\0",
            Self::LICET_OFFLINE_MISMATCH => {
                "the offline response does not answer this machine's request\0"
            }
            Self::LICET_PANIC => "internal error in liblicet (caught)\0",
        }
    }

    /// Every code, for the message lookup.
    const ALL: [Self; 33] = [
        Self::LICET_OK,
        Self::LICET_NOT_ACTIVATED,
        Self::LICET_EXPIRED,
        Self::LICET_SUSPENDED,
        Self::LICET_REVOKED,
        Self::LICET_ACTIVATION_LIMIT_REACHED,
        Self::LICET_CLOCK_TAMPERED,
        Self::LICET_INVALID_KEY,
        Self::LICET_INVALID_TOKEN,
        Self::LICET_FINGERPRINT_MISMATCH,
        Self::LICET_STATE_TAMPERED,
        Self::LICET_LEASE_EXPIRED,
        Self::LICET_TRIAL_EXPIRED,
        Self::LICET_TRIAL_NOT_AVAILABLE,
        Self::LICET_NO_FREE_SEAT,
        Self::LICET_SEAT_RELEASED,
        Self::LICET_INVALID_ARGUMENT,
        Self::LICET_BUFFER_TOO_SMALL,
        Self::LICET_NOT_FOUND,
        Self::LICET_NETWORK,
        Self::LICET_SERVER,
        Self::LICET_RATE_LIMITED,
        Self::LICET_STORAGE,
        Self::LICET_CONFIG,
        Self::LICET_NO_MACHINE_ID,
        Self::LICET_TLS,
        Self::LICET_RELEASE_NOT_FOUND,
        Self::LICET_PLATFORM_NOT_FOUND,
        Self::LICET_UPDATE_NOT_ALLOWED,
        Self::LICET_UPDATE_VERIFICATION,
        Self::LICET_OFFLINE_TEXT,
        Self::LICET_OFFLINE_MISMATCH,
        Self::LICET_PANIC,
    ];
}

/// A static, NUL-terminated English description of `result` (any value, also unknown
/// ones). Do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn licet_result_message(result: u32) -> *const c_char {
    let msg = licet_result::ALL
        .iter()
        .find(|r| **r as u32 == result)
        .map_or("unknown licet_result code\0", |r| r.message());
    msg.as_ptr().cast()
}

/// True for the license-state band (1000–1999): a definite verdict about the license, as
/// opposed to success or a failure to reach a verdict.
#[unsafe(no_mangle)]
pub extern "C" fn licet_result_is_license_state(result: u32) -> bool {
    (1000..2000).contains(&result)
}
