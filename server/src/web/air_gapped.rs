//! Air-gapped activation in the portal and the dashboard: the two forms (activate an offline
//! machine from its request; free its seat with its deactivation proof), each taking the
//! document pasted or as a file, and the pages that answer them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use licet_proto::offline::{
    Document, MAX_TEXT_LEN, OfflineActivateResponse, OfflineDeactivateResponse,
};
use maud::{Markup, html};
use warp::multipart::FormData;

use crate::platform::error::{Error, Result};
use crate::web::uploads;

/// Room for the form: the CSRF token, the pasted text and the file.
pub(crate) const FORM_BYTES: u64 = 3 * MAX_TEXT_LEN as u64;

/// The document of a posted form (CSRF token first, then `text`, then an optional `file`):
/// the file's content when one was chosen, else the pasted text.
pub(crate) async fn read_document(mut form: FormData, csrf: &str) -> Result<String> {
    let mut csrf_ok = false;
    let mut text = String::new();
    let mut file = String::new();
    while let Some(part) = uploads::next_part(&mut form).await? {
        match part.name() {
            "csrf" if !csrf_ok => {
                uploads::check_csrf(part, csrf).await?;
                csrf_ok = true;
            }
            "text" if csrf_ok => text = uploads::text(part, MAX_TEXT_LEN, "the text").await?,
            "file" if csrf_ok => file = uploads::text(part, MAX_TEXT_LEN, "the file").await?,
            _ => {
                return Err(Error::invalid(
                    "invalid form: expected the form token first",
                ));
            }
        }
    }
    if !csrf_ok {
        return Err(Error::invalid("invalid form: the form token is missing"));
    }
    let document = if file.trim().is_empty() { text } else { file };
    if document.trim().is_empty() {
        return Err(Error::invalid(
            "paste the text the offline machine shows, or choose its file",
        ));
    }
    Ok(document)
}

/// The two forms, posting to `{base}/activate` and `{base}/deactivate`.
pub(crate) fn forms(base: &str, csrf: &str) -> Markup {
    html! {
        section {
            h2 { "Offline machines" }
            p { "For a computer that never goes online: the app shows an activation request (a block of text, also saved as a file). Paste it or choose its file here, then carry the answer back to that computer." }
            (form(base, "activate", csrf, "Activate an offline machine", "Activation request", "activation request", "Activate"))
            (form(base, "deactivate", csrf, "Free an offline machine's seat", "Deactivation proof", "deactivation proof", "Free the seat"))
        }
    }
}

fn form(
    base: &str,
    action: &str,
    csrf: &str,
    title: &str,
    label: &str,
    what: &str,
    button: &str,
) -> Markup {
    let id = format!("offline-{action}");
    html! {
        h3 { (title) }
        form method="post" action={(base) "/" (action)} enctype="multipart/form-data" {
            input type="hidden" name="csrf" value=(csrf);
            label for={(id) "-text"} { (label) " (paste it)" }
            textarea id={(id) "-text"} name="text" rows="6" spellcheck="false" autocomplete="off" {}
            label for={(id) "-file"} { "or choose the " (what) " file" }
            input id={(id) "-file"} type="file" name="file" accept=".txt,text/plain";
            button type="submit" class="primary" { (button) }
        }
    }
}

/// The answer to an activation request: the response to carry back, as text and as a file.
pub(crate) fn response_section(answer: &OfflineActivateResponse) -> Markup {
    let file = format!(
        "data:text/plain;base64,{}",
        STANDARD.encode(answer.response.as_bytes())
    );
    html! {
        p role="status" { "The machine " strong { (answer.activation.name.as_deref().unwrap_or("unnamed")) } " has a seat of the license for " (answer.license.product) ". Carry this activation response back to it: type or paste the text into the app, or copy the file over." }
        pre id="offline-response" class="notes" { (answer.response) }
        p { a href=(file) download=(Document::Response.file_name()) { "Download the response as a file" } }
    }
}

/// The answer to a deactivation proof.
pub(crate) fn proof_section(answer: &OfflineDeactivateResponse) -> Markup {
    html! {
        @if answer.deactivated {
            p role="status" id="offline-deactivated" { "The offline machine's seat is free again." }
        } @else {
            p role="status" id="offline-deactivated" { "This proof was used before (or the seat was freed another way): nothing changed." }
        }
    }
}
