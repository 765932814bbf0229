//! The on-disk lease cache: the signed token, the trusted-time high-water mark, the clock
//! offset learned from the server, and the last definite verdict.

use serde::{Deserialize, Serialize};

/// Current format version.
const VERSION: u32 = 1;

/// The cache file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheFile {
    /// Format version.
    pub version: u32,
    /// The last signed lease.
    pub token: Option<String>,
    /// The highest trusted Unix time seen (local clock, token `iat`, server `Date`).
    pub trusted_time: i64,
    /// Seconds to add to the local clock, learned from the server when the local clock was
    /// found wrong (0 when it is right).
    #[serde(default)]
    pub clock_offset: i64,
    /// The last definite verdict from the server (`LICENSE_REVOKED`, …), if any.
    pub verdict: Option<String>,
}

impl CacheFile {
    /// A new cache for a lease.
    pub fn new(token: String, trusted_time: i64, clock_offset: i64) -> Self {
        Self {
            version: VERSION,
            token: Some(token),
            trusted_time,
            clock_offset,
            verdict: None,
        }
    }

    /// Parses the stored bytes; a description of the problem if they are not a cache.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let file: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if file.version != VERSION {
            return Err(format!("unknown cache version {}", file.version));
        }
        Ok(file)
    }

    /// Serialises for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
