//! Air-gapped activation from C: the activation request, the import of its response, and
//! the deactivation proof. Documents come out as text blocks (a title line, then base32
//! groups with a checksum; write them to a file as they are) through size-reporting
//! buffers (see `licet_result`: `LICET_BUFFER_TOO_SMALL` puts the length needed in
//! `*out_len`).

use std::ffi::c_char;

use crate::boundary::{fail, str_arg, write_str};
use crate::client::{client_ref, licet_client, run};
use crate::license::licet_license;
use crate::result::licet_result;

/// Makes an activation request for this machine with `key` and copies its text block into
/// `buf`, for a machine that cannot reach the server: the customer carries it to the portal
/// ("Activate an offline machine"), and `licet_offline_import` takes the answer. A new
/// request replaces one still waiting. With `key` NULL nothing new is made: the request
/// still waiting is copied again (`LICET_OFFLINE_MISMATCH` if none), e.g. after
/// `LICET_BUFFER_TOO_SMALL`, when the request was made but did not fit.
///
/// # Safety
/// `client` from `licet_client_new`; `key` NULL or NUL-terminated; `buf` valid for `len`
/// bytes; `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_offline_request(
    client: *const licet_client,
    key: *const c_char,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let document = if key.is_null() {
            client.pending_offline_request().and_then(|pending| {
                pending.ok_or_else(|| {
                    licet::Error::OfflineMismatch(
                        "no activation request is waiting on this machine".into(),
                    )
                })
            })
        } else {
            // SAFETY: caller guarantees.
            let key = match unsafe { str_arg("key", key) } {
                Ok(k) => k,
                Err(e) => return e,
            };
            client.offline_activation_request(key)
        };
        match document {
            // SAFETY: caller guarantees.
            Ok(d) => unsafe { write_str(&d.text(), buf, len, out_len) },
            Err(e) => fail(&e),
        }
    })
}

/// Imports the activation response (its text block, file content, or bare token) to this
/// machine's waiting request. It is verified against the pinned keys, the product, this
/// machine and the waiting request; then `licet_client_check` works as after an online
/// activation. Errors: `LICET_OFFLINE_TEXT` (unreadable text), `LICET_OFFLINE_MISMATCH`
/// (another or an older request's response), `LICET_INVALID_TOKEN` (altered or forged),
/// `LICET_FINGERPRINT_MISMATCH` (another machine's). On `LICET_OK`, if `license_out` is not
/// NULL, `*license_out` receives the license (free it with `licet_license_free`).
///
/// # Safety
/// `client` from `licet_client_new`; `response` NUL-terminated; `license_out` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_offline_import(
    client: *const licet_client,
    response: *const c_char,
    license_out: *mut *mut licet_license,
) -> licet_result {
    ffi_boundary!({
        // SAFETY: caller guarantees.
        let response = match unsafe { str_arg("response", response) } {
            Ok(r) => r,
            Err(e) => return e,
        };
        run(client, license_out, |c| {
            c.import_offline_activation(response)
        })
    })
}

/// Deactivates this air-gapped machine without a network and copies the deactivation proof's
/// text block into `buf`: the lease, the key and the per-activation private key are deleted
/// (the proof is made first). Carry the proof to the portal, the dashboard or
/// `licet-server offline deactivate`; it frees the seat once. Called again, it copies the
/// same proof (until the next activation), so a buffer that was too small loses nothing.
/// `LICET_OFFLINE_MISMATCH` when this machine holds no air-gapped activation.
///
/// # Safety
/// `client` from `licet_client_new`; `buf` valid for `len` bytes; `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_offline_deactivate(
    client: *const licet_client,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        match client.offline_deactivation_proof() {
            // SAFETY: caller guarantees.
            Ok(proof) => unsafe { write_str(&proof.text(), buf, len, out_len) },
            Err(e) => fail(&e),
        }
    })
}
