//! `licet_seat`: a floating license's seat, held and renewed in the background until it is
//! released.

use std::ffi::{c_char, c_void};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use crate::boundary::{fail, set_last_error, str_arg, write_str};
use crate::client::{client_ref, licet_client};
use crate::result::licet_result;

/// A held seat of a floating license, from `licet_seat_checkout`. A background thread
/// renews its lease (at half of the lease) while it is held; the license checks valid
/// (`licet_client_check`) while it is. Thread-safe: a seat may be used from several threads
/// at once. Give it back with `licet_seat_release`, and free it with `licet_seat_free`
/// (which gives it back if that was not done).
pub struct licet_seat {
    _private: [u8; 0],
}

/// Called once when a seat is lost (a renewal was refused, or its lease ended without
/// one), with why (`LICET_REVOKED`, `LICET_SUSPENDED`, `LICET_EXPIRED`, `LICET_NO_FREE_SEAT`,
/// `LICET_LEASE_EXPIRED`, …) and the `user_data` given to `licet_seat_on_lost`. It runs on
/// the seat's renewal thread (or, if the seat is already lost when it is registered, on the
/// thread registering it). It may call `licet_seat_status` and the seat's other getters,
/// `licet_seat_release` and `licet_seat_free`, but not `licet_seat_on_lost` (that would
/// deadlock); keep it short, and do not let an exception escape it.
pub type licet_seat_lost_callback =
    Option<unsafe extern "C" fn(reason: licet_result, user_data: *mut c_void)>;

/// The seat behind a `licet_seat` pointer.
struct Seat {
    /// The guard, until the seat is released.
    guard: RwLock<Option<licet::Seat>>,
    /// Once released: the seat's id and how it ended (`LICET_SEAT_RELEASED`, or the reason
    /// it had been lost before).
    ended: OnceLock<(String, licet_result)>,
    /// The caller's lost callback, apart from the guard so that registering one never
    /// waits on the guard's lock (the SDK calls the one dispatcher set at checkout).
    on_lost: Arc<Mutex<LostSlot>>,
}

/// The caller's lost callback, and the loss once it happened.
#[derive(Default)]
struct LostSlot {
    hook: Option<LostHook>,
    lost: Option<licet_result>,
}

