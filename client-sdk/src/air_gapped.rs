//! Documents of air-gapped activation as the app hands them to the user: the activation
//! request it makes and the deactivation proof it signs (see
//! [`crate::Client::offline_activation_request`]).

use std::path::Path;

use licet_proto::offline::{Document, encode_text};

use crate::error::{Error, Result};

/// An activation request or a deactivation proof, ready to carry to a connected device: as
/// a text block a person can copy or type ([`OfflineDocument::text`]) or as a file
/// ([`OfflineDocument::write_to`]; the file holds the same text).
#[derive(Clone, PartialEq, Eq)]
pub struct OfflineDocument {
    document: Document,
    token: String,
}

impl std::fmt::Debug for OfflineDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A request carries the license key: keep it out of logs.
        f.debug_struct("OfflineDocument")
            .field("document", &self.document)
            .finish_non_exhaustive()
    }
}

impl OfflineDocument {
    pub(crate) fn new(document: Document, token: String) -> Self {
        Self { document, token }
    }

    /// Which document this is.
    pub fn document(&self) -> Document {
        self.document
    }

    /// The text block: a title line, then base32 groups with a checksum.
    pub fn text(&self) -> String {
        encode_text(self.document, &self.token)
    }

    /// The bare token (a compact JWS), for apps that carry it themselves.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The usual file name (`activation-request.txt`, `deactivation-proof.txt`).
    pub fn file_name(&self) -> &'static str {
        self.document.file_name()
    }

    /// Writes the text block to `path`.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.text())
            .map_err(|e| Error::Storage(format!("writing {}: {e}", path.display())))
    }
}
