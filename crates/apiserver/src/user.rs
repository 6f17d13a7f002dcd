//! Who the badge says you are: Alice reads a client certificate into a Kubernetes `UserInfo`.
//!
//! Kubernetes' x509 authenticator (`k8s.io/apiserver/pkg/authentication/request/x509`) maps a
//! verified client certificate like this:
//!
//! - the Subject **CN** becomes the user name (`kubernetes-admin`, `system:node:n1`, `john`);
//! - every Subject **O** becomes a group (`kubeadm:cluster-admins`, `system:nodes`);
//! - every authenticated user also gets the group `system:authenticated`.
//!
//! A certificate with an empty CN is ignored ("no opinion"): it identifies nobody, so the
//! request continues as if no badge had been shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The group every authenticated user belongs to.
pub const AUTHENTICATED: &str = "system:authenticated";
/// The group of requests that showed no credential at all.
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
/// The break-glass group that bypasses RBAC (see `rbac::privileged_group`).
pub const MASTERS: &str = "system:masters";
/// The group of kubelets.
pub const NODES: &str = "system:nodes";
/// The name prefix of kubelets.
pub const NODE_PREFIX: &str = "system:node:";
/// The name prefix of ServiceAccount users.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// An authenticated person, as Kubernetes' `user.Info` (JSON shape of `authentication.k8s.io/v1`
/// `UserInfo`: `username`, `uid`, `groups`, `extra`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    #[serde(rename = "username", default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The user a client certificate names: CN → name, every O → a group, plus
    /// `system:authenticated`. `None` for an empty CN, which Kubernetes ignores.
    pub fn from_cert<I, S>(common_name: &str, organizations: I) -> Option<UserInfo>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if common_name.is_empty() {
            return None;
        }
        let mut groups: Vec<String> = organizations.into_iter().map(Into::into).collect();
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.to_string());
        }
        Some(UserInfo {
            name: common_name.to_string(),
            uid: String::new(),
            groups,
            extra: BTreeMap::new(),
        })
    }

    /// kube-apiserver's loopback identity, `system:apiserver` in `system:masters`: Alice calling
    /// herself (keeping APIService status, publishing `extension-apiserver-authentication`).
    pub fn loopback() -> UserInfo {
        UserInfo {
            name: "system:apiserver".into(),
            uid: String::new(),
            groups: vec![MASTERS.into(), AUTHENTICATED.into()],
            extra: BTreeMap::new(),
        }
    }

    /// A ServiceAccount's user as the token authenticator builds it:
    /// `system:serviceaccount:<ns>:<name>` in `system:serviceaccounts`,
    /// `system:serviceaccounts:<ns>` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> UserInfo {
        UserInfo {
            name: format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"),
            uid: String::new(),
            groups: vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{namespace}"),
                AUTHENTICATED.to_string(),
            ],
            extra: BTreeMap::new(),
        }
    }

    /// The user of a request without credentials (anonymous auth).
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: "system:anonymous".to_string(),
            uid: String::new(),
            groups: vec![UNAUTHENTICATED.to_string()],
            extra: BTreeMap::new(),
        }
    }

    /// Whether the user carries `group`.
    pub fn is_in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// The user as a JSON `UserInfo` (for SelfSubjectReview and CSR specs).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_names_the_user_by_cn_and_groups_by_every_o_plus_authenticated() {
        let u = UserInfo::from_cert("john", ["developers", "qa"]).unwrap();
        assert_eq!(u.name, "john");
        assert_eq!(u.groups, ["developers", "qa", "system:authenticated"]);
        assert!(u.is_in_group("qa"));
        assert!(!u.is_in_group("system:masters"));
    }

    #[test]
    fn a_badge_without_a_cn_identifies_nobody() {
        assert_eq!(UserInfo::from_cert("", ["developers"]), None);
    }

    #[test]
    fn user_info_serializes_in_the_kubernetes_shape() {
        let u = UserInfo::from_cert("john", ["developers"]).unwrap();
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"username":"john","groups":["developers","system:authenticated"]}"#
        );
    }

    #[test]
    fn a_service_account_user_has_the_three_groups() {
        let u = UserInfo::service_account("kube-system", "kube-proxy");
        assert_eq!(u.name, "system:serviceaccount:kube-system:kube-proxy");
        assert!(u.is_in_group("system:serviceaccounts:kube-system"));
    }
}
