//! `licet_license`: what a valid license grants.

use std::ffi::c_char;

use crate::boundary::{set_last_error, str_arg, write_str};
use crate::result::licet_result;

/// A valid license, as returned by `licet_client_check`, `_activate` or `_validate`.
/// Owned by the caller; free it with `licet_license_free`.
pub struct licet_license {
    _private: [u8; 0],
}

/// The real license behind a `licet_license` pointer.
pub(crate) struct License(pub licet::License);

fn license_ref<'a>(license: *const licet_license) -> Option<&'a licet::License> {
    // SAFETY: every licet_license pointer comes from a Box<License>; the caller promises it
    // is live.
    unsafe { license.cast::<License>().as_ref() }.map(|l| &l.0)
}

/// Frees a license. NULL is ignored.
///
/// # Safety
/// `license` from this library, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_free(license: *mut licet_license) {
    let _ = std::panic::catch_unwind(|| {
        if !license.is_null() {
            // SAFETY: created by Box::into_raw; ownership returns here.
            drop(unsafe { Box::from_raw(license.cast::<License>()) });
        }
    });
}

/// True if the license grants `entitlement`. False for NULL arguments.
///
/// # Safety
/// `license` from this library; `entitlement` NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_has_entitlement(
    license: *const licet_license,
    entitlement: *const c_char,
) -> bool {
    std::panic::catch_unwind(|| {
        // SAFETY: caller guarantees.
        let name = unsafe { str_arg("entitlement", entitlement) };
        match (license_ref(license), name) {
            (Some(l), Ok(n)) => l.has_entitlement(n),
            _ => false,
        }
    })
    .unwrap_or(false)
}

/// When the license expires (Unix seconds); 0 for a perpetual license (and for NULL).
///
/// # Safety
/// `license` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_expires_at(license: *const licet_license) -> i64 {
    license_ref(license).and_then(|l| l.expires_at).unwrap_or(0)
}

/// When the license's subscription renews next (Unix seconds); 0 when the license is not
/// sold by subscription, when the subscription is canceled (now or at period end), and for
/// NULL. An app says "Renews on …" with it, or "Ends on …" with
/// `licet_license_subscription_ends_at`.
///
/// # Safety
/// `license` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_renews_at(license: *const licet_license) -> i64 {
    license_ref(license)
        .and_then(|l| l.renews_at())
        .unwrap_or(0)
}

/// When the license's canceled subscription ends (Unix seconds); 0 while it renews, when
/// there is none, and for NULL. The license itself runs to `licet_license_expires_at`.
///
/// # Safety
/// `license` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_subscription_ends_at(license: *const licet_license) -> i64 {
    license_ref(license)
        .and_then(|l| l.subscription_ends_at())
        .unwrap_or(0)
}

/// True when the customer canceled the license's subscription and it ends at the period's
/// end; false otherwise and for NULL.
///
/// # Safety
/// `license` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_cancels_at_period_end(
    license: *const licet_license,
) -> bool {
    license_ref(license).is_some_and(|l| l.cancels_at_period_end())
}

/// True when the license's subscription has an unpaid renewal (Stripe is retrying the
/// payment; the license keeps its paid period and grace); false otherwise and for NULL.
///
/// # Safety
/// `license` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_payment_past_due(license: *const licet_license) -> bool {
    license_ref(license).is_some_and(|l| {
        l.subscription
            .is_some_and(|s| s.status == licet::SubscriptionStatus::PastDue)
    })
}

/// Until when the app may run offline on the current lease (Unix seconds); 0 for NULL.
///
/// # Safety
/// `license` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_offline_valid_until(license: *const licet_license) -> i64 {
    license_ref(license).map_or(0, |l| l.offline_valid_until)
}

/// Number of entitlements; 0 for NULL.
///
/// # Safety
/// `license` from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_entitlement_count(license: *const licet_license) -> usize {
    license_ref(license).map_or(0, |l| l.entitlements.len())
}

/// Copies entitlement number `index` into `buf` (buffer rules as `licet_client_fingerprint`).
///
/// # Safety
/// `license` from this library; `buf` valid for `len` bytes; `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_entitlement(
    license: *const licet_license,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe {
        copy_nth(license, index, "entitlements", buf, len, out_len, |l| {
            (
                l.entitlements.len(),
                l.entitlements.get(index).map(String::as_str),
            )
        })
    }
}

/// Copies the license id into `buf`.
///
/// # Safety
/// As `licet_license_entitlement`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_id(
    license: *const licet_license,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { copy_field(license, buf, len, out_len, |l| Some(l.id.as_str())) }
}

/// Copies the customer's email into `buf`; an empty string when the server sent none.
///
/// # Safety
/// As `licet_license_entitlement`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_email(
    license: *const licet_license,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe {
        copy_field(license, buf, len, out_len, |l| {
            Some(l.email.as_deref().unwrap_or(""))
        })
    }
}

