//! Alice reads the badge: the front-proxy and x509 authenticators, which run *after* the TLS
//! handshake.
//!
//! kube-apiserver asks for a client certificate but does not require one, and does not check
//! it during the handshake. Its authenticators check it afterwards, in the order kubeadm's
//! flags build them (k8s.io/kubernetes v1.32 `pkg/kubeapiserver/authenticator/config.go`:
//! "front-proxy, BasicAuth methods, local first, then remote"), tried one after the other as
//! k8s.io/apiserver v0.32 `pkg/authentication/request/union/union.go` tries them, the first
//! that knows the visitor winning:
//!
//! 1. the **request-header** authenticator (`--requestheader-client-ca-file=front-proxy-ca.crt`,
//!    allowed name `front-proxy-client`): a front proxy's badge vouches for the user in its
//!    `X-Remote-User`/`X-Remote-Group`/`X-Remote-Extra-*` headers
//!    ([`kubecorp_trust::authn::requestheader`]);
//! 2. the **x509** authenticator, against `--client-ca-file` (our `pki/ca.crt`), on the lab
//!    clock, for the clientAuth usage: the badge's CN and O;
//! 3. the bearer-token authenticators (in `server.rs`, with the errors collected here).
//!
//! A badge that fails every one is an authentication *error*: the answer is HTTP 401
//! `Unauthorized`, and the reasons appear only in the apiserver's own log, joined in that
//! order. No badge at all is not an error: the visitor becomes `system:anonymous`, and RBAC
//! decides what an anonymous visitor may see. A cluster-CA badge's `X-Remote-User` is ignored:
//! the front-proxy authenticator refuses the badge, the x509 one accepts it, and the user is
//! the badge's own CN.

use kubecorp_trust::authn::requestheader::{
    authenticate_request_header, RequestHeaderAuthn, RequestHeaderConfig,
};
use kubecorp_trust::authn::{authenticate_x509, unable_to_authenticate, X509Authn};
use kubecorp_trust::events::Identity;
use kubecorp_trust::Verdict;
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::user::{UserInfo, AUTHENTICATED};

/// What the authenticators concluded about a request.
#[derive(Debug, Clone)]
pub enum Authn {
    /// A valid badge: the user it names, and who the badge says they are.
    User { user: UserInfo, identity: Identity },
    /// A front proxy's badge vouching for the user its headers name; `proxy` is its badge.
    Proxied { user: UserInfo, proxy: Identity },
    /// No badge shown: `system:anonymous` (kubeadm leaves `--anonymous-auth` on).
    Anonymous,
    /// A badge that failed verification: 401, with the apiserver's log line.
    Failed {
        identity: Option<Identity>,
        /// The x509 authenticator's verdict on the badge against `ca.crt`.
        verdict: Verdict,
        log_line: String,
        /// Each authenticator's error, in order (the front proxy's, then x509's): what a
        /// bearer token's failure is appended to.
        errors: Vec<String>,
    },
}

/// The request-header authenticator's settings: its CA bundle and kubeadm's flags.
#[derive(Clone, Copy, Debug)]
pub struct FrontProxy<'a> {
    /// `--requestheader-client-ca-file` (kubeadm: `front-proxy-ca.crt`).
    pub ca: &'a [CertificateDer<'a>],
    pub config: &'a RequestHeaderConfig,
}

/// Runs the front-proxy authenticator (when configured), then the x509 one, on a presented
/// chain and the request's headers (name, value) at `now`.
pub fn authenticate<'h>(
    chain: &[CertificateDer<'_>],
    client_ca: &[CertificateDer<'_>],
    front_proxy: Option<FrontProxy<'_>>,
    headers: impl IntoIterator<Item = (&'h str, &'h str)> + Clone,
    now: OffsetDateTime,
) -> Authn {
    let mut first = None;
    if let Some(front) = front_proxy {
        match authenticate_request_header(chain, front.ca, front.config, headers, now) {
            RequestHeaderAuthn::User(proxied) => {
                // `AuthenticatedGroupAdder`: every authenticated user is in system:authenticated.
                let mut groups = proxied.groups;
                if !groups.iter().any(|g| g == AUTHENTICATED) {
                    groups.push(AUTHENTICATED.to_owned());
                }
                let user = UserInfo {
                    name: proxied.name,
                    uid: String::new(),
                    groups,
                    extra: proxied.extra,
                };
                return Authn::Proxied {
                    user,
                    proxy: proxied.proxy,
                };
            }
            RequestHeaderAuthn::NoOpinion => {}
            RequestHeaderAuthn::Failed { error, .. } => first = Some(error.to_string()),
        }
    }
    match authenticate_x509(chain, client_ca, now) {
        // No badge, or one with an empty CN: anonymous, as kubeadm leaves --anonymous-auth on;
        // unless the front proxy's authenticator failed the badge, which is an error.
        X509Authn::NoOpinion => match first {
            None => Authn::Anonymous,
            Some(error) => {
                let identity = chain.first().and_then(|leaf| Identity::from_der(leaf).ok());
                let verdict = kubecorp_trust::verify::verify(&kubecorp_trust::VerifyRequest {
                    leaf: &chain[0],
                    intermediates: &chain[1..],
                    roots: client_ca,
                    name: None,
                    usage: Some(kubecorp_trust::Usage::Client),
                    at: now,
                });
                Authn::Failed {
                    identity,
                    verdict,
                    log_line: unable_to_authenticate(None, &error),
                    errors: vec![error],
                }
            }
        },
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
