//! Licenses: the searchable list, issuing one, one license with its machines, and the
//! vendor's changes to it (status, expiry, seats).

use licet_proto::admin::{IssueLicense, License};
use licet_proto::{ErrorCode, LicenseStatus};
use maud::{Markup, html};
use warp::http::StatusCode;
use warp::reply::Response;

use super::filters::{LicenseQuery, PAGE_SIZE, page_no};
use super::forms::{ExtendForm, IssueForm, UpdatesForm};
use super::nav;
use crate::app::App;
use crate::catalogue::{self, StatusChange};
use crate::licensing::floating::{self, SeatUse};
use crate::platform::error::{Error, Result};
use crate::store::SessionRow;
use crate::web::charts;
use crate::web::session::{NoFields, Outcome, Signed};
use crate::web::shell::{copy_button, date, date_time, layout, page, redirect, status_badge};

/// `GET /admin/licenses?q=&product=&page=`
pub(super) async fn list(s: Outcome<Signed>, q: Result<LicenseQuery>) -> Outcome<Markup> {
    let s = s?;
    let q = q?;
    let filter = q.filter(|text| s.app.key_format.parse(text));
    let found = catalogue::list_licenses(&s.app, filter).await?;
    let names = product_names(&s.app).await?;
    Ok(licenses_page(
        &s.session,
        &q,
        &found,
        &names,
        &IssueForm::default(),
        None,
    ))
}

/// `POST /admin/licenses`: a refused form comes back with its input and the reason.
pub(super) async fn issue(post: Result<Signed<IssueForm>>) -> Result<Response> {
    let post = post?;
    let admin = post.admin()?.clone();
    let Signed {
        app, session, form, ..
    } = post;
    let r = async {
        let req = IssueLicense {
            product: form.product.clone(),
            email: form.email.trim().to_owned(),
            expires_at: form.expires_at()?,
            max_activations: None,
            token_lifetime_secs: None,
            entitlements: None,
            metadata: None,
            updates_until: None,
        };
        catalogue::issue_license(&app, &admin, req).await
    }
    .await;
    match r {
        Ok(lic) => Ok(redirect(&format!("/admin/licenses/{}", lic.id))),
        Err(e @ Error::Api { .. }) => {
            let names = product_names(&app).await?;
            Ok(page(
                StatusCode::BAD_REQUEST,
                licenses_page(
                    &session,
                    &LicenseQuery::default(),
                    &[],
                    &names,
                    &form,
                    Some(&e.public_message()),
                ),
            ))
        }
        Err(e) => Err(e),
    }
}

/// `GET /admin/licenses/{id}`
pub(super) async fn show(id: String, s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    let lic = catalogue::show_license(&s.app, &id).await?;
    let seats = floating::seat_use(&s.app, &lic.id).await?;
    Ok(license_page(&s.session, &lic, &seats, None))
}

/// `POST /admin/licenses/{id}/{suspend|reinstate|revoke}`
pub(super) async fn change_status(
    id: String,
    action: String,
    post: Result<Signed<NoFields>>,
) -> Result<Response> {
    let s = post?;
    let change: StatusChange = action
        .parse()
        .map_err(|_| Error::new(ErrorCode::NotFound, "no such license action"))?;
    let lic = catalogue::change_status(&s.app, s.admin()?, &id, change).await?;
    Ok(redirect(&format!("/admin/licenses/{}", lic.id)))
}

/// `POST /admin/licenses/{id}/extend`: a refused date comes back with the reason.
pub(super) async fn extend(id: String, post: Result<Signed<ExtendForm>>) -> Result<Response> {
    let post = post?;
    let r =
        async { catalogue::extend(&post.app, post.admin()?, &id, post.form.to_extend()?).await };
    let r = r.await;
    answer(&post, &id, r, DateForm::Extend, &post.form.expires).await
}

/// `POST /admin/licenses/{id}/updates`: a refused date comes back with the reason.
pub(super) async fn set_updates(id: String, post: Result<Signed<UpdatesForm>>) -> Result<Response> {
    let post = post?;
    let r = async {
        let req = post.form.to_update()?;
        catalogue::update_license(&post.app, post.admin()?, &id, req).await
    };
    let r = r.await;
    answer(&post, &id, r, DateForm::Updates, &post.form.updates_until).await
}

/// Back to the license's page once a date form of it is done; a refused one comes back
/// with the reason and the date as typed.
async fn answer<T>(
    post: &Signed<T>,
    id: &str,
    r: Result<License>,
    form: DateForm,
    typed: &str,
) -> Result<Response> {
    match r {
        Ok(lic) => Ok(redirect(&format!("/admin/licenses/{}", lic.id))),
        Err(e @ Error::Api { .. }) => {
            let lic = catalogue::show_license(&post.app, id).await?;
            let seats = floating::seat_use(&post.app, &lic.id).await?;
            let message = e.public_message();
            let refused = Refused {
                form,
                message: &message,
                typed,
            };
            Ok(page(
                StatusCode::BAD_REQUEST,
                license_page(&post.session, &lic, &seats, Some(refused)),
            ))
        }
        Err(e) => Err(e),
    }
}

