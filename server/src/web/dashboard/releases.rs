//! Releases: each product's versions with their files per platform and download counts;
//! creating a draft, uploading its files (streamed), publishing and yanking.

use crate::web::uploads;
use licet_proto::ErrorCode;
use licet_proto::admin::Product;
use licet_proto::releases::{MAX_UPDATER_SIGNATURE_LEN, PublishRelease, Release, ReleaseState};
use maud::{Markup, html};
use warp::http::StatusCode;
use warp::multipart::FormData;
use warp::reply::Response;

use super::filters::SavedQuery;
use super::forms::ReleaseForm;
use super::nav;
use crate::app::App;
use crate::auth::Admin;
use crate::auth::sessions::Kind;
use crate::catalogue;
use crate::platform::error::{Error, Result};
use crate::releases::{self, NewArtifact};
use crate::store::SessionRow;
use crate::web::session::{NoFields, Outcome, Signed};
use crate::web::shell::{date, date_time, layout, page, redirect, size, status_badge};

/// `GET /admin/releases`: every product, with its newest published version.
pub(super) async fn index(s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    let mut rows = Vec::new();
    for p in s.app.store.products().await.map_err(Error::from)? {
        let list = releases::list(&s.app, &p.slug).await?;
        let newest = list
            .iter()
            .find(|r| r.state == ReleaseState::Published)
            .map(|r| r.version.clone());
        rows.push((p.to_wire(), list.len(), newest));
    }
    Ok(layout(
        "Releases",
        Some(nav(&s.session, "releases")),
        html! {
            @if rows.is_empty() { p { "No products yet." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Product" } th scope="col" { "Releases" } th scope="col" { "Newest published" } } }
                    tbody { @for (p, count, newest) in &rows { tr {
                        td { a href={"/admin/releases/" (p.slug)} { (p.name) } }
                        td { (count) }
                        td { (newest.as_deref().unwrap_or("none")) }
                    } } }
                } }
            }
        },
    ))
}

/// `GET /admin/releases/{slug}?saved=`
pub(super) async fn show(
    slug: String,
    s: Outcome<Signed>,
    q: Result<SavedQuery>,
) -> Outcome<Markup> {
    let s = s?;
    let product = catalogue::product(&s.app, &slug).await?.to_wire();
    let list = releases::list(&s.app, &slug).await?;
    let note = if SavedQuery::saved(&q) {
        Note::Saved
    } else {
        Note::None
    };
    Ok(releases_page(
        &s.session,
        &product,
        &list,
        &ReleaseForm::default(),
        note,
    ))
}

/// `POST /admin/releases/{slug}`: a new draft; a refused form comes back with its input.
pub(super) async fn create(slug: String, post: Result<Signed<ReleaseForm>>) -> Result<Response> {
    let post = post?;
    let r =
        async { releases::create(&post.app, post.admin()?, &slug, post.form.to_create()).await };
    let r = r.await;
    answer(&post, &slug, r.map(drop), &post.form).await
}

/// `POST /admin/releases/{slug}/{id}/files`: one platform's file (multipart: `csrf` first,
/// then `platform` and `signature`, then `file`).
pub(super) async fn upload(
    slug: String,
    id: String,
    s: Outcome<Signed>,
    form: FormData,
) -> Result<Response> {
    let s = s.map_err(|r| r.into_error(Kind::Admin))?;
    let r = async {
        release_of(&s.app, &slug, &id).await?;
        attach(&s.app, &s.session, s.admin()?, &id, form).await
    }
    .await;
    answer(&s, &slug, r.map(drop), &ReleaseForm::default()).await
}

/// `POST /admin/releases/{slug}/{id}/{publish|yank}`
pub(super) async fn change_state(
    slug: String,
    id: String,
    action: String,
    post: Result<Signed<NoFields>>,
) -> Result<Response> {
    let s = post?;
    let r = async {
        release_of(&s.app, &slug, &id).await?;
        let admin = s.admin()?;
        match action.as_str() {
            "publish" => releases::publish(&s.app, admin, &id, PublishRelease::default()).await,
            "yank" => releases::yank(&s.app, admin, &id).await,
            _ => Err(Error::new(ErrorCode::NotFound, "no such release action")),
        }
    }
    .await;
    answer(&s, &slug, r.map(drop), &ReleaseForm::default()).await
}

