//! The one place the lab builds rustls configs: how every guard shows its own badge and checks
//! the visitor's, over real TLS, on the lab clock.
//!
//! # Two ways to check a client badge
//!
//! Kubernetes has two kinds of doors, and the difference is the most useful thing this file can
//! teach:
//!
//! - **etcd checks in the handshake** ([`server_config_require_client_cert`]). With
//!   `--client-cert-auth` etcd's Go TLS config says `RequireAndVerifyClientCert`: a visitor
//!   without a badge signed by `etcd/ca.crt` never finishes the handshake. There is no HTTP
//!   error to read, only a TLS alert (`remote error: tls: unknown certificate authority`) on the
//!   client and `rejected connection from …` in etcd's log. etcd can afford this because it has
//!   one kind of client (the apiserver) and one rule (any badge from the etcd CA gets in).
//! - **The apiserver and the kubelet check after it** ([`server_config_request_client_cert`]).
//!   Their Go TLS config says `RequestClientCert`: a badge is asked for but not judged in the
//!   handshake, because the apiserver has many ways to log in (certificates, tokens, the
//!   front proxy) and must answer a bad badge with an HTTP `401 Unauthorized` that kubectl can
//!   print, not with a dropped connection. Its x509 authenticator verifies the chain after the
//!   handshake, from [`peer_chain`].
//!
//! Clients ([`client_config`]) always check the server's badge in the handshake, with the name
//! they dialled, as Go's `crypto/tls` does.
//!
//! # Go's words, from rustls
//!
//! Every certificate check here is [`verify()`](crate::verify()), Go's `Certificate.Verify`
//! replayed, so the lab refuses what Go refuses. But rustls reports a refusal as a bare
//! `CertificateError` (which also picks the TLS alert sent to the peer), and Go's text
//! (`x509: certificate signed by unknown authority`) would be lost. So each handshake gets a
//! [`HandshakeNotes`]: the verifier writes its [`Verdict`] there, and after a failed handshake
//! the component reads it back to log exactly what the Go program would ([`server_error_text`],
//! [`client_error_text`]). That is why the config functions return a config *and* notes, and
//! why a config is built per connection: it is cheap (the certificate files are cached and only
//! re-read when they change), and it keeps one visitor's verdict from landing on another's
//! connection.
//!
//! # Files are re-read, sessions are not resumed
//!
//! etcd's Go code calls `tls.LoadX509KeyPair` in its `GetCertificate` callback, so a renewed
//! `etcd/server.crt` is served at the next handshake without a restart. [`CertSource`] and
//! [`TrustSource`] do the same for every component: they look at the files' size, mtime and
//! inode at each handshake and re-read them when anything changed. A broken file on disk makes
//! that handshake fail (and says why in an [`Event`]) rather than crash the component.
//!
//! Session resumption is off everywhere: a resumed TLS session skips the certificate check, and
//! in a lab about certificates every connection should show its badge.
//!
//! # Events
//!
//! This layer emits only what the component cannot see itself: its own certificate or trust
//! bundle being unreadable at handshake time. Handshake outcomes (`rejected connection …`) are
//! emitted by the component, which knows the peer's address and the hop.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::SystemTime;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, Resumption};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, CommonState, DigitallySignedStruct,
    DistinguishedName, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde::Deserialize;

use crate::clock::LabClock;
use crate::events::{Event, Events, Identity, Stage};
use crate::facts::Cert;
use crate::verdict::Verdict;
use crate::verify::{verify, Usage, VerifyRequest};

/// The ALPN protocol every lab server offers and every lab client asks for. Kubernetes' Go
/// servers offer `h2` too; kubectl and curl fall back to HTTP/1.1 without complaint.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// The lab's crypto: aws-lc-rs, the provider the workspace pins, shared by every config, with
/// its cipher suites in Go's order of preference.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            let mut provider = rustls::crypto::aws_lc_rs::default_provider();
            provider.cipher_suites = go_cipher_suite_order(provider.cipher_suites);
            Arc::new(provider)
        })
        .clone()
}

/// Go's `crypto/tls` (1.23, the Go of Kubernetes 1.32) ranks AES-128-GCM first, then
/// ChaCha20-Poly1305, then AES-256-GCM, in TLS 1.3 and in TLS 1.2 alike, and a Go server picks
/// from its own ranking. So every connection between Kubernetes components (and from kubectl)
/// negotiates `TLS_AES_128_GCM_SHA256`; rustls' own ranking puts AES-256 first. The suites
/// offered are unchanged, only their order. Not modelled: a Go server switches to its
/// ChaCha-first ranking when the client itself ranks ChaCha20 first (`aesgcmPreferred`); the
/// lab's doors keep AES-128-GCM first for every client.
fn go_cipher_suite_order(
    mut suites: Vec<rustls::SupportedCipherSuite>,
) -> Vec<rustls::SupportedCipherSuite> {
    use rustls::CipherSuite as S;
    let rank = |suite: &rustls::SupportedCipherSuite| match suite.suite() {
        S::TLS13_AES_128_GCM_SHA256 => 0,
        S::TLS13_CHACHA20_POLY1305_SHA256 => 1,
        S::TLS13_AES_256_GCM_SHA384 => 2,
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => 10,
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 11,
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => 12,
        S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => 13,
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => 14,
        S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => 15,
        _ => 20,
    };
    suites.sort_by_key(rank);
    suites
}

