//! License actions as the admin API and the dashboard name them in their paths.

use std::str::FromStr;

use super::StatusChange;

impl StatusChange {
    /// The path segment naming the change (`suspend`, `reinstate`, `revoke`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Reinstate => "reinstate",
            Self::Revoke => "revoke",
        }
    }
}

/// A path segment that names no license action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownAction;

impl FromStr for StatusChange {
    type Err = UnknownAction;

    /// The change a path segment names, exactly (`suspend`, `reinstate`, `revoke`).
    fn from_str(action: &str) -> Result<Self, UnknownAction> {
        [Self::Suspend, Self::Reinstate, Self::Revoke]
            .into_iter()
            .find(|c| c.as_str() == action)
            .ok_or(UnknownAction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_named_exactly() {
        let table: &[(&str, Option<StatusChange>)] = &[
            ("suspend", Some(StatusChange::Suspend)),
            ("reinstate", Some(StatusChange::Reinstate)),
            ("revoke", Some(StatusChange::Revoke)),
            ("Revoke", None),
            ("extend", None),
            ("", None),
        ];
        for (action, want) in table {
            if let Some(change) = want {
                assert_eq!(change.as_str(), *action, "{action:?} round-trips");
            }
            assert_eq!(action.parse::<StatusChange>().ok(), *want, "{action:?}");
        }
    }
}
