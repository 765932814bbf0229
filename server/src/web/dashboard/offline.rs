//! Air-gapped activation by the vendor, from a license's page: activate an offline machine
//! from its request, free its seat with its deactivation proof (for a customer who emails
//! them in).

use maud::{Markup, html};
use warp::multipart::FormData;

use super::nav;
use crate::auth::Actor;
use crate::licensing::Caller;
use crate::licensing::offline::{self, Scope};
use crate::web::air_gapped;
use crate::web::session::{Outcome, Signed};
use crate::web::shell::layout;

/// `POST /admin/licenses/{id}/offline/activate`
pub(super) async fn activate(
    id: String,
    s: Outcome<Signed>,
    caller: Caller,
    form: FormData,
) -> Outcome<Markup> {
    let s = s?;
    let document = air_gapped::read_document(form, &s.session.csrf).await?;
    let actor = Actor::Admin(s.admin()?).audit_name().into_owned();
    let answer = offline::activate(&s.app, &caller, Scope::Any, &actor, &document).await?;
    Ok(layout(
        "Activation response",
        Some(nav(&s.session, "licenses")),
        html! {
            (air_gapped::response_section(&answer))
            p { a href={"/admin/licenses/" (answer.license.id)} { "Back to the license" } }
            @if answer.license.id != id { p { "(The request was for another license than the page it was sent from.)" } }
        },
    ))
}

/// `POST /admin/licenses/{id}/offline/deactivate`
pub(super) async fn deactivate(
    id: String,
    s: Outcome<Signed>,
    caller: Caller,
    form: FormData,
) -> Outcome<Markup> {
    let s = s?;
    let document = air_gapped::read_document(form, &s.session.csrf).await?;
    let actor = Actor::Admin(s.admin()?).audit_name().into_owned();
    let answer = offline::deactivate(&s.app, &caller, Scope::Any, &actor, &document).await?;
    Ok(layout(
        "Offline machine",
        Some(nav(&s.session, "licenses")),
        html! {
            (air_gapped::proof_section(&answer))
            p { a href={"/admin/licenses/" (answer.license_id)} { "Back to the license" } }
            @if answer.license_id != id { p { "(The proof was for another license than the page it was sent from.)" } }
        },
    ))
}