mod accept;
mod guard;
mod notes;
mod parsed;
mod source;
mod texts;

pub use accept::*;
pub use guard::SkipChainCheck;
use guard::*;
pub use notes::*;
pub use source::*;
pub use texts::*;

// ---------------------------------------------------------------------------------------------
// The configs.
// ---------------------------------------------------------------------------------------------

fn owner(name: &str, clock: &LabClock, events: &Events) -> (Arc<Owner>, HandshakeNotes) {
    let notes = HandshakeNotes::default();
    let owner = Arc::new(Owner {
        name: name.to_owned(),
        clock: clock.clone(),
        events: events.clone(),
        notes: notes.clone(),
    });
    (owner, notes)
}

fn server_config(
    clock: &LabClock,
    verifier: Arc<dyn ClientCertVerifier>,
    resolver: ServerCertResolver,
) -> Arc<ServerConfig> {
    let mut config = ServerConfig::builder_with_details(provider(), Arc::new(clock.clone()))
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("aws-lc-rs offers TLS 1.2 and 1.3")
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    // A Go server chooses the cipher suite from its own ranking (see `provider`).
    config.ignore_client_order = true;
    // Every connection shows its badge: no session resumption.
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Arc::new(config)
}

/// etcd's door: the client's badge is required and checked in the handshake against `trust`
/// (etcd's `--trusted-ca-file`). Build one per connection and read its notes after the
/// handshake; the alerts are Go ≥ 1.21's ([`GoAlerts::Specific`]).
pub fn server_config_require_client_cert(
    name: &str,
    cert: CertSource,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
) -> (Arc<ServerConfig>, HandshakeNotes) {
    server_config_require_client_cert_with(name, cert, trust, clock, events, GoAlerts::Specific)
}

/// [`server_config_require_client_cert`] with the alerts of a given Go release.
pub fn server_config_require_client_cert_with(
    name: &str,
    cert: CertSource,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
    alerts: GoAlerts,
) -> (Arc<ServerConfig>, HandshakeNotes) {
    let (owner, notes) = owner(name, &clock, &events);
    let hints = hint_subjects(&owner.roots(&trust));
    let verifier = RequireClientCert {
        trust,
        owner: owner.clone(),
        alerts,
        hints,
        algorithms: provider().signature_verification_algorithms,
    };
    let resolver = ServerCertResolver {
        source: cert,
        owner,
    };
    (server_config(&clock, Arc::new(verifier), resolver), notes)
}

/// The apiserver's and kubelet's door: a client badge is requested but not required, and not
/// judged in the handshake; [`peer_chain`] hands it to the authenticator afterwards.
pub fn server_config_request_client_cert(
    name: &str,
    cert: CertSource,
    clock: LabClock,
    events: Events,
) -> (Arc<ServerConfig>, HandshakeNotes) {
    let (owner, notes) = owner(name, &clock, &events);
    let verifier = RequestClientCert {
        owner: owner.clone(),
        algorithms: provider().signature_verification_algorithms,
    };
    let resolver = ServerCertResolver {
        source: cert,
        owner,
    };
    (server_config(&clock, Arc::new(verifier), resolver), notes)
}

/// A component dialling another: shows `identity` (if any) and checks the server's badge
/// against `trust` with the name dialled. `name` is the dialling component (`apiserver`), for
/// events. Build one per connection and read its notes when the handshake fails.
pub fn client_config(
    name: &str,
    identity: Option<CertSource>,
    trust: TrustSource,
    clock: LabClock,
    events: Events,
) -> (Arc<ClientConfig>, HandshakeNotes) {
    dialling_config(name, identity, Some(trust), clock, events)
}

/// The one client config: shows `identity`, checks the server against `trust` (or, with
/// `None`, takes any server badge).
fn dialling_config(
    name: &str,
    identity: Option<CertSource>,
    trust: Option<TrustSource>,
    clock: LabClock,
    events: Events,
) -> (Arc<ClientConfig>, HandshakeNotes) {
    let (owner, notes) = owner(name, &clock, &events);
    let verifier = CheckServerCert {
        trust,
        owner: owner.clone(),
        algorithms: provider().signature_verification_algorithms,
    };
    let builder = ClientConfig::builder_with_details(provider(), Arc::new(clock.clone()))
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("aws-lc-rs offers TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some(source) => {
            builder.with_client_cert_resolver(Arc::new(ClientCertResolver { source, owner }))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    config.resumption = Resumption::disabled();
    (Arc::new(config), notes)
}

/// The `ServerName` rustls needs for `host` (a DNS name or an IP address, no port).
pub fn server_name(host: &str) -> Result<ServerName<'static>, InvalidHost> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| InvalidHost {
        host: host.to_owned(),
    })
}

