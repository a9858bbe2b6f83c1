//! Secrets in depot URLs, kept out of every message, log line and listing: download tokens
//! sit in paths (`https://dl.broadcom.com/<token>/PROD/…`), some mirrors use userinfo or
//! query strings, and token headers are given on the command line or stored with a mirror
//! source. Everything that shows a URL or a header goes through these functions.

use url::Url;

/// A URL safe to show: no userinfo, no query or fragment values, and path segments that
/// look like download tokens replaced by `***`. Other schemes (`file:`) are shown as they are.
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

/// [`redact_url`] for text that may or may not be a URL (a source given on the command line).
pub fn redact_url_str(text: &str) -> String {
    match Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => redact_url(&u),
        Ok(_) => text.to_owned(),
        Err(_) => redact_unparsed(text),
    }
}

/// A URL the parser refused (a mistyped proxy) may still carry a password or a query:
/// hide the userinfo and everything after `?` by hand.
fn redact_unparsed(text: &str) -> String {
    let Some(at) = text.find("://") else { return text.to_owned() };
    let (scheme, rest) = text.split_at(at + 3);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(i) => format!("{scheme}***@{}{path}", &authority[i + 1..]),
        None => format!("{scheme}{authority}{path}"),
    }
}

/// Redact every `http(s)://` URL inside a message (errors from lower layers may carry the
/// URL they were given, token and all).
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["https://", "http://"].iter().filter_map(|p| rest.find(p)).min() {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find(|c: char| c.is_whitespace() || "'\"<>()[]{}`".contains(c)).unwrap_or(tail.len());
        // Punctuation that ends a sentence or introduces a cause is not part of the URL.
        let url_text = tail[..end].trim_end_matches([':', ',', ';', '.']);
        out.push_str(&redact_url_str(url_text));
        rest = &tail[url_text.len()..];
    }
    out.push_str(rest);
    out
}

/// An error and its causes on one line (`a: b: c`), each cause once, without the
/// ` for url (…)` reqwest appends (URLs may hold tokens) and with secrets redacted: how
/// errors of the HTTP client are put in messages.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        let text = text.split(" for url (").next().unwrap_or_default().to_owned();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    redact_text(&parts.join(": "))
}

/// A header for display: its name, never its value.
pub fn redact_header(header: &str) -> String {
    match header.split_once(':') {
        Some((name, _)) => format!("{}: ***", name.trim()),
        None => "***".to_owned(),
    }
}

/// A long opaque segment (letters and digits mixed, no dot): a token, not a file or a
/// directory name a person chose.
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
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn userinfo_queries_fragments_and_tokens_are_hidden() {
        let u = Url::parse(
            "https://user:secret@dl.example.com/aB3dE5fG7hI9jK1lM3nO5pQ7/PROD/COMP/ESX_HOST/main/vmw-depot-index.xml?sig=x#f",
        )
        .unwrap();
        let shown = redact_url(&u);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("aB3dE5fG7hI9jK1lM3nO5pQ7"), "{shown}");
        assert!(!shown.contains("sig=x"), "{shown}");
        assert!(shown.ends_with("/PROD/COMP/ESX_HOST/main/vmw-depot-index.xml?***"), "{shown}");
        assert_eq!(redact_header("Authorization: Bearer s3cret"), "Authorization: ***");
        assert_eq!(redact_header("no colon"), "***");
    }

    #[test]
    fn names_people_chose_and_other_schemes_stay() {
        let u = Url::parse("https://depot.example.com/esx/vmw/vmw-ESXi-8.0.3-metadata.zip").unwrap();
        assert_eq!(redact_url(&u), u.to_string());
        let f = Url::parse("file:///srv/depot/index.xml").unwrap();
        assert_eq!(redact_url(&f), f.to_string());
        assert_eq!(redact_url_str("/tmp/x.zip"), "/tmp/x.zip");
    }

    #[test]
    fn urls_the_parser_refuses_still_hide_their_secrets() {
        assert_eq!(redact_url_str("http://u:pw@[bad:3128"), "http://***@[bad:3128");
        assert_eq!(redact_url_str("http://[bad/x?token=1"), "http://[bad/x");
    }

    #[test]
    fn urls_inside_messages_are_redacted() {
        let text = "GET https://u:pw@dl.example/aB3dE5fG7hI9jK1lM3nO5pQ7/index.xml: 403 Forbidden";
        let shown = redact_text(text);
        assert!(!shown.contains("pw") && !shown.contains("aB3dE5fG7hI9jK1lM3nO5pQ7"), "{shown}");
        assert!(shown.ends_with("/index.xml: 403 Forbidden"), "{shown}");
        assert_eq!(redact_text("no URL here"), "no URL here");
    }

    #[test]
    fn error_chains_name_each_cause_once_without_urls() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as &(dyn std::error::Error + 'static))
            }
        }
        let inner = Layer("connection refused", None);
        let middle = Layer("connection refused", Some(Box::new(inner)));
        let top = Layer(
            "error sending request for url (https://dl.example/aB3dE5fG7hI9jK1lM3nO5pQ7/index.xml)",
            Some(Box::new(Layer("client error (Connect)", Some(Box::new(middle))))),
        );
        assert_eq!(error_chain(&top), "error sending request: client error (Connect): connection refused");
    }
}
