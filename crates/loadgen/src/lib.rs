//! What the bench-only tools share: a server-certificate check that takes any chain but still
//! checks the server's handshake signature (as `curl -k` or kubectl's
//! `--insecure-skip-tls-verify`), so the tools measure the servers, not themselves.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Any server certificate is taken, but the server must still prove it holds the certificate's
/// key (its handshake signature is checked).
#[derive(Debug)]
pub struct SkipChainCheck {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl Default for SkipChainCheck {
    fn default() -> SkipChainCheck {
        SkipChainCheck::new()
    }
}

impl SkipChainCheck {
    pub fn new() -> SkipChainCheck {
        SkipChainCheck {
            algorithms: rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for SkipChainCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
