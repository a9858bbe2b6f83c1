//! Depots and mirror stores over HTTPS: the same routers as [`crate::depot_http`] and
//! [`crate::store_http`], behind rustls. The certificate is the one given (PEM certificate
//! chain and key), or one made on first start in `DATA_DIR/tls/` by the API's
//! [`crate::api::tls`] (clients trust `DATA_DIR/tls/ca.pem`).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;

use crate::api::tls::{self, TlsError};
use crate::api::users::TlsFiles;
use crate::depot_http;

/// The server's TLS configuration and, when it was generated, the CA file to trust.
pub struct Https {
    config: Arc<rustls::ServerConfig>,
    pub ca_file: Option<PathBuf>,
}

impl Https {
    /// `cert_and_key` when given, else the certificate kept in (or made now in) `data_dir`.
    pub fn load_or_create(data_dir: &Path, cert_and_key: Option<(PathBuf, PathBuf)>) -> Result<Self, TlsError> {
        let configured = cert_and_key.map(|(cert, key)| TlsFiles { cert, key });
        let setup = tls::load_or_create(data_dir, configured.as_ref())?;
        Ok(Self { config: setup.config, ca_file: setup.ca_file })
    }

    /// Serve `app` on `listener` until `shutdown` completes; requests in flight finish first.
    /// Connections are bounded as every listener's are ([`depot_http::Limits`]).
    pub async fn serve(
        self,
        listener: std::net::TcpListener,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        depot_http::serve_router(listener, app, Some(self.config), depot_http::Limits::default(), shutdown).await
    }
}
