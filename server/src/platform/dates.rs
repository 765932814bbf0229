//! Calendar dates of Unix times, in UTC, without a date-time dependency.

/// `YYYY-MM-DD` of a Unix time (UTC).
pub fn date(t: i64) -> String {
    let (y, m, d) = civil(t.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD HH:MM` of a Unix time (UTC).
pub fn date_time(t: i64) -> String {
    let secs = t.rem_euclid(86_400);
    format!("{} {:02}:{:02}", date(t), secs / 3600, secs % 3600 / 60)
}

/// RFC 3339 `YYYY-MM-DDTHH:MM:SSZ` of a Unix time (UTC).
pub fn rfc3339(t: i64) -> String {
    let secs = t.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(t),
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds of `YYYY-MM-DD` (UTC midnight), if it is a date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // Days-from-civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // Reject dates like 2026-02-31 that normalise to another day.
    (civil(days) == (y + i64::from(m <= 2), m, d)).then_some(days * 86_400)
}

/// Civil-from-days (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_745_638), "2026-11-27");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date_time(1_795_745_638), "2026-11-27 02:13");
    }

    #[test]
    fn dates_parse_back() {
        assert_eq!(parse_date("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-02-31"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        for t in [0, 86_400 * 20_000, 1_795_737_600] {
            assert_eq!(parse_date(&date(t)), Some(t));
        }
    }
}
