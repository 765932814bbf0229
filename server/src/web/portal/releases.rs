//! A license's releases on the customer's purchase page: what it covers, with a download
//! button per platform, and what renewing would add.

use licet_proto::admin::License;
use licet_proto::releases::DEFAULT_CHANNEL;
use maud::{Markup, html};

use crate::app::App;
use crate::platform::error::Result;
use crate::releases::customers::{self, Coverage};
use crate::web::shell::{date, size};

/// What each license covers (in the same order; `None` for a product with no releases).
pub(super) async fn coverage_of(app: &App, licenses: &[License]) -> Result<Vec<Option<Coverage>>> {
    let mut all = Vec::with_capacity(licenses.len());
    for license in licenses {
        all.push(customers::coverage(app, license).await?);
    }
    Ok(all)
}

/// The releases section of one license.
pub(super) fn section(license: &License, c: &Coverage) -> Markup {
    html! {
        h3 { "Releases" }
        @if let Some(why) = c.blocked {
            p { (why) " Its releases cannot be downloaded." }
        } @else if c.releases.is_empty() {
            p { "No release is included with this license yet." }
        } @else {
            div class="scroll" { table {
                caption class="visually-hidden" { "Releases included with the license for " (license.product) }
                thead { tr { th scope="col" { "Version" } th scope="col" { "Published" } th scope="col" { "Download" } } }
                tbody { @for r in &c.releases { tr {
                    td {
                        strong { (r.version) }
                        @if r.channel != DEFAULT_CHANNEL { " (" (r.channel) ")" }
                        @if !r.notes.is_empty() { details { summary { "What is new" } p class="notes" { (r.notes) } } }
                    }
                    td { (date(r.published_at)) }
                    td { @for d in &r.downloads {
                        p {
                            a class="button" href=(d.url) aria-label={"Download " (r.version) " for " (d.platform)} { "Download for " (d.platform) }
                            br;
                            small { (d.name) ", " (size(d.size)) ", SHA-256 " code { (d.sha256) } }
                        }
                    } }
                } } }
            } }
            p { small { "Download links work for an hour; reload the page for fresh ones." } }
        }
        @if let Some(renew) = &c.renewal {
            p class="renew" {
                "Renew to get " strong { (renew.version) } ", published " (date(renew.published_at))
                @if renew.count > 1 {
                    " (and " (renew.count - 1) " more " @if renew.count == 2 { "release" } @else { "releases" } ")"
                }
                "."
            }
        }
    }
}
