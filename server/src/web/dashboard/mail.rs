//! The dashboard's email pages: messages the outbox gave up on, and sending one again.

use maud::{Markup, html};
use warp::reply::Response;

use super::nav;
use crate::commerce::undelivered;
use crate::platform::error::Result;
use crate::store::{OutboxRow, SessionRow};
use crate::web::session::{NoFields, Outcome, Signed};
use crate::web::shell::{date_time, layout, redirect};

/// Failed messages listed at most.
const LISTED: i64 = 200;

/// `GET /admin/emails`
pub(super) async fn failed(s: Outcome<Signed>) -> Outcome<Markup> {
    let s = s?;
    let rows = undelivered::failed(&s.app.store, LISTED).await?;
    Ok(failed_page(&s.session, &rows))
}

/// `POST /admin/emails/{id}/retry`
pub(super) async fn retry(id: String, post: Result<Signed<NoFields>>) -> Result<Response> {
    let s = post?;
    undelivered::resend(&s.app.store, &s.app.mail, &id, s.app.now()).await?;
    Ok(redirect("/admin/emails"))
}

fn failed_page(s: &SessionRow, rows: &[OutboxRow]) -> Markup {
    layout(
        "Undelivered emails",
        Some(nav(s, "emails")),
        html! {
            p { "The mail server refused these messages until their retries ran out. Fix the address or the mail settings, then send them again." }
            @if rows.is_empty() { p class="ok" { "Every email was delivered or is still being tried." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Given up" } th scope="col" { "To" } th scope="col" { "Subject" } th scope="col" { "Attempts" } th scope="col" { "Last error" } th scope="col" { span class="visually-hidden" { "Action" } } } }
                    tbody { @for m in rows { tr {
                        td { (date_time(m.failed_at.unwrap_or(m.created_at))) }
                        td { (m.recipient) }
                        td { (m.subject) }
                        td { (m.attempts) }
                        td { (m.last_error.as_deref().unwrap_or("")) }
                        td { form method="post" action={"/admin/emails/" (m.id) "/retry"} class="inline" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            button type="submit" { "Send again" }
                        } }
                    } } }
                } }
            }
        },
    )
}
