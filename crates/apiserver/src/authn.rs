//! Alice reads the badge: the x509 authenticator, which runs *after* the TLS handshake.
//!
//! kube-apiserver asks for a client certificate but does not require one, and does not check
//! it during the handshake. Its x509 authenticator checks it afterwards against
//! `--client-ca-file` (our `pki/ca.crt`), on the lab clock, for the clientAuth usage. A badge
//! that fails is an authentication *error*: the answer is HTTP 401 `Unauthorized`, and the
//! reason appears only in the apiserver's own log. No badge at all is not an error: the
//! visitor becomes `system:anonymous`, and RBAC decides what an anonymous visitor may see.

use kubecorp_trust::events::Identity;
use kubecorp_trust::{verify_badge, Usage, Verdict, VerifyRequest};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::user::UserInfo;

/// What the authenticator concluded about a request.
#[derive(Debug, Clone)]
pub enum Authn {
    /// A valid badge: the user it names, and who the badge says they are.
    User { user: UserInfo, identity: Identity },
    /// No badge shown: `system:anonymous` (kubeadm leaves `--anonymous-auth` on).
    Anonymous,
    /// A badge that failed verification: 401, with the apiserver's log line.
    Failed {
        identity: Option<Identity>,
        verdict: Verdict,
        log_line: String,
    },
}

/// Verifies a presented chain against the client CA bundle at `now`.
pub fn authenticate(
    chain: &[CertificateDer<'_>],
    client_ca: &[CertificateDer<'_>],
    now: OffsetDateTime,
) -> Authn {
    let Some(leaf) = chain.first() else {
        return Authn::Anonymous;
    };
    let (verdict, identity) = verify_badge(&VerifyRequest {
        leaf,
        intermediates: &chain[1..],
        roots: client_ca,
        name: None,
        usage: Some(Usage::Client),
        at: now,
    });
    if !verdict.is_valid() {
        let log_line = format!(
            "\"Unable to authenticate the request\" err=\"[verifying certificate {} failed: {}]\"",
            certificate_identifier(leaf),
            verdict.text
        );
        return Authn::Failed {
            identity,
            verdict,
            log_line,
        };
    }
    let identity = identity.expect("a verified certificate parses");
    match UserInfo::from_cert(&identity.cn, identity.orgs.clone()) {
        Some(user) => Authn::User { user, identity },
        // An empty CN: the x509 authenticator has no opinion, as if no badge was shown.
        None => Authn::Anonymous,
    }
}

/// `SN=<decimal>, SKID=<hex>, AKID=<hex>`, as kube-apiserver names a certificate in its log.
pub fn certificate_identifier(der: &[u8]) -> String {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return "SN=<unparseable>".into();
    };
    let mut skid = String::new();
    let mut akid = String::new();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(k) => {
                skid = hex_colon(k.0)
            }
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                akid = a
                    .key_identifier
                    .as_ref()
                    .map(|k| hex_colon(k.0))
                    .unwrap_or_default()
            }
            _ => {}
        }
    }
    format!("SN={}, SKID={}, AKID={}", cert.serial, skid, akid)
}

fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
