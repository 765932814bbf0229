//! The overview: the vendor's front page, with totals, the last 30 days' sales and
//! activations, downloads of published releases, and active licenses by product.

use maud::{Markup, html};

use super::{money, nav};
use crate::commerce::reports::{self, WINDOW_DAYS};
use crate::web::charts;
use crate::web::session::{Outcome, Signed};
use crate::web::shell::layout;

/// Release downloads listed at most (the busiest published releases and platforms).
const RELEASE_ROWS: i64 = 20;

/// The overview page of a signed-in vendor.
pub(super) async fn overview(s: Signed) -> Outcome<Markup> {
    let o = reports::overview(&s.app.store, s.app.now()).await?;
    let recurring = crate::commerce::subscriptions::recurring_revenue(&s.app).await?;
    let subscriptions: i64 = recurring.iter().map(|r| r.1).sum();
    // MRR per currency in whole units, each bar labelled with its subscriptions.
    let mrr_bars: Vec<(String, i64)> = recurring
        .iter()
        .map(|(currency, count, amount)| {
            let plural = if *count == 1 { "" } else { "s" };
            (
                format!("{} · {count} subscription{plural}", currency.to_uppercase()),
                amount / 100,
            )
        })
        .collect();
    let trials = crate::catalogue::trials::trial_stats(&s.app, s.app.now()).await?;
    let release_downloads: Vec<crate::store::ReleaseDownloads> = s
        .app
        .store
        .release_downloads(RELEASE_ROWS)
        .await
        .map_err(crate::platform::error::Error::from)?;
    let totals = &o.totals;
    Ok(layout(
        "Overview",
        Some(nav(&s.session, "overview")),
        html! {
            div class="cards" {
                div class="card" { strong { (totals.active_licenses) } " active licenses of " (totals.licenses) }
                div class="card" { strong { (totals.active_machines) } " machines activated" }
                div class="card" { strong { (totals.purchases) } " purchases"
                    @for (currency, amount) in &o.revenue { br; (money(*amount, currency)) " in the last 30 days" } }
                div class="card" {
                    @if totals.failed_fulfilments > 0 {
                        a href="/admin/purchases?failed=1" role="alert" { (totals.failed_fulfilments) " failed fulfilments" }
                    } @else { span class="ok" { "No failed fulfilments" } }
                    @if totals.failed_mail > 0 {
                        br;
                        a href="/admin/emails" role="alert" { (totals.failed_mail) " undelivered emails" }
                    }
                }
            }
            div class="cards" {
                section class="card" {
                    h2 { "Sales per day" }
                    (charts::daily_bars("sales", "Sales per day, last 30 days", &o.sales, o.today, WINDOW_DAYS, charts::PerDay::Count, "#1d5fd1"))
                }
                section class="card" {
                    h2 { "Activations per day" }
                    (charts::daily_bars("activations", "New activations per day, last 30 days", &o.activations, o.today, WINDOW_DAYS, charts::PerDay::Count, "#1a7f37"))
                }
            }
            div class="cards" {
                div class="card" { strong { (subscriptions) } " active subscriptions"
                    @for (currency, _, amount) in &recurring { br; (money((*amount).into(), currency)) " MRR" } }
            }
            @if !recurring.is_empty() {
                section class="card" {
                    h2 { "Monthly recurring revenue" }
                    (charts::labelled_bars("mrr", "Monthly recurring revenue by currency, in whole units", &mrr_bars, "#bf8700"))
                }
            }
            @if !trials.is_empty() {
                section class="card" {
                    h2 { a href="/admin/trials" { "Trials and conversion" } }
                    (super::trials::stats_table(&trials))
                }
            }
            @if !release_downloads.is_empty() {
                section class="card" {
                    h2 { a href="/admin/releases" { "Release downloads" } }
                    div class="scroll" { table {
                        thead { tr { th scope="col" { "Product" } th scope="col" { "Version" } th scope="col" { "Platform" } th scope="col" { "Downloads" } } }
                        tbody { @for d in &release_downloads { tr {
                            td { a href={"/admin/releases/" (d.product_slug)} { (d.product_slug) } }
                            td { (d.version) }
                            td { code { (d.platform) } }
                            td { (d.downloads) }
                        } } }
                    } }
                }
            }
            section class="card" {
                h2 { "Active licenses by product" }
                (charts::labelled_bars("by-product", "Active licenses by product", &o.by_product, "#8250df"))
            }
        },
    ))
}