/// The caller's lost callback and its data.
struct LostHook {
    callback: unsafe extern "C" fn(reason: licet_result, user_data: *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the caller of licet_seat_on_lost promises that the callback may be called with
// user_data from any thread (the renewal thread) until the seat is freed or the callback
// replaced, which is when this hook is dropped.
unsafe impl Send for LostHook {}

impl LostHook {
    fn call(&self, reason: licet_result) {
        // SAFETY: the caller promises the callback may be called with user_data.
        unsafe { (self.callback)(reason, self.user_data) };
    }
}

impl Seat {
    /// Runs `read` on the guard while the seat is not released; `None` once it is.
    fn with_guard<T>(&self, read: impl FnOnce(&licet::Seat) -> T) -> Option<T> {
        // A panic elsewhere must not make the seat unusable.
        let guard = self.guard.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(read)
    }
}

fn seat_ref<'a>(seat: *const licet_seat) -> Option<&'a Seat> {
    // SAFETY: every licet_seat pointer comes from a Box<Seat> made by licet_seat_checkout;
    // the caller promises it is live; Seat is Sync.
    let found = unsafe { seat.cast::<Seat>().as_ref() };
    if found.is_none() {
        set_last_error("argument `seat` is NULL");
    }
    found
}

/// The code of a released seat, with its detail recorded.
fn released() -> licet_result {
    set_last_error("the seat was released; check out again for a new one");
    licet_result::LICET_SEAT_RELEASED
}

/// Takes a seat of a floating license for this machine (network): with `key`, which is
/// then stored, or with the stored key when `key` is NULL. On `LICET_OK`, `*seat_out` holds
/// the seat, renewed in the background until it is released or freed; the license then
/// checks valid (`licet_client_check`, offline too) while the seat is held.
///
/// Errors: `LICET_NO_FREE_SEAT` (every seat is held: `licet_last_error_retry_after` gives the
/// seconds until the earliest lease ends), `LICET_NOT_ACTIVATED` (NULL `key` and none
/// stored), `LICET_INVALID_KEY`, the license's states (`LICET_SUSPENDED`, …), network
/// failures; a node-locked license gives `LICET_SERVER` (activate it instead).
///
/// # Safety
/// `client` from `licet_client_new`; `key` NULL or NUL-terminated; `seat_out` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_checkout(
    client: *const licet_client,
    key: *const c_char,
    seat_out: *mut *mut licet_seat,
) -> licet_result {
    ffi_boundary!({
        require_non_null!(seat_out);
        let key = if key.is_null() {
            None
        } else {
            // SAFETY: caller guarantees a non-NULL key is NUL-terminated.
            match unsafe { str_arg("key", key) } {
                Ok(k) => Some(k),
                Err(e) => return e,
            }
        };
        let Some(client) = client_ref(client) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let taken = match key {
            Some(key) => client.checkout_with_key(key),
            None => client.checkout(),
        };
        match taken {
            Ok(guard) => {
                let on_lost = Arc::new(Mutex::new(LostSlot::default()));
                let slot = Arc::clone(&on_lost);
                guard.on_lost(Box::new(move |status| {
                    if let licet::SeatStatus::Lost { reason } = status {
                        // Under the slot's lock, as licet_seat_on_lost reads it: once.
                        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                        let reason = licet_result::from_error(reason);
                        slot.lost = Some(reason);
                        if let Some(hook) = &slot.hook {
                            hook.call(reason);
                        }
                    }
                }));
                let seat = Seat {
                    guard: RwLock::new(Some(guard)),
                    ended: OnceLock::new(),
                    on_lost,
                };
                // SAFETY: checked non-NULL above.
                unsafe { *seat_out = Box::into_raw(Box::new(seat)).cast() };
                licet_result::LICET_OK
            }
            Err(e) => fail(&e),
        }
    })
}

/// Where the seat stands: `LICET_OK` while it is held; once it was lost, why (the code the
/// lost callback got; the detail is in `licet_last_error_message`); `LICET_SEAT_RELEASED`
/// once released (or, if it was lost before, still why it was lost).
/// `LICET_INVALID_ARGUMENT` for NULL.
///
/// # Safety
/// `seat` NULL or from `licet_seat_checkout`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_status(seat: *const licet_seat) -> licet_result {
    ffi_boundary!({
        let Some(seat) = seat_ref(seat) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let status = seat.with_guard(licet::Seat::status);
        match (status, seat.ended.get()) {
            (Some(licet::SeatStatus::Held), _) => licet_result::LICET_OK,
            (Some(licet::SeatStatus::Lost { reason }), _) => fail(&reason),
            (Some(licet::SeatStatus::Released), _) | (None, None) => released(),
            (None, Some((_, licet_result::LICET_SEAT_RELEASED))) => released(),
            (None, Some((_, lost))) => {
                set_last_error("the seat had been lost before it was released");
                *lost
            }
        }
    })
}

/// Copies the seat's id on the server into `buf` (buffer rules as
/// `licet_client_fingerprint`); a released seat's last id.
///
/// # Safety
/// `seat` from `licet_seat_checkout`; `buf` valid for `len` bytes; `out_len` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_id(
    seat: *const licet_seat,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> licet_result {
    ffi_boundary!({
        let Some(seat) = seat_ref(seat) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let id = seat
            .with_guard(licet::Seat::id)
            .or_else(|| seat.ended.get().map(|(id, _)| id.clone()))
            .unwrap_or_default();
        // SAFETY: caller guarantees.
        unsafe { write_str(&id, buf, len, out_len) }
    })
}

/// When the seat's lease ends (Unix seconds, server time): the seat is free after it unless
/// renewed (or the borrow's end, for a borrowed seat). 0 once released, and for NULL.
///
/// # Safety
/// `seat` NULL or from `licet_seat_checkout`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_lease_ends_at(seat: *const licet_seat) -> i64 {
    std::panic::catch_unwind(|| {
        seat_ref(seat)
            .and_then(|s| s.with_guard(licet::Seat::lease_ends_at))
            .unwrap_or(0)
    })
    .unwrap_or(0)
}

/// True while the seat is borrowed for offline use (`licet_seat_borrow`); false once
/// released, and for NULL.
///
/// # Safety
/// `seat` NULL or from `licet_seat_checkout`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_is_borrowed(seat: *const licet_seat) -> bool {
    std::panic::catch_unwind(|| {
        seat_ref(seat)
            .and_then(|s| s.with_guard(licet::Seat::is_borrowed))
            .unwrap_or(false)
    })
    .unwrap_or(false)
}

