//! What every exported function goes through.

use std::cell::RefCell;
use std::ffi::{CStr, c_char};

use crate::result::licet_result;

thread_local! {
    /// Detail of this thread's last failure, for `licet_last_error_message`.
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
    /// Seconds to wait after this thread's last failure, for `licet_last_error_retry_after`.
    static LAST_RETRY_AFTER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Records the detail of a failure for the calling thread.
pub fn set_last_error(message: impl Into<String>) {
    let message = message.into();
    LAST_ERROR.with(|e| *e.borrow_mut() = message);
    LAST_RETRY_AFTER.with(|r| r.set(0));
}

/// The SDK's advice names Rust methods; from C, the C functions that do the same.
const C_NAMES: [(&str, &str); 2] = [
    (
        "use pinned_jwks or pinned_key",
        "call licet_config_set_pinned_keys",
    ),
    (
        "set ClientBuilder::fingerprint_override",
        "call licet_config_set_fingerprint",
    ),
];

/// An SDK error's detail as a C caller reads it.
fn c_detail(e: &licet::Error) -> String {
    C_NAMES
        .iter()
        .fold(e.to_string(), |text, (rust, c)| text.replace(rust, c))
}

/// Records an SDK error and returns its code.
pub fn fail(e: &licet::Error) -> licet_result {
    set_last_error(c_detail(e));
    let retry_after = match e {
        licet::Error::RateLimited { retry_after } => Some(*retry_after),
        licet::Error::NoFreeSeat { retry_after } => *retry_after,
        _ => None,
    };
    if let Some(secs) = retry_after {
        LAST_RETRY_AFTER.with(|r| r.set(secs));
    }
    licet_result::from_error(e)
}

/// Runs `body`, turning a panic into `LICET_PANIC` so that none crosses the C ABI.
macro_rules! ffi_boundary {
    ($body:block) => {{
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || -> $crate::result::licet_result { $body },
        )) {
            Ok(result) => result,
            Err(_) => {
                $crate::boundary::set_last_error("a panic inside liblicet was caught");
                $crate::result::licet_result::LICET_PANIC
            }
        }
    }};
}

/// Returns `LICET_INVALID_ARGUMENT` from the enclosing function if the pointer is NULL.
macro_rules! require_non_null {
    ($($ptr:ident),+) => {
        $(
            if $ptr.is_null() {
                $crate::boundary::set_last_error(concat!("argument `", stringify!($ptr), "` is NULL"));
                return $crate::result::licet_result::LICET_INVALID_ARGUMENT;
            }
        )+
    };
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string valid for the call.
pub unsafe fn str_arg<'a>(name: &str, ptr: *const c_char) -> Result<&'a str, licet_result> {
    if ptr.is_null() {
        set_last_error(format!("argument `{name}` is NULL"));
        return Err(licet_result::LICET_INVALID_ARGUMENT);
    }
    // SAFETY: non-NULL, and the caller promises a NUL-terminated string.
    let cstr = unsafe { CStr::from_ptr(ptr) };
    cstr.to_str().map_err(|_| {
        set_last_error(format!("argument `{name}` is not UTF-8"));
        licet_result::LICET_INVALID_ARGUMENT
    })
}

/// Copies `value` into the caller's buffer, NUL-terminated, and its length (without the NUL)
/// into `*out_len`. If `len` is too small (it must hold the NUL too), nothing is written to
/// `buf`, `*out_len` receives the length needed (without the NUL) and the result is
/// `LICET_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `buf` must be valid for `len` bytes; `out_len` must be valid for one write.
pub unsafe fn write_str(
    value: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    // SAFETY: forwarded caller guarantees.
    let result = unsafe { copy_out(value, buf, len, out_len) };
    match result {
        licet_result::LICET_INVALID_ARGUMENT => {
            set_last_error("argument `buf` or `out_len` is NULL")
        }
        licet_result::LICET_BUFFER_TOO_SMALL => {
            set_last_error(format!("the buffer needs {} bytes", value.len() + 1));
        }
        _ => {}
    }
    result
}

/// [`write_str`] without touching the last error.
///
/// # Safety
/// As [`write_str`].
unsafe fn copy_out(value: &str, buf: *mut c_char, len: usize, out_len: *mut usize) -> licet_result {
    if out_len.is_null() || (buf.is_null() && len > 0) {
        return licet_result::LICET_INVALID_ARGUMENT;
    }
    let bytes = value.as_bytes();
    if bytes.len() >= len {
        // SAFETY: out_len is non-NULL and the caller promises it is writable.
        unsafe { *out_len = bytes.len() };
        return licet_result::LICET_BUFFER_TOO_SMALL;
    }
    // SAFETY: buf holds len > bytes.len() bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
        *buf.add(bytes.len()) = 0;
        *out_len = bytes.len();
    }
    licet_result::LICET_OK
}

