//! The access link of an access product: one rule for what the dashboard accepts and what
//! the portal shows.

/// Whether `url` may be an access link: a web address, never a `javascript:` or other
/// scheme a customer's click would run.
pub(crate) fn is_access_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

/// The access link in a product's metadata (stored JSON), if it has a usable one.
pub(crate) fn access_url(metadata: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(metadata)
        .ok()
        .and_then(|m| m.get("access_url")?.as_str().map(str::to_owned))
        .filter(|u| is_access_url(u))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_are_access_links() {
        let table: &[(&str, Option<&str>)] = &[
            (
                r#"{"access_url":"https://app.example.com"}"#,
                Some("https://app.example.com"),
            ),
            (
                r#"{"access_url":"http://intranet/x"}"#,
                Some("http://intranet/x"),
            ),
            (r#"{"access_url":"javascript:alert(1)"}"#, None),
            (r#"{"access_url":"ftp://files"}"#, None),
            (r#"{"access_url":"HTTPS://shouting"}"#, None),
            (r#"{"access_url":42}"#, None),
            (r#"{}"#, None),
            ("not json", None),
        ];
        for (metadata, want) in table {
            assert_eq!(access_url(metadata).as_deref(), *want, "{metadata}");
        }
    }
}