/// Borrows the seat for `seconds` of offline use (network; up to the product's maximum):
/// a longer lease, stored so that `licet_client_check` answers valid offline until it ends,
/// and not renewed in the background meanwhile. `licet_seat_release` gives it back early.
///
/// Errors: `LICET_INVALID_ARGUMENT` (0 seconds), `LICET_SEAT_RELEASED`, the license's
/// states, network failures; a borrow longer than the product allows (or on a product that
/// allows none) gives `LICET_SERVER`.
///
/// # Safety
/// `seat` from `licet_seat_checkout`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_borrow(seat: *const licet_seat, seconds: u64) -> licet_result {
    ffi_boundary!({
        let Some(seat) = seat_ref(seat) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        if seconds == 0 {
            set_last_error("argument `seconds` is 0");
            return licet_result::LICET_INVALID_ARGUMENT;
        }
        match seat.with_guard(|g| g.borrow(Duration::from_secs(seconds))) {
            Some(Ok(())) => licet_result::LICET_OK,
            Some(Err(e)) => fail(&e),
            None => released(),
        }
    })
}

/// Registers `callback` (NULL: none), called once with `user_data` when the seat is lost
/// (see `licet_seat_lost_callback` for the thread it runs on and what it may call). It
/// replaces any earlier callback; if the seat is already lost, it is called before this
/// returns. `LICET_SEAT_RELEASED` once the seat was released.
///
/// # Safety
/// `seat` from `licet_seat_checkout`; `callback` NULL or a function that may be called with
/// `user_data` from any thread until the seat is freed or another callback is registered.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_on_lost(
    seat: *const licet_seat,
    callback: licet_seat_lost_callback,
    user_data: *mut c_void,
) -> licet_result {
    ffi_boundary!({
        let Some(seat) = seat_ref(seat) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        if seat.ended.get().is_some() {
            return released();
        }
        let hook = callback.map(|callback| LostHook {
            callback,
            user_data,
        });
        let mut slot = seat.on_lost.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(hook), Some(reason)) = (&hook, slot.lost) {
            hook.call(reason);
        }
        slot.hook = hook;
        licet_result::LICET_OK
    })
}

/// Gives the seat back now (network): the renewals stop, the seat's stored lease is
/// forgotten (`licet_client_check` no longer answers valid from it; the key stays stored),
/// and the server frees the seat for another machine. Errors are reported (network,
/// server); whatever the result the seat is released here, and on a failure the server
/// frees it when its lease ends. Releasing a released seat does nothing. The handle stays
/// valid until `licet_seat_free`.
///
/// # Safety
/// `seat` from `licet_seat_checkout`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_release(seat: *const licet_seat) -> licet_result {
    ffi_boundary!({
        let Some(seat) = seat_ref(seat) else {
            return licet_result::LICET_INVALID_ARGUMENT;
        };
        let guard = {
            let mut slot = seat.guard.write().unwrap_or_else(|e| e.into_inner());
            let Some(guard) = slot.take() else {
                return licet_result::LICET_OK;
            };
            let ended = match guard.status() {
                licet::SeatStatus::Lost { reason } => licet_result::from_error(&reason),
                _ => licet_result::LICET_SEAT_RELEASED,
            };
            // Under the lock, so that no reader sees the seat neither held nor ended.
            let _ = seat.ended.set((guard.id(), ended));
            guard
        };
        // Outside the lock: the release waits for the renewal thread, where a lost callback
        // may be reading the seat.
        match guard.release() {
            Ok(()) => licet_result::LICET_OK,
            Err(e) => fail(&e),
        }
    })
}

