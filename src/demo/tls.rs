//! `rivulet demo --tls-self-signed`: a certificate made at start.

use rivulet::serve::Tls;

/// The names a self-signed demo certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why a certificate could not be made.
pub type CertificateError = Box<dyn std::error::Error + Send + Sync>;

/// A new self-signed certificate for [`SELF_SIGNED_NAMES`] and its key, as
/// PEM: the certificate is also what a client trusts to reach the demo
/// (`rivulet watch --ca-file`).
pub struct SelfSigned {
    /// The certificate (PEM).
    pub cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl SelfSigned {
    /// Makes the certificate and its key.
    pub fn new() -> Result<SelfSigned, CertificateError> {
        let names = SELF_SIGNED_NAMES.map(str::to_owned).to_vec();
        let certified = rcgen::generate_simple_self_signed(names)?;
        Ok(SelfSigned {
            cert_pem: certified.cert.pem(),
            key_pem: certified.signing_key.serialize_pem(),
        })
    }

    /// TLS with this certificate. Browsers warn that they do not trust it;
    /// past the warning the demo is served over HTTP/2.
    pub fn tls(&self) -> Result<Tls, CertificateError> {
        Ok(Tls::from_pem(
            self.cert_pem.as_bytes(),
            self.key_pem.as_bytes(),
        )?)
    }
}

/// TLS with a new self-signed certificate for [`SELF_SIGNED_NAMES`] (see
/// [`SelfSigned`] for one whose certificate clients can be given).
pub fn self_signed() -> Result<Tls, CertificateError> {
    SelfSigned::new()?.tls()
}
