//! Binding the stored state to this machine and product, so that edits are detected.
//!
//! The lease cache carries an HMAC-SHA256 over its content, the product and the fingerprint.
//! Its key is one of:
//!
//! - [`SealKind::Keyring`]: 32 random bytes kept in the **anchor**, a second OS-keyring entry
//!   next to the license key (see [`crate::storage::Storage::load_anchor`]). The anchor also
//!   remembers the trusted time and the lease floor of the last online answer, so that a whole
//!   cache file restored from a backup is detected too.
//! - [`SealKind::Machine`] where no keyring answers: derived from the raw machine id (which
//!   never leaves the machine), the fingerprint in use and the product, under a label of its
//!   own (the fingerprint's derivation uses another, so neither value tells anything about the
//!   other).
//!
//! What this stops: casual edits of the JSON file (lowering `trusted_time`, removing a
//! verdict, swapping the token), and a file copied to another machine or product. What it
//! cannot stop: a local attacker who reads the keyring, or who derives the machine key from
//! the machine id and this open-source derivation, or who runs the app under a debugger.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Which key sealed a cache file (itself part of the sealed content).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SealKind {
    /// The random secret of the keyring anchor.
    Keyring,
    /// The key derived from the machine id, fingerprint and product.
    Machine,
}

/// A key that seals the cache. Its `Debug` never shows the key.
#[derive(Clone)]
pub(crate) struct SealKey {
    pub kind: SealKind,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl SealKey {
    /// The machine key of `product` for `fingerprint`, from the raw machine id when the
    /// operating system has one. Without a machine id (a container with a fingerprint
    /// override) every input is public, and the MAC only stops casual edits.
    pub fn for_machine(product: &str, fingerprint: &str, machine_id: Option<&str>) -> Self {
        let mut mac = hmac_with(format!("licet lease-cache seal v1|{product}").as_bytes());
        update_framed(&mut mac, machine_id.map_or("", str::trim).as_bytes());
        update_framed(&mut mac, fingerprint.as_bytes());
        Self {
            kind: SealKind::Machine,
            key: Zeroizing::new(mac.finalize().into_bytes().into()),
        }
    }

    /// A fresh random key for a new anchor; `None` if the OS has no randomness to give.
    pub fn random() -> Option<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).ok()?;
        Some(Self {
            kind: SealKind::Keyring,
            key,
        })
    }

    /// The tag of `content` stored for `product` on machine `fingerprint`.
    pub fn tag(&self, product: &str, fingerprint: &str, content: &[u8]) -> String {
        B64.encode(
            self.mac(product, fingerprint, content)
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `tag` is the tag of `content` (compared in constant time).
    pub fn verify(&self, product: &str, fingerprint: &str, content: &[u8], tag: &str) -> bool {
        B64.decode(tag).is_ok_and(|tag| {
            self.mac(product, fingerprint, content)
                .verify_slice(&tag)
                .is_ok()
        })
    }

    fn mac(&self, product: &str, fingerprint: &str, content: &[u8]) -> Hmac<Sha256> {
        let mut mac = hmac_with(self.key.as_ref());
        update_framed(&mut mac, b"licet lease cache v2");
        update_framed(&mut mac, product.as_bytes());
        update_framed(&mut mac, fingerprint.as_bytes());
        update_framed(&mut mac, content);
        mac
    }
}

/// The anchor record, kept in the keyring as JSON: the sealing secret, and the trusted time
/// and lease floor as of the last online answer (a current cache file is never behind them).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Anchor {
    /// Format version (1).
    version: u32,
    /// The sealing secret, base64url.
    secret: String,
    /// The trusted time when the anchor was last written.
    pub trusted_time: i64,
    /// The lease floor when the anchor was last written.
    pub lease_floor: i64,
}

impl Anchor {
    /// A record for `key` (which must be a keyring key) at these marks.
    pub fn record(key: &SealKey, trusted_time: i64, lease_floor: i64) -> Zeroizing<String> {
        let record = Self {
            version: 1,
            secret: B64.encode(key.key.as_ref()),
            trusted_time,
            lease_floor,
        };
        Zeroizing::new(serde_json::to_string(&record).unwrap_or_default())
    }