/// Frees a seat, giving it back first if it is still held (network, best effort: use
/// `licet_seat_release` to learn of errors). NULL is ignored.
///
/// # Safety
/// `seat` from `licet_seat_checkout`, not in use by another thread, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn licet_seat_free(seat: *mut licet_seat) {
    let _ = std::panic::catch_unwind(|| {
        if !seat.is_null() {
            // SAFETY: created by Box::into_raw in licet_seat_checkout; ownership returns here.
            drop(unsafe { Box::from_raw(seat.cast::<Seat>()) });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    use licet_server::testkit::TestServer;
    use licet_server::testkit::internals::{StatusChange, change_status};

    /// A lost callback that stores the reason in the `AtomicU32` behind `user_data`.
    unsafe extern "C" fn record(reason: licet_result, user_data: *mut c_void) {
        // SAFETY: the test passes a live AtomicU32 that outlives the seat.
        let seen = unsafe { &*user_data.cast::<AtomicU32>() };
        seen.store(reason as u32, Ordering::SeqCst);
    }

    fn data(seen: &AtomicU32) -> *mut c_void {
        std::ptr::from_ref(seen).cast_mut().cast()
    }

    /// An admin API request with the server's admin token; the JSON answer.
    fn admin(
        rt: &tokio::runtime::Runtime,
        server: &TestServer,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        rt.block_on(async {
            let res = reqwest::Client::new()
                .post(server.url(path))
                .bearer_auth(&server.admin_token)
                .json(&body)
                .send()
                .await
                .expect("admin request");
            assert!(res.status().is_success(), "{path}: {}", res.status());
            res.json().await.expect("json")
        })
    }

    #[test]
    fn a_lost_seat_reaches_the_callback_and_the_status_with_its_reason() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(TestServer::start()).expect("server");
        admin(
            &rt,
            &server,
            "/v1/admin/products",
            serde_json::json!({
                "slug": "photo", "name": "Photo", "max_activations": 1,
                "floating": { "lease_secs": 120 }
            }),
        );
        let key = admin(
            &rt,
            &server,
            "/v1/admin/licenses",
            serde_json::json!({"product": "photo", "email": "ada@example.com"}),
        )["key"]
            .as_str()
            .expect("key")
            .to_owned();
        let dir = tempfile::tempdir().expect("dir");
        // Built through the SDK for its fast renewals (the C API has no setting for them).
        let client = licet::Client::builder(&server.url, "photo")
            .pinned_jwks(&serde_json::to_string(&server.jwks()).expect("jwks"))
            .expect("pinned")
            .storage_dir(dir.path())
            .use_keyring(false)
            .fingerprint_override("v1:ffi-seat")
            .seat_renew_interval(Duration::from_millis(100))
            .build()
            .expect("client");
        let client = Box::into_raw(Box::new(client)).cast::<licet_client>();
        let key = std::ffi::CString::new(key).expect("key");
        let seen = AtomicU32::new(0);
        let late = AtomicU32::new(0);
        let mut seat = std::ptr::null_mut();
        // SAFETY: live handles and NUL-terminated strings; `seen` and `late` outlive the
        // seat, which is freed before them.
        unsafe {
            let r = licet_seat_checkout(client, key.as_ptr(), &mut seat);
            assert_eq!(r, licet_result::LICET_OK);
            assert_eq!(licet_seat_status(seat), licet_result::LICET_OK);
            assert!(licet_seat_lease_ends_at(seat) > 0);
            let r = licet_seat_on_lost(seat, Some(record), data(&seen));
            assert_eq!(r, licet_result::LICET_OK);

            rt.block_on(change_status(
                &server.app,
                &licet_server::testkit::operator(),
                key.to_str().expect("utf-8"),
                StatusChange::Revoke,
            ))
            .expect("revoked");
            let start = std::time::Instant::now();
            while seen.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let revoked = licet_result::LICET_REVOKED as u32;
            assert_eq!(seen.load(Ordering::SeqCst), revoked, "the callback got why");
            assert_eq!(licet_seat_status(seat), licet_result::LICET_REVOKED);
            // A callback registered after the loss is called at once.
            let r = licet_seat_on_lost(seat, Some(record), data(&late));
            assert_eq!(r, licet_result::LICET_OK);
            assert_eq!(late.load(Ordering::SeqCst), revoked);

            assert_eq!(licet_seat_release(seat), licet_result::LICET_OK);
            assert_eq!(
                licet_seat_release(seat),
                licet_result::LICET_OK,
                "once is enough"
            );
            assert_eq!(
                licet_seat_status(seat),
                licet_result::LICET_REVOKED,
                "lost before it was released"
            );
            assert_eq!(
                licet_seat_borrow(seat, 60),
                licet_result::LICET_SEAT_RELEASED
            );
            assert_eq!(
                licet_seat_on_lost(seat, None, std::ptr::null_mut()),
                licet_result::LICET_SEAT_RELEASED
            );
            assert_eq!(licet_seat_lease_ends_at(seat), 0);
            let mut id = [0 as c_char; 64];
            let mut n = 0;
            let r = licet_seat_id(seat, id.as_mut_ptr(), id.len(), &mut n);
            assert_eq!(r, licet_result::LICET_OK);
            assert!(n > 0, "a released seat keeps its id");
            licet_seat_free(seat);
            crate::client::licet_client_free(client);
        }
    }
}
