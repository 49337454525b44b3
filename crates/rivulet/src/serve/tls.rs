//! TLS for the server: rustls, with ALPN offering HTTP/2 and HTTP/1.1.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls;

/// A server's certificate chain and key, ready to serve HTTPS.
///
/// Offers `h2` and `http/1.1` by ALPN, so browsers that can use HTTP/2 do, and
/// share one connection among all the streams of an origin (HTTP/1.1 allows
/// them six).
#[derive(Clone)]
pub struct Tls {
    pub(crate) config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("alpn", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// The certificate chain and private key of PEM files (a key in PKCS #8,
    /// PKCS #1 or SEC1 form).
    pub fn from_pem_files(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<Tls, TlsError> {
        let read =
            |path: &Path| std::fs::read(path).map_err(|e| TlsError::Read(path.to_owned(), e));
        Tls::from_pem(&read(cert.as_ref())?, &read(key.as_ref())?)
    }

    /// The certificate chain and private key of PEM text.
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<Tls, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
        if chain.is_empty() {
            return Err(TlsError::Certificate(
                "no certificate in the PEM text".into(),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::Key(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Key(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Key(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls::from_config(Arc::new(config)))
    }

    /// A rustls configuration of your own (client certificates, several
    /// names…). Set its ALPN protocols to `h2` and `http/1.1` to offer both.
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Tls {
        Tls { config }
    }
}

/// Why a certificate or key cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    Read(PathBuf, std::io::Error),
    /// The certificate chain is not valid PEM, or holds no certificate.
    Certificate(String),
    /// The private key is missing, not valid PEM, or does not fit the
    /// certificate.
    Key(String),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            TlsError::Certificate(e) => write!(f, "bad certificate: {e}"),
            TlsError::Key(e) => write!(f, "bad private key: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read(_, e) => Some(e),
            _ => None,
        }
    }
}
