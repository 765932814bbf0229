//! Human-friendly license keys with a keyed check segment.
//!
//! ```text
//! PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB
//! └─┬─┘ └──────────┬────────────┘ └─┬─┘
//! prefix   4 random groups (100 bits)   check: 25 bits of HMAC(secret, prefix-body)
//! ```
//!
//! The alphabet has 32 symbols without `I`, `O`, `0` and `1`, so keys survive being read
//! aloud or retyped. The check group is keyed with a server secret: a mistyped or invented
//! key is refused as `INVALID_KEY_FORMAT` without touching the database, and someone who
//! does not hold the secret cannot mint keys that even reach a lookup.

use licet_proto::key::{ALPHABET, GROUP_LEN, KeyShape, MAX_PREFIX_LEN, RANDOM_GROUPS};

use crate::platform::crypto::{ct_eq, hmac_sha256, random_bytes};

/// Mints and checks keys with one server secret.
pub struct KeyFormat {
    secret: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for KeyFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFormat(<redacted>)")
    }
}

impl KeyFormat {
    /// A format keyed with `secret`.
    pub fn new(secret: zeroize::Zeroizing<[u8; 32]>) -> Self {
        Self { secret }
    }

    /// The key prefix of a product: its slug's letters and digits, upper-cased, at most 8.
    pub fn prefix_for(slug: &str) -> String {
        let p: String = slug
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .take(MAX_PREFIX_LEN)
            .collect();
        if p.is_empty() { "LIC".into() } else { p }
    }

    /// A new random key with this prefix.
    pub fn generate(&self, prefix: &str) -> String {
        let random: [u8; RANDOM_GROUPS * GROUP_LEN] = random_bytes();
        let mut body = String::with_capacity(RANDOM_GROUPS * (GROUP_LEN + 1));
        for (i, b) in random.iter().enumerate() {
            if i > 0 && i % GROUP_LEN == 0 {
                body.push('-');
            }
            // 32 symbols = 5 bits: masking keeps the distribution uniform.
            body.push(ALPHABET[(b & 31) as usize] as char);
        }
        let check = self.check_group(prefix, &body);
        format!("{prefix}-{body}-{check}")
    }

    /// Normalises (trim, upper-case) and checks a key; `None` if it is not a valid key.
    pub fn parse(&self, input: &str) -> Option<String> {
        let key = KeyShape::parse(input)?;
        let expected = self.check_group(key.prefix(), key.body());
        ct_eq(expected.as_bytes(), key.check().as_bytes()).then(|| key.into_string())
    }

    fn check_group(&self, prefix: &str, body: &str) -> String {
        let mac = hmac_sha256(self.secret.as_ref(), format!("{prefix}-{body}").as_bytes());
        // First 25 bits of the MAC as five 5-bit symbols.
        let bits = u64::from_be_bytes([mac[0], mac[1], mac[2], mac[3], 0, 0, 0, 0]);
        (0..GROUP_LEN)
            .map(|i| ALPHABET[((bits >> (59 - 5 * i)) & 31) as usize] as char)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format() -> KeyFormat {
        KeyFormat::new(zeroize::Zeroizing::new([3u8; 32]))
    }

    #[test]
    fn generated_keys_parse_and_are_unambiguous() {
        let f = format();
        for _ in 0..200 {
            let k = f.generate("PHOTO");
            assert_eq!(f.parse(&k).as_deref(), Some(k.as_str()));
            assert_eq!(
                f.parse(&format!("  {} ", k.to_lowercase())).as_deref(),
                Some(k.as_str())
            );
            let body = &k["PHOTO-".len()..];
            assert!(!body.contains(['I', 'O', '0', '1']), "{k}");
        }
    }

    #[test]
    fn wrong_check_or_shape_is_refused() {
        let f = format();
        let k = f.generate("PHOTO");
        let mut tampered: Vec<char> = k.chars().collect();
        let i = "PHOTO-".len();
        tampered[i] = if tampered[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = tampered.into_iter().collect();
        assert_eq!(f.parse(&tampered), None);
        assert_eq!(f.parse("PHOTO-AAAAA-AAAAA"), None);
        assert_eq!(f.parse(""), None);
        assert_eq!(f.parse(&format!("{k}-AAAAA")), None);
        let other = KeyFormat::new(zeroize::Zeroizing::new([4u8; 32]));
        assert_eq!(
            other.parse(&k),
            None,
            "a key minted with another secret is refused"
        );
    }

    #[test]
    fn the_shape_of_a_key() {
        let f = format();
        let good = f.generate("PHOTO");
        let body = &good["PHOTO-".len()..good.len() - "-XXXXX".len()];
        // A valid body and check under another prefix: the check no longer matches.
        let moved = format!("VIDEO-{}", &good["PHOTO-".len()..]);
        let cases: Vec<(String, Option<String>)> = vec![
            (good.clone(), Some(good.clone())),
            (format!("\t{}\n", good.to_lowercase()), Some(good.clone())),
            (moved, None),
            (format!("PHOTO-{body}"), None),
            (good.replace('-', ""), None),
            (good.replacen('-', "--", 1), None),
            (good.replacen('-', " ", 1), None),
            (format!("-{}", &good["PHOTO-".len()..]), None),
            (format!("PHOTOSTUDIO-{}", &good["PHOTO-".len()..]), None),
            (format!("PH_TO-{}", &good["PHOTO-".len()..]), None),
            (format!("PHÓTO-{}", &good["PHOTO-".len()..]), None),
            (format!("{good}{}", " ".repeat(100)), Some(good.clone())),
            (format!("{good}{}", "A".repeat(100)), None),
        ];
        for (input, want) in cases {
            assert_eq!(f.parse(&input), want, "{input:?}");
        }
        for bad in ["I", "O", "0", "1"] {
            let mut chars: Vec<char> = good.chars().collect();
            chars["PHOTO-".len()] = bad.chars().next().expect("a char");
            let input: String = chars.into_iter().collect();
            assert_eq!(f.parse(&input), None, "{input}: ambiguous symbol");
        }
    }

    #[test]
    fn prefix_comes_from_slug() {
        assert_eq!(KeyFormat::prefix_for("photo-studio-pro"), "PHOTOSTU");
        assert_eq!(KeyFormat::prefix_for("--"), "LIC");
        let cases = [
            ("photo", "PHOTO"),
            ("video-pro-2", "VIDEOPRO"),
            ("a1", "A1"),
            ("x", "X"),
            ("", "LIC"),
        ];
        for (slug, prefix) in cases {
            assert_eq!(KeyFormat::prefix_for(slug), prefix, "{slug}");
        }
    }
}
