//! `rivulet demo --tls-self-signed`: a certificate made at start.

use rivulet::serve::Tls;

/// The names a self-signed demo certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why a certificate could not be made.
pub type CertificateError = Box<dyn std::error::Error + Send + Sync>;

/// TLS with a new self-signed certificate for [`SELF_SIGNED_NAMES`]. Browsers
/// warn that they do not trust it; past the warning the demo is served over
/// HTTP/2.
pub fn self_signed() -> Result<Tls, CertificateError> {
    let names = SELF_SIGNED_NAMES.map(str::to_owned).to_vec();
    let certified = rcgen::generate_simple_self_signed(names)?;
    let cert = certified.cert.pem();
    let key = certified.signing_key.serialize_pem();
    Ok(Tls::from_pem(cert.as_bytes(), key.as_bytes())?)
}
