//! Trials: who is trying which product, where each trial stands, and how many became
//! customers.

use licet_proto::trials::{Trial, TrialState, TrialStats};
use maud::{Markup, html};

use super::filters::{PAGE_SIZE, TrialQuery, page_no};
use super::nav;
use crate::catalogue::trials::{list_trials, trial_stats};
use crate::platform::error::Result;
use crate::web::session::{Outcome, Signed};
use crate::web::shell::{date, layout, status_badge};

/// `GET /admin/trials?product=&state=&page=`
pub(super) async fn list(s: Outcome<Signed>, q: Result<TrialQuery>) -> Outcome<Markup> {
    let s = s?;
    let q = q?;
    let now = s.app.now();
    let mut found = list_trials(&s.app, q.filter(now)?).await?;
    let more = found.len() > PAGE_SIZE as usize;
    found.truncate(PAGE_SIZE as usize);
    let stats = trial_stats(&s.app, now).await?;
    let page_no = page_no(q.page);
    let current = q.state.as_deref().and_then(TrialState::parse);
    let tab = |state: Option<TrialState>, label: &str| {
        html! {
            @if state == current { strong aria-current="true" { (label) } }
            @else { a href=(q.state_link(state)) { (label) } }
            " "
        }
    };
    Ok(layout(
        "Trials",
        Some(nav(&s.session, "trials")),
        html! {
            section {
                h2 { "By product" }
                (stats_table(&stats))
            }
            p {
                (tab(None, "All"))
                (tab(Some(TrialState::Active), "Active"))
                (tab(Some(TrialState::Expired), "Expired"))
                (tab(Some(TrialState::Converted), "Converted"))
            }
            @if found.is_empty() {
                p { "No trials here yet. A product offers one when its trial length is set; apps start it with Client::start_trial." }
            } @else {
                div class="scroll" { table {
                    thead { tr {
                        th scope="col" { "Product" } th scope="col" { "Machine" } th scope="col" { "State" }
                        th scope="col" { "Started" } th scope="col" { "Ends" } th scope="col" { "License" }
                    } }
                    tbody { @for t in &found { (row(t)) } }
                } }
            }
            p {
                @if page_no > 0 { a href=(q.page_link(page_no - 1)) { "← Newer" } " " }
                @if more { a href=(q.page_link(page_no + 1)) { "Older →" } }
            }
        },
    ))
}

fn row(t: &Trial) -> Markup {
    html! {
        tr {
            td { (t.product) }
            td { (t.name.as_deref().unwrap_or("unnamed")) @if let Some(p) = &t.platform { " · " (p) } }
            td { (status_badge(&t.state.as_str().to_uppercase())) }
            td { (date(t.started_at)) }
            td { (date(t.ends_at)) }
            td { @if let Some(id) = &t.converted_license_id { a href={"/admin/licenses/" (id)} { "Converted" } } }
        }
    }
}

/// Trials started, running, ended and converted per product, with the conversion rate.
pub(super) fn stats_table(stats: &[TrialStats]) -> Markup {
    html! {
        @if stats.is_empty() {
            p { "No trials started yet." }
        } @else {
            div class="scroll" { table {
                thead { tr {
                    th scope="col" { "Product" } th scope="col" { "Started" } th scope="col" { "Active" }
                    th scope="col" { "Expired" } th scope="col" { "Converted" } th scope="col" { "Conversion" }
                } }
                tbody { @for st in stats {
                    tr {
                        td { (st.product) } td { (st.started) } td { (st.active) } td { (st.expired) }
                        td { (st.converted) }
                        td class="conversion" { (rate(st)) }
                    }
                } }
            } }
        }
    }
}

/// The conversion rate as a person reads it (`25%`, or `–` before any trial ended).
fn rate(st: &TrialStats) -> String {
    st.conversion_rate()
        .map_or_else(|| "–".to_owned(), |r| format!("{r:.0}%"))
}
