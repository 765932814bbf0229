//! Products: the list, creating one, its policy, and its files.

use crate::web::uploads;
use licet_proto::admin::{Product, ProductKind};
use maud::{Markup, html};
use warp::http::StatusCode;
use warp::multipart::FormData;
use warp::reply::Response;

use super::filters::SavedQuery;
use super::forms::ProductForm;
use super::nav;
use crate::app::App;
use crate::auth::Admin;
use crate::auth::sessions::Kind;
use crate::catalogue;
use crate::commerce::downloads::{self, FileEntry};
use crate::platform::error::{Error, Result};
use crate::store::SessionRow;
use crate::web::session::{Outcome, Signed};
use crate::web::shell::{date, layout, page, redirect};

/// `GET /admin/products`
pub(super) async fn list(s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    let rows = s.app.store.products().await.map_err(Error::from)?;
    let products: Vec<Product> = rows.iter().map(|p| p.to_wire()).collect();
    Ok(products_page(&s.session, &products))
}

/// `GET /admin/products/new`
pub(super) async fn new(s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    Ok(new_product_page(&s.session, &ProductForm::default(), None))
}

/// `POST /admin/products`
pub(super) async fn create(post: Result<Signed<ProductForm>>) -> Result<Response> {
    let post = post?;
    let admin = post.admin()?.clone();
    let Signed {
        app, session, form, ..
    } = post;
    let r = async {
        let req = form.to_create()?;
        catalogue::create_product(&app, &admin, req).await
    }
    .await;
    match r {
        Ok(p) => Ok(redirect(&format!("/admin/products/{}?saved=1", p.slug))),
        Err(e @ Error::Api { .. }) => Ok(page(
            StatusCode::BAD_REQUEST,
            new_product_page(&session, &form, Some(&e.public_message())),
        )),
        Err(e) => Err(e),
    }
}

/// `GET /admin/products/{slug}`
pub(super) async fn show(
    slug: String,
    s: Outcome<Signed>,
    q: Result<SavedQuery>,
) -> Outcome<Markup> {
    let s = s?;
    let product = catalogue::product(&s.app, &slug).await?.to_wire();
    let files = downloads::files(&s.app, &slug).await?;
    let form = ProductForm::from_product(&product);
    let saved = SavedQuery::saved(&q);
    Ok(product_page(
        &s.session, &product, &form, &files, None, saved,
    ))
}

/// `POST /admin/products/{slug}`: a refused policy comes back with its input and the reason.
pub(super) async fn update(slug: String, post: Result<Signed<ProductForm>>) -> Result<Response> {
    let post = post?;
    let admin = post.admin()?.clone();
    let Signed {
        app, session, form, ..
    } = post;
    let r = async {
        let current = catalogue::product(&app, &slug).await?.to_wire();
        let req = form.to_update(&current.metadata)?;
        crate::releases::update_product(&app, &admin, &slug, req).await
    }
    .await;
    match r {
        Ok(p) => Ok(redirect(&format!("/admin/products/{}?saved=1", p.slug))),
        Err(e @ Error::Api { .. }) => {
            let product = catalogue::product(&app, &slug).await?.to_wire();
            let files = downloads::files(&app, &slug).await?;
            let msg = e.public_message();
            Ok(page(
                StatusCode::BAD_REQUEST,
                product_page(&session, &product, &form, &files, Some(&msg), false),
            ))
        }
        Err(e) => Err(e),
    }
}

/// `POST /admin/products/{slug}/files`
pub(super) async fn upload(slug: String, s: Outcome<Signed>, form: FormData) -> Result<Response> {
    let s = s.map_err(|r| r.into_error(Kind::Admin))?;
    upload_file(&s.app, &s.session, s.admin()?, &slug, form).await?;
    Ok(redirect(&format!("/admin/products/{slug}?saved=1")))
}

/// Streams an uploaded file into the product's files, after checking the form's CSRF
/// token, which must come first: nothing is stored for a forged form.
async fn upload_file(
    app: &App,
    session: &SessionRow,
    admin: &Admin,
    slug: &str,
    mut form: FormData,
) -> Result<()> {
    let mut csrf_ok = false;
    while let Some(part) = uploads::next_part(&mut form).await? {
        match part.name() {
            "csrf" if !csrf_ok => {
                uploads::check_csrf(part, &session.csrf).await?;
                csrf_ok = true;
            }
            "file" if csrf_ok => {
                let name = uploads::file_name(&part)?;
                let content_type = part.content_type().map(str::to_owned);
                let stream = uploads::bytes(part);
                downloads::add_file(app, admin, slug, &name, content_type.as_deref(), stream)
                    .await?;
                return Ok(());
            }
            _ => {
                return Err(Error::invalid(
                    "invalid upload: expected the form token, then the file",
                ));
            }
        }
    }
    Err(Error::invalid("choose a file to upload"))
}

fn products_page(s: &SessionRow, products: &[Product]) -> Markup {
    layout(
        "Products",
        Some(nav(s, "products")),
        html! {
            p { a href="/admin/products/new" { "New product" } }
            @if products.is_empty() {
                p { "No products yet." }
            } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Slug" } th scope="col" { "Kind" } th scope="col" { "Machines" } th scope="col" { "License" } th scope="col" { "Downloads" } } }
                    tbody { @for p in products { tr {
                        td { a href={"/admin/products/" (p.slug)} { (p.name) } }
                        td { code { (p.slug) } }
                        td { (p.kind.as_str()) }
                        td { (p.max_activations) }
                        td { @match p.license_duration_secs { Some(d) => { (d / 86_400) " days" }, None => "perpetual" } }
                        td { (p.download_limit) }
                    } } }
                } }
            }
        },
    )
}

