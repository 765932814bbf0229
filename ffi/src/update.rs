//! `licet_update`: a newer release found by `licet_client_check_update`, and its verified
//! download.

use std::ffi::{CString, c_char, c_void};

use crate::boundary::{fail, set_last_error, str_arg};
use crate::client::{client_ref, licet_client};
use crate::result::licet_result;

/// A newer release than the one running, from `licet_client_check_update`: an update the
/// license covers (`licet_update_is_allowed`), or word of a newer release it does not cover
/// (then the version and publish date describe that release, `licet_update_not_allowed_reason`
/// says why, and there is no file: notes, channel and SHA-256 are empty, the size 0).
/// Owned by the caller; free it with `licet_update_free`. Its strings live as long as it.
pub struct licet_update {
    _private: [u8; 0],
}

/// Why the license does not cover a release.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum licet_not_allowed_reason {
    /// The release is covered (or there is none to explain).
    LICET_NOT_ALLOWED_NONE = 0,
    /// Published after the license's updates ended: renewing maintenance unlocks it.
    LICET_NOT_ALLOWED_UPDATES_ENDED = 1,
    /// The release needs an entitlement the license lacks.
    LICET_NOT_ALLOWED_ENTITLEMENT_REQUIRED = 2,
    /// Trials of this product do not receive releases.
    LICET_NOT_ALLOWED_TRIAL_EXCLUDED = 3,
}

impl From<licet::NotAllowedReason> for licet_not_allowed_reason {
    fn from(r: licet::NotAllowedReason) -> Self {
        match r {
            licet::NotAllowedReason::UpdatesEnded => Self::LICET_NOT_ALLOWED_UPDATES_ENDED,
            licet::NotAllowedReason::EntitlementRequired => {
                Self::LICET_NOT_ALLOWED_ENTITLEMENT_REQUIRED
            }
            licet::NotAllowedReason::TrialExcluded => Self::LICET_NOT_ALLOWED_TRIAL_EXCLUDED,
        }
    }
}

/// Called as a download makes progress, on the thread that called `licet_update_download`
/// and before it returns: `downloaded` of `total` bytes are in (a resumed download starts
/// above 0), with the `user_data` passed to `licet_update_download`.
pub type licet_progress_callback =
    Option<unsafe extern "C" fn(downloaded: u64, total: u64, user_data: *mut c_void)>;

/// The update behind a `licet_update` pointer, with its strings ready for C.
pub(crate) struct Update {
    update: licet::Update,
    version: CString,
    notes: CString,
    sha256: CString,
    channel: CString,
    newer_version: Option<CString>,
}

impl Update {
    fn new(update: licet::Update) -> Self {
        Self {
            version: c_string(update.version()),
            notes: c_string(update.notes()),
            sha256: c_string(update.sha256()),
            channel: c_string(update.channel()),
            newer_version: update
                .newer_not_allowed()
                .filter(|_| update.is_allowed())
                .map(|n| c_string(&n.version)),
            update,
        }
    }
}

/// A C string of `s`, cut at a NUL it may contain (release notes are the vendor's text).
fn c_string(s: &str) -> CString {
    let text = s.split('\0').next().unwrap_or_default();
    CString::new(text).unwrap_or_default()
}

fn update_ref<'a>(update: *const licet_update) -> Option<&'a Update> {
    // SAFETY: every licet_update pointer comes from a Box<Update>; the caller promises it
    // is live.
    unsafe { update.cast::<Update>().as_ref() }
}

/// Is there a newer release of the app for this machine? `current_version` is the version
/// running (semantic, e.g. `"1.2.0"`); `channel` the release channel to follow (NULL:
/// `"stable"`; a `"beta"` client is offered beta and stable releases, the newer). Network.
///
/// On `LICET_OK`, `*update_out` is NULL when the app is up to date, else an update to free
/// with `licet_update_free`. The license is proven with the lease while
/// `licet_client_check` would accept it offline, else with the stored key (the machine must
/// still be activated). Errors: `LICET_RELEASE_NOT_FOUND`, `LICET_PLATFORM_NOT_FOUND`, the
/// license states the server gives (`LICET_SUSPENDED`, …), network failures, and
/// `LICET_CONFIG` for a version or channel the server would refuse.
///
/// # Safety
/// `client` from `licet_client_new`; `current_version` NUL-terminated; `channel` NULL or
/// NUL-terminated; `update_out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_client_check_update(
    client: *const licet_client,
    current_version: *const c_char,
    channel: *const c_char,
    update_out: *mut *mut licet_update,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(update_out);
        // SAFETY: caller guarantees.
        let version = match unsafe { str_arg("current_version", current_version) } {
            Ok(v) => v,
            Err(e) => return e,
        };
        let channel = if channel.is_null() {
            None
        } else {
            // SAFETY: caller guarantees a non-NULL channel is NUL-terminated.
            match unsafe { str_arg("channel", channel) } {
                Ok(c) => Some(c),
                Err(e) => return e,
            }
        };
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        match client.check_for_update(version, channel) {
            Ok(found) => {
                let raw = found.map_or(std::ptr::null_mut(), |u| {
                    Box::into_raw(Box::new(Update::new(u))).cast::<licet_update>()
                });
                // SAFETY: checked non-NULL above.
                unsafe { *update_out = raw };
                licet_result::LICET_OK
            }
            Err(e) => fail(&e),
        }
    })
}

