//! A verified, resumable download: bytes go to a `.part` file beside the destination, a
//! dropped connection resumes with `Range`, and only a file whose size and SHA-256 are the
//! expected ones is renamed into place.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::client::refused;
use crate::error::{Error, Result};
use crate::transport::Transport;

/// Failed attempts in a row (none of which brought a byte) before a download gives up.
const MAX_FAILURES: u32 = 4;
/// The wait before the first retry; it doubles with each failure in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// What to download.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// An http(s) URL.
    pub url: &'a str,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, 64 lower-case hex digits.
    pub sha256: &'a str,
}

/// How an attempt ended, when it did not bring the whole file.
enum Failure {
    /// The network failed, or the server answered with something to start over from:
    /// try again (from where the `.part` file ends).
    Retry(Error),
    /// Trying again will not help; the `.part` file stays for a later resume.
    Stop(Error),
    /// The bytes are not the expected ones: the `.part` file is removed.
    Reject(String),
}

/// The partial file and what is known of its bytes.
struct Part {
    path: PathBuf,
    file: File,
    hasher: Sha256,
    len: u64,
}

impl Part {
    /// Opens (or creates) the partial file and hashes what it already holds; a file longer
    /// than the target starts over.
    fn open(path: PathBuf, size: u64) -> Result<Self> {
        let storage = |e: std::io::Error| Error::Storage(format!("{}: {e}", path.display()));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(storage)?;
        let len = file.metadata().map_err(storage)?.len();
        let mut part = Self {
            len,
            file,
            hasher: Sha256::new(),
            path,
        };
        if part.len > size {
            part.restart()?;
            return Ok(part);
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = 0u64;
        loop {
            let n = part.file.read(&mut buf).map_err(|e| part.storage(e))?;
            if n == 0 {
                break;
            }
            part.hasher.update(buf.get(..n).unwrap_or_default());
            read += n as u64;
        }
        // What was read is what the hash covers (the file may have changed since `len`).
        part.len = read;
        Ok(part)
    }

    /// Empties the file: the next attempt starts from the first byte.
    fn restart(&mut self) -> Result<()> {
        self.file
            .set_len(0)
            .and_then(|()| self.file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| self.storage(e))?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all(bytes).map_err(|e| self.storage(e))?;
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    fn storage(&self, e: std::io::Error) -> Error {
        Error::Storage(format!("{}: {e}", self.path.display()))
    }
}

/// Downloads `target` to `path` (see [`crate::Update::download_to`]). A resumed download
/// whose whole file is refused is tried once more from the first byte, in case only the
/// partial file was bad.
pub(crate) async fn fetch(
    transport: &Transport,
    target: Target<'_>,
    path: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<()> {
    let part_path = part_path(path, target.sha256);
    let part = Part::open(part_path.clone(), target.size)?;
    let resumed = part.len > 0;
    match fetch_into(transport, target, part, path, progress).await {
        Err(Error::UpdateVerification { .. }) if resumed => {
            let part = Part::open(part_path, target.size)?;
            fetch_into(transport, target, part, path, progress).await
        }
        outcome => outcome,
    }
}

/// Completes `part`, verifies it and moves it to `path`; removes it if its bytes are not
/// the expected ones.
async fn fetch_into(
    transport: &Transport,
    target: Target<'_>,
    mut part: Part,
    path: &Path,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<()> {
    let part_path = part.path.clone();
    let outcome = match complete(transport, target, &mut part, progress).await {
        Ok(()) => verify_and_place(part, target, path),
        Err(Failure::Reject(reason)) => {
            drop(part);
            Err(rejected(reason))
        }
        Err(Failure::Retry(e) | Failure::Stop(e)) => Err(e),
    };
    if let Err(Error::UpdateVerification { .. }) = &outcome {
        // Bytes that are not the vendor's are never kept, not even to resume.
        let _ = std::fs::remove_file(&part_path);
    }
    outcome
}

/// `<path>.<first 16 hex digits of the SHA-256>.part`: one partial file per release, so a
/// newer release never resumes an older one's bytes.
fn part_path(path: &Path, sha256: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.part", sha256.get(..16).unwrap_or(sha256)));
    PathBuf::from(name)
}

/// Brings the partial file to the full size, retrying (with `Range`) after failures.
async fn complete(
    transport: &Transport,
    target: Target<'_>,
    part: &mut Part,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> std::result::Result<(), Failure> {
    let mut failures = 0u32;
    if part.len > 0 {
        progress(part.len, target.size);
    }
    while part.len < target.size {
        let before = part.len;
        match attempt(transport, target, part, progress).await {
            Ok(()) => {}
            Err(Failure::Retry(e)) => {
                failures = if part.len > before { 1 } else { failures + 1 };
                if failures > MAX_FAILURES {
                    return Err(Failure::Stop(e));
                }
                tokio::time::sleep(FIRST_BACKOFF * 2u32.pow(failures - 1)).await;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}

/// One request: from the end of the partial file to the end of the target, or as far as
/// the connection lasts.
async fn attempt(
    transport: &Transport,
    target: Target<'_>,
    part: &mut Part,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> std::result::Result<(), Failure> {
    let stop = |e: Error| match e {
        Error::Network(_) => Failure::Retry(e),
        other => Failure::Stop(other),
    };
    let mut res = transport
        .download(target.url, part.len)
        .await
        .map_err(stop)?;
    match res.status() {
        StatusCode::OK => {
            // The whole file (a server without ranges): from the first byte again.
            if let Some(len) = res.content_length()
                && len != target.size
            {
                return Err(Failure::Reject(format!(
                    "the server sent {len} bytes, the manifest says {}",
                    target.size
                )));
            }
            part.restart().map_err(Failure::Stop)?;
        }
        StatusCode::PARTIAL_CONTENT => match content_range(&res) {
            Some((start, total)) if start == part.len && total.is_none_or(|t| t == target.size) => {
            }
            Some((_, Some(total))) if total != target.size => {
                return Err(Failure::Reject(format!(
                    "the server has {total} bytes, the manifest says {}",
                    target.size
                )));
            }
            // Not the range asked for: start over.
            _ => {
                part.restart().map_err(Failure::Stop)?;
                return Err(Failure::Retry(Error::Network(
                    "the server sent another range than asked for".into(),
                )));
            }
        },
        StatusCode::RANGE_NOT_SATISFIABLE => {
            part.restart().map_err(Failure::Stop)?;
            return Err(Failure::Retry(Error::Network(
                "the partial download was longer than the file".into(),
            )));
        }
        _ => return Err(stop(transport.error_of(res).await)),
    }
    while let Some(chunk) = transport.next_chunk(&mut res).await.map_err(stop)? {
        if part.len + chunk.len() as u64 > target.size {
            return Err(Failure::Reject(format!(
                "the server sent more than the {} bytes the manifest says",
                target.size
            )));
        }
        part.append(&chunk).map_err(Failure::Stop)?;
        progress(part.len, target.size);
    }
    if part.len < target.size {
        return Err(Failure::Retry(Error::Network(format!(
            "the connection closed after {} of {} bytes",
            part.len, target.size
        ))));
    }
    Ok(())
}

/// `Content-Range: bytes <start>-<end>/<total or *>`: the start and the total.
fn content_range(res: &reqwest::Response) -> Option<(u64, Option<u64>)> {
    let value = res
        .headers()
        .get(reqwest::header::CONTENT_RANGE)?
        .to_str()
        .ok()?;
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

/// Checks the whole file's size and SHA-256, then moves it into place.
fn verify_and_place(part: Part, target: Target<'_>, path: &Path) -> Result<()> {
    let Part {
        path: part_path,
        file,
        hasher,
        len,
    } = part;
    if len != target.size {
        return Err(rejected(format!(
            "{len} bytes arrived, the manifest says {}",
            target.size
        )));
    }
    if hex(&hasher.finalize()) != target.sha256 {
        return Err(rejected(
            "the bytes received do not have the SHA-256 the vendor published".into(),
        ));
    }
    file.sync_all()
        .map_err(|e| Error::Storage(format!("{}: {e}", part_path.display())))?;
    drop(file);
    std::fs::rename(&part_path, path).map_err(|e| {
        Error::Storage(format!(
            "moving {} to {}: {e}",
            part_path.display(),
            path.display()
        ))
    })
}

/// A refused download (the caller removes the partial file).
fn rejected(reason: String) -> Error {
    refused(format!("the downloaded file was refused: {reason}"))
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_are_named_for_their_release() {
        let sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            part_path(Path::new("/tmp/App.AppImage"), sha),
            PathBuf::from("/tmp/App.AppImage.0123456789abcdef.part")
        );
    }

    #[test]
    fn a_partial_file_resumes_with_the_hash_of_what_it_holds() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("x.part");
        std::fs::write(&path, b"hello ").expect("write");
        let mut part = Part::open(path.clone(), 11).expect("open");
        assert_eq!(part.len, 6);
        part.append(b"world").expect("append");
        assert_eq!(
            hex(&part.hasher.clone().finalize()),
            hex(&Sha256::digest(b"hello world"))
        );
        assert_eq!(std::fs::read(&path).expect("read"), b"hello world");
        // Longer than the file it is for: it starts over.
        let part = Part::open(path, 3).expect("open");
        assert_eq!(part.len, 0);
    }
}
