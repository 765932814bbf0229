//! The shape of a license key, defined once for the server and the SDK.
//!
//! ```text
//! PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB
//! └─┬─┘ └──────────┬────────────┘ └─┬─┘
//! prefix   4 random groups            check group
//! ```
//!
//! The shape (prefix, five groups of five from a 32-symbol alphabet without `I`, `O`, `0`
//! and `1`) can be checked anywhere; the check group is keyed with a server secret, so only
//! the server can tell a well-shaped key from a real one. The SDK checks the shape before it
//! sends a key, so a mistyped key is reported as such even offline.

/// The 32 unambiguous symbols of the groups.
pub const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Symbols per group.
pub const GROUP_LEN: usize = 5;
/// Random groups between the prefix and the check group.
pub const RANDOM_GROUPS: usize = 4;
/// Longest prefix (letters and digits of the product's slug).
pub const MAX_PREFIX_LEN: usize = 8;
/// Longest input worth parsing; anything longer is malformed.
pub const MAX_INPUT_LEN: usize = 64;

/// A well-shaped key, normalised (trimmed, upper-case), split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyShape {
    key: String,
    prefix_len: usize,
    check_at: usize,
}

impl KeyShape {
    /// Checks the shape of `input` (surrounding spaces and lower case allowed); `None` if it
    /// cannot be a license key.
    pub fn parse(input: &str) -> Option<Self> {
        let input = input.trim();
        if input.len() > MAX_INPUT_LEN || !input.is_ascii() {
            return None;
        }
        let key = input.to_ascii_uppercase();
        let (prefix, rest) = key.split_once('-')?;
        if prefix.is_empty()
            || prefix.len() > MAX_PREFIX_LEN
            || !prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return None;
        }
        let (body, check) = rest.rsplit_once('-')?;
        let groups = body.split('-').count();
        if groups != RANDOM_GROUPS || !body.split('-').chain([check]).all(is_group) {
            return None;
        }
        let prefix_len = prefix.len();
        let check_at = key.len() - GROUP_LEN;
        Some(Self {
            key,
            prefix_len,
            check_at,
        })
    }

    /// The whole key, normalised.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The prefix (`PHOTO`).
    pub fn prefix(&self) -> &str {
        &self.key[..self.prefix_len]
    }

    /// The random groups with their dashes (`7KQ2M-XW9RT-D4HNP-38FZC`).
    pub fn body(&self) -> &str {
        &self.key[self.prefix_len + 1..self.check_at - 1]
    }

    /// The check group (`UJ6VB`).
    pub fn check(&self) -> &str {
        &self.key[self.check_at..]
    }

    /// The normalised key.
    pub fn into_string(self) -> String {
        self.key
    }
}

fn is_group(g: &str) -> bool {
    g.len() == GROUP_LEN && g.bytes().all(|b| ALPHABET.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::KeyShape;

    #[test]
    fn shapes() {
        let cases: [(&str, Option<&str>); 12] = [
            (
                "PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB",
                Some("PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB"),
            ),
            (
                "  photo-7kq2m-xw9rt-d4hnp-38fzc-uj6vb\n",
                Some("PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB"),
            ),
            (
                "LIC-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA",
                Some("LIC-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"),
            ),
            ("PHOTO-7KQ2M-XW9RT-D4HNP-38FZC", None),
            ("PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB-AAAAA", None),
            ("PHOTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6V", None),
            ("PHOTO-7KQ2M-XW9RT-D4HNP-38FZ0-UJ6VB", None),
            ("PHOTO-IKQ2M-XW9RT-D4HNP-38FZC-UJ6VB", None),
            ("-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB", None),
            ("PHOTOGRAPHY-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB", None),
            ("PHÖTO-7KQ2M-XW9RT-D4HNP-38FZC-UJ6VB", None),
            ("not a key", None),
        ];
        for (input, want) in cases {
            let got = KeyShape::parse(input);
            assert_eq!(got.as_ref().map(KeyShape::as_str), want, "{input:?}");
        }
    }

    #[test]
    fn parts() {
        let k = KeyShape::parse("photo-7kq2m-xw9rt-d4hnp-38fzc-uj6vb").expect("shape");
        assert_eq!(k.prefix(), "PHOTO");
        assert_eq!(k.body(), "7KQ2M-XW9RT-D4HNP-38FZC");
        assert_eq!(k.check(), "UJ6VB");
    }
}
