//! esxlcm's one HTTP(S) client, used for everything fetched over the network: depots read
//! by the CLI ([`Fetch`](esxlcm_depot::source::Fetch) for `Depot::open`), mirror syncs
//! (conditional GET and resume, through the store's transport) and the API server's
//! downloads ([`HttpClient::download_to_file`], [`HttpClient::fetch_to_vec`]).
//!
//! One [`ClientConfig`]: extra CA files on top of the system's roots, proxy, headers, a
//! client certificate ([`ClientIdentity`]), timeouts, and a [`RetryPolicy`] (exponential
//! backoff for idempotent GETs that got no answer or a 429/502/503/504, honouring
//! Retry-After, within a cap on the total wait). Failures are diagnosed once
//! ([`problem`]: TLS from rustls's typed errors, statuses by what to do) and worded with the
//! caller's [`Advice`]. Secrets in URLs and headers never reach a message or a log
//! ([`redact`]).
//!
//! [`HttpClient::call`] sends one request with a JSON body and reads the answer whole, for
//! API clients (`esxlcm host collect --post`).
//!
//! This is the only crate that talks HTTP as a client; the depot crate is formats only.

mod call;
mod client;
mod config;
mod download;
mod error;
mod fetch;
mod identity;
pub mod problem;
pub mod redact;
mod retry;

pub use call::{Call, Reply};
pub use client::{Body, GetRequest, GetResponse, HttpClient, Validators};
pub use config::{Advice, ClientConfig};
pub use download::Download;
pub use error::NetError;
pub use identity::{ClientIdentity, client_certificate_subject};
pub use retry::RetryPolicy;