fn product_fields(form: &ProductForm, creating: bool) -> Markup {
    html! {
        @if creating {
            label for="slug" { "Slug" }
            input id="slug" name="slug" required value=(form.slug) pattern="[a-z0-9][a-z0-9-]*" aria-describedby="slug-help";
            small id="slug-help" { "Lower-case letters, digits and dashes; it names the product in keys and tokens and cannot change." }
            label for="kind" { "Kind" }
            select id="kind" name="kind" {
                @for kind in ProductKind::ALL {
                    @let v = kind.as_str();
                    option value=(v) selected[form.kind == v || (form.kind.is_empty() && kind == ProductKind::default())] { (kind.label()) }
                }
            }
        }
        label for="name" { "Name" }
        input id="name" name="name" required value=(form.name);
        label for="max_activations" { "Machines per license" }
        input id="max_activations" name="max_activations" inputmode="numeric" required value=(if form.max_activations.is_empty() && creating { "3" } else { &form.max_activations });
        label for="license_days" { "License duration in days (empty: perpetual)" }
        input id="license_days" name="license_days" inputmode="numeric" value=(form.license_days);
        label for="token_days" { "Offline lease in days" }
        input id="token_days" name="token_days" inputmode="numeric" value=(if form.token_days.is_empty() && creating { "7" } else { &form.token_days });
        label for="entitlements" { "Entitlements (comma-separated)" }
        input id="entitlements" name="entitlements" value=(form.entitlements);
        label for="download_limit" { "Downloads per purchase" }
        input id="download_limit" name="download_limit" inputmode="numeric" required value=(if form.download_limit.is_empty() && creating { "5" } else { &form.download_limit });
        label for="stripe_price_ids" { "Stripe price ids (comma-separated)" }
        input id="stripe_price_ids" name="stripe_price_ids" value=(form.stripe_price_ids);
        @if form.licenses_fields(creating) {
            label for="trial_days" { "Trial length in days (empty: no trial)" }
            input id="trial_days" name="trial_days" inputmode="numeric" value=(form.trial_days);
            label for="trial_entitlements" { "Trial entitlements (comma-separated; empty: the product's)" }
            input id="trial_entitlements" name="trial_entitlements" value=(form.trial_entitlements);
            label for="maintenance_days" { "Updates period (days)" }
            input id="maintenance_days" name="maintenance_days" inputmode="numeric" value=(form.maintenance_days) aria-describedby="maintenance-help";
            small id="maintenance-help" { "Releases published in a license's first days are its own for good; empty: until the license expires." }
            label for="trial_updates" { "Trials get updates" }
            input type="checkbox" id="trial_updates" name="trial_updates" value="1" checked[form.trial_updates.is_some()];
        }
        label for="grace_days" { "Subscription grace in days (sold by a recurring price)" }
        input id="grace_days" name="grace_days" inputmode="numeric" value=(if form.grace_days.is_empty() && creating { "3" } else { &form.grace_days });
        label for="billing_portal_url" { "Billing portal link (empty: the server's)" }
        input id="billing_portal_url" name="billing_portal_url" type="url" value=(form.billing_portal_url);
        @if creating || form.kind == ProductKind::Access.as_str() {
            label for="access_url" { "Access link (shown to customers of access products)" }
            input id="access_url" name="access_url" type="url" value=(form.access_url);
        }
        @if !creating { input type="hidden" name="kind" value=(form.kind); }
    }
}

fn new_product_page(s: &SessionRow, form: &ProductForm, error: Option<&str>) -> Markup {
    layout(
        "New product",
        Some(nav(s, "products")),
        html! {
            @if let Some(e) = error { p role="alert" { (e) } }
            form method="post" action="/admin/products" {
                input type="hidden" name="csrf" value=(s.csrf);
                (product_fields(form, true))
                button type="submit" class="primary" { "Create product" }
            }
        },
    )
}

fn product_page(
    s: &SessionRow,
    p: &Product,
    form: &ProductForm,
    files: &[FileEntry],
    error: Option<&str>,
    saved: bool,
) -> Markup {
    layout(
        &p.name,
        Some(nav(s, "products")),
        html! {
            p { code { (p.slug) } " · " (p.kind.as_str()) " · created " (date(p.created_at)) }
            @if saved { p class="ok" role="status" { "Saved." } }
            @if let Some(e) = error { p role="alert" { (e) } }
            section {
                h2 { "Policy" }
                form method="post" action={"/admin/products/" (p.slug)} {
                    input type="hidden" name="csrf" value=(s.csrf);
                    (product_fields(form, false))
                    button type="submit" class="primary" { "Save policy" }
                }
            }
            section {
                h2 { "Files" }
                @if files.is_empty() { p { "No files." } } @else {
                    div class="scroll" { table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Size" } th scope="col" { "SHA-256" } } }
                        tbody { @for f in files { tr { td { (f.name) } td { (f.size) " bytes" } td { code { (f.sha256) } } } } }
                    } }
                }
                form method="post" action={"/admin/products/" (p.slug) "/files"} enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="file" { "Attach a file (a file of the same name is replaced)" }
                    input type="file" id="file" name="file" required;
                    button type="submit" { "Upload" }
                }
            }
        },
    )
}
