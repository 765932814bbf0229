//! Floating licenses: seats held through short leases that heartbeats renew.
//!
//! A checkout takes (or renews) the seat of one machine, or of one instance on a machine,
//! under the license's lock, so a license never has more live seats than it allows; a seat
//! whose app stopped renewing is free as soon as its lease ends (nothing has to run for
//! that). The lease token's `exp` is the seat's end, and `lic.seat` names the seat. A borrow
//! is a longer lease for offline use, up to the product's maximum; a heartbeat never
//! shortens it, and a release ends it early.

use licet_proto::ErrorCode;
use licet_proto::api::ActivationInfo;
use licet_proto::floating::{
    CheckoutRequest, CheckoutResponse, FloatingPolicy, MAX_INSTANCE_LEN, ReleaseSeatRequest,
    ReleaseSeatResponse, SeatClaim, SeatInfo,
};

use super::{Caller, Context, admit, ensure_usable, label, not_found};
use crate::platform::crypto::new_id;
use crate::platform::error::{Error, Result};
use crate::store::{Checkout, FloatingSeatRow, LicenseRow, NewAudit, SeatWanted};

/// `POST /v1/licenses/checkout` (and `/heartbeat`): take or renew this holder's seat.
pub async fn checkout(
    app: &impl Context,
    caller: &Caller,
    req: CheckoutRequest,
) -> Result<CheckoutResponse> {
    let (now, key) = admit(app, caller, &req.key, &req.fingerprint).await?;
    let instance = instance(req.instance)?;
    let name = label("name", req.name)?;
    let platform = label("platform", req.platform)?;
    // A heartbeat of a seat held now: one conditional update. Anything else (a new seat, an
    // ended lease, a borrow, a license that refuses) takes the license's lock below, which
    // also says why it refuses.
    if req.borrow_secs.is_none()
        && let Some(renewed) = app
            .store()
            .renew_floating_seat(&key, &req.fingerprint, &instance, now)
            .await?
    {
        return held(app, &renewed.license, &renewed.seat, renewed.in_use, now);
    }
    let (license, policy) = floating_license(app, &key).await?;
    ensure_usable(&license, now)?;
    let max_borrow = policy.max_borrow_secs;
    let (length, borrowed) = match req.borrow_secs {
        None => (policy.lease_secs, false),
        Some(_) if max_borrow == 0 => {
            return Err(Error::invalid("this product's seats cannot be borrowed"));
        }
        Some(secs) if !(1..=max_borrow).contains(&secs) => {
            return Err(Error::invalid(format!(
                "borrow_secs must be between 1 and {max_borrow} (this product's longest borrow)"
            )));
        }
        Some(secs) => (secs, true),
    };
    // The store's `RENEW_SEAT` renews a heartbeat's lease by the same rule.
    let mut lease_ends_at = now.saturating_add(length);
    if let Some(expiry) = license.expires_at {
        lease_ends_at = lease_ends_at.min(expiry);
    }
    let id = new_id("seat");
    let want = SeatWanted {
        id: &id,
        license_id: &license.id,
        fingerprint: &req.fingerprint,
        instance: &instance,
        name: name.as_deref(),
        platform: platform.as_deref(),
        ip: &caller.ip,
        now,
        lease_ends_at,
        borrowed,
        max_seats: i64::from(license.effective_max_activations()),
    };
    let checkout = app
        .store()
        .checkout_floating_seat(&key, &want, |seat| {
            NewAudit::new(
                now,
                "public",
                "seat.checked_out",
                ("seat", &seat.id),
                serde_json::json!({ "license_id": seat.license_id, "instance": seat.instance,
                                    "borrowed": seat.borrowed != 0, "lease_ends_at": seat.lease_ends_at }),
            )
        })
        .await?;
    let (seat, in_use) = match checkout {
        Checkout::Held { seat, in_use } => (seat, in_use),
        Checkout::Full {
            in_use,
            earliest_end,
        } => {
            return Err(Error::Later {
                code: ErrorCode::NoFreeSeat,
                message: format!(
                    "all {in_use} seats of this license are in use; one is free again within {} seconds unless renewed",
                    (earliest_end - now).max(1)
                ),
                retry_after: u64::try_from((earliest_end - now).max(1)).unwrap_or(1),
            });
        }
    };
    held(app, &license, &seat, in_use, now)
}

