//! Content-addressed file storage: a file's address is its SHA-256. Two backends with the
//! same behaviour: a local directory (`<data-dir>/files/<first two hex digits>/<sha256>`,
//! the default) and S3-compatible object storage (`files/<sha256>` in a bucket), where a
//! download is a redirect to a presigned URL that lives for minutes. Only SHA-256 hex
//! strings, checked here, ever become paths or keys: nothing from a request reaches storage.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::platform::config::S3Config;
use crate::platform::crypto::{hex, new_id};
use crate::platform::error::{Error, Result};

/// Where a stored file can be read.
#[derive(Debug, Clone)]
pub enum Location {
    /// A local path.
    Local(PathBuf),
    /// A presigned URL to redirect the client to.
    Redirect(String),
}
#[derive(Debug, Clone)]
pub enum BlobStore {
    /// A local directory.
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3 {
        store: Arc<AmazonS3>,
        /// How long presigned download URLs live.
        presign: Duration,
    },
}

impl BlobStore {
    /// Local storage under `root`.
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Self::Local(root.into())
    }

    /// S3-compatible storage.
    pub fn s3(config: &S3Config) -> Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(config.access_key_id.expose())
            .with_secret_access_key(config.secret_access_key.expose());
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = builder
            .build()
            .map_err(|e| Error::Internal(format!("S3 storage is misconfigured: {e}")))?;
        Ok(Self::S3 {
            store: Arc::new(store),
            presign: Duration::from_secs(config.presign_secs.max(1)),
        })
    }

    fn check(sha256: &str) -> Result<()> {
        if sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(())
        } else {
            Err(Error::Internal("not a SHA-256 address".into()))
        }
    }

    /// Where the file with this SHA-256 can be read; for S3 a presigned GET URL that makes
    /// the browser save it as `content_disposition` says.
    pub async fn locate(&self, sha256: &str, content_disposition: &str) -> Result<Location> {
        Self::check(sha256)?;
        match self {
            Self::Local(root) => Ok(Location::Local(root.join(&sha256[..2]).join(sha256))),
            Self::S3 { store, presign } => {
                let options = SignedUrlOptions::new()
                    .with_query([("response-content-disposition", content_disposition)]);
                let url = store
                    .signed_url_opts(
                        http::Method::GET,
                        &ObjectPath::from(format!("files/{sha256}")),
                        *presign,
                        &options,
                    )
                    .await
                    .map_err(|e| Error::Internal(format!("presigning a download: {e}")))?;
                Ok(Location::Redirect(url.to_string()))
            }
        }
    }

    /// Streams bytes into storage (never the whole file in memory), hashing as it goes;
    /// returns the SHA-256 and the size. Stops with `PAYLOAD_TOO_LARGE` past `max_bytes`.
    pub async fn put<S, B, E>(&self, stream: S, max_bytes: u64) -> Result<(String, u64)>
    where
        S: Stream<Item = std::result::Result<B, E>>,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        match self {
            Self::Local(root) => put_local(root, stream, max_bytes).await,
            Self::S3 { store, .. } => put_s3(store, stream, max_bytes).await,
        }
    }
}

fn too_large() -> Error {
    Error::new(
        licet_proto::ErrorCode::PayloadTooLarge,
        "the file is too large",
    )
}

async fn put_local<S, B, E>(
    root: &std::path::Path,
    stream: S,
    max_bytes: u64,
) -> Result<(String, u64)>
where
    S: Stream<Item = std::result::Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let io = |e: std::io::Error| Error::Internal(format!("storing a file: {e}"));
    tokio::fs::create_dir_all(root.join("tmp"))
        .await
        .map_err(io)?;
    let tmp = root.join("tmp").join(new_id("upload"));
    let mut file = tokio::fs::File::create(&tmp).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = std::pin::pin!(stream);
    let outcome: Result<()> = async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::invalid(format!("the upload broke off: {e}")))?;
            let bytes = chunk.as_ref();
            size += bytes.len() as u64;
            if size > max_bytes {
                return Err(too_large());
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
    let dest = root.join(&sha256[..2]).join(&sha256);
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    tokio::fs::rename(&tmp, &dest).await.map_err(io)?;
    Ok((sha256, size))
}

async fn put_s3<S, B, E>(store: &AmazonS3, stream: S, max_bytes: u64) -> Result<(String, u64)>
where
    S: Stream<Item = std::result::Result<B, E>>,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let s3 = |e: object_store::Error| Error::Internal(format!("storing a file in S3: {e}"));
    let tmp = ObjectPath::from(format!("tmp/{}", new_id("upload")));
    let upload = store.put_multipart(&tmp).await.map_err(s3)?;
    let mut writer = WriteMultipart::new(upload);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut stream = std::pin::pin!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(Error::invalid(format!("the upload broke off: {e}")));
            }
        };
        let bytes = chunk.as_ref();
        size += bytes.len() as u64;
        if size > max_bytes {
            let _ = writer.abort().await;
            return Err(too_large());
        }
        hasher.update(bytes);
        writer.wait_for_capacity(4).await.map_err(s3)?;
        writer.write(bytes);
    }
    writer.finish().await.map_err(s3)?;
    let sha256 = hex(&hasher.finalize());
    store
        .rename(&tmp, &ObjectPath::from(format!("files/{sha256}")))
        .await
        .map_err(s3)?;
    Ok((sha256, size))
}
