//! What went wrong with a request, classified once: HTTP statuses by what the user can do
//! about them, TLS failures from rustls's typed errors. Callers add what to do in their own
//! terms through [`Advice`](crate::Advice); the diagnosis and its wording are shared here so
//! that the same failure reads the same everywhere.

use std::error::Error as StdError;

use rustls::{AlertDescription, CertificateError};

/// Why the server's TLS certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    UnknownIssuer,
    NotValidForName,
    Expired,
    NotValidYet,
    CaUsedAsEndEntity,
    BadSignature,
    Revoked,
    /// A certificate failure not named above.
    Other,
}

impl CertificateProblem {
    fn of(error: &CertificateError) -> Self {
        #[allow(deprecated)] // UnsupportedSignatureAlgorithm is still produced by rustls 0.23's webpki glue.
        match error {
            CertificateError::UnknownIssuer => Self::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Self::NotValidForName
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Self::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => Self::NotValidYet,
            CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithm
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => Self::BadSignature,
            CertificateError::Revoked => Self::Revoked,
            // rustls passes webpki errors it has no variant for inside `Other`.
            CertificateError::Other(other)
                if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity)) =>
            {
                Self::CaUsedAsEndEntity
            }
            _ => Self::Other,
        }
    }

    /// The problem in words, for a message that goes on with what to do.
    pub fn describe(self) -> &'static str {
        match self {
            Self::UnknownIssuer => "the server's TLS certificate is signed by a CA this machine does not trust",
            Self::NotValidForName => "the server's TLS certificate does not name this host (check the URL's host name)",
            Self::Expired => "the server's TLS certificate has expired (or this machine's clock is wrong)",
            Self::NotValidYet => "the server's TLS certificate is not valid yet (or this machine's clock is wrong)",
            Self::CaUsedAsEndEntity => "the server presents a CA certificate as its own TLS certificate",
            Self::BadSignature => "the signature on the server's TLS certificate does not verify",
            Self::Revoked => "the server's TLS certificate has been revoked",
            Self::Other => "the server's TLS certificate was refused",
        }
    }
}

/// What the server's fatal TLS alert says about the client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertProblem {
    /// The server requires a client certificate (TLS 1.3 `certificate_required`).
    CertificateRequired,
    /// The handshake was refused without a reason; often a missing client certificate (TLS 1.2).
    HandshakeFailure,
    /// The server refused the client certificate offered.
    CertificateRefused,
    /// Another alert.
    Other,
}

impl AlertProblem {
    fn of(alert: AlertDescription) -> Self {
        match alert {
            AlertDescription::CertificateRequired => Self::CertificateRequired,
            AlertDescription::HandshakeFailure => Self::HandshakeFailure,
            AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError => Self::CertificateRefused,
            _ => Self::Other,
        }
    }
}

/// A TLS failure found in an error's source chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsFailure {
    /// This client refused the server's certificate. `detail` is rustls's text.
    ServerCertificate { problem: CertificateProblem, detail: String },
    /// The server ended the handshake with a fatal alert (`TLS alert CertificateRequired`).
    Alert { problem: AlertProblem, detail: String },
}