/// `POST /admin/licenses/{id}/activations/{activation}/remove`
pub(super) async fn remove_activation(
    id: String,
    activation: String,
    post: Result<Signed<NoFields>>,
) -> Result<Response> {
    let s = post?;
    let lic = catalogue::remove_activation(&s.app, s.admin()?.into(), &id, &activation).await?;
    Ok(redirect(&format!("/admin/licenses/{}", lic.id)))
}

/// `POST /admin/licenses/{id}/seats/{seat}/end`: free a floating seat (a stuck machine).
pub(super) async fn end_seat(
    id: String,
    seat: String,
    post: Result<Signed<NoFields>>,
) -> Result<Response> {
    let s = post?;
    let lic = catalogue::find_license(&s.app, &id).await?;
    floating::end_seat(&s.app, s.admin()?.into(), &lic.id, &seat).await?;
    Ok(redirect(&format!("/admin/licenses/{}", lic.id)))
}

/// `(slug, name)` of every product, for the product pickers.
async fn product_names(app: &App) -> Result<Vec<(String, String)>> {
    let products = app.store.products().await?;
    Ok(products
        .iter()
        .map(|p| (p.slug.clone(), p.name.clone()))
        .collect())
}

fn licenses_page(
    s: &SessionRow,
    q: &LicenseQuery,
    found: &[License],
    products: &[(String, String)],
    issue: &IssueForm,
    error: Option<&str>,
) -> Markup {
    let page_no = page_no(q.page);
    let more = found.len() as i64 > PAGE_SIZE;
    layout(
        "Licenses",
        Some(nav(s, "licenses")),
        html! {
            form method="get" action="/admin/licenses" class="row" role="search" {
                div { label for="q" { "Key or email" } input id="q" name="q" value=(q.q.as_deref().unwrap_or("")); }
                div { label for="product" { "Product" }
                    select id="product" name="product" {
                        option value="" { "any" }
                        @for (slug, name) in products { option value=(slug) selected[q.product.as_deref() == Some(slug)] { (name) } }
                    }
                }
                div { button type="submit" { "Search" } }
            }
            @if found.is_empty() { p { "No licenses match." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Product" } th scope="col" { "Email" } th scope="col" { "Status" } th scope="col" { "Machines" } th scope="col" { "Expires" } } }
                    tbody { @for l in found.iter().take(PAGE_SIZE as usize) { tr {
                        td { a href={"/admin/licenses/" (l.id)} { code { (l.key) } } }
                        td { (l.product) }
                        td { (l.email) }
                        td { (status_badge(l.status.as_str())) }
                        td { (l.active_activations) " / " (l.max_activations) }
                        td { @match l.expires_at { Some(t) => (date(t)), None => "never" } }
                    } } }
                } }
            }
            p {
                @if page_no > 0 { a href=(q.page_link(page_no - 1)) { "← Newer" } " " }
                @if more { a href=(q.page_link(page_no + 1)) { "Older →" } }
            }
            section {
                h2 id="issue" { "Issue a license" }
                @if let Some(e) = error { p role="alert" { (e) } }
                form method="post" action="/admin/licenses" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="issue-product" { "Product" }
                    select id="issue-product" name="product" required {
                        @for (slug, name) in products { option value=(slug) selected[issue.product == *slug] { (name) } }
                    }
                    label for="issue-email" { "Customer email" }
                    input type="email" id="issue-email" name="email" required value=(issue.email);
                    label for="issue-expires" { "Expires (empty: the product's duration)" }
                    input type="date" id="issue-expires" name="expires" value=(issue.expires);
                    button type="submit" class="primary" { "Issue license" }
                }
            }
        },
    )
}

/// The date forms of a license's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateForm {
    Extend,
    Updates,
}

/// A license page's refused date form: the reason, and the date as typed.
#[derive(Clone, Copy)]
struct Refused<'a> {
    form: DateForm,
    message: &'a str,
    typed: &'a str,
}