/// Frees an update. NULL is ignored.
///
/// # Safety
/// `update` from `licet_client_check_update`, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_free(update: *mut licet_update) {
    let _ = std::panic::catch_unwind(|| {
        if !update.is_null() {
            // SAFETY: created by Box::into_raw; ownership returns here.
            drop(unsafe { Box::from_raw(update.cast::<Update>()) });
        }
    });
}

/// The release's semantic version, e.g. `"1.3.0"`; owned by the update. `""` for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_version(update: *const licet_update) -> *const c_char {
    string_of(update, |u| &u.version)
}

/// The release notes (Markdown); empty when the update is not allowed. Owned by the
/// update; `""` for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_notes(update: *const licet_update) -> *const c_char {
    string_of(update, |u| &u.notes)
}

/// The file's SHA-256 (64 lower-case hex digits); empty when the update is not allowed.
/// Owned by the update; `""` for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_sha256(update: *const licet_update) -> *const c_char {
    string_of(update, |u| &u.sha256)
}

/// The release's channel (`"stable"`, `"beta"`, …); empty when the update is not allowed.
/// Owned by the update; `""` for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_channel(update: *const licet_update) -> *const c_char {
    string_of(update, |u| &u.channel)
}

/// For an allowed update: the version of a newer release still that the license does not
/// cover (so an app can say "2.0 is out too; renew to get it"), with
/// `licet_update_not_allowed_reason` saying why. NULL when there is none, for an update
/// that is not allowed (its own version says it), and for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_newer_not_allowed_version(
    update: *const licet_update,
) -> *const c_char {
    update_ref(update)
        .and_then(|u| u.newer_version.as_ref())
        .map_or(std::ptr::null(), |s| s.as_ptr())
}

/// When the release was published (Unix seconds); 0 for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_published_at(update: *const licet_update) -> i64 {
    update_ref(update).map_or(0, |u| u.update.published_at())
}

/// The file's size in bytes; 0 when the update is not allowed, and for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_size(update: *const licet_update) -> u64 {
    update_ref(update).map_or(0, |u| u.update.size())
}

/// True when the license covers the update (download it with `licet_update_download`);
/// false for word of a newer release it does not cover, and for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_is_allowed(update: *const licet_update) -> bool {
    update_ref(update).is_some_and(|u| u.update.is_allowed())
}

/// Why the license does not cover the update; for an allowed update, why it does not cover
/// the newer release of `licet_update_newer_not_allowed_version`. `LICET_NOT_ALLOWED_NONE`
/// when there is nothing to explain, and for NULL.
///
/// # Safety
/// `update` NULL or from `licet_client_check_update`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_not_allowed_reason(
    update: *const licet_update,
) -> licet_not_allowed_reason {
    update_ref(update)
        .and_then(|u| u.update.newer_not_allowed())
        .map_or(licet_not_allowed_reason::LICET_NOT_ALLOWED_NONE, |n| {
            n.reason.into()
        })
}

/// Downloads the update to `path`, verified, calling `progress` (if not NULL) as bytes
/// arrive. Network.
///
/// The signed manifest is checked first (the vendor's keys, this product, machine and
/// license, not expired, naming exactly the offered file); the bytes go to
/// `<path>.<16 hex digits of the SHA-256>.part` and only when their size and SHA-256 are
/// the published ones is that file renamed to `path` (replacing a file there). An
/// interrupted download resumes from its partial file; a dropped connection is resumed a
/// few times. `client` is the client that found the update.
///
/// Errors: `LICET_UPDATE_NOT_ALLOWED` (the license does not cover it),
/// `LICET_UPDATE_VERIFICATION` (nothing is written at `path`, a file already there is left
/// alone, the partial file is removed), `LICET_STORAGE` (the file cannot be written),
/// network and server failures (after which the partial file stays, to resume; an expired
/// download link is `LICET_SERVER`: check for the update again).
///
/// # Safety
/// `client` from `licet_client_new`; `update` from `licet_client_check_update`; `path`
/// NUL-terminated; `progress` NULL or a function safe to call with `user_data` until this
/// call returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_update_download(
    client: *const licet_client,
    update: *const licet_update,
    path: *const c_char,
    progress: licet_progress_callback,
    user_data: *mut c_void,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(client, update);
        // SAFETY: caller guarantees.
        let path = match unsafe { str_arg("path", path) } {
            Ok(p) => p,
            Err(e) => return e,
        };
        let Some(update) = update_ref(update) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let report = Progress {
            callback: progress,
            user_data,
        };
        match update
            .update
            .download_to(path, move |done, total| report.call(done, total))
        {
            Ok(()) => licet_result::LICET_OK,
            Err(e) => fail(&e),
        }
    })
}

/// The caller's progress callback and its data.
struct Progress {
    callback: licet_progress_callback,
    user_data: *mut c_void,
}

// SAFETY: the download runs on the calling thread (the SDK blocks on it there; only a
// caller that is itself inside a Rust async runtime gets a helper thread, which the call
// joins before returning), so `user_data` is used while the caller waits, as documented.
unsafe impl Send for Progress {}

impl Progress {
    fn call(&self, done: u64, total: u64) {
        if let Some(callback) = self.callback {
            // SAFETY: the caller promises the callback may be called with user_data during
            // licet_update_download.
            unsafe { callback(done, total, self.user_data) };
        }
    }
}

/// A string field of an update, or `""` for NULL.
fn string_of(
    update: *const licet_update,
    field: impl FnOnce(&Update) -> &CString,
) -> *const c_char {
    match update_ref(update) {
        Some(u) => field(u).as_ptr(),
        None => {
            set_last_error("argument `update` is NULL");
            c"".as_ptr()
        }
    }
}
