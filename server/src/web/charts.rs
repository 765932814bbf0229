//! Charts drawn on the server as inline SVG: no script, no external assets. Every chart
//! has a title and a text summary for screen readers, and every bar a tooltip.

use maud::{Markup, html};

/// Width of the drawing (the SVG scales to its container).
const W: i64 = 600;
/// Height of the drawing.
const H: i64 = 180;
/// Room for the axis labels.
const PAD_LEFT: i64 = 36;
const PAD_BOTTOM: i64 = 22;
const PAD_TOP: i64 = 8;

/// What a day's bar measures, for the chart's text summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerDay {
    /// Events of the day: the summary gives their total.
    Count,
    /// The most at once during the day (a total would mean nothing).
    Peak,
}

/// A bar per day for the `days` days ending with `today` (day numbers since the epoch),
/// from sparse `(day, value)` rows.
pub fn daily_bars(
    id: &str,
    title: &str,
    rows: &[(i64, i64)],
    today: i64,
    days: i64,
    per_day: PerDay,
    colour: &str,
) -> Markup {
    let first = today - days + 1;
    let values: Vec<(i64, i64)> = (first..=today)
        .map(|d| {
            let n = rows.iter().find(|(day, _)| *day == d).map_or(0, |r| r.1);
            (d, n)
        })
        .collect();
    let total: i64 = values.iter().map(|v| v.1).sum();
    let highest = values.iter().map(|v| v.1).max().unwrap_or(0);
    let max = nice_max(highest);
    let plot_w = W - PAD_LEFT;
    let plot_h = H - PAD_BOTTOM - PAD_TOP;
    let slot = plot_w as f64 / values.len().max(1) as f64;
    let bar_w = (slot * 0.8).max(1.0);
    html! {
        svg viewBox={"0 0 " (W) " " (H)} role="img" aria-labelledby={(id) "-t " (id) "-d"} {
            title id={(id) "-t"} { (title) }
            desc id={(id) "-d"} {
                @match per_day {
                    PerDay::Count => { (total) " in the last " (days) " days; at most " (highest) " in a day." }
                    PerDay::Peak => { "At most " (highest) " at once in the last " (days) " days." }
                }
            }
            // Axis and grid: the maximum and the middle.
            @for (i, frac) in [(0, 1.0_f64), (1, 0.5)] {
                @let y = PAD_TOP as f64 + plot_h as f64 * (1.0 - frac);
                line x1=(PAD_LEFT) x2=(W) y1=(fmt(y)) y2=(fmt(y)) stroke="#d8dde3" {}
                text x=(PAD_LEFT - 4) y=(fmt(y + 4.0)) text-anchor="end" font-size="11" fill="#57606a" {
                    @if i == 0 { (max) } @else { (max / 2) }
                }
            }
            line x1=(PAD_LEFT) x2=(W) y1=(PAD_TOP + plot_h) y2=(PAD_TOP + plot_h) stroke="#57606a" {}
            @for (i, (day, n)) in values.iter().enumerate() {
                @let h = if max == 0 { 0.0 } else { plot_h as f64 * *n as f64 / max as f64 };
                @let x = PAD_LEFT as f64 + slot * i as f64 + (slot - bar_w) / 2.0;
                rect x=(fmt(x)) y=(fmt(PAD_TOP as f64 + plot_h as f64 - h)) width=(fmt(bar_w)) height=(fmt(h)) fill=(colour) {
                    title { (crate::platform::dates::date(day * 86_400)) ": " (n) }
                }
                @if (i % 7 == 0 && today - day >= 4) || *day == today {
                    text x=(fmt(x + bar_w / 2.0)) y=(H - 6) text-anchor=(if *day == today { "end" } else { "middle" }) font-size="11" fill="#57606a" {
                        (crate::platform::dates::date(day * 86_400)[5..].to_owned())
                    }
                }
            }
        }
    }
}

/// Horizontal bars, one per `(label, value)`.
pub fn labelled_bars(id: &str, title: &str, rows: &[(String, i64)], colour: &str) -> Markup {
    let row_h = 26;
    let height = (rows.len() as i64 * row_h).max(row_h) + 4;
    let label_w = 200;
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let bar_space = (W - label_w - 60) as f64;
    html! {
        svg viewBox={"0 0 " (W) " " (height)} role="img" aria-labelledby={(id) "-t " (id) "-d"} {
            title id={(id) "-t"} { (title) }
            desc id={(id) "-d"} {
                @if rows.is_empty() { "None yet." }
                @for (label, n) in rows { (label) ": " (n) ". " }
            }
            @if rows.is_empty() {
                text x="0" y="18" font-size="13" fill="#57606a" { "None yet." }
            }
            @for (i, (label, n)) in rows.iter().enumerate() {
                @let y = i as i64 * row_h + 2;
                @let w = bar_space * *n as f64 / max as f64;
                text x=(label_w - 8) y=(y + 17) text-anchor="end" font-size="13" fill="#1b1f24" { (truncate(label, 28)) }
                rect x=(label_w) y=(y + 3) width=(fmt(w.max(1.0))) height=(row_h - 8) fill=(colour) { title { (label) ": " (n) } }
                text x=(fmt(label_w as f64 + w + 6.0)) y=(y + 17) font-size="13" fill="#1b1f24" { (n) }
            }
        }
    }
}

/// The next "round" even number at or above `n` (2, 4, 6, 8, 10 × 10^k), so both axis
/// labels (the maximum and its half) are whole numbers.
fn nice_max(n: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [2, 4, 6, 8, 10] {
            if m * step >= n {
                return m * step;
            }
        }
        step *= 10;
    }
}

fn fmt(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0), 2);
        assert_eq!(nice_max(1), 2);
        assert_eq!(nice_max(3), 4);
        assert_eq!(nice_max(7), 8);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(450), 600);
    }

    #[test]
    fn daily_bars_fill_missing_days_and_escape_titles() {
        let svg = daily_bars(
            "s",
            "Sales <per> day",
            &[(100, 4)],
            101,
            30,
            PerDay::Count,
            "#000",
        )
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 30);
        assert!(svg.contains("Sales &lt;per&gt; day"));
        assert!(svg.contains("4 in the last 30 days"));
        let svg = daily_bars(
            "p",
            "Peak",
            &[(100, 3), (101, 2)],
            101,
            30,
            PerDay::Peak,
            "#000",
        );
        assert!(
            svg.into_string()
                .contains("At most 3 at once in the last 30 days.")
        );
    }

    #[test]
    fn labelled_bars_escape_labels() {
        let svg = labelled_bars("p", "By product", &[("<script>".into(), 3)], "#000").into_string();
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;: 3"));
    }
}
