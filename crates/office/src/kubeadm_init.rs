//! What `kubeadm init` leaves behind that Alice alone does not write: `admin`, `edit` and `view`
//! already filled by the clusterrole-aggregation controller.
//!
//! kube-apiserver stores the three roles with an `aggregationRule` and no rules; kubeadm's
//! kube-controller-manager starts beside it, and its clusterrole-aggregation controller fills
//! them within a second or so — long before `kubeadm init` has uploaded its configuration,
//! marked the control-plane node and installed CoreDNS and kube-proxy, and says the control
//! plane has initialized. So on the cluster a learner first reaches, `kubectl get clusterrole
//! view -o yaml` already lists the rules. The lab opens on that cluster: once Alice has written
//! her defaults (and metrics-server's manifest, when it comes), this pass writes what the
//! controller's first pass writes, with the same computation
//! ([`kubecorp_controller::clusterrole_aggregation::aggregate`]) and as the same service account.
//! From then on only the controller, when the controller manager runs, changes them: a role
//! labelled `aggregate-to-view` later extends `view` through it, or not at all.

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::user::UserInfo;
use kubecorp_controller::clusterrole_aggregation::{aggregate, NAME};
use serde_json::Value;

use crate::OfficeError;

const CLUSTERROLES: &str = "/apis/rbac.authorization.k8s.io/v1/clusterroles";

/// Writes into every aggregating ClusterRole the rules the controller's first pass gives it.
pub(crate) async fn aggregated_roles(api: &Api) -> Result<(), OfficeError> {
    let controller = UserInfo::service_account("kube-system", NAME);
    let failed = |what: &str, code: u16, body: Value| {
        OfficeError::Bootstrap(format!(
            "the clusterrole-aggregation controller's first pass: {what}: {code} {body}"
        ))
    };
    let (listed, _) = api
        .handle(ApiRequest::json(&controller, "GET", CLUSTERROLES, None))
        .await;
    if listed.code() != 200 {
        return Err(failed(
            "listing clusterroles",
            listed.code(),
            listed.body_json(),
        ));
    }
    let roles = listed.body_json()["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (name, rules) in aggregate(&roles) {
        let Some(mut role) = roles
            .iter()
            .find(|r| r["metadata"]["name"] == name.as_str())
            .cloned()
        else {
            continue;
        };
        role["rules"] = rules;
        let path = format!("{CLUSTERROLES}/{name}");
        let (written, _) = api
            .handle(ApiRequest::json(&controller, "PUT", &path, Some(&role)))
            .await;
        if written.code() != 200 {
            return Err(failed(
                &format!("writing clusterrole {name}"),
                written.code(),
                written.body_json(),
            ));
        }
    }
    Ok(())
}