fn license_page(
    s: &SessionRow,
    l: &License,
    seats: &SeatUse,
    refused: Option<Refused<'_>>,
) -> Markup {
    let refused_for = |form| {
        refused
            .filter(|r| r.form == form)
            .map(|r| (r.message, r.typed))
    };
    let extend_error = refused_for(DateForm::Extend);
    let updates_error = refused_for(DateForm::Updates);
    let status = l.status;
    let action = |change: StatusChange, label: &str, class: &str| {
        html! {
            form method="post" action={"/admin/licenses/" (l.id) "/" (change.as_str())} class="inline" {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" class=(class) { (label) }
            }
        }
    };
    layout(
        "License",
        Some(nav(s, "licenses")),
        html! {
            p { code id="license-key" { (l.key) } " " (copy_button(&l.key, "Copy the license key")) }
            div class="scroll" { table { tbody {
                tr { th scope="row" { "Product" } td { (l.product) } }
                tr { th scope="row" { "Email" } td { (l.email) } }
                tr { th scope="row" { "Status" } td { (status_badge(status.as_str())) } }
                tr { th scope="row" { "Expires" } td { @match l.expires_at { Some(t) => (date(t)), None => "never" } } }
                tr { th scope="row" { "Updates until" } td { @match l.updates_until { Some(t) => { "releases published until " (date(t)) }, None => "every release" } } }
                @if let Some(sub) = &l.subscription {
                    tr { th scope="row" { "Subscription" } td { (crate::web::subscriptions::claim_text(sub)) } }
                }
                tr { th scope="row" { "Machines" } td { (l.active_activations) " of " (l.max_activations) } }
                tr { th scope="row" { "Entitlements" } td { (l.entitlements.join(", ")) } }
                @for (k, v) in &l.metadata {
                    tr { th scope="row" { (k) } td { (v) } }
                }
                tr { th scope="row" { "Issued" } td { (date_time(l.created_at)) } }
            } } }
            p {
                @if status == LicenseStatus::Active { (action(StatusChange::Suspend, "Suspend", "")) }
                @if status == LicenseStatus::Suspended { (action(StatusChange::Reinstate, "Reinstate", "")) }
                @if status != LicenseStatus::Revoked { (action(StatusChange::Revoke, "Revoke", "danger")) }
            }
            @if status != LicenseStatus::Revoked {
                section {
                    h2 { "Extend" }
                    @if let Some((e, _)) = extend_error { p role="alert" { (e) } }
                    form method="post" action={"/admin/licenses/" (l.id) "/extend"} class="row" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        div { label for="expires" { "New expiry" }
                            input type="date" id="expires" name="expires" value=(extend_error.map(|e| e.1.to_owned()).or(l.expires_at.map(date)).unwrap_or_default()); }
                        div { label for="perpetual" { "Never expires" } input type="checkbox" id="perpetual" name="perpetual" value="1"; }
                        div { button type="submit" { "Set expiry" } }
                    }
                }
            }
            @if status != LicenseStatus::Revoked {
                section {
                    h2 { "Updates" }
                    @if let Some((e, _)) = updates_error { p role="alert" { (e) } }
                    form method="post" action={"/admin/licenses/" (l.id) "/updates"} class="row" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        div { label for="updates_until" { "Updates until" }
                            input type="date" id="updates_until" name="updates_until" value=(updates_error.map(|e| e.1.to_owned()).or(l.updates_until.map(date)).unwrap_or_default()); }
                        div { label for="follow_expiry" { "Until it expires" } input type="checkbox" id="follow_expiry" name="follow_expiry" value="1"; }
                        div { button type="submit" { "Set end of updates" } }
                    }
                }
            }
            @if seats.peaks.is_some() || !seats.live.is_empty() {
                h2 { "Floating seats in use" }
            }
            @if let Some(peaks) = &seats.peaks {
                (charts::daily_bars("seat-peaks", "Most seats in use at once per day, last 30 days", peaks, seats.today, floating::USE_WINDOW_DAYS, charts::PerDay::Peak, "#8250df"))
                @if seats.live.is_empty() { p { "No seat is in use now." } }
            }
            @if !seats.live.is_empty() {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Instance" } th scope="col" { "Since" } th scope="col" { "Lease ends" } th scope="col" { "Free it" } } }
                    tbody { @for seat in &seats.live { tr {
                        td { (seat.name.as_deref().unwrap_or("unnamed")) br; code { (seat.fingerprint) } }
                        td { (seat.instance.as_deref().unwrap_or("")) }
                        td { (date_time(seat.checked_out_at)) }
                        td { (date_time(seat.lease_ends_at)) @if seat.borrowed { " (borrowed)" } }
                        td {
                            form method="post" action={"/admin/licenses/" (l.id) "/seats/" (seat.id) "/end"} {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" class="danger" { "Kick" }
                            }
                        }
                    } } }
                } }
            }
            (crate::web::air_gapped::forms(&format!("/admin/licenses/{}/offline", l.id), &s.csrf))
            h2 { "Machines" }
            @let acts = l.activations.as_deref().unwrap_or_default();
            @if acts.is_empty() { p { "Never activated." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Platform" } th scope="col" { "First seen" } th scope="col" { "Last seen" } th scope="col" { "State" } } }
                    tbody { @for a in acts { tr {
                        td { (a.name.as_deref().unwrap_or("unnamed")) }
                        td { (a.platform.as_deref().unwrap_or("")) }
                        td { (date_time(a.first_seen_at)) }
                        td { (date_time(a.last_seen_at)) }
                        td {
                            @if let Some(t) = a.deactivated_at { "deactivated " (date(t)) } @else {
                                form method="post" action={"/admin/licenses/" (l.id) "/activations/" (a.id) "/remove"} {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    button type="submit" class="danger" { "Remove" }
                                }
                            }
                        }
                    } } }
                } }
            }
        },
    )
}