/// Copies the calling thread's last error detail into `buf` (see `licet_result` for buffer
/// rules). An empty string if nothing failed on this thread yet.
///
/// # Safety
/// `buf` must be valid for `len` bytes; `out_len` must be valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_last_error_message(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let message = LAST_ERROR.with(|e| e.borrow().clone());
        // SAFETY: forwarded caller guarantees.
        unsafe { copy_out(&message, buf, len, out_len) }
    })
}

/// After `LICET_RATE_LIMITED`: how many seconds the server asked this thread to wait before
/// trying again. After `LICET_NO_FREE_SEAT`: the seconds until the earliest held seat's lease
/// ends (a seat may free up sooner, when its holder releases it). 0 after any other outcome,
/// when the server did not say, or before any failure on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn licet_last_error_retry_after() -> u64 {
    LAST_RETRY_AFTER.with(|r| r.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_name_the_c_functions() {
        for (e, want) in [
            (
                licet::Error::Config("no pinned public keys: use pinned_jwks or pinned_key".into()),
                "licet_config_set_pinned_keys",
            ),
            (
                licet::Error::NoMachineId("no /etc/machine-id".into()),
                "licet_config_set_fingerprint",
            ),
        ] {
            fail(&e);
            let message = LAST_ERROR.with(|m| m.borrow().clone());
            assert!(message.contains(want), "{message}");
            assert!(!message.contains("pinned_jwks") && !message.contains("ClientBuilder"));
        }
    }

    #[test]
    fn a_client_without_pinned_keys_says_which_c_function_pins_them() {
        let mut config = std::ptr::null_mut();
        let mut client = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings and out-pointers; both freed below.
        unsafe {
            let r = crate::config::licet_config_new(
                c"https://licensing.example.com".as_ptr(),
                c"photo".as_ptr(),
                &mut config,
            );
            assert_eq!(r, licet_result::LICET_OK);
            // A JWKS with no keys in it: the SDK's own advice names its Rust methods.
            let r = crate::config::licet_config_set_pinned_keys(config, c"{\"keys\":[]}".as_ptr());
            assert_eq!(r, licet_result::LICET_OK);
            let r = crate::client::licet_client_new(config, &mut client);
            assert_eq!(r, licet_result::LICET_CONFIG);
            crate::config::licet_config_free(config);
        }
        let message = LAST_ERROR.with(|m| m.borrow().clone());
        assert!(
            message.contains("licet_config_set_pinned_keys"),
            "{message}"
        );
    }

    #[test]
    fn rate_limited_failures_report_their_wait_as_a_number() {
        let code = fail(&licet::Error::RateLimited { retry_after: 42 });
        assert_eq!(code, licet_result::LICET_RATE_LIMITED);
        assert_eq!(licet_last_error_retry_after(), 42);
        fail(&licet::Error::Revoked);
        assert_eq!(
            licet_last_error_retry_after(),
            0,
            "only the last failure counts"
        );
        fail(&licet::Error::RateLimited { retry_after: 7 });
        set_last_error("argument `x` is NULL");
        assert_eq!(licet_last_error_retry_after(), 0);
    }

    #[test]
    fn no_free_seat_is_its_own_code_and_says_when_a_lease_ends() {
        let code = fail(&licet::Error::NoFreeSeat {
            retry_after: Some(95),
        });
        assert_eq!(code, licet_result::LICET_NO_FREE_SEAT);
        assert_eq!(licet_last_error_retry_after(), 95);
        fail(&licet::Error::NoFreeSeat { retry_after: None });
        assert_eq!(licet_last_error_retry_after(), 0, "the server did not say");
    }

    #[test]
    fn a_panic_becomes_licet_panic_with_a_message() {
        let result = ffi_boundary!({
            let v: Vec<u8> = Vec::new();
            #[allow(clippy::indexing_slicing)]
            let _ = v[1];
            licet_result::LICET_OK
        });
        assert_eq!(result, licet_result::LICET_PANIC);
        let message = LAST_ERROR.with(|e| e.borrow().clone());
        assert!(message.contains("panic"));
    }

    #[test]
    fn strings_out_report_the_needed_length() {
        let mut buf = [0 as c_char; 4];
        let mut n = 0usize;
        // SAFETY: buf and n are valid for the call.
        let r = unsafe { write_str("hello", buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!((r, n), (licet_result::LICET_BUFFER_TOO_SMALL, 5));
        let mut buf = [0 as c_char; 6];
        // SAFETY: as above.
        let r = unsafe { write_str("hello", buf.as_mut_ptr(), buf.len(), &mut n) };
        assert_eq!((r, n, buf[5]), (licet_result::LICET_OK, 5, 0));
    }
}
