//! The signed-in customer's purchases: the list, one purchase with its keys, machines,
//! downloads and access, freeing a seat, and fresh download links.

use licet_proto::admin::PurchaseStatus;
use maud::{Markup, html};
use warp::reply::Response;

use super::{nav, releases};
use crate::commerce::customers;
use crate::commerce::downloads;
use crate::platform::error::{Error, Result};
use crate::releases::customers::Coverage;
use crate::store::{PurchaseFilter, PurchaseRow, SessionRow, parse_list};
use crate::web::session::{NoFields, Outcome, Signed};
use crate::web::shell::{copy_button, date, layout, purchase_status, redirect, status_badge};

/// Purchases listed at most.
const LISTED: i64 = 200;

/// `GET /portal/purchases`
pub(super) async fn list(s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    let filter = PurchaseFilter {
        email: Some(s.session.email.clone()),
        limit: LISTED,
        ..PurchaseFilter::default()
    };
    let rows = s.app.store.purchases(&filter).await.map_err(Error::from)?;
    Ok(purchases_page(&s.session, &rows))
}

/// `GET /portal/purchases/{id}`
pub(super) async fn show(id: String, s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    let purchase = customers::purchase(&s.app, &s.session.email, &id).await?;
    let updates = releases::coverage_of(&s.app, &purchase.licenses).await?;
    let seats = customers::seats_of(&s.app, &purchase.licenses).await?;
    Ok(purchase_page(&s.session, &purchase, &updates, &seats, None))
}

/// `POST /portal/purchases/{id}/seats/{seat}/release`: free a stuck floating seat.
pub(super) async fn release_seat(
    id: String,
    seat: String,
    post: Result<Signed<NoFields>>,
) -> Result<Response> {
    let s = post?;
    customers::release_seat(&s.app, &s.session.email, &id, &seat).await?;
    Ok(redirect(&format!("/portal/purchases/{id}")))
}

/// `POST /portal/purchases/{id}/activations/{activation}/deactivate`
pub(super) async fn deactivate(
    id: String,
    activation: String,
    post: Result<Signed<NoFields>>,
) -> Result<Response> {
    let s = post?;
    customers::deactivate_machine(&s.app, &s.session.email, &id, &activation).await?;
    Ok(redirect(&format!("/portal/purchases/{id}")))
}

/// `POST /portal/purchases/{id}/links`: the purchase page with fresh download links.
pub(super) async fn links(id: String, post: Result<Signed<NoFields>>) -> Outcome<Markup> {
    let s = post?;
    let purchase = customers::purchase(&s.app, &s.session.email, &id).await?;
    let links = downloads::new_links(&s.app, &purchase.purchase.id).await?;
    let updates = releases::coverage_of(&s.app, &purchase.licenses).await?;
    let seats = customers::seats_of(&s.app, &purchase.licenses).await?;
    Ok(purchase_page(
        &s.session,
        &purchase,
        &updates,
        &seats,
        Some(&links),
    ))
}

