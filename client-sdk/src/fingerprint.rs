//! The machine fingerprint and the descriptive machine facts sent with an activation.
//!
//! The raw machine id (`/etc/machine-id`, `IOPlatformUUID`, `MachineGuid`) never leaves the
//! machine. The fingerprint is `v1:` followed by the hex HMAC-SHA256 of the machine id, keyed
//! by the product: stable across runs and reboots, and two vendors (or two products) see
//! unrelated values for the same machine, so they cannot correlate it. The `v1:` prefix
//! versions the algorithm, so a later one can be introduced and activations re-linked.

use hmac::{Hmac, Mac};
use licet_proto::api::MachineInfo;
use sha2::Sha256;

use crate::error::{Error, Result};

/// The current fingerprint algorithm's prefix.
pub const VERSION_PREFIX: &str = "v1:";

/// The fingerprint of machine id `machine_id` for `product`.
pub fn derive(product: &str, machine_id: &str) -> String {
    let key = format!("licet machine fingerprint v1|{product}");
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()) else {
        unreachable!("HMAC accepts keys of any length")
    };
    mac.update(machine_id.trim().as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(VERSION_PREFIX.len() + 64);
    out.push_str(VERSION_PREFIX);
    for b in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out
}

/// This machine's fingerprint for `product`, or [`Error::NoMachineId`] when the operating
/// system has no machine id (some containers): use an explicit override there.
pub fn for_this_machine(product: &str) -> Result<String> {
    Ok(derive(product, &machine_id()?))
}

/// The operating system's raw machine id (never sent anywhere).
pub(crate) fn machine_id() -> Result<String> {
    let id = machine_uid::get().map_err(|e| Error::NoMachineId(e.to_string()))?;
    if id.trim().is_empty() {
        return Err(Error::NoMachineId("the machine id is empty".into()));
    }
    Ok(id)
}

/// Host name, OS, architecture and CPU count: shown to the vendor, never part of the
/// fingerprint.
pub fn machine_info() -> MachineInfo {
    MachineInfo {
        hostname: sysinfo::System::host_name().ok(),
        os_name: sysinfo::System::name().ok(),
        os_version: sysinfo::System::os_version().ok(),
        arch: Some(std::env::consts::ARCH.to_owned()),
        cpu_count: std::thread::available_parallelism()
            .ok()
            .and_then(|n| u32::try_from(n.get()).ok()),
    }
}

/// `os-arch`, e.g. `linux-x86_64` (Rust's names: `macos-aarch64`), as sent at activation.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// This machine's platform as release files are named: `os-arch` in the Tauri updater's
/// names (`linux-x86_64`, `darwin-aarch64`, `windows-x86_64`, `windows-i686`,
/// `linux-armv7`), which differ from Rust's for macOS (`macos`), 32-bit x86 (`x86`) and
/// 32-bit ARM (`arm`).
pub fn update_platform() -> String {
    update_platform_of(std::env::consts::OS, std::env::consts::ARCH)
}

fn update_platform_of(os: &str, arch: &str) -> String {
    let os = match os {
        "macos" => "darwin",
        other => other,
    };
    let arch = match arch {
        "x86" => "i686",
        "arm" => "armv7",
        other => other,
    };
    format!("{os}-{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_versioned_and_product_scoped() {
        let a = derive("photo", "0123456789abcdef");
        assert_eq!(a, derive("photo", "0123456789abcdef\n"));
        assert!(a.starts_with("v1:") && a.len() == 3 + 64);
        assert_ne!(
            a,
            derive("video", "0123456789abcdef"),
            "products cannot correlate"
        );
        assert!(!a.contains("0123456789abcdef"), "the raw id never appears");
    }

    #[test]
    fn update_platforms_use_the_tauri_updaters_names() {
        for (os, arch, want) in [
            ("linux", "x86_64", "linux-x86_64"),
            ("macos", "aarch64", "darwin-aarch64"),
            ("macos", "x86_64", "darwin-x86_64"),
            ("windows", "x86_64", "windows-x86_64"),
            ("windows", "x86", "windows-i686"),
            ("linux", "arm", "linux-armv7"),
        ] {
            assert_eq!(update_platform_of(os, arch), want);
            assert!(licet_proto::releases::valid_platform(want), "{want}");
        }
    }
}