/// The answer to a checkout that holds `seat` (`in_use` live seats, this one included): a
/// lease token that ends with the seat and names it.
fn held(
    app: &impl Context,
    license: &LicenseRow,
    seat: &FloatingSeatRow,
    in_use: i64,
    now: i64,
) -> Result<CheckoutResponse> {
    let mut info = license.info();
    info.active_activations = u32::try_from(in_use).unwrap_or(u32::MAX);
    let claim = SeatClaim {
        id: seat.id.clone(),
        instance: Some(seat.instance.clone()).filter(|i| !i.is_empty()),
        borrowed: seat.borrowed != 0,
    };
    let lease = super::signed_lease_until(
        app,
        info,
        activation_of(seat),
        now,
        seat.lease_ends_at,
        Some(claim),
        None,
    )?;
    Ok(CheckoutResponse {
        token: lease.token,
        license: lease.license,
        seat: seat_info(seat),
        seats_in_use: u32::try_from(in_use).unwrap_or(u32::MAX),
    })
}

/// `POST /v1/licenses/release`: give the seat back at once (ends a borrow too).
pub async fn release(
    app: &impl Context,
    caller: &Caller,
    req: ReleaseSeatRequest,
) -> Result<ReleaseSeatResponse> {
    let (now, key) = admit(app, caller, &req.key, &req.fingerprint).await?;
    let instance = instance(req.instance)?;
    let (license, _) = floating_license(app, &key).await?;
    let audit = NewAudit::new(
        now,
        "public",
        "seat.released",
        ("license", &license.id),
        serde_json::json!({ "instance": instance }),
    );
    let released = app
        .store()
        .release_floating_seat(&license.id, &req.fingerprint, &instance, now, &audit)
        .await?;
    Ok(ReleaseSeatResponse { released })
}

/// The live seats of a license (the vendor's and the customer's view).
pub async fn live_seats(app: &impl Context, license_id: &str) -> Result<Vec<SeatInfo>> {
    Ok(app
        .store()
        .live_floating_seats(license_id, app.now())
        .await?
        .iter()
        .map(seat_info)
        .collect())
}

/// Days the license page's chart of seats in use covers, today included.
pub const USE_WINDOW_DAYS: i64 = 30;

/// How a license's floating seats are used, as the vendor's license page shows it.
#[derive(Debug)]
pub struct SeatUse {
    /// The live seats, earliest first.
    pub live: Vec<SeatInfo>,
    /// Today as a day number since the epoch (UTC): the chart's last day.
    pub today: i64,
    /// `(day number, most seats held at once)` for each of the last [`USE_WINDOW_DAYS`]
    /// days; `None` for a node-locked license, which has no seats to chart.
    pub peaks: Option<Vec<(i64, i64)>>,
}

/// The live seats of license `license_id` and, when it is floating, its peak use per day.
pub async fn seat_use(app: &impl Context, license_id: &str) -> Result<SeatUse> {
    let now = app.now();
    let today = now.div_euclid(DAY_SECS);
    let live = live_seats(app, license_id).await?;
    let license = app
        .store()
        .license_by_id(license_id)
        .await?
        .ok_or_else(not_found)?;
    let peaks = match license.product_floating_lease_secs {
        None => None,
        Some(_) => {
            let since = (today - USE_WINDOW_DAYS + 1) * DAY_SECS;
            let spans = app
                .store()
                .floating_seat_spans(license_id, since, now)
                .await?;
            Some(daily_peaks(&spans, today, USE_WINDOW_DAYS))
        }
    };
    Ok(SeatUse { live, today, peaks })
}

const DAY_SECS: i64 = 86_400;

/// The most seats held at once on each of the `days` days (UTC) ending with day `today`
/// (day numbers since the epoch), from the spans `(from, to)` in Unix seconds during which
/// each seat was held. A span holds its seat from `from` up to, not including, `to`: a seat
/// given back at the instant another is taken never counts with it, and one given back at
/// midnight does not count on the next day.
pub fn daily_peaks(spans: &[(i64, i64)], today: i64, days: i64) -> Vec<(i64, i64)> {
    // +1 when a seat is taken, -1 when it is given back; at one instant the -1s sort first.
    let mut changes: Vec<(i64, i64)> = spans
        .iter()
        .filter(|(from, to)| from < to)
        .flat_map(|&(from, to)| [(from, 1), (to, -1)])
        .collect();
    changes.sort_unstable();
    let mut changes = changes.into_iter().peekable();
    let mut held = 0;
    (today - days + 1..=today)
        .map(|day| {
            let (start, end) = (day * DAY_SECS, (day + 1) * DAY_SECS);
            // Held at midnight: everything up to and including it.
            while let Some((_, change)) = changes.next_if(|(at, _)| *at <= start) {
                held += change;
            }
            let mut peak = held;
            while let Some((_, change)) = changes.next_if(|(at, _)| *at < end) {
                held += change;
                peak = peak.max(held);
            }
            (day, peak)
        })
        .collect()
}

