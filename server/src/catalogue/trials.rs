//! The vendor's view of trials: who tried which product, and how many bought.

use licet_proto::trials::{Trial, TrialState, TrialStats};

use super::Context;
use crate::platform::error::{Error, Result};
use crate::store::{TrialCounts, TrialFilter, TrialRow};

/// The state a list of trials asks for: `None` for absent or empty, else one of `active`,
/// `expired`, `converted` (anything else is `INVALID_REQUEST`).
pub fn state_filter(text: Option<&str>) -> Result<Option<TrialState>> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => TrialState::parse(s)
            .map(Some)
            .ok_or_else(|| Error::invalid("the state must be active, expired or converted")),
    }
}

/// Trials matching the filter, newest first.
pub async fn list_trials(app: &impl Context, filter: TrialFilter) -> Result<Vec<Trial>> {
    let now = filter.now;
    let rows = app.store().trials(&filter).await?;
    Ok(rows.iter().map(|t| to_wire(t, now)).collect())
}

/// Trials counted per product (products that had any), at `now`.
pub async fn trial_stats(app: &impl Context, now: i64) -> Result<Vec<TrialStats>> {
    let rows = app.store().trial_counts(now).await?;
    Ok(rows.into_iter().map(stats).collect())
}

fn to_wire(t: &TrialRow, now: i64) -> Trial {
    Trial {
        id: t.id.clone(),
        product: t.product_slug.clone(),
        fingerprint: t.fingerprint.clone(),
        name: t.name.clone(),
        platform: t.platform.clone(),
        state: t.state(now),
        started_at: t.started_at,
        ends_at: t.ends_at,
        converted_at: t.converted_at,
        converted_license_id: t.converted_license_id.clone(),
    }
}

fn stats(c: TrialCounts) -> TrialStats {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    TrialStats {
        product: c.product_slug,
        started: n(c.started),
        active: n(c.active),
        expired: n(c.expired),
        converted: n(c.converted),
    }
}
