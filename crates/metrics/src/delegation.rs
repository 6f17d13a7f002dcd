//! Whom metrics-server believes: Alice's `extension-apiserver-authentication` ConfigMap, the
//! request-header and x509 authenticators, and SubjectAccessReviews.
//!
//! A real extension server is started with no CA files at all: k8s.io/apiserver v0.32's
//! `DelegatingAuthenticationOptions` (`pkg/server/options/authentication.go`) reads
//! `client-ca-file`, `requestheader-client-ca-file`, `requestheader-allowed-names` and the
//! header names from the ConfigMap kube-apiserver publishes in `kube-system`, with its own
//! service account (bound to the `extension-apiserver-authentication-reader` Role). Then, for
//! every request, in the order of `pkg/authentication/authenticatorfactory/delegating.go`
//! ("front-proxy first, then remote"): the request-header authenticator, the x509 one, and
//! anonymous when neither has an opinion. Authorization is Alice's: a SubjectAccessReview,
//! skipped for `system:masters` (`AlwaysAllowGroups`) as kube-aggregator's availability checks
//! count on.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubecorp_client::delegated::{review_as, Attributes};
use kubecorp_client::{ClientError, KubeClient};
use kubecorp_trust::authn::requestheader::{
    authenticate_request_header, ExtensionAuthentication, ExtensionAuthenticationError,
    RequestHeaderAuthn, RequestHeaderConfig, CONFIGMAP,
};
use kubecorp_trust::authn::{authenticate_x509, X509Authn};
use kubecorp_trust::Identity;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::Value;
use time::OffsetDateTime;

/// Where the ConfigMap is read.
pub const CONFIGMAP_PATH: &str =
    "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication";
/// How long a read of the ConfigMap is used before it is read again (the real server watches
/// it; a CA rotated at Alice reaches metrics-server within this).
const REFRESH: Duration = Duration::from_secs(10);

/// The trust read from the ConfigMap.
#[derive(Clone, Debug)]
pub struct Trust {
    pub client_ca: Vec<CertificateDer<'static>>,
    pub requestheader_ca: Vec<CertificateDer<'static>>,
    pub config: RequestHeaderConfig,
}

/// Why metrics-server cannot check anyone: the ConfigMap could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("unable to load configmap based request-header-client-ca-file: {0}")]
    Read(String),
    #[error(transparent)]
    Content(#[from] ExtensionAuthenticationError),
    #[error("configmap kube-system/{CONFIGMAP}, key {key}: no certificate in the PEM ({reason})")]
    Pem { key: &'static str, reason: String },
}

/// Who is asking, once the authenticators have spoken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    /// The badge shown, when one could be read.
    pub badge: Option<Identity>,
    /// Whether a front proxy vouched for the caller (the badge is then the proxy's).
    pub proxied: bool,
}

impl Caller {
    fn anonymous(badge: Option<Identity>) -> Caller {
        Caller {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            extra: BTreeMap::new(),
            badge,
            proxied: false,
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.name == "system:anonymous"
    }
}

/// What the authenticators concluded.
#[derive(Clone, Debug)]
pub enum Authn {
    Caller(Caller),
    /// A 401: the log line (Go's aggregate of every authenticator's error, in order).
    Refused {
        badge: Option<Identity>,
        errors: Vec<String>,
    },
}

impl Authn {
    /// `"Unable to authenticate the request" err="…"`, as k8s.io/apiserver v0.32
    /// `endpoints/filters/authentication.go` logs it; one error plain, several bracketed.
    pub fn log_line(errors: &[String]) -> String {
        let err = match errors {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        format!("\"Unable to authenticate the request\" err=\"{err}\"")
    }
}

/// The last read of the ConfigMap, and when it was made.
type Cached = Arc<Mutex<Option<(Instant, Arc<Trust>)>>>;

/// The delegating authenticator and authorizer, with its client to Alice.
#[derive(Clone)]
pub struct Delegation {
    client: KubeClient,
    cache: Cached,
}

impl Delegation {
    pub fn new(client: KubeClient) -> Delegation {
        Delegation {
            client,
            cache: Arc::default(),
        }
    }