/// Refuses a release id of another product than the page's (as not found).
async fn release_of(app: &App, slug: &str, id: &str) -> Result<()> {
    if releases::show(app, id).await?.product == slug {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::NotFound, "no such release"))
    }
}

/// Back to the product's releases when done; a refusal shows them with the reason (and the
/// create form as it was typed), with the refusal's status.
async fn answer<T>(
    post: &Signed<T>,
    slug: &str,
    r: Result<()>,
    form: &ReleaseForm,
) -> Result<Response> {
    let (app, session) = (&post.app, &post.session);
    match r {
        Ok(()) => Ok(redirect(&format!("/admin/releases/{slug}?saved=1"))),
        Err(e @ Error::Api { .. }) => {
            let product = catalogue::product(app, slug).await?.to_wire();
            let list = releases::list(app, slug).await?;
            let status =
                StatusCode::from_u16(e.code().http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let msg = e.public_message();
            Ok(page(
                status,
                releases_page(session, &product, &list, form, Note::Refused(&msg)),
            ))
        }
        Err(e) => Err(e),
    }
}

/// Streams an uploaded file into a release, after checking the form's CSRF token, which
/// must come first: nothing is stored for a forged form.
async fn attach(
    app: &App,
    session: &SessionRow,
    admin: &Admin,
    release_id: &str,
    mut form: FormData,
) -> Result<Release> {
    let mut csrf_ok = false;
    let mut platform = String::new();
    let mut signature = String::new();
    while let Some(part) = uploads::next_part(&mut form).await? {
        match part.name() {
            "csrf" if !csrf_ok => {
                uploads::check_csrf(part, &session.csrf).await?;
                csrf_ok = true;
            }
            "platform" if csrf_ok => platform = uploads::text(part, 200, "the platform").await?,
            "signature" if csrf_ok => {
                let max = 2 * MAX_UPDATER_SIGNATURE_LEN;
                signature = uploads::text(part, max, "the signature").await?;
            }
            "file" if csrf_ok => {
                let name = uploads::file_name(&part)?;
                let content_type = part.content_type().map(str::to_owned);
                let new = NewArtifact {
                    platform: platform.trim(),
                    name: &name,
                    content_type: content_type.as_deref(),
                    signature: Some(&signature),
                };
                return releases::attach(app, admin, release_id, new, uploads::bytes(part)).await;
            }
            _ => {
                return Err(Error::invalid(
                    "invalid upload: expected the form token, the platform and signature, \
                     then the file",
                ));
            }
        }
    }
    Err(Error::invalid("choose a file to upload"))
}

/// What a releases page says above its list.
#[derive(Clone, Copy)]
enum Note<'a> {
    None,
    Saved,
    Refused(&'a str),
}

/// Platforms offered as suggestions in the upload form (any `os-arch` name is accepted).
const PLATFORMS: [&str; 6] = [
    "linux-x86_64",
    "linux-aarch64",
    "darwin-x86_64",
    "darwin-aarch64",
    "windows-x86_64",
    "windows-aarch64",
];

fn releases_page(
    s: &SessionRow,
    p: &Product,
    list: &[Release],
    form: &ReleaseForm,
    note: Note<'_>,
) -> Markup {
    layout(
        &format!("Releases of {}", p.name),
        Some(nav(s, "releases")),
        html! {
            p {
                a href={"/admin/products/" (p.slug)} { "Product policy" } ": "
                @match p.maintenance_secs {
                    Some(m) => { "licenses get the releases published in their first " (m / 86_400) " days" },
                    None => { "licenses get the releases published until they expire" },
                }
                "; trials get " @if p.trial_updates { "them too." } @else { "none." }
            }
            @match note {
                Note::Saved => p class="ok" role="status" { "Saved." },
                Note::Refused(e) => p role="alert" { (e) },
                Note::None => {},
            }
            @if list.is_empty() { p { "No releases yet." } }
            datalist id="platforms" { @for pl in PLATFORMS { option value=(pl) {} } }
            @for r in list { (release_card(s, p, r)) }
            section {
                h2 { "New release" }
                form method="post" action={"/admin/releases/" (p.slug)} {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="version" { "Version" }
                    input id="version" name="version" required value=(form.version) placeholder="1.2.0" aria-describedby="version-help";
                    small id="version-help" { "A semantic version, such as 1.2.0 or 2.0.0-beta.1." }
                    label for="channel" { "Channel (empty: stable)" }
                    input id="channel" name="channel" value=(form.channel) placeholder="stable";
                    label for="notes" { "Release notes" }
                    textarea id="notes" name="notes" rows="5" { (form.notes) }
                    label for="entitlement" { "Needs entitlement (empty: every license)" }
                    input id="entitlement" name="entitlement" value=(form.entitlement) list="entitlements";
                    datalist id="entitlements" { @for e in &p.entitlements { option value=(e) {} } }
                    button type="submit" class="primary" { "Create draft" }
                }
            }
        },
    )
}

fn release_card(s: &SessionRow, p: &Product, r: &Release) -> Markup {
    let action = |what: &str, label: &str, class: &str| {
        html! {
            form method="post" action={"/admin/releases/" (p.slug) "/" (r.id) "/" (what)} class="inline" {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" class=(class) { (label) }
            }
        }
    };
    let field = |name: &str| format!("{name}-{}", r.id);
    html! {
        section class="card" id={"release-" (r.version)} {
            h2 { (r.version) " " (status_badge(r.state.as_str())) }
            p {
                "Channel " code { (r.channel) } " · "
                @match (r.state, r.published_at, r.yanked_at) {
                    (ReleaseState::Yanked, Some(p), Some(y)) => { "published " (date(p)) ", yanked " (date(y)) },
                    (_, Some(p), _) => { "published " (date_time(p)) },
                    _ => { "created " (date_time(r.created_at)) },
                }
                @if let Some(e) = &r.entitlement { " · needs " code { (e) } }
            }
            @if !r.notes.is_empty() { details { summary { "Notes" } p class="notes" { (r.notes) } } }
            @if r.artifacts.is_empty() { p { "No files yet." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Platform" } th scope="col" { "File" } th scope="col" { "Size" } th scope="col" { "SHA-256" } th scope="col" { "Signed" } th scope="col" { "Downloads" } } }
                    tbody { @for a in &r.artifacts { tr {
                        td { code { (a.platform) } }
                        td { (a.name) }
                        td { (size(a.size)) }
                        td { code title=(a.sha256) { (a.sha256.get(..12).unwrap_or(&a.sha256)) "…" } }
                        td { @if a.signature.is_some() { "yes" } @else { "no" } }
                        td { (a.downloads) }
                    } } }
                } }
            }
            @if r.state != ReleaseState::Yanked {
                details open[r.state == ReleaseState::Draft && r.artifacts.is_empty()] {
                    summary { @if r.state == ReleaseState::Draft { "Upload a file" } @else { "Add a platform" } }
                    form method="post" action={"/admin/releases/" (p.slug) "/" (r.id) "/files"} enctype="multipart/form-data" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        label for=(field("platform")) { "Platform (os-arch)" }
                        input id=(field("platform")) name="platform" required list="platforms" placeholder="linux-x86_64";
                        label for=(field("signature")) { "Updater signature (the .sig file's text; optional)" }
                        textarea id=(field("signature")) name="signature" rows="2" {}
                        label for=(field("file")) {
                            @if r.state == ReleaseState::Draft { "File (replaces the platform's file)" }
                            @else { "File (for a platform without one; published files are fixed)" }
                        }
                        input type="file" id=(field("file")) name="file" required;
                        button type="submit" { "Upload" }
                    }
                }
            }
            p {
                @if r.state == ReleaseState::Draft { (action("publish", "Publish", "primary")) }
                @if r.state == ReleaseState::Published { (action("yank", "Yank", "danger")) }
            }
        }
    }
}
