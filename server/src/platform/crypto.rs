//! Secrets: the master key and what is derived from it, sealing of private keys at rest,
//! random tokens and identifiers, and secret files written with mode 0600.
//!
//! The master key (32 random bytes) lives in `<data-dir>/master.key` (mode 0600) or comes
//! from `LICET_MASTER_KEY`. Every other server secret is derived from it with HKDF-SHA256
//! under a distinct label, and signing keys are stored in the database sealed with
//! XChaCha20-Poly1305 under a derived key. Replicas that share a database therefore need
//! exactly one shared secret: the master key.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::platform::error::{Error, Result};

/// The server's root secret.
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// File name of the master key inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

impl MasterKey {
    /// Parses the text form (base64url of 32 bytes).
    pub fn from_text(text: &str) -> Result<Self> {
        let raw = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(text.trim())
                .map_err(|_| Error::Internal("master key is not base64url".into()))?,
        );
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("master key must be 32 bytes".into()))?;
        Ok(Self(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self(random_bytes())
    }

    /// The text form.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(URL_SAFE_NO_PAD.encode(self.0))
    }

    /// Uses `explicit` if given, else reads `<data_dir>/master.key`, creating it (0600) on
    /// first start. Returns the key and whether it was created now.
    pub fn load_or_create(data_dir: &Path, explicit: Option<&str>) -> Result<(Self, bool)> {
        if let Some(text) = explicit {
            return Ok((Self::from_text(text)?, false));
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Self::from_text(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate();
                write_secret_file(&path, key.to_text().as_bytes())?;
                Ok((key, true))
            }
            Err(e) => Err(Error::Internal(format!("reading {}: {e}", path.display()))),
        }
    }

    /// A 32-byte subkey for one purpose.
    pub fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(b"licet"), &self.0);
        let mut out = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
        let _ = hk.expand(label.as_bytes(), out.as_mut());
        out
    }

    /// A value that proves which master key a replica holds without revealing it.
    pub fn fingerprint(&self) -> String {
        hex(&self.derive("master-key-fingerprint v1")[..16])
    }

    /// Encrypts `plaintext` (e.g. a private key) for storage: base64url(nonce ‖ ciphertext).
    pub fn seal(&self, plaintext: &[u8]) -> Result<String> {
        let cipher = XChaCha20Poly1305::new(self.derive("seal v1").as_ref().into());
        let nonce_bytes: [u8; 24] = random_bytes();
        let nonce = XNonce::from_slice(&nonce_bytes);
        let ct = cipher
            .encrypt(nonce, plaintext)
            .map_err(|_| Error::Internal("sealing failed".into()))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Reverses [`MasterKey::seal`]; fails if the data was sealed under another master key.
    pub fn open(&self, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        let raw = URL_SAFE_NO_PAD
            .decode(sealed)
            .map_err(|_| Error::Internal("sealed value is not base64url".into()))?;
        if raw.len() < 24 {
            return Err(Error::Internal("sealed value too short".into()));
        }
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new(self.derive("seal v1").as_ref().into());
        cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map(Zeroizing::new)
            .map_err(|_| Error::Internal("cannot unseal: wrong master key?".into()))
    }
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS RNG failing is unrecoverable for a server that mints secrets.
    if let Err(e) = getrandom::fill(&mut buf) {
        panic!("operating system random number generator failed: {e}");
    }
    buf
}

/// A 256-bit random secret with a readable prefix, e.g. `lct_admin_…`.
pub fn random_secret(prefix: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    ))
}

/// An identifier with a type prefix, e.g. `lic_019ac3f2d1e8a4…`: 48 bits of Unix time in
/// milliseconds, then 80 random bits, as 32 hex digits.
///
/// Ids made later sort after earlier ones (to the millisecond), so new rows land at the
/// right edge of every index keyed on them (the primary key, the audit log's subject)
/// instead of on a random page: inserts touch a few hot pages rather than the whole tree,
/// on SQLite and on PostgreSQL alike. The random part keeps ids unguessable; none of them
/// is a secret (links and sessions carry their own).
pub fn new_id(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let time = (millis as u64 & 0xFFFF_FFFF_FFFF).to_be_bytes();
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&time[2..]);
    bytes[6..].copy_from_slice(&random_bytes::<10>());
    format!("{prefix}_{}", hex(&bytes))
}

/// SHA-256, lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Writes a secret file atomically with mode 0600 (never world- or group-readable, not even
/// briefly). Fails if the file exists.
pub fn write_secret_file(path: &Path, contents: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::Internal(format!("writing {}: {e}", path.display()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_unique_and_sort_by_creation_time() {
        let first = new_id("act");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let mut later: Vec<String> = (0..1000).map(|_| new_id("act")).collect();
        assert!(first.starts_with("act_") && first.len() == 4 + 32);
        assert!(first.bytes().skip(4).all(|b| b.is_ascii_hexdigit()));
        assert!(later.iter().all(|id| *id > first), "later ids sort after");
        later.sort();
        later.dedup();
        assert_eq!(later.len(), 1000, "no two ids alike");
    }

    #[test]
    fn seal_round_trips_and_other_key_cannot_open() {
        let a = MasterKey::generate();
        let b = MasterKey::generate();
        let sealed = a.seal(b"secret").expect("seal");
        assert_eq!(a.open(&sealed).expect("open").as_slice(), b"secret");
        assert!(b.open(&sealed).is_err());
    }

    #[test]
    fn master_key_text_round_trips() {
        let a = MasterKey::generate();
        let b = MasterKey::from_text(&a.to_text()).expect("parse");
        assert_eq!(a.fingerprint(), b.fingerprint());
    }
}
