//! **Transitional copy:** the maintained version is `esxlcm_net::problem`. Only
//! `crates/server/src/api/fetch.rs` uses this one; delete it when that file goes.
//!
//! What went wrong with an HTTP(S) request, classified once for the three clients that
//! fetch depots (the CLI's `HttpFetch`, the mirror store's transport, the API server's
//! fetch). Each client adds what to do in its own terms (`--ca-file`, `mirror add
//! --ca-file`, the API's trust store); the diagnosis and its wording are shared here so
//! that the same failure reads the same everywhere. Works on status codes and error-chain
//! text, so this crate needs no HTTP client.

/// Why the server's TLS certificate was refused, from the TLS library's error chain
/// (rustls names the problem: `invalid peer certificate: UnknownIssuer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    UnknownIssuer,
    NotValidForName,
    Expired,
    SelfSigned,
    CaUsedAsEndEntity,
    BadSignature,
    Revoked,
    /// A certificate failure the chain does not name.
    Other,
}

impl CertificateProblem {
    /// The problem `error_chain` describes, or `None` when it is not a certificate failure.
    pub fn classify(error_chain: &str) -> Option<Self> {
        let d = error_chain.to_ascii_lowercase();
        let known: [(&str, Self); 9] = [
            ("causedasendentity", Self::CaUsedAsEndEntity),
            ("unknownissuer", Self::UnknownIssuer),
            ("unknown issuer", Self::UnknownIssuer),
            ("notvalidforname", Self::NotValidForName),
            ("not valid for name", Self::NotValidForName),
            ("expired", Self::Expired),
            ("self-signed", Self::SelfSigned),
            ("badsignature", Self::BadSignature),
            ("revoked", Self::Revoked),
        ];
        if let Some((_, problem)) = known.iter().find(|(needle, _)| d.contains(needle)) {
            return Some(*problem);
        }
        (d.contains("invalid peer certificate") || d.contains("certificate") || d.contains("tls handshake"))
            .then_some(Self::Other)
    }

    /// The problem in words, for a message that goes on with what to do.
    pub fn describe(self) -> &'static str {
        match self {
            Self::UnknownIssuer => "the server's TLS certificate is signed by a CA this machine does not trust",
            Self::NotValidForName => "the server's TLS certificate does not name this host (check the URL's host name)",
            Self::Expired => "the server's TLS certificate has expired (or this machine's clock is wrong)",
            Self::SelfSigned => "the server's TLS certificate is self-signed",
            Self::CaUsedAsEndEntity => "the server presents a CA certificate as its own TLS certificate",
            Self::BadSignature => "the signature on the server's TLS certificate does not verify",
            Self::Revoked => "the server's TLS certificate has been revoked",
            Self::Other => "the server's TLS certificate was refused",
        }
    }
}

/// An HTTP status that is not an answer, by what the user can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusProblem {
    /// 404 or 410: the file is not there.
    NotFound,
    /// 401 or 403: the depot refused the credentials (download tokens expire).
    Refused,
    /// 407: the proxy wants credentials.
    ProxyAuthentication,
    /// 5xx: the server failed; a later try may work.
    ServerFailed,
    /// Anything else that is not a success.
    Unexpected,
}

impl StatusProblem {
    /// The problem of a status code; `None` for a success (2xx) or a not-modified (304).
    pub fn of(status: u16) -> Option<Self> {
        match status {
            200..=299 | 304 => None,
            404 | 410 => Some(Self::NotFound),
            401 | 403 => Some(Self::Refused),
            407 => Some(Self::ProxyAuthentication),
            500..=599 => Some(Self::ServerFailed),
            _ => Some(Self::Unexpected),
        }
    }

    /// What the status means, with `how_to_fix_credentials` (the client's own words for
    /// where the token lives) after a refusal. For `NotFound` the caller usually has its
    /// own error variant; this text is the fallback.
    pub fn message(self, status: u16, how_to_fix_credentials: &str) -> String {
        match self {
            Self::NotFound => format!("not found (HTTP {status})"),
            Self::Refused => format!(
                "the depot refused the request (HTTP {status}); download tokens expire — {how_to_fix_credentials}"
            ),
            Self::ProxyAuthentication => {
                "the proxy requires authentication (HTTP 407); give it as http://user:password@host:port in the \
                 proxy setting"
                    .to_owned()
            }
            Self::ServerFailed => format!("the server failed (HTTP {status}); try again later"),
            Self::Unexpected => format!("unexpected HTTP status {status}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_are_named() {
        let unknown = CertificateProblem::classify("error sending request: invalid peer certificate: UnknownIssuer");
        assert_eq!(unknown, Some(CertificateProblem::UnknownIssuer));
        assert_eq!(
            CertificateProblem::classify("invalid peer certificate: NotValidForName"),
            Some(CertificateProblem::NotValidForName)
        );
        assert_eq!(
            CertificateProblem::classify("invalid peer certificate: Expired"),
            Some(CertificateProblem::Expired)
        );
        assert_eq!(
            CertificateProblem::classify("invalid peer certificate: Other(..)"),
            Some(CertificateProblem::Other)
        );
        assert_eq!(CertificateProblem::classify("connection refused"), None);
        assert!(CertificateProblem::UnknownIssuer.describe().contains("does not trust"));
    }

    #[test]
    fn statuses_say_what_to_do() {
        assert_eq!(StatusProblem::of(200), None);
        assert_eq!(StatusProblem::of(304), None);
        assert_eq!(StatusProblem::of(410), Some(StatusProblem::NotFound));
        assert_eq!(StatusProblem::of(503), Some(StatusProblem::ServerFailed));
        let refused = StatusProblem::of(401).map(|p| p.message(401, "check the token"));
        assert_eq!(
            refused.as_deref(),
            Some("the depot refused the request (HTTP 401); download tokens expire — check the token")
        );
        assert_eq!(StatusProblem::of(418).map(|p| p.message(418, "")).as_deref(), Some("unexpected HTTP status 418"));
    }
}
