//! The on-disk lease cache, format 2: the state the SDK must not lose or let anyone edit
//! (the signed token, the trusted-time high-water mark, the forward clock offset, the last
//! definite verdict, the lease floor), and the MAC that seals it (see [`crate::seal`]).
//!
//! ```json
//! {"version":2,"state":{"token":"eyJ…","trusted_time":1795745700,"clock_offset":0,
//!  "verdict":null,"lease_floor":1795745640,"seal":"keyring"},"mac":"q3X…"}
//! ```
//!
//! Format 1 (written by SDK 0.1 before issue 10) had no MAC: it is read as "no trusted
//! state" ([`Parsed::Legacy`]) and replaced by the next online answer.

use serde::{Deserialize, Serialize};

use crate::seal::SealKind;

/// The current format.
const VERSION: u32 = 2;
/// The unsealed format of earlier SDKs.
const LEGACY_VERSION: u64 = 1;

/// The sealed state: everything the MAC covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The last signed lease.
    pub token: Option<String>,
    /// The highest trusted Unix time seen: local clock, corrected by `clock_offset`, and the
    /// `iat` of every lease accepted. It never goes down.
    pub trusted_time: i64,
    /// Seconds added to the local clock because a signed `iat` showed it behind; never
    /// negative, dropped once the local clock catches up.
    pub clock_offset: i64,
    /// The last definite verdict from the server (`LICENSE_REVOKED`, …), if any.
    pub verdict: Option<String>,
    /// The oldest `iat` a lease may have to be accepted: the newest lease's `iat`, and after
    /// a verdict the time it was learned (less the allowed skew).
    pub lease_floor: i64,
    /// Which key sealed this state.
    pub seal: SealKind,
}

/// The file as written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    version: u32,
    state: Sealed,
    mac: String,
}

/// A cache file that reads as a cache.
#[derive(Debug)]
pub enum Parsed {
    /// A current file: its state and its MAC, still to be verified.
    Current {
        /// The state.
        state: Sealed,
        /// The MAC stored with it.
        mac: String,
    },
    /// A file of the unsealed format 1.
    Legacy,
}

/// Why stored bytes cannot be used.
#[derive(Debug)]
pub enum Unusable {
    /// Not a cache at all (truncated, garbage, unknown version).
    Corrupt(String),
    /// A current-format file that is not what the SDK wrote (a field missing, added or of
    /// the wrong type).
    Tampered(String),
}

impl Sealed {
    /// The bytes the MAC covers: the state's canonical JSON.
    pub fn content(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The file for this state and its MAC.
    pub fn to_bytes(&self, mac: String) -> Vec<u8> {
        let file = OnDisk {
            version: VERSION,
            state: self.clone(),
            mac,
        };
        serde_json::to_vec(&file).unwrap_or_default()
    }
}

/// Only the version of a file, whatever else it holds.
#[derive(Deserialize)]
struct Probe {
    version: Option<u64>,
}

/// Reads stored bytes.
pub fn parse(bytes: &[u8]) -> Result<Parsed, Unusable> {
    // The common case first, in one pass: a current file as written.
    if let Ok(file) = serde_json::from_slice::<OnDisk>(bytes)
        && file.version == VERSION
    {
        return Ok(Parsed::Current {
            state: file.state,
            mac: file.mac,
        });
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| Unusable::Corrupt(e.to_string()))?;
    match probe.version {
        Some(LEGACY_VERSION) => Ok(Parsed::Legacy),
        Some(v) if v == u64::from(VERSION) => {
            let why = serde_json::from_slice::<OnDisk>(bytes)
                .err()
                .map_or_else(String::new, |e| e.to_string());
            Err(Unusable::Tampered(format!(
                "not a lease cache as written: {why}"
            )))
        }
        Some(v) => Err(Unusable::Corrupt(format!("unknown cache version {v}"))),
        None => Err(Unusable::Corrupt("no cache version".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> Sealed {
        Sealed {
            token: Some("a.b.c".into()),
            trusted_time: 1_000,
            clock_offset: 0,
            verdict: None,
            lease_floor: 960,
            seal: SealKind::Machine,
        }
    }

    #[test]
    fn a_written_file_reads_back_as_written() {
        let bytes = state().to_bytes("tag".into());
        match parse(&bytes) {
            Ok(Parsed::Current { state: s, mac }) => {
                assert_eq!(s, state());
                assert_eq!(mac, "tag");
                assert_eq!(s.content(), state().content());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn files_are_sorted_into_current_legacy_corrupt_and_tampered() {
        let good: serde_json::Value =
            serde_json::from_slice(&state().to_bytes("tag".into())).expect("json");
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            f(&mut v);
            serde_json::to_vec(&v).expect("json")
        };
        let legacy = br#"{"version":1,"token":null,"trusted_time":0,"verdict":null}"#;
        assert!(matches!(parse(legacy), Ok(Parsed::Legacy)));
        for corrupt in [
            b"".to_vec(),
            b"{\"version\":2,".to_vec(),
            b"[1,2]".to_vec(),
            br#"{"version":99}"#.to_vec(),
            br#"{"state":{}}"#.to_vec(),
        ] {
            assert!(
                matches!(parse(&corrupt), Err(Unusable::Corrupt(_))),
                "{}",
                String::from_utf8_lossy(&corrupt)
            );
        }
        for tampered in [
            edit(&|v| drop(v.as_object_mut().map(|o| o.remove("mac")))),
            edit(&|v| drop(v["state"].as_object_mut().map(|o| o.remove("lease_floor")))),
            edit(&|v| v["state"]["trusted_time"] = "soon".into()),
            edit(&|v| v["state"]["extra"] = 1.into()),
            edit(&|v| v["state"]["seal"] = "none".into()),
        ] {
            assert!(
                matches!(parse(&tampered), Err(Unusable::Tampered(_))),
                "{}",
                String::from_utf8_lossy(&tampered)
            );
        }
    }
}
