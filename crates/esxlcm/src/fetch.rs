//! How the binary reaches online depots: everything HTTP is in `esxlcm-net`; this says it
//! in the CLI's terms (which flag to give after each kind of failure).
//!
//! Depot URLs carry secrets: Broadcom download tokens sit in the path
//! (`https://dl.broadcom.com/<token>/PROD/…`), and some mirrors use userinfo or query
//! strings. Every URL that ends up in a message goes through [`redact_url_str`] or
//! [`redact_text`] first; `--header` values are never logged.

use esxlcm_net::Advice;
pub use esxlcm_net::redact::{redact_text, redact_url_str};

/// What the CLI tells the user to do after a failed request.
pub fn advice() -> Advice {
    Advice {
        trust_ca: "if the depot uses a private or corporate CA, pass its certificate with --ca-file FILE.pem".into(),
        credentials: "check the token in the URL or the --header".into(),
        timeout: "Raise --timeout/--connect-timeout, or check --proxy / HTTPS_PROXY".into(),
        connect: "Check the host name and port, and --proxy / HTTPS_PROXY".into(),
        ..Advice::default()
    }
}