fn purchases_page(session: &SessionRow, rows: &[PurchaseRow]) -> Markup {
    layout(
        "Your purchases",
        Some(nav(session)),
        html! {
            @if rows.is_empty() {
                p { "No purchases yet." }
            } @else {
                div class="scroll" {
                    table {
                        thead { tr { th scope="col" { "Products" } th scope="col" { "Date" } th scope="col" { "Status" } } }
                        tbody {
                            @for p in rows {
                                tr {
                                    td { a href={"/portal/purchases/" (p.id)} { (parse_list(&p.products).join(", ")) } }
                                    td { (date(p.created_at)) }
                                    td { (purchase_status(p.status)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn purchase_page(
    session: &SessionRow,
    shown: &customers::CustomerPurchase,
    updates: &[Option<Coverage>],
    seats: &[Vec<licet_proto::floating::SeatInfo>],
    links: Option<&[downloads::Link]>,
) -> Markup {
    let p = &shown.purchase;
    let active = p.status == PurchaseStatus::Completed;
    let csrf = &session.csrf;
    layout(
        &parse_list(&p.products).join(", "),
        Some(nav(session)),
        html! {
            p { "Bought " (date(p.created_at)) ". Status: " (purchase_status(p.status)) }
            @if !active {
                p role="alert" { "This purchase is " (p.status.as_str().to_lowercase()) ": its keys, downloads and access no longer work." }
            }
            @if let Some(s) = &shown.subscription {
                section {
                    h2 { "Subscription" }
                    p { (crate::web::subscriptions::state(s)) "." }
                    @if s.status == licet_proto::SubscriptionStatus::PastDue {
                        p role="alert" { "Your last payment did not go through. Your license keeps working while the payment is retried; please update your payment method." }
                    }
                    @if let Some(url) = &shown.billing_portal {
                        p { a href=(url) rel="noopener" { "Manage your subscription" } }
                    }
                }
            }
            @for ((lic, covered), held) in shown.licenses.iter().zip(updates).zip(seats) {
                section {
                    h2 { "License for " (lic.product) }
                    p {
                        "Key: " code id={"key-" (lic.id)} { (lic.key) } " "
                        @if active { (copy_button(&lic.key, "Copy the license key")) }
                    }
                    p { "Status: " (status_badge(lic.status.as_str())) ". "
                        @match lic.expires_at { Some(t) => { "Expires " (date(t)) "." }, None => { "Never expires." } } }
                    @let live: Vec<_> = lic.activations.iter().flatten().filter(|a| a.deactivated_at.is_none()).collect();
                    p { (live.len()) " of " (lic.max_activations) " machines in use." }
                    @if !live.is_empty() {
                        div class="scroll" {
                            table {
                                caption class="visually-hidden" { "Machines using this key" }
                                thead { tr { th scope="col" { "Machine" } th scope="col" { "Platform" } th scope="col" { "Last seen" } th scope="col" { span hidden { "Action" } } } }
                                tbody {
                                    @for a in live {
                                        tr {
                                            td { (a.name.as_deref().unwrap_or("unnamed")) }
                                            td { (a.platform.as_deref().unwrap_or("")) }
                                            td { (date(a.last_seen_at)) }
                                            td {
                                                form method="post" action={"/portal/purchases/" (p.id) "/activations/" (a.id) "/deactivate"} {
                                                    input type="hidden" name="csrf" value=(csrf);
                                                    button type="submit" class="danger" { "Deactivate this machine" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !held.is_empty() {
                        h3 { "Floating seats in use" }
                        p { (held.len()) " of " (lic.max_activations) " seats are in use now. A seat frees itself when its app stops renewing it; free one at once if a machine crashed holding it." }
                        div class="scroll" { table {
                            caption class="visually-hidden" { "Seats of this license in use" }
                            thead { tr { th scope="col" { "Machine" } th scope="col" { "Since" } th scope="col" { "Held until" } th scope="col" { span hidden { "Action" } } } }
                            tbody { @for seat in held { tr {
                                td { (seat.name.as_deref().unwrap_or("unnamed")) @if let Some(i) = &seat.instance { " (" (i) ")" } }
                                td { (date(seat.checked_out_at)) }
                                td { (date(seat.lease_ends_at)) @if seat.borrowed { " (borrowed)" } }
                                td {
                                    form method="post" action={"/portal/purchases/" (p.id) "/seats/" (seat.id) "/release"} {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" class="danger" { "Release this seat" }
                                    }
                                }
                            } } }
                        } }
                    }
                    @if let Some(c) = covered.as_ref().filter(|_| active) { (releases::section(lic, c)) }
                }
            }
            @if active && !shown.licenses.is_empty() {
                (crate::web::air_gapped::forms(&format!("/portal/purchases/{}/offline", p.id), csrf))
            }
            @for (name, url) in &shown.access {
                section {
                    h2 { "Access to " (name) }
                    @match url {
                        Some(url) => p { a href=(url) rel="noopener" { "Open " (name) } " " (copy_button(url, "Copy the access link")) },
                        None => p { "Your access is active. Sign in at the vendor's site with " strong { (p.email) } "." },
                    }
                }
            }
            @if shown.has_files {
                section {
                    h2 { "Downloads" }
                    p { (p.download_limit - p.download_count) " of " (p.download_limit) " downloads left." }
                    @if let Some(links) = links {
                        ul { @for l in links { li { a href=(l.url) { "Download " (l.file) } } } }
                        p { "The links work for 24 hours." }
                    } @else if active && p.download_count < p.download_limit {
                        form method="post" action={"/portal/purchases/" (p.id) "/links"} {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" class="primary" { "Generate download link" }
                        }
                    }
                }
            }
        },
    )
}
