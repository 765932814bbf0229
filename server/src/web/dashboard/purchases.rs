//! Purchases: the searchable list, one purchase, and retrying its fulfilment.

use licet_proto::admin::{License, PurchaseStatus};
use maud::{Markup, html};
use warp::reply::Response;

use super::filters::{PAGE_SIZE, PurchaseQuery, page_no};
use super::{money, nav};
use crate::catalogue;
use crate::commerce::{reports, sales};
use crate::platform::error::{Error, Result};
use crate::store::{PurchaseRow, SessionRow, parse_list};
use crate::web::session::{NoFields, Outcome, Signed};
use crate::web::shell::{date_time, layout, redirect, status_badge};

/// `GET /admin/purchases?…`
pub(super) async fn list(s: Outcome<Signed>, q: Result<PurchaseQuery>) -> Outcome<Markup> {
    let s = s?;
    let q = q?;
    let filter = q.filter()?;
    let rows = s.app.store.purchases(&filter).await.map_err(Error::from)?;
    Ok(purchases_page(&s.session, &q, &rows))
}

/// `GET /admin/purchases/{id}`
pub(super) async fn show(id: String, s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    let row = reports::purchase(&s.app.store, &id).await?;
    let licenses = catalogue::licenses_of_purchase(&s.app, &row.id).await?;
    let subscription = crate::commerce::subscriptions::of_purchase(&s.app, &row.id).await?;
    Ok(purchase_page(
        &s.session,
        &row,
        &licenses,
        subscription.as_ref(),
    ))
}

/// `POST /admin/purchases/{id}/fulfil`
pub(super) async fn fulfil(id: String, post: Result<Signed<NoFields>>) -> Result<Response> {
    let s = post?;
    // A business failure is recorded on the purchase and shown on its page.
    match sales::fulfil(&s.app, s.admin()?.into(), &id).await {
        Ok(_) | Err(Error::Api { .. }) => {}
        Err(e) => return Err(e),
    }
    Ok(redirect(&format!("/admin/purchases/{id}")))
}

fn purchases_page(s: &SessionRow, q: &PurchaseQuery, rows: &[PurchaseRow]) -> Markup {
    let page_no = page_no(q.page);
    let more = rows.len() as i64 > PAGE_SIZE;
    layout(
        "Purchases",
        Some(nav(s, "purchases")),
        html! {
            form method="get" action="/admin/purchases" class="row" role="search" {
                div { label for="email" { "Email" } input type="email" id="email" name="email" value=(q.email.as_deref().unwrap_or("")); }
                div { label for="status" { "Status" }
                    select id="status" name="status" {
                        option value="" { "any" }
                        @for st in PurchaseStatus::ALL.map(PurchaseStatus::as_str) {
                            option value=(st) selected[q.status.as_deref() == Some(st)] { (st.to_lowercase()) }
                        }
                    }
                }
                div { label for="from" { "From" } input type="date" id="from" name="from" value=(q.from.as_deref().unwrap_or("")); }
                div { label for="to" { "To" } input type="date" id="to" name="to" value=(q.to.as_deref().unwrap_or("")); }
                div { label for="failed" { "Failed only" } input type="checkbox" id="failed" name="failed" value="1" checked[q.failed_only()]; }
                div { button type="submit" { "Search" } }
            }
            @if rows.is_empty() { p { "No purchases match." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Date" } th scope="col" { "Email" } th scope="col" { "Products" } th scope="col" { "Amount" } th scope="col" { "Status" } th scope="col" { "Fulfilment" } } }
                    tbody { @for p in rows.iter().take(PAGE_SIZE as usize) { tr {
                        td { a href={"/admin/purchases/" (p.id)} { (date_time(p.created_at)) } }
                        td { (p.email) }
                        td { (parse_list(&p.products).join(", ")) }
                        td { @if let Some(a) = p.amount { (money(a.into(), p.currency.as_deref().unwrap_or(""))) } }
                        td { (status_badge(p.status.as_str())) }
                        td { (fulfilment_state(p)) }
                    } } }
                } }
            }
            p {
                @if page_no > 0 { a href=(q.page_link(page_no - 1)) { "← Newer" } " " }
                @if more { a href=(q.page_link(page_no + 1)) { "Older →" } }
            }
        },
    )
}

fn fulfilment_state(p: &PurchaseRow) -> Markup {
    html! {
        @if let Some(e) = &p.fulfilment_error { span role="alert" { "failed: " (e) } }
        @else if p.fulfilled_at.is_some() {
            "fulfilled" @if p.delivered_at.is_some() { ", emailed" } @else { ", email pending" }
        }
        @else { "not fulfilled" }
    }
}

fn purchase_page(
    s: &SessionRow,
    p: &PurchaseRow,
    licenses: &[License],
    subscription: Option<&licet_proto::admin::Subscription>,
) -> Markup {
    layout(
        "Purchase",
        Some(nav(s, "purchases")),
        html! {
            div class="scroll" { table {
                tbody {
                    tr { th scope="row" { "Id" } td { code { (p.id) } } }
                    tr { th scope="row" { "Email" } td { (p.email) } }
                    tr { th scope="row" { "Products" } td { (parse_list(&p.products).join(", ")) } }
                    tr { th scope="row" { "Date" } td { (date_time(p.created_at)) } }
                    tr { th scope="row" { "Amount" } td { @if let Some(a) = p.amount { (money(a.into(), p.currency.as_deref().unwrap_or(""))) } } }
                    tr { th scope="row" { "Provider" } td { (p.provider) " " @if let Some(pi) = &p.provider_payment_id { code { (pi) } } } }
                    tr { th scope="row" { "Status" } td { (status_badge(p.status.as_str()))
                        @if p.status == PurchaseStatus::Refunded { " — licenses revoked, downloads and access ended" } } }
                    tr { th scope="row" { "Fulfilment" } td { (fulfilment_state(p)) } }
                    tr { th scope="row" { "Downloads" } td { (p.download_count) " of " (p.download_limit) } }
                    @if let Some(sub) = subscription {
                        tr { th scope="row" { "Subscription" } td {
                            (crate::web::subscriptions::state(sub)) " " code { (sub.id) }
                            @if let (Some(m), Some(c)) = (sub.monthly_amount, &sub.currency) { " — " (money(m.into(), c)) " a month" }
                            @if let Some(t) = sub.paid_through { " — paid through " (date_time(t)) }
                        } }
                    }
                }
            } }
            @if p.fulfilled_at.is_none() && p.status == PurchaseStatus::Completed {
                form method="post" action={"/admin/purchases/" (p.id) "/fulfil"} {
                    input type="hidden" name="csrf" value=(s.csrf);
                    button type="submit" class="primary" { "Retry fulfilment" }
                }
            }
            @if !licenses.is_empty() {
                h2 { "Licenses" }
                ul { @for l in licenses { li { a href={"/admin/licenses/" (l.id)} { code { (l.key) } } " " (status_badge(l.status.as_str())) } } }
            }
        },
    )
}
