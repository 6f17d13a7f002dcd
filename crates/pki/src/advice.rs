//! How a badge is re-issued, judged from the name on it: kubeadm renews only its own.
//!
//! `kubeadm certs renew NAME` (kubeadm v1.32, `cmd/kubeadm/app/cmd/certs.go`) knows the
//! certificates kubeadm made: `apiserver`, `apiserver-etcd-client`, `admin.conf`, … . Three
//! other kinds of client badge meet a guard in a cluster, and none of them is renewed that way:
//!
//! - **the kubelet's** (`system:node:NODE`, group `system:nodes`): the kubelet rotates it itself
//!   by CSR (`rotateCertificates: true`) into `/var/lib/kubelet/pki/kubelet-client-current.pem`.
//!   Once it has expired it cannot rotate any more; kubeadm's troubleshooting guide ("Kubelet
//!   client certificate rotation fails") re-issues `kubelet.conf` with `kubeadm kubeconfig user`.
//! - **kube-proxy's**: a kubeadm cluster gives kube-proxy a service-account token, which the
//!   kubelet refreshes; the lab's `kube-proxy.conf` badge is the lab's own.
//! - **a person's**, made by a CertificateSigningRequest: a new key and a new CSR, approved
//!   again. No command renews it.

use crate::profile::{CommonName, PROFILES};

/// What a client badge is, for the purpose of re-issuing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reissue {
    /// A badge kubeadm makes and `kubeadm certs renew NAME` renews.
    Kubeadm(&'static str),
    /// A kubelet's client badge, `system:node:NODE`.
    Kubelet { node: String },
    /// `system:kube-proxy`: the lab's kube-proxy.conf.
    KubeProxy,
    /// Anything else: a person's or a program's badge, made from a CSR.
    Csr { user: String },
}

/// Judges a badge by its subject (CN and O).
pub fn reissue(common_name: &str, organizations: &[String]) -> Reissue {
    if let Some(node) = common_name.strip_prefix("system:node:") {
        if organizations.iter().any(|o| o == "system:nodes") {
            return Reissue::Kubelet {
                node: node.to_string(),
            };
        }
    }
    if common_name == "system:kube-proxy" {
        return Reissue::KubeProxy;
    }
    let kubeadm = PROFILES.iter().find(|p| {
        p.kubeadm_managed
            && matches!(p.common_name, CommonName::Fixed(cn) if cn == common_name)
            && p.organizations
                .iter()
                .all(|o| organizations.iter().any(|g| g == o))
    });
    match kubeadm {
        Some(p) => Reissue::Kubeadm(p.name),
        None => Reissue::Csr {
            user: common_name.to_string(),
        },
    }
}

impl Reissue {
    /// The hint for an expired badge of this kind: the real steps, then the lab's.
    pub fn expired_hint(&self) -> String {
        match self {
            Reissue::Kubeadm(name) => format!(
                "Check the dates with `kubeadm certs check-expiration` (lab: `kubecorp certs check-expiration`), then renew: `kubeadm certs renew {name}` (lab: `kubecorp certs renew {name}`) and restart the component that shows it."
            ),
            Reissue::Kubelet { node } => format!(
                "kubeadm cannot renew this one: the kubelet rotates its own client badge by CSR before it expires, and once it has expired it can no longer ask. On the node, move kubelet.conf and /var/lib/kubelet/pki/kubelet-client* aside; on a control-plane node run `kubeadm kubeconfig user --org system:nodes --client-name system:node:{node} > kubelet.conf`, copy it to the node and restart the kubelet, which then rotates as before (lab: delete kubelet.conf and run `kubecorp pki init`, which writes only what is missing)."
            ),
            Reissue::KubeProxy => "A kubeadm cluster has no kube-proxy certificate: its kube-proxy uses a service-account token the kubelet refreshes. The lab's kube-proxy.conf is renewed with `kubecorp certs renew kube-proxy.conf`.".to_string(),
            Reissue::Csr { user } => format!(
                "No command renews a badge made from a CertificateSigningRequest (kubeadm only renews its own): make a new key and CSR for {user} (`openssl req -new -newkey rsa:2048 -nodes -keyout {user}.key -subj \"/CN={user}\"`), submit it as a CertificateSigningRequest with signerName kubernetes.io/kube-apiserver-client, `kubectl certificate approve` it, and put the issued certificate into the kubeconfig."
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orgs(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kubeadms_own_badges_are_renewed_by_kubeadm_and_no_others_are() {
        assert_eq!(
            reissue("kubernetes-admin", &orgs(&["kubeadm:cluster-admins"])),
            Reissue::Kubeadm("admin.conf")
        );
        assert_eq!(
            reissue("kube-apiserver-etcd-client", &[]),
            Reissue::Kubeadm("apiserver-etcd-client")
        );
        let kubelet = reissue("system:node:worker-1", &orgs(&["system:nodes"]));
        assert_eq!(
            kubelet,
            Reissue::Kubelet {
                node: "worker-1".into()
            }
        );
        assert!(!kubelet.expired_hint().contains("certs renew"));
        assert!(kubelet
            .expired_hint()
            .contains("`kubeadm kubeconfig user --org system:nodes --client-name system:node:worker-1 > kubelet.conf`"));
        assert!(!reissue("system:kube-proxy", &[])
            .expired_hint()
            .contains("kubeadm certs renew"));
        let john = reissue("john", &orgs(&["dev"]));
        assert_eq!(
            john,
            Reissue::Csr {
                user: "john".into()
            }
        );
        assert!(john
            .expired_hint()
            .starts_with("No command renews a badge made from a CertificateSigningRequest"));
    }
}