    /// The ConfigMap's trust, read again when the last read is older than [`REFRESH`].
    pub async fn trust(&self) -> Result<Arc<Trust>, TrustError> {
        if let Some((at, trust)) = &*self.cache.lock().unwrap_or_else(|e| e.into_inner()) {
            if at.elapsed() < REFRESH {
                return Ok(trust.clone());
            }
        }
        let object = self
            .client
            .get(CONFIGMAP_PATH)
            .await
            .map_err(|e| TrustError::Read(e.to_string()))?;
        let trust = Arc::new(trust_from(&object["data"])?);
        *self.cache.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), trust.clone()));
        Ok(trust)
    }

    /// Asks Alice whether `caller` may `verb` the metrics `resource` (`nodes`, `pods`).
    pub async fn review(
        &self,
        caller: &Caller,
        verb: &str,
        resource: &str,
        namespace: &str,
        name: &str,
    ) -> Result<bool, ClientError> {
        let what = Attributes::Resource {
            verb,
            group: crate::GROUP,
            version: crate::VERSION,
            resource,
            subresource: "",
            namespace,
            name,
        };
        review_as(
            &self.client,
            &caller.name,
            &caller.groups,
            &caller.extra,
            what,
        )
        .await
    }

    /// The client to Alice (for the figures).
    pub fn client(&self) -> &KubeClient {
        &self.client
    }
}

/// The ConfigMap's `data` as trust: PEM bundles parsed.
pub fn trust_from(data: &Value) -> Result<Trust, TrustError> {
    let auth = ExtensionAuthentication::from_data(data)?;
    let parse = |key: &'static str, pem: &str| {
        let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
        match certs {
            Ok(certs) if !certs.is_empty() => Ok(certs),
            Ok(_) => Err(TrustError::Pem {
                key,
                reason: "empty".into(),
            }),
            Err(e) => Err(TrustError::Pem {
                key,
                reason: e.to_string(),
            }),
        }
    };
    Ok(Trust {
        client_ca: parse("client-ca-file", &auth.client_ca_pem)?,
        requestheader_ca: parse("requestheader-client-ca-file", &auth.requestheader_ca_pem)?,
        config: auth.config,
    })
}

/// The request-header authenticator, then the x509 one, then anonymous.
pub fn authenticate<'h>(
    trust: &Trust,
    chain: &[CertificateDer<'_>],
    headers: impl IntoIterator<Item = (&'h str, &'h str)> + Clone,
    now: OffsetDateTime,
) -> Authn {
    let shown = chain.first().and_then(|leaf| Identity::from_der(leaf).ok());
    let mut errors = Vec::new();
    match authenticate_request_header(chain, &trust.requestheader_ca, &trust.config, headers, now) {
        RequestHeaderAuthn::User(proxied) => {
            return Authn::Caller(Caller {
                name: proxied.name,
                groups: with_authenticated(proxied.groups),
                extra: proxied.extra,
                badge: Some(proxied.proxy),
                proxied: true,
            })
        }
        RequestHeaderAuthn::NoOpinion => {}
        RequestHeaderAuthn::Failed { error, .. } => errors.push(error.to_string()),
    }
    match authenticate_x509(chain, &trust.client_ca, now) {
        X509Authn::User {
            name,
            groups,
            identity,
        } => Authn::Caller(Caller {
            name,
            groups: with_authenticated(groups),
            extra: BTreeMap::new(),
            badge: Some(identity),
            proxied: false,
        }),
        X509Authn::NoOpinion if errors.is_empty() => Authn::Caller(Caller::anonymous(shown)),
        X509Authn::NoOpinion => Authn::Refused {
            badge: shown,
            errors,
        },
        X509Authn::Failed { error, .. } => {
            errors.push(error);
            Authn::Refused {
                badge: shown,
                errors,
            }
        }
    }
}

/// `AuthenticatedGroupAdder`.
fn with_authenticated(mut groups: Vec<String>) -> Vec<String> {
    if !groups.iter().any(|g| g == "system:authenticated") {
        groups.push("system:authenticated".into());
    }
    groups
}
