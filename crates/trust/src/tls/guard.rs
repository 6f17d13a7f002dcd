//! Showing our own badge (the resolvers) and checking the peer's (the verifiers): etcd's
//! `RequireAndVerifyClientCert`, the apiserver's and kubelet's `RequestClientCert`, and every
//! client's check of the server's badge with the name it dialled.

use super::*;

// ---------------------------------------------------------------------------------------------
// Showing our own badge.
// ---------------------------------------------------------------------------------------------

/// The handshake-signature checks, the same in every verifier: whatever the verifier thinks of
/// the badge, the peer must prove it holds the badge's key (rustls' own checks, with the
/// provider's algorithms in `self.algorithms`).
macro_rules! handshake_signatures_checked {
    () => {
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
    };
}

/// Who is showing a badge, so a broken file can be reported.
#[derive(Debug)]
pub(super) struct Owner {
    pub(super) name: String,
    pub(super) clock: LabClock,
    pub(super) events: Events,
    pub(super) notes: HandshakeNotes,
}

impl Owner {
    fn own_cert(&self, source: &CertSource) -> Option<Arc<CertifiedKey>> {
        match source.load() {
            Ok(key) => {
                // A config shared by many connections must not keep reporting a fixed file.
                self.notes.lock().own_cert_error = None;
                Some(key)
            }
            Err(error) => {
                self.events.emit(
                    Event::new(self.clock.now(), &self.name, &self.name, Stage::Tls)
                        .detail(error.to_string())
                        .explanation(format!(
                            "{} could not read its own badge at handshake time, so it had nothing to show and the handshake failed.",
                            self.name
                        ))
                        .hint(format!(
                            "Check {} (`openssl x509 -noout -text -in FILE`); re-issue it with `kubecorp certs renew NAME`.",
                            source.describe()
                        )),
                );
                self.notes.lock().own_cert_error = Some(error);
                None
            }
        }
    }

    pub(super) fn roots(&self, trust: &TrustSource) -> Arc<Vec<CertificateDer<'static>>> {
        match trust.load() {
            Ok(roots) => {
                self.notes.lock().trust_error = None;
                roots
            }
            Err(error) => {
                // Go would have refused to start; the lab keeps running and trusts nobody,
                // so every badge reads "signed by unknown authority".
                self.events.emit(
                    Event::new(self.clock.now(), &self.name, &self.name, Stage::Tls)
                        .detail(error.to_string())
                        .explanation(format!(
                            "{} could not read the CAs it trusts ({}), so it trusted nobody.",
                            self.name,
                            trust.describe()
                        )),
                );
                self.notes.lock().trust_error = Some(error);
                Arc::new(Vec::new())
            }
        }
    }
}

#[derive(Debug)]
pub(super) struct ServerCertResolver {
    pub(super) source: CertSource,
    pub(super) owner: Arc<Owner>,
}

impl ResolvesServerCert for ServerCertResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // `None` makes rustls abort the handshake (alert access_denied; Go's GetCertificate
        // error would send internal_error).
        self.owner.own_cert(&self.source)
    }
}

#[derive(Debug)]
pub(super) struct ClientCertResolver {
    pub(super) source: CertSource,
    pub(super) owner: Arc<Owner>,
}

impl ResolvesClientCert for ClientCertResolver {
    /// Like a Go client with one certificate in `tls.Config.Certificates`, this shows its badge
    /// whatever CAs the server hints at: a wrong badge is refused by the server, not withheld.
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.owner.own_cert(&self.source)
    }

    fn has_certs(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Checking the peer's badge.
// ---------------------------------------------------------------------------------------------

/// etcd's check: a badge is required, and judged in the handshake against the trusted CAs.
#[derive(Debug)]
pub(super) struct RequireClientCert {
    pub(super) trust: TrustSource,
    pub(super) owner: Arc<Owner>,
    pub(super) alerts: GoAlerts,
    pub(super) hints: Vec<DistinguishedName>,
    pub(super) algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequireClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // With no badge at all rustls sends certificate_required itself (Go ≥ 1.21 does the
        // same on TLS 1.3) and never calls verify_client_cert.
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Go lists the subjects of its ClientCAs pool in the CertificateRequest.
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let roots = self.owner.roots(&self.trust);
        let verdict = verify(&VerifyRequest {
            leaf: end_entity,
            intermediates,
            roots: &roots,
            // A server has no name to match a client against.
            name: None,
            usage: Some(Usage::Client),
            at: self.owner.clock.now(),
        });
        let refused = !verdict.is_valid();
        let refusal = refused.then(|| self.alerts.refusal(&verdict));
        {
            let mut notes = self.owner.notes.lock();
            notes.peer_badge = Some(end_entity.clone().into_owned());
            notes.peer_verdict = Some(verdict);
        }
        match refusal {
            None => Ok(ClientCertVerified::assertion()),
            Some(error) => Err(error),
        }
    }

    // Whatever the badge says, the visitor must prove they hold its key.
    handshake_signatures_checked!();
}