/// Copies the product's slug into `buf`.
///
/// # Safety
/// As `licet_license_entitlement`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_product(
    license: *const licet_license,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe { copy_field(license, buf, len, out_len, |l| Some(l.product.as_str())) }
}

/// The number of machines the license may be active on at once; 0 for NULL.
///
/// # Safety
/// `license` NULL or from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_max_activations(license: *const licet_license) -> u32 {
    license_ref(license).map_or(0, |l| l.max_activations)
}

/// Seats in use when the lease was signed, this machine's included; -1 when the server did
/// not say (or for NULL).
///
/// # Safety
/// `license` NULL or from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_activations_in_use(license: *const licet_license) -> i64 {
    license_ref(license)
        .and_then(|l| l.activations_in_use)
        .map_or(-1, i64::from)
}

/// When the server signed the current lease (Unix seconds, to the minute): the last
/// successful online activation or validation. 0 for NULL.
///
/// # Safety
/// `license` NULL or from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_issued_at(license: *const licet_license) -> i64 {
    license_ref(license).map_or(0, |l| l.issued_at)
}

/// True when the license is this machine's trial (from `licet_client_start_trial`); false
/// for a license or NULL.
///
/// # Safety
/// `license` NULL or from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_is_trial(license: *const licet_license) -> bool {
    license_ref(license).is_some_and(licet::License::is_trial)
}

/// When the trial ends (Unix seconds); 0 for a license or NULL.
///
/// # Safety
/// `license` NULL or from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_trial_ends_at(license: *const licet_license) -> i64 {
    license_ref(license)
        .and_then(licet::License::trial_ends_at)
        .unwrap_or(0)
}

/// The number of metadata entries the vendor set on the license; 0 for NULL.
///
/// # Safety
/// `license` NULL or from this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_metadata_count(license: *const licet_license) -> usize {
    license_ref(license).map_or(0, |l| l.metadata.len())
}

/// Copies the key of metadata entry `index` (keys in byte order, `0 ..
/// licet_license_metadata_count`) into `buf`; buffer rules as `licet_client_fingerprint`.
/// `LICET_INVALID_ARGUMENT` for an index out of range.
///
/// # Safety
/// As `licet_license_entitlement`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_metadata_key(
    license: *const licet_license,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    // SAFETY: caller guarantees.
    unsafe {
        copy_nth(license, index, "metadata entries", buf, len, out_len, |l| {
            (
                l.metadata.len(),
                l.metadata.keys().nth(index).map(String::as_str),
            )
        })
    }
}

/// Copies the value the vendor set for metadata `key` into `buf` (buffer rules as
/// `licet_client_fingerprint`). `LICET_NOT_FOUND` when the license has no such key (nothing
/// is written).
///
/// # Safety
/// As `licet_license_entitlement`; `key` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_license_metadata(
    license: *const licet_license,
    key: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(l) = license_ref(license) else {
            set_last_error("argument `license` is NULL");
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        // SAFETY: caller guarantees `key` is NULL or NUL-terminated.
        let key = match unsafe { str_arg("key", key) } {
            Ok(k) => k,
            Err(code) => return code,
        };
        let Some(value) = l.metadata_value(key) else {
            set_last_error(format!(
                "licet_license_metadata: the license has no metadata key `{key}`"
            ));
            return licet_result::LICET_NOT_FOUND;
        };
        // SAFETY: caller guarantees.
        unsafe { write_str(value, buf, len, out_len) }
    })
}

/// Copies item `index` of one of a license's lists (`what`, for the detail), which `pick`
/// answers with the list's length and the item; an index out of range is
/// `LICET_INVALID_ARGUMENT`.
///
/// # Safety
/// As `licet_license_entitlement`.
unsafe fn copy_nth(
    license: *const licet_license,
    index: usize,
    what: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    pick: impl FnOnce(&licet::License) -> (usize, Option<&str>),
) -> licet_result {
    ffi_boundary!({
        let Some(l) = license_ref(license) else {
            set_last_error("argument `license` is NULL");
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let (count, item) = pick(l);
        let Some(item) = item else {
            set_last_error(format!("index {index} is out of range ({count} {what})"));
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        // SAFETY: caller guarantees.
        unsafe { write_str(item, buf, len, out_len) }
    })
}

/// Copies a string field of a license.
///
/// # Safety
/// As `licet_license_entitlement`.
unsafe fn copy_field(
    license: *const licet_license,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    field: impl FnOnce(&licet::License) -> Option<&str>,
) -> licet_result {
    ffi_boundary!({
        let Some(value) = license_ref(license).and_then(field) else {
            set_last_error("argument `license` is NULL");
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        // SAFETY: caller guarantees.
        unsafe { write_str(value, buf, len, out_len) }
    })
}
