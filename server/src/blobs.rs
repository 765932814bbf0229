//! Content-addressed file storage on the local disk: a file lives at
//! `<data-dir>/files/<first two hex digits>/<sha256>`. Only SHA-256 hex strings, checked
//! here, ever become paths: nothing from a request reaches the file system.

use std::path::PathBuf;

use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::crypto::{hex, new_id};
use crate::error::{Error, Result};

/// Local blob storage.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

impl BlobStore {
    /// Storage under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The path of the blob with this SHA-256, or an error if `sha256` is not 64 hex digits.
    pub fn path_of(&self, sha256: &str) -> Result<PathBuf> {
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::Internal("not a SHA-256 address".into()));
        }
        Ok(self.root.join(&sha256[..2]).join(sha256))
    }

    /// Streams bytes into storage (never the whole file in memory), hashing as it goes;
    /// returns the SHA-256 and the size. Stops with `PAYLOAD_TOO_LARGE` past `max_bytes`.
    pub async fn put<S, B, E>(&self, stream: S, max_bytes: u64) -> Result<(String, u64)>
    where
        S: Stream<Item = std::result::Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let io = |e: std::io::Error| Error::Internal(format!("storing a file: {e}"));
        tokio::fs::create_dir_all(self.root.join("tmp"))
            .await
            .map_err(io)?;
        let tmp = self.root.join("tmp").join(new_id("upload"));
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = std::pin::pin!(stream);
        let outcome: Result<()> = async {
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|e| Error::invalid(format!("the upload broke off: {e}")))?;
                let bytes = chunk.as_ref();
                size += bytes.len() as u64;
                if size > max_bytes {
                    return Err(Error::new(
                        licet_proto::ErrorCode::PayloadTooLarge,
                        "the file is too large",
                    ));
                }
                hasher.update(bytes);
                file.write_all(bytes).await.map_err(io)?;
            }
            file.sync_all().await.map_err(io)?;
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let sha256 = hex(&hasher.finalize());
        let dest = self.path_of(&sha256)?;
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        tokio::fs::rename(&tmp, &dest).await.map_err(io)?;
        Ok((sha256, size))
    }
}
