//! One handshake's notes: what the verifier saw and concluded, read back after the handshake to
//! print Go's text; and which TLS alerts the peer sends, as Go's version of it would.

use super::*;

// ---------------------------------------------------------------------------------------------
// One handshake's notes.
// ---------------------------------------------------------------------------------------------

/// What one handshake's certificate checks found, readable after the handshake (failed or not).
/// Cheap to clone; clones share the notes.
#[derive(Clone, Debug, Default)]
pub struct HandshakeNotes {
    pub(super) inner: Arc<Mutex<Notes>>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Notes {
    pub(super) peer_verdict: Option<Verdict>,
    /// The peer's leaf certificate, read into an [`Identity`] only when someone asks.
    pub(super) peer_badge: Option<CertificateDer<'static>>,
    pub(super) own_cert_error: Option<SourceError>,
    pub(super) trust_error: Option<SourceError>,
}

impl HandshakeNotes {
    /// The verdict on the peer's badge, if this side checked one.
    pub fn peer_verdict(&self) -> Option<Verdict> {
        self.lock().peer_verdict.clone()
    }

    /// Who the peer's badge says they are, if one was shown (even if it was refused).
    pub fn peer_identity(&self) -> Option<Identity> {
        let badge = self.lock().peer_badge.clone()?;
        Identity::from_der(&badge).ok()
    }

    /// Why this side could not show its own badge, if it could not.
    pub fn own_cert_error(&self) -> Option<SourceError> {
        self.lock().own_cert_error.clone()
    }

    /// Why this side could not read its trust bundle (it then trusted nobody).
    pub fn trust_error(&self) -> Option<SourceError> {
        self.lock().trust_error.clone()
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Notes> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Which TLS alerts a Go server sends when it refuses a client's badge. The client prints the
/// alert as `remote error: tls: <name>`, so this decides what the apiserver logs about etcd.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GoAlerts {
    /// Go ≥ 1.21: `unknown certificate authority` for a badge from an unknown CA, `expired
    /// certificate` for one out of date, `bad certificate` otherwise. etcd 3.5.16, the image
    /// kubeadm 1.32 runs, is built with Go 1.22.
    #[default]
    Specific,
    /// Go ≤ 1.20: `bad certificate` for every refusal. Debian 12's etcd 3.4.23 is built with
    /// Go 1.19.
    BadCertificateOnly,
}

impl GoAlerts {
    /// The alerts of the Go release named like `go1.19.8` (as `etcd --version` prints it).
    /// Unreadable versions get [`GoAlerts::Specific`].
    pub fn for_go_version(version: &str) -> GoAlerts {
        let digits = version.trim().trim_start_matches("go");
        let mut parts = digits.split('.').map(|p| p.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(1), Some(minor)) if minor < 21 => GoAlerts::BadCertificateOnly,
            _ => GoAlerts::Specific,
        }
    }

    /// The alert this Go sends when it refuses a client's badge with `verdict`.
    pub fn alert_for(self, verdict: &Verdict) -> AlertDescription {
        AlertDescription::from(self.certificate_error(verdict))
    }

    /// The rustls error whose alert matches what this Go sends for a refused badge.
    fn certificate_error(self, verdict: &Verdict) -> CertificateError {
        use crate::verdict::VerdictKind as K;
        match self {
            GoAlerts::BadCertificateOnly => CertificateError::BadEncoding,
            // Go 1.21's processCertsFromClient: an `x509.UnknownAuthorityError` → unknown_ca,
            // a `CertificateInvalidError{Reason: Expired}` (expired *or* not yet valid, badge or
            // CA) → certificate_expired, anything else → bad_certificate.
            GoAlerts::Specific
                if verdict
                    .text
                    .starts_with("x509: certificate signed by unknown authority") =>
            {
                CertificateError::UnknownIssuer
            }
            GoAlerts::Specific => match verdict.kind {
                K::Expired | K::NotYetValid | K::CaExpired | K::CaNotYetValid => {
                    CertificateError::Expired
                }
                _ => CertificateError::BadEncoding,
            },
        }
    }

    pub(super) fn refusal(self, verdict: &Verdict) -> rustls::Error {
        rustls::Error::InvalidCertificate(self.certificate_error(verdict))
    }
}
