//! What the dashboard reports about sales and use: the overview's figures over a window of
//! days, and one purchase as the vendor sees it.

use licet_proto::ErrorCode;

use crate::platform::error::{Error, Result};
use crate::store::{PurchaseRow, Store, Totals};

/// Days the overview's charts and revenue cover, today included.
pub(crate) const WINDOW_DAYS: i64 = 30;

/// The overview's figures at one instant.
#[derive(Debug)]
pub(crate) struct Overview {
    /// Today as a day number since the epoch (UTC): the charts' last bar.
    pub(crate) today: i64,
    pub(crate) totals: Totals,
    /// `(day number, completed sales)` within the window.
    pub(crate) sales: Vec<(i64, i64)>,
    /// `(currency, amount in its smallest unit)` within the window.
    pub(crate) revenue: Vec<(String, i128)>,
    /// `(day number, new activations)` within the window.
    pub(crate) activations: Vec<(i64, i64)>,
    /// `(product name, active licenses)`.
    pub(crate) by_product: Vec<(String, i64)>,
}

/// The overview's figures at `now` (Unix seconds).
pub(crate) async fn overview(store: &Store, now: i64) -> Result<Overview> {
    let (today, since) = window(now);
    Ok(Overview {
        today,
        totals: store.totals(now).await?,
        sales: store.sales_per_day(since).await?,
        revenue: store.revenue_since(since).await?,
        activations: store.activations_per_day(since).await?,
        by_product: store.active_licenses_by_product(now).await?,
    })
}

/// Today's day number and the Unix second the window starts at: midnight (UTC) of the
/// window's first day, so the first bar counts a whole day.
fn window(now: i64) -> (i64, i64) {
    let today = now.div_euclid(86_400);
    (today, (today - WINDOW_DAYS + 1) * 86_400)
}

/// A purchase by id, or `NOT_FOUND`.
pub(crate) async fn purchase(store: &Store, id: &str) -> Result<PurchaseRow> {
    store
        .purchase(id)
        .await?
        .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such purchase"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_thirty_whole_days_ending_today() {
        // (now, today, since)
        let table: &[(i64, i64, i64)] = &[
            (0, 0, -29 * 86_400),
            (86_399, 0, -29 * 86_400),
            (86_400, 1, -28 * 86_400),
            (-1, -1, -30 * 86_400),
            // 2026-11-27 02:13 UTC: today is day 20_784, the window opens 2026-10-29 00:00.
            (1_795_745_638, 20_784, 1_793_232_000),
            (30 * 86_400 - 1, 29, 0),
        ];
        for &(now, today, since) in table {
            assert_eq!(window(now), (today, since), "{now}");
            assert_eq!(since.rem_euclid(86_400), 0, "starts at midnight");
            assert!(since <= now && now - since < WINDOW_DAYS * 86_400, "{now}");
        }
    }
}
