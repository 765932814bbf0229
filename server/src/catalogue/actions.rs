//! License actions as the admin API and the dashboard name them in their paths.

use super::StatusChange;

impl StatusChange {
    /// The change a path segment names (`suspend`, `reinstate`, `revoke`).
    pub(crate) fn parse(action: &str) -> Option<Self> {
        match action {
            "suspend" => Some(Self::Suspend),
            "reinstate" => Some(Self::Reinstate),
            "revoke" => Some(Self::Revoke),
            _ => None,
        }
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
            assert_eq!(StatusChange::parse(action), *want, "{action:?}");
        }
    }
}