/// A host that is neither a DNS name nor an IP address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid server name {host:?}: not a DNS name or an IP address")]
pub struct InvalidHost {
    pub host: String,
}

// ---------------------------------------------------------------------------------------------
// The kubelet's door and the apiserver's dial to it.
// ---------------------------------------------------------------------------------------------
//
// Two things a kubeadm cluster does on port 10250 that the configs above cannot say:
//
// - With `serverTLSBootstrap: true` the kubelet serves only a certificate the cluster CA signed
//   for its `kubelet-serving` CSR. Until an admin approves that CSR it has *no* certificate: Go's
//   `tls.Config.GetCertificate` returns an error, and `crypto/tls` answers the ClientHello with a
//   fatal `internal_error` alert. The caller prints `remote error: tls: internal error`; the
//   kubelet logs `http: TLS handshake error from …: no serving certificate available for the
//   kubelet`. rustls would send `access_denied` for a resolver with nothing to offer, so
//   [`refuse_without_certificate`] plays Go's part by hand.
// - kube-apiserver dials kubelets with `apiserver-kubelet-client` but, because kubeadm sets no
//   `--kubelet-certificate-authority`, it does **not** verify the kubelet's serving certificate
//   (client-go's `Insecure: true` when no CA is given). That is why a self-signed `kubelet.crt`
//   works at all. [`client_config_skip_verify`] is that dial.

/// What a Go server whose `GetCertificate` fails does: read the visitor's ClientHello, then
/// answer with a fatal `internal_error` alert, in plaintext, before any ServerHello. The visitor
/// prints `remote error: tls: internal error`.
///
/// An error means the first bytes were not a ClientHello (plain HTTP, a scanner) or the
/// connection broke; [`server_error_text`] words it as Go would.
pub async fn refuse_without_certificate<IO>(io: &mut IO) -> io::Result<()>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut acceptor = rustls::server::Acceptor::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            if acceptor.read_tls(&mut chunk)? == 0 {
                break;
            }
        }
        match acceptor.accept() {
            Ok(Some(_hello)) => break,
            Ok(None) => continue,
            Err((error, _alert)) => return Err(io::Error::new(io::ErrorKind::InvalidData, error)),
        }
    }
    // A TLS record: type alert (21), legacy version TLS 1.2, length 2, level fatal (2),
    // description internal_error (80).
    let alert = [
        21u8,
        3,
        3,
        0,
        2,
        2,
        u8::from(AlertDescription::InternalError),
    ];
    io.write_all(&alert).await?;
    io.flush().await?;
    let _ = io.shutdown().await;
    Ok(())
}

/// kube-apiserver dialling a kubelet without `--kubelet-certificate-authority`: shows
/// `identity` (`apiserver-kubelet-client`) and accepts whatever certificate the kubelet shows,
/// as Go's `InsecureSkipVerify` does. The kubelet must still prove it holds that certificate's
/// key. Build one per connection; the notes name the kubelet's badge.
pub fn client_config_skip_verify(
    name: &str,
    identity: Option<CertSource>,
    clock: LabClock,
    events: Events,
) -> (Arc<ClientConfig>, HandshakeNotes) {
    dialling_config(name, identity, None, clock, events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_versions_before_1_21_send_only_bad_certificate() {
        assert_eq!(
            GoAlerts::for_go_version("go1.19.8"),
            GoAlerts::BadCertificateOnly
        );
        assert_eq!(GoAlerts::for_go_version("go1.22.7"), GoAlerts::Specific);
        assert_eq!(GoAlerts::for_go_version("devel"), GoAlerts::Specific);
    }

    #[test]
    fn go_names_alerts_in_its_own_words() {
        assert_eq!(
            go_alert_text(AlertDescription::UnknownCA),
            "unknown certificate authority"
        );
        assert_eq!(
            go_alert_text(AlertDescription::CertificateExpired),
            "expired certificate"
        );
        assert_eq!(
            go_alert_text(AlertDescription::CertificateRequired),
            "certificate required"
        );
    }

    #[test]
    fn a_missing_file_reads_as_go_prints_it() {
        let err = CertSource::pem_files("/nonexistent/server.crt", "/nonexistent/server.key")
            .load()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "open /nonexistent/server.crt: no such file or directory"
        );
    }

    #[test]
    fn the_rustls_error_is_found_inside_an_io_error() {
        let io_err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::UnknownCA),
        );
        assert_eq!(
            client_error_text(&io_err, &HandshakeNotes::default()),
            "remote error: tls: unknown certificate authority"
        );
    }
}
