//! The x509 authenticator Kubernetes' Go servers run after the handshake: who a badge says its holder is, or why it does not count.
//!
//! kube-apiserver, the kubelet and the secure ports of kube-scheduler and
//! kube-controller-manager (delegated authentication) all take a client certificate in the
//! handshake without judging it, then hand the chain to the same authenticator
//! (`k8s.io/apiserver/pkg/authentication/request/x509`): it verifies the chain against the
//! client CA bundle for the clientAuth usage, and
//!
//! - no certificate, or a verified one with an empty CN: no opinion (the door decides what an
//!   unknown visitor is: `system:anonymous`, or 401 where anonymous access is off);
//! - a verified one: user = CN, groups = every O (each door then adds `system:authenticated`);
//! - one that fails: an error naming the certificate,
//!   `verifying certificate SN=…, SKID=…, AKID=… failed: x509: …`, which the door logs; the
//!   visitor only ever reads `Unauthorized`.

pub mod requestheader;

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::events::Identity;
use crate::verdict::Verdict;
use crate::verify::{verify_badge, Usage, VerifyRequest};

/// What the x509 authenticator concluded about a presented chain.
#[derive(Clone, Debug)]
pub enum X509Authn {
    /// No badge, or a good badge with an empty CN: the authenticator has no opinion.
    NoOpinion,
    /// A badge that verifies: the user it names and the groups (its O attributes) it carries.
    User {
        name: String,
        groups: Vec<String>,
        identity: Identity,
    },
    /// A badge that does not verify: 401 for the visitor, `error` for the door's log.
    Failed {
        identity: Option<Identity>,
        verdict: Verdict,
        /// `verifying certificate SN=…, SKID=…, AKID=… failed: x509: …`
        error: String,
    },
}

/// Verifies `chain` (leaf first) against `client_ca` at `now`, for client use.
pub fn authenticate_x509(
    chain: &[CertificateDer<'_>],
    client_ca: &[CertificateDer<'_>],
    now: OffsetDateTime,
) -> X509Authn {
    let Some(leaf) = chain.first() else {
        return X509Authn::NoOpinion;
    };
    let (verdict, identity) = verify_badge(&VerifyRequest {
        leaf,
        intermediates: &chain[1..],
        roots: client_ca,
        name: None,
        usage: Some(Usage::Client),
        at: now,
    });
    match identity {
        Some(identity) if verdict.is_valid() => {
            if identity.cn.is_empty() {
                return X509Authn::NoOpinion;
            }
            X509Authn::User {
                name: identity.cn.clone(),
                groups: identity.orgs.clone(),
                identity,
            }
        }
        identity => {
            let error = format!(
                "verifying certificate {} failed: {}",
                certificate_identifier(leaf),
                verdict.text
            );
            X509Authn::Failed {
                identity,
                verdict,
                error,
            }
        }
    }
}

/// The request-header (front-proxy) authenticator's check, which kubeadm's apiserver
/// (`--requestheader-client-ca-file=front-proxy-ca.crt`) and every delegating server run
/// *before* the x509 one: Go's error when the badge is not from `front_proxy_ca`, `None` when it
/// is (that authenticator then has no opinion without its `X-Remote-User` headers).
pub fn front_proxy_error(
    chain: &[CertificateDer<'_>],
    front_proxy_ca: &[CertificateDer<'_>],
    now: OffsetDateTime,
) -> Option<String> {
    let leaf = chain.first()?;
    let verdict = crate::verify::verify(&VerifyRequest {
        leaf,
        intermediates: &chain[1..],
        roots: front_proxy_ca,
        name: None,
        usage: Some(Usage::Client),
        at: now,
    });
    (!verdict.is_valid()).then_some(verdict.text)
}

/// The line a Kubernetes server logs when no authenticator accepted a badge and one failed it:
/// Go's aggregate of every error, in the authenticators' order, bracketed when there are two.
pub fn unable_to_authenticate(front_proxy: Option<&str>, x509: &str) -> String {
    let err = match front_proxy {
        Some(first) => format!("[{first}, {x509}]"),
        None => x509.to_owned(),
    };
    format!("\"Unable to authenticate the request\" err=\"{err}\"")
}

/// `SN=<decimal>, SKID=<hex>, AKID=<hex>`, as Kubernetes names a certificate in its logs.
pub fn certificate_identifier(der: &[u8]) -> String {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return "SN=<unparseable>".into();
    };
    let (mut skid, mut akid) = (String::new(), String::new());
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => skid = hex_colon(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                akid = a
                    .key_identifier
                    .as_ref()
                    .map(|k| hex_colon(k.0))
                    .unwrap_or_default()
            }
            _ => {}
        }
    }
    format!("SN={}, SKID={skid}, AKID={akid}", cert.serial)
}

fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
