//! The dashboard's email pages: messages the outbox gave up on, and sending one again.

use std::sync::Arc;

use maud::{Markup, html};
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use super::{CsrfForm, Ctx, act, ctx, layout, nav, redirect, view};
use crate::api::body;
use crate::app::App;
use crate::platform::error::{Error, Result};
use crate::store::{OutboxRow, SessionRow};
use crate::web::shell::date_time;

/// Failed messages listed at most.
const LISTED: i64 = 200;

/// The email routes.
pub(super) fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    // GET /admin/emails: messages given up after their retry schedule.
    let failed = warp::path!("admin" / "emails")
        .and(warp::get())
        .and(ctx(app.clone()))
        .then(|cx: Ctx| async move {
            view(cx, |app, s| async move {
                let rows = app.store.failed_mail(LISTED).await?;
                Ok(failed_page(&s, &rows))
            })
            .await
        });
    // POST /admin/emails/{id}/retry: send a failed message again, with a fresh schedule.
    let retry = warp::path!("admin" / "emails" / String / "retry")
        .and(warp::post())
        .and(ctx(app))
        .and(body::form::<CsrfForm>(limit))
        .then(|id: String, cx: Ctx, form: Result<CsrfForm>| async move {
            act(cx, form, CsrfForm::csrf, |app, _, _| async move {
                if !app.store.retry_mail(&id, app.now()).await? {
                    return Err(Error::new(
                        licet_proto::ErrorCode::NotFound,
                        "no failed message with this id",
                    ));
                }
                app.mail.wake();
                Ok(redirect("/admin/emails"))
            })
            .await
        });
    failed.or(retry).unify().boxed()
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
