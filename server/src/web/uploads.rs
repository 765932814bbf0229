//! Reading the dashboard's file uploads (`multipart/form-data`) part by part, so a file
//! streams into storage without being held in memory. An upload form puts its CSRF token
//! first and its file last: the token is checked before any byte is stored, and the small
//! fields in between are read whole.

use bytes::{Buf, Bytes};
use futures_util::{Stream, StreamExt, TryStreamExt};
use warp::multipart::{FormData, Part};

use crate::auth::sessions;
use crate::platform::error::{Error, Result};

/// Room for an upload form's fields besides its file, in bytes.
pub(crate) const FORM_OVERHEAD_BYTES: u64 = 64 * 1024;

/// The form's next part, or `None` at its end.
pub(crate) async fn next_part(form: &mut FormData) -> Result<Option<Part>> {
    form.try_next().await.map_err(invalid)
}

/// Checks the CSRF part (the form's first) against the session's token.
pub(crate) async fn check_csrf(part: Part, expected: &str) -> Result<()> {
    let token = text(part, 200, "the form token").await?;
    sessions::check_csrf(expected, &token)
}

/// A small text field, whole, refused beyond `max` bytes; line ends as `\n`.
pub(crate) async fn text(part: Part, max: usize, what: &str) -> Result<String> {
    let mut value = Vec::new();
    let mut stream = part.stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(invalid)?;
        value.extend_from_slice(chunk.chunk());
        if value.len() > max {
            return Err(Error::invalid(format!(
                "invalid upload: {what} is longer than {max} bytes"
            )));
        }
    }
    let text = String::from_utf8(value)
        .map_err(|_| Error::invalid(format!("invalid upload: {what} is not text")))?;
    Ok(text.replace("\r\n", "\n"))
}

/// The name of an uploaded file without any folder a browser put in front, or "choose a
/// file" when none was chosen (browsers send an empty file part then).
pub(crate) fn file_name(part: &Part) -> Result<String> {
    part.filename()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid("choose a file to upload"))
}

/// The file's bytes as they arrive.
pub(crate) fn bytes(part: Part) -> impl Stream<Item = std::result::Result<Bytes, warp::Error>> {
    part.stream()
        .map_ok(|mut buf| buf.copy_to_bytes(buf.remaining()))
}

fn invalid(e: warp::Error) -> Error {
    Error::invalid(format!("invalid upload: {e}"))
}
