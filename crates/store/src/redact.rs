//! Secrets in depot URLs: download tokens sit in paths (`https://dl.example/<token>/PROD/…`),
//! userinfo and query strings. Every URL the store puts in a message, a log line or a
//! listing goes through [`redact_url`]. (The binary has the same rules for its own
//! messages; the store cannot depend on the binary.)

use url::Url;

/// A URL safe to show: no userinfo, no query or fragment values, token-like path segments
/// replaced by `***`. `file:` URLs are shown as they are.
pub fn redact_url(url: &Url) -> String {
    if !matches!(url.scheme(), "http" | "https") {
        return url.to_string();
    }
    let mut u = url.clone();
    if !u.username().is_empty() || u.password().is_some() {
        let _ = u.set_username("***");
        let _ = u.set_password(None);
    }
    if u.query().is_some() {
        u.set_query(Some("***"));
    }
    u.set_fragment(None);
    let segments: Option<Vec<String>> = u
        .path_segments()
        .map(|s| s.map(|seg| if looks_like_token(seg) { "***".to_owned() } else { seg.to_owned() }).collect());
    if let Some(segments) = segments {
        u.set_path(&segments.join("/"));
    }
    u.to_string()
}

/// [`redact_url`] for text that may not parse as a URL.
pub fn redact_str(text: &str) -> String {
    match Url::parse(text) {
        Ok(u) => redact_url(&u),
        Err(_) => text.to_owned(),
    }
}

/// A header for display: its name, never its value.
pub fn redact_header(header: &str) -> String {
    match header.split_once(':') {
        Some((name, _)) => format!("{}: ***", name.trim()),
        None => "***".to_owned(),
    }
}

/// A long opaque segment (letters and digits mixed, no dot): a token, not a name a person chose.
fn looks_like_token(segment: &str) -> bool {
    segment.len() >= 20
        && !segment.contains('.')
        && segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && segment.chars().any(|c| c.is_ascii_digit())
        && segment.chars().any(|c| c.is_ascii_alphabetic())
        && segment.chars().filter(char::is_ascii_digit).count() * 5 >= segment.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_userinfo_and_queries_are_hidden() {
        let shown =
            redact_str("https://u:pw@dl.example/aB3dE5fG7hI9jK1lM3nO5pQ7/PROD/main/vmw-depot-index.xml?sig=abc");
        assert!(!shown.contains("pw"), "{shown}");
        assert!(!shown.contains("aB3dE5fG7hI9jK1lM3nO5pQ7"), "{shown}");
        assert!(!shown.contains("sig=abc"), "{shown}");
        assert!(shown.ends_with("/PROD/main/vmw-depot-index.xml?***"), "{shown}");
        assert_eq!(redact_header("Authorization: Bearer s3cret"), "Authorization: ***");
        assert_eq!(redact_str("http://127.0.0.1:8080/index.xml"), "http://127.0.0.1:8080/index.xml");
    }
}
