//! Air-gapped activation for the signed-in customer, on one of their purchases: activate an
//! offline machine from its request, free its seat with its deactivation proof. Only the
//! purchase's own licenses can be touched.

use maud::{Markup, html};
use warp::multipart::FormData;

use super::nav;
use crate::auth::Actor;
use crate::commerce::customers;
use crate::licensing::Caller;
use crate::licensing::offline::{self, Scope};
use crate::web::air_gapped;
use crate::web::session::{Outcome, Signed};
use crate::web::shell::layout;

/// What both forms act on: the document sent, the licenses of the customer's own purchase
/// `id` (the only ones it may touch), and the customer as the audit log names them.
struct Sent {
    document: String,
    licenses: Vec<String>,
    actor: String,
}

async fn sent(s: &Signed, id: &str, form: FormData) -> Outcome<Sent> {
    let purchase = customers::purchase(&s.app, &s.session.email, id).await?;
    Ok(Sent {
        document: air_gapped::read_document(form, &s.session.csrf).await?,
        licenses: purchase.licenses.iter().map(|l| l.id.clone()).collect(),
        actor: Actor::Customer(&s.session.email).audit_name().into_owned(),
    })
}

/// `POST /portal/purchases/{id}/offline/activate`
pub(super) async fn activate(
    id: String,
    s: Outcome<Signed>,
    caller: Caller,
    form: FormData,
) -> Outcome<Markup> {
    let s = s?;
    let Sent {
        document,
        licenses,
        actor,
    } = sent(&s, &id, form).await?;
    let answer = offline::activate(
        &s.app,
        &caller,
        Scope::Licenses(&licenses),
        &actor,
        &document,
    )
    .await?;
    Ok(layout(
        "Activation response",
        Some(nav(&s.session)),
        html! {
            (air_gapped::response_section(&answer))
            p { a href={"/portal/purchases/" (id)} { "Back to the purchase" } }
        },
    ))
}

/// `POST /portal/purchases/{id}/offline/deactivate`
pub(super) async fn deactivate(
    id: String,
    s: Outcome<Signed>,
    caller: Caller,
    form: FormData,
) -> Outcome<Markup> {
    let s = s?;
    let Sent {
        document,
        licenses,
        actor,
    } = sent(&s, &id, form).await?;
    let answer = offline::deactivate(
        &s.app,
        &caller,
        Scope::Licenses(&licenses),
        &actor,
        &document,
    )
    .await?;
    Ok(layout(
        "Offline machine",
        Some(nav(&s.session)),
        html! {
            (air_gapped::proof_section(&answer))
            p { a href={"/portal/purchases/" (id)} { "Back to the purchase" } }
        },
    ))
}