impl TlsFailure {
    /// The TLS failure behind `err`, from the typed rustls error in its source chain.
    ///
    /// The rustls error reaches us wrapped (reqwest → hyper-util → `std::io::Error` from
    /// tokio-rustls). `io::Error::source()` skips the error it wraps, so each
    /// `io::Error` is opened with `get_ref()` as well. There is no text fallback: every TLS
    /// failure of the rustls backend arrives as a `rustls::Error` (tests in this crate and
    /// in `crates/esxlcm/tests/mirror_https.rs` check the path end to end), and matching
    /// message text would misread unrelated errors that mention certificates.
    pub fn find(err: &(dyn StdError + 'static)) -> Option<Self> {
        let mut current = Some(err);
        while let Some(e) = current {
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Self::of(tls);
            }
            if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref)
                && let Some(found) = Self::find(inner)
            {
                return Some(found);
            }
            current = e.source();
        }
        None
    }

    fn of(error: &rustls::Error) -> Option<Self> {
        match error {
            rustls::Error::InvalidCertificate(c) => {
                Some(Self::ServerCertificate { problem: CertificateProblem::of(c), detail: error.to_string() })
            }
            rustls::Error::AlertReceived(a) => {
                Some(Self::Alert { problem: AlertProblem::of(*a), detail: format!("TLS alert {a:?}") })
            }
            _ => None,
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
    /// 429: too many requests; a later try may work.
    TooManyRequests,
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
            429 => Some(Self::TooManyRequests),
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
            Self::TooManyRequests => "the server is rate-limiting requests (HTTP 429); try again later".to_owned(),
            Self::ServerFailed => format!("the server failed (HTTP {status}); try again later"),
            Self::Unexpected => format!("unexpected HTTP status {status}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(Box<dyn StdError + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl StdError for Wrap {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&*self.0)
        }
    }

    /// reqwest's shape: an outer error whose source is an `io::Error` wrapping rustls's.
    fn wrapped(e: rustls::Error) -> Wrap {
        Wrap(Box::new(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
    }

    #[test]
    fn certificate_problems_are_found_inside_io_errors() {
        let e = wrapped(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        let Some(TlsFailure::ServerCertificate { problem, detail }) = TlsFailure::find(&e) else { panic!("not found") };
        assert_eq!(problem, CertificateProblem::UnknownIssuer);
        assert_eq!(detail, "invalid peer certificate: UnknownIssuer");
        let e = wrapped(rustls::Error::InvalidCertificate(CertificateError::NotValidForName));
        assert!(matches!(
            TlsFailure::find(&e),
            Some(TlsFailure::ServerCertificate { problem: CertificateProblem::NotValidForName, .. })
        ));
        let ca = CertificateError::Other(rustls::OtherError(std::sync::Arc::new(webpki::Error::CaUsedAsEndEntity)));
        let e = wrapped(rustls::Error::InvalidCertificate(ca));
        assert!(matches!(
            TlsFailure::find(&e),
            Some(TlsFailure::ServerCertificate { problem: CertificateProblem::CaUsedAsEndEntity, .. })
        ));
        assert!(CertificateProblem::UnknownIssuer.describe().contains("does not trust"));
    }

    #[test]
    fn alerts_name_the_client_certificate_problem() {
        let e = wrapped(rustls::Error::AlertReceived(AlertDescription::CertificateRequired));
        assert_eq!(
            TlsFailure::find(&e),
            Some(TlsFailure::Alert {
                problem: AlertProblem::CertificateRequired,
                detail: "TLS alert CertificateRequired".into()
            })
        );
        let e = wrapped(rustls::Error::AlertReceived(AlertDescription::UnknownCA));
        assert!(matches!(
            TlsFailure::find(&e),
            Some(TlsFailure::Alert { problem: AlertProblem::CertificateRefused, .. })
        ));
    }

    #[test]
    fn text_that_mentions_certificates_is_not_a_tls_failure() {
        let e = std::io::Error::other("invalid peer certificate: UnknownIssuer");
        assert_eq!(TlsFailure::find(&e), None, "only typed errors count");
        let e = wrapped(rustls::Error::DecryptError);
        assert_eq!(TlsFailure::find(&e), None);
    }

    #[test]
    fn statuses_say_what_to_do() {
        assert_eq!(StatusProblem::of(200), None);
        assert_eq!(StatusProblem::of(304), None);
        assert_eq!(StatusProblem::of(410), Some(StatusProblem::NotFound));
        assert_eq!(StatusProblem::of(503), Some(StatusProblem::ServerFailed));
        assert_eq!(StatusProblem::of(429), Some(StatusProblem::TooManyRequests));
        let refused = StatusProblem::of(401).map(|p| p.message(401, "check the token"));
        assert_eq!(
            refused.as_deref(),
            Some("the depot refused the request (HTTP 401); download tokens expire — check the token")
        );
        assert_eq!(StatusProblem::of(418).map(|p| p.message(418, "")).as_deref(), Some("unexpected HTTP status 418"));
    }
}