    /// Reads a stored record: the record and its key; `None` if it is not one of ours.
    pub fn parse(text: &str) -> Option<(Self, SealKey)> {
        let record: Self = serde_json::from_str(text).ok()?;
        if record.version != 1 {
            return None;
        }
        let raw = Zeroizing::new(B64.decode(&record.secret).ok()?);
        let key: [u8; 32] = raw.as_slice().try_into().ok()?;
        let key = SealKey {
            kind: SealKind::Keyring,
            key: Zeroizing::new(key),
        };
        Some((record, key))
    }
}

fn hmac_with(key: &[u8]) -> Hmac<Sha256> {
    let Ok(mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac
}

/// Feeds one length-prefixed field, so that no two sequences of fields feed the same bytes.
fn update_framed(mac: &mut Hmac<Sha256>, field: &[u8]) {
    mac.update(&(field.len() as u64).to_be_bytes());
    mac.update(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_binds_content_product_fingerprint_and_key() {
        let key = SealKey::for_machine("photo", "v1:m", Some("0123456789abcdef"));
        let tag = key.tag("photo", "v1:m", b"{}");
        assert!(key.verify("photo", "v1:m", b"{}", &tag));
        assert!(!key.verify("photo", "v1:m", b"{ }", &tag), "content");
        assert!(!key.verify("video", "v1:m", b"{}", &tag), "product");
        assert!(!key.verify("photo", "v1:n", b"{}", &tag), "fingerprint");
        assert!(!key.verify("photo", "v1:m", b"{}", "not base64!"));
        for other in [
            SealKey::for_machine("photo", "v1:m", Some("another machine")),
            SealKey::for_machine("photo", "v1:m", None),
            SealKey::for_machine("video", "v1:m", Some("0123456789abcdef")),
            SealKey::for_machine("photo", "v1:n", Some("0123456789abcdef")),
            SealKey::random().expect("randomness"),
        ] {
            assert!(!other.verify("photo", "v1:m", b"{}", &tag), "{other:?}");
        }
        assert_eq!(
            tag,
            SealKey::for_machine("photo", "v1:m", Some("0123456789abcdef\n"))
                .tag("photo", "v1:m", b"{}"),
            "stable across runs; the machine id is trimmed like the fingerprint's"
        );
    }

    #[test]
    fn the_machine_key_is_not_the_fingerprint_and_needs_the_machine_id() {
        // The fingerprint is public (every lease carries it): the key must be another value,
        // and one that the fingerprint alone does not give.
        let fpr = crate::fingerprint::derive("photo", "0123456789abcdef");
        let key = SealKey::for_machine("photo", &fpr, Some("0123456789abcdef"));
        let digest: Vec<u8> = (3..fpr.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&fpr[i..i + 2], 16).expect("hex"))
            .collect();
        assert_ne!(key.key.as_slice(), digest.as_slice());
        assert_ne!(
            key.key.as_ref(),
            SealKey::for_machine("photo", &fpr, None).key.as_ref()
        );
    }

    #[test]
    fn anchors_round_trip_and_refuse_what_is_not_theirs() {
        let key = SealKey::random().expect("randomness");
        let text = Anchor::record(&key, 100, 90);
        let (record, back) = Anchor::parse(&text).expect("parses");
        assert_eq!((record.trusted_time, record.lease_floor), (100, 90));
        assert_eq!(back.kind, SealKind::Keyring);
        assert!(back.verify("p", "f", b"x", &key.tag("p", "f", b"x")));
        assert!(!format!("{back:?}").contains(&B64.encode(key.key.as_ref())));
        for bad in [
            "",
            "PHOTO-AAAAA",
            r#"{"version":2,"secret":"","trusted_time":0,"lease_floor":0}"#,
            r#"{"version":1,"secret":"AAAA","trusted_time":0,"lease_floor":0}"#,
        ] {
            assert!(Anchor::parse(bad).is_none(), "{bad}");
        }
    }
}
