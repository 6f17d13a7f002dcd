//! A worker node's kubelet credential: kubeadm's `kubeadm join` gets it by TLS bootstrap; the lab
//! has the Founder sign it directly. `CN=system:node:NODE, O=system:nodes`, the identity the Node
//! authorizer and the NodeRestriction admission plugin recognise.

use std::net::IpAddr;
use std::path::PathBuf;

use time::OffsetDateTime;

use crate::error::Result;
use crate::fs::{ensure_dir, write_atomic, Mode};
use crate::issue::Shape;
use crate::keys::KeyAlgorithm;
use crate::kubeconfig::Kubeconfig;
use crate::layout::Lab;
use crate::profile::{Authority, ClusterFacts};

/// `LAB/kubelet/NODE/kubelet.conf`, made at `now` if absent; returns its path. The node name
/// must already be checked.
pub fn worker_kubeconfig(lab: &Lab, node: &str, now: OffsetDateTime) -> Result<PathBuf> {
    let dir = lab.root().join("kubelet").join(node);
    let path = dir.join("kubelet.conf");
    if path.exists() {
        return Ok(path);
    }
    ensure_dir(&lab.root().join("kubelet"))?;
    ensure_dir(&dir)?;
    let ca = lab.load_ca(Authority::Cluster)?;
    let key = KeyAlgorithm::EcdsaP256.generate()?;
    let user = format!("system:node:{node}");
    let shape = Shape {
        common_name: user.clone(),
        organizations: vec!["system:nodes".into()],
        sans: Vec::new(),
        server_auth: false,
        client_auth: true,
    };
    let cert = ca.issue_now(&shape, &key, now)?;
    let facts = ClusterFacts::new(node, IpAddr::from([127, 0, 0, 1]));
    let config = Kubeconfig::with_client_cert(
        &facts.cluster_name,
        &facts.server_url(),
        &crate::cert::cert_pem(&ca.cert),
        &user,
        &crate::cert::cert_pem(&cert),
        &crate::keys::private_key_pem(&key)?,
    );
    write_atomic(&path, config.to_yaml().as_bytes(), Mode::Secret)?;
    Ok(path)
}
