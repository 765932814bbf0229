//! The C ABI of the Licet client SDK: `liblicet` (shared and static) and `include/licet.h`.
//!
//! # Layout
//! - [`result`]: `licet_result`, one `uint32_t` code space in bands (license states apart
//!   from errors), and the message of any code.
//! - [`boundary`]: what every exported function goes through: panic catching, pointer and
//!   UTF-8 checks, strings out through caller buffers, the per-thread last error.
//! - [`config`], [`client`], [`license`]: the handles (`licet_config`, `licet_client`,
//!   `licet_license`) and their functions.
//! - [`update`]: `licet_update`, the update check and the verified download.
//! - [`offline`]: air-gapped activation: the request, the import of its response, the
//!   deactivation proof.
//! - [`seat`]: `licet_seat`, a floating license's seat: checked out, renewed on a
//!   background thread, borrowed, released; loss reported through a callback.
//!
//! Conventions, as in rustls-ffi: opaque handles created by `_new` and released by `_free`
//! (NULL is accepted and ignored); every pointer is NULL-checked; outputs are written only
//! on success; no panic crosses the boundary (it becomes `LICET_PANIC`); all strings are
//! UTF-8 and NUL-terminated.
#![deny(missing_docs)]
#![allow(non_camel_case_types)]

#[macro_use]
pub mod boundary;
pub mod client;
pub mod config;
pub mod license;
pub mod offline;
pub mod result;
pub mod seat;
pub mod update;

/// The library version, e.g. `"0.1.0"`. The pointer is static: do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn licet_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