/// Frees live seat `seat_id` of license `license_id` at once (the vendor kicking a seat, or
/// the customer releasing a stuck one), audited under `actor`. `NOT_FOUND` when no such
/// live seat.
pub async fn end_seat(
    app: &impl Context,
    actor: crate::auth::Actor<'_>,
    license_id: &str,
    seat_id: &str,
) -> Result<()> {
    let now = app.now();
    let audit = NewAudit::new(
        now,
        actor.audit_name().as_ref(),
        "seat.ended",
        ("seat", seat_id),
        serde_json::json!({ "license_id": license_id }),
    );
    if app
        .store()
        .end_floating_seat(license_id, seat_id, now, &audit)
        .await?
    {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::NotFound, "no such live seat"))
    }
}

/// The license of `key` and its product's floating policy; `CONFLICT` for a node-locked one.
async fn floating_license(app: &impl Context, key: &str) -> Result<(LicenseRow, FloatingPolicy)> {
    let license = app
        .store()
        .license_by_key(key)
        .await?
        .ok_or_else(not_found)?;
    let product = app
        .store()
        .product_by_slug(&license.product_slug)
        .await?
        .ok_or_else(not_found)?;
    let policy = product.floating_policy().ok_or_else(|| {
        Error::new(
            ErrorCode::Conflict,
            "this license is node-locked: activate the machine instead of checking out a seat",
        )
    })?;
    Ok((license, policy))
}

/// The instance id: printable ASCII, at most [`MAX_INSTANCE_LEN`]; `''` for none.
fn instance(value: Option<String>) -> Result<String> {
    let value = value.unwrap_or_default();
    if value.len() > MAX_INSTANCE_LEN || !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(format!(
            "instance must be at most {MAX_INSTANCE_LEN} printable ASCII characters"
        )));
    }
    Ok(value)
}

fn seat_info(seat: &FloatingSeatRow) -> SeatInfo {
    SeatInfo {
        id: seat.id.clone(),
        fingerprint: seat.fingerprint.clone(),
        instance: Some(seat.instance.clone()).filter(|i| !i.is_empty()),
        name: seat.name.clone(),
        checked_out_at: seat.checked_out_at,
        lease_ends_at: seat.lease_ends_at,
        borrowed: seat.borrowed != 0,
    }
}

/// The seat as the machine part of a lease.
fn activation_of(seat: &FloatingSeatRow) -> ActivationInfo {
    ActivationInfo {
        id: seat.id.clone(),
        fingerprint: seat.fingerprint.clone(),
        name: seat.name.clone(),
        platform: seat.platform.clone(),
        first_seen_at: seat.checked_out_at,
        last_seen_at: seat.checked_out_at,
        deactivated_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: i64 = DAY_SECS;
    const H: i64 = 3_600;

    #[test]
    fn daily_peaks_count_overlaps_within_each_day() {
        let today = 100;
        let day = |n: i64| n * D;
        let peaks = daily_peaks(
            &[
                // Day 97: two overlapping seats, then a third after the first ended: 2.
                (day(97) + H, day(97) + 5 * H),
                (day(97) + 2 * H, day(97) + 8 * H),
                (day(97) + 6 * H, day(97) + 7 * H),
                // Day 98: one given back at the instant another is taken: 1, not 2.
                (day(98) + H, day(98) + 3 * H),
                (day(98) + 3 * H, day(98) + 4 * H),
                // A seat held from before the window through day 99 to the middle of 100:
                // it counts on every day it touches, with another on day 100 it overlaps.
                (day(90), day(100) + 12 * H),
                (day(100) + 11 * H, day(100) + 13 * H),
                // Empty spans never count.
                (day(99) + H, day(99) + H),
            ],
            today,
            5,
        );
        assert_eq!(
            peaks,
            vec![(96, 1), (97, 3), (98, 2), (99, 1), (100, 2)],
            "day 97: 2 overlapping plus the long seat; day 98: 1 plus the long seat"
        );
    }

    #[test]
    fn daily_peaks_at_midnight_belong_to_the_day_that_starts() {
        let spans = [
            // Ends at midnight: not on day 11.
            (10 * D + 20 * H, 11 * D),
            // Starts at midnight: on day 12 only.
            (12 * D, 12 * D + H),
            // Ends one second after midnight: on day 13 too.
            (12 * D + 23 * H, 13 * D + 1),
        ];
        assert_eq!(
            daily_peaks(&spans, 13, 4),
            vec![(10, 1), (11, 0), (12, 1), (13, 1)]
        );
        assert_eq!(daily_peaks(&[], 13, 2), vec![(12, 0), (13, 0)]);
    }
}