/// The apiserver's and kubelet's handshake: any badge (or none) is taken in, unjudged, so the
/// x509 authenticator can judge it after the handshake and answer 401.
#[derive(Debug)]
pub(super) struct RequestClientCert {
    pub(super) owner: Arc<Owner>,
    pub(super) algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Not a judgement: Go's RequestClientCert does not verify either. The signature checks
        // below still prove the visitor holds the badge's key, so a stolen certificate alone
        // (without its key) gets nobody in.
        self.owner.notes.lock().peer_badge = Some(end_entity.clone().into_owned());
        Ok(ClientCertVerified::assertion())
    }

    handshake_signatures_checked!();
}

/// Every client's check of the server: Go's `Certificate.Verify` with the dialled name and
/// server-auth usage.
#[derive(Debug)]
pub(super) struct CheckServerCert {
    /// The CA bundle to check against; `None` is Go's `InsecureSkipVerify` (any badge is taken,
    /// but noted).
    pub(super) trust: Option<TrustSource>,
    pub(super) owner: Arc<Owner>,
    pub(super) algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CheckServerCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(trust) = &self.trust else {
            self.owner.notes.lock().peer_badge = Some(end_entity.clone().into_owned());
            return Ok(ServerCertVerified::assertion());
        };
        let roots = self.owner.roots(trust);
        let name = server_name_text(server_name);
        let verdict = verify(&VerifyRequest {
            leaf: end_entity,
            intermediates,
            roots: &roots,
            name: Some(&name),
            usage: Some(Usage::Server),
            at: self.owner.clock.now(),
        });
        let refused = !verdict.is_valid();
        {
            let mut notes = self.owner.notes.lock();
            notes.peer_badge = Some(end_entity.clone().into_owned());
            notes.peer_verdict = Some(verdict);
        }
        if refused {
            // Go's client sends the generic bad_certificate alert whatever the reason, so the
            // server logs `remote error: tls: bad certificate`; BadEncoding makes rustls send
            // the same. The reason itself is in the notes.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::BadEncoding,
            ))
        } else {
            Ok(ServerCertVerified::assertion())
        }
    }

    handshake_signatures_checked!();
}

/// The name as Go's `VerifyOptions.DNSName` would hold it.
pub(super) fn server_name_text(name: &ServerName<'_>) -> String {
    match name {
        ServerName::DnsName(dns) => dns.as_ref().to_owned(),
        ServerName::IpAddress(ip) => IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}

/// The subjects of the trusted CAs, for the CertificateRequest.
pub(super) fn hint_subjects(roots: &[CertificateDer<'_>]) -> Vec<DistinguishedName> {
    roots
        .iter()
        .filter_map(|der| Cert::parse(der).ok())
        .map(|cert| DistinguishedName::from(cert.raw_subject.to_vec()))
        .collect()
}

/// Go's `InsecureSkipVerify` for the bench-only tools (as `curl -k` or kubectl's
/// `--insecure-skip-tls-verify`): any server badge is taken, unnoted, but the server must still
/// prove it holds the badge's key (its handshake signature is checked), so the tools measure
/// the servers, not themselves.
#[derive(Debug)]
pub struct SkipChainCheck {
    algorithms: WebPkiSupportedAlgorithms,
}

impl Default for SkipChainCheck {
    fn default() -> SkipChainCheck {
        SkipChainCheck::new()
    }
}

impl SkipChainCheck {
    pub fn new() -> SkipChainCheck {
        SkipChainCheck {
            algorithms: provider().signature_verification_algorithms,
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

    handshake_signatures_checked!();
}
