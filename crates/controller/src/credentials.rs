//! `--use-service-account-credentials`: how a controller of kube-controller-manager gets an
//! identity of its own.
//!
//! kubeadm starts kube-controller-manager with `--use-service-account-credentials=true`. Its
//! own badge (`controller-manager.conf`, `CN=system:kube-controller-manager`) is then used for
//! little more than this: for each controller it makes sure the service account
//! `kube-system/<controller>` exists (creating it if not), asks Alice for a token for it with a
//! TokenRequest, and hands the controller a client that shows only that token — no client
//! certificate (`restclient.AnonymousClientConfig` in `cmd/kube-controller-manager/app/
//! controllermanager.go`, tokens from `DynamicControllerClientBuilder` in
//! `staging/src/k8s.io/controller-manager/pkg/clientbuilder/client_builder_dynamic.go`, one hour
//! each, asked again before they run out). Alice therefore sees the replicaset controller as
//! `system:serviceaccount:kube-system:replicaset-controller`, and RBAC gives it exactly the
//! bootstrap role `system:controller:replicaset-controller`: a controller can do its own job
//! and nothing else, and the audit log tells the controllers apart.
//!
//! The lab does the same, on the lab clock: a token is asked for again once four fifths of its
//! life have passed, or at once after a 401.

use std::sync::{Arc, Mutex};

use kubecorp_client::{ClientError, KubeClient, TokenSource};
use kubecorp_trust::LabClock;
use serde_json::json;

/// The namespace of every controller's account.
pub const NAMESPACE: &str = "kube-system";
/// How long each token is asked for (the dynamic client builder's `defaultExpirationSeconds`).
pub const TOKEN_SECONDS: i64 = 3600;

/// One controller's service account and the token currently held for it.
#[derive(Clone, Debug)]
pub struct ServiceAccountCredentials {
    account: &'static str,
    /// The controller manager's own client (`controller-manager.conf`): it asks for the tokens.
    manager: KubeClient,
    clock: LabClock,
    held: Arc<Mutex<Option<Held>>>,
}

#[derive(Clone, Debug)]
struct Held {
    token: String,
    /// Unix seconds on the lab clock.
    issued: i64,
    expires: i64,
}

impl ServiceAccountCredentials {
    /// Credentials for `kube-system/<account>`, asked for with `manager`'s badge.
    pub fn new(account: &'static str, manager: KubeClient, clock: LabClock) -> Self {
        ServiceAccountCredentials {
            account,
            manager,
            clock,
            held: Arc::new(Mutex::new(None)),
        }
    }

    /// The user Alice sees: `system:serviceaccount:kube-system:<account>`.
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{NAMESPACE}:{}", self.account)
    }

    /// The account's name (`deployment-controller`).
    pub fn account(&self) -> &'static str {
        self.account
    }

    /// `anonymous` (a client with Alice's CA and no badge) showing this account's token.
    pub fn client(&self, anonymous: KubeClient) -> KubeClient {
        let held = self.held.clone();
        anonymous.with_bearer_token(TokenSource::new(move || {
            held.lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|h| h.token.clone())
        }))
    }

    /// Drops the token (after a 401), so the next [`ensure`](Self::ensure) asks again.
    pub fn forget(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Makes sure a token is held that has most of its life ahead on the lab clock: asks for
    /// one (creating the account first if it is missing) when none is, or when four fifths of
    /// the held one's life have passed. `true` when a new token was just issued.
    pub async fn ensure(&self) -> Result<bool, ClientError> {
        let now = self.clock.now().unix_timestamp();
        let due = match &*self.held.lock().unwrap_or_else(|e| e.into_inner()) {
            None => true,
            Some(h) => now < h.issued || now >= h.issued + (h.expires - h.issued) * 4 / 5,
        };
        if !due {
            return Ok(false);
        }
        let accounts = format!("/api/v1/namespaces/{NAMESPACE}/serviceaccounts");
        let path = format!("{accounts}/{}", self.account);
        match self.manager.get(&path).await {
            Ok(_) => {}
            Err(e) if e.code() == Some(404) => {
                let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
                                     "metadata": {"name": self.account, "namespace": NAMESPACE}});
                match self.manager.create(&accounts, &account).await {
                    Ok(_) => {}
                    Err(e) if e.code() == Some(409) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
        let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                             "spec": {"expirationSeconds": TOKEN_SECONDS}});
        let answer = self
            .manager
            .create(&format!("{path}/token"), &request)
            .await?;
        let token = answer["status"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expires = answer["status"]["expirationTimestamp"]
            .as_str()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map_or(now + TOKEN_SECONDS, |t| t.unix_timestamp());
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(Held {
            token,
            issued: now,
            expires,
        });
        Ok(true)
    }
}
