//! Alice reads the badge: the x509 authenticator, which runs *after* the TLS handshake.
//!
//! kube-apiserver asks for a client certificate but does not require one, and does not check
//! it during the handshake. Its x509 authenticator checks it afterwards against
//! `--client-ca-file` (our `pki/ca.crt`), on the lab clock, for the clientAuth usage. A badge
//! that fails is an authentication *error*: the answer is HTTP 401 `Unauthorized`, and the
//! reason appears only in the apiserver's own log. No badge at all is not an error: the
//! visitor becomes `system:anonymous`, and RBAC decides what an anonymous visitor may see.

use kubecorp_trust::authn::{
    authenticate_x509, front_proxy_error, unable_to_authenticate, X509Authn,
};
use kubecorp_trust::events::Identity;
use kubecorp_trust::Verdict;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

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
        /// Each authenticator's error, in order (the front proxy's, then x509's): what a
        /// bearer token's failure is appended to.
        errors: Vec<String>,
    },
}

/// Verifies a presented chain against the client CA bundle at `now`.
///
/// `front_proxy_ca` is `--requestheader-client-ca-file` (kubeadm: `front-proxy-ca.crt`): its
/// authenticator runs first, and its error comes first in the log line when both fail.
pub fn authenticate(
    chain: &[CertificateDer<'_>],
    client_ca: &[CertificateDer<'_>],
    front_proxy_ca: Option<&[CertificateDer<'_>]>,
    now: OffsetDateTime,
) -> Authn {
    match authenticate_x509(chain, client_ca, now) {
        // No badge, or one with an empty CN: anonymous, as kubeadm leaves --anonymous-auth on.
        X509Authn::NoOpinion => Authn::Anonymous,
        X509Authn::User {
            name,
            groups,
            identity,
        } => match UserInfo::from_cert(&name, groups) {
            Some(user) => Authn::User { user, identity },
            None => Authn::Anonymous,
        },
        X509Authn::Failed {
            identity,
            verdict,
            error,
        } => {
            let first = front_proxy_ca.and_then(|ca| front_proxy_error(chain, ca, now));
            let log_line = unable_to_authenticate(first.as_deref(), &error);
            Authn::Failed {
                identity,
                verdict,
                log_line,
                errors: first.into_iter().chain([error]).collect(),
            }
        }
    }
}
