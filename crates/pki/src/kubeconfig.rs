//! Kubeconfig files: a badge (client certificate and key), the CA to check Alice's badge with,
//! and the address of the front door, in the format kubectl reads.

use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::{Deserialize, Serialize};

use crate::error::{PkiError, Result};

/// A kubeconfig as kubeadm writes it (keys in client-go's order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    #[serde(default)]
    pub clusters: Vec<NamedCluster>,
    #[serde(default)]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default)]
    pub current_context: String,
    pub kind: String,
    #[serde(default)]
    pub preferences: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub users: Vec<NamedUser>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedCluster {
    pub cluster: Cluster,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate_authority_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate_authority: Option<String>,
    pub server: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedContext {
    pub context: Context,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Context {
    pub cluster: String,
    pub user: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    pub user: User,
}

/// A kubeconfig user: every field may be absent, and an absent one is not written back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Keeps the PEM blocks whose tag `keep` accepts; text that is not PEM, or has no such block,
/// is returned as it is, so the reader's own error names what was found.
fn only_blocks(pem_text: Vec<u8>, keep: impl Fn(&str) -> bool) -> Vec<u8> {
    let Ok(blocks) = pem::parse_many(&pem_text) else {
        return pem_text;
    };
    if blocks.iter().all(|b| keep(b.tag())) || !blocks.iter().any(|b| keep(b.tag())) {
        return pem_text;
    }
    let kept: Vec<pem::Pem> = blocks.into_iter().filter(|b| keep(b.tag())).collect();
    crate::cert::pem_text(&kept).into_bytes()
}

/// The credentials a kubeconfig's current context carries, as PEM text.
#[derive(Clone)]
pub struct Credentials {
    pub server: String,
    pub ca_pem: Option<Vec<u8>>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub user: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl Kubeconfig {
    /// A kubeconfig for `user` on `cluster_name`, as kubeadm writes it: context `user@cluster`.
    pub fn with_client_cert(
        cluster_name: &str,
        server: &str,
        ca_pem: &str,
        user: &str,
        cert_pem: &str,
        key_pem: &str,
    ) -> Kubeconfig {
        let context = format!("{user}@{cluster_name}");
        Kubeconfig {
            api_version: "v1".into(),
            clusters: vec![NamedCluster {
                cluster: Cluster {
                    certificate_authority_data: Some(STANDARD.encode(ca_pem)),
                    certificate_authority: None,
                    server: server.into(),
                },
                name: cluster_name.into(),
            }],
            contexts: vec![NamedContext {
                context: Context {
                    cluster: cluster_name.into(),
                    user: user.into(),
                },
                name: context.clone(),
            }],
            current_context: context,
            kind: "Config".into(),
            preferences: Default::default(),
            users: vec![NamedUser {
                name: user.into(),
                user: User {
                    client_certificate_data: Some(STANDARD.encode(cert_pem)),
                    client_key_data: Some(STANDARD.encode(key_pem)),
                    ..Default::default()
                },
            }],
        }
    }

    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).expect("a kubeconfig always serializes")
    }

    pub fn read(path: &Path) -> Result<Kubeconfig> {
        let bytes = crate::fs::read(path, "a kubeconfig file")?;
        let text = String::from_utf8(bytes).map_err(|_| PkiError::Kubeconfig {
            path: path.into(),
            field: "(file)",
            problem: "is not UTF-8 text".into(),
        })?;
        serde_saphyr::from_str(&text).map_err(|e| PkiError::Kubeconfig {
            path: path.into(),
            field: "(document)",
            problem: format!("not a kubeconfig: {e}"),
        })
    }

    /// The credentials of the current context, with embedded data decoded and referenced
    /// files read (relative to the kubeconfig, as kubectl resolves them).
    pub fn credentials(&self, path: &Path) -> Result<Credentials> {
        let err = |field: &'static str, problem: String| PkiError::Kubeconfig {
            path: path.into(),
            field,
            problem,
        };
        let context = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .ok_or_else(|| {
                err(
                    "current-context",
                    format!("no context named `{}`", self.current_context),
                )
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == context.context.cluster)
            .ok_or_else(|| {
                err(
                    "contexts[].context.cluster",
                    format!("no cluster named `{}`", context.context.cluster),
                )
            })?;
        let user = self
            .users
            .iter()
            .find(|u| u.name == context.context.user)
            .ok_or_else(|| {
                err(
                    "contexts[].context.user",
                    format!("no user named `{}`", context.context.user),
                )
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let load = |data: &Option<String>,
                    file: &Option<String>,
                    field_data: &'static str|
         -> Result<Option<Vec<u8>>> {
            if let Some(data) = data {
                return STANDARD
                    .decode(data.trim())
                    .map(Some)
                    .map_err(|e| err(field_data, format!("is not valid base64: {e}")));
            }
            if let Some(file) = file {
                let p: PathBuf = base.join(file);
                return crate::fs::read(&p, "a PEM file named by the kubeconfig").map(Some);
            }
            Ok(None)
        };
        let ca_pem = load(
            &cluster.cluster.certificate_authority_data,
            &cluster.cluster.certificate_authority,
            "clusters[].cluster.certificate-authority-data",
        )?;
        let cert_pem = load(
            &user.user.client_certificate_data,
            &user.user.client_certificate,
            "users[].user.client-certificate-data",
        )?
        .ok_or_else(|| {
            err(
                "users[].user.client-certificate-data",
                "missing: this kubeconfig carries no client certificate".into(),
            )
        })?;
        let key_pem = load(
            &user.user.client_key_data,
            &user.user.client_key,
            "users[].user.client-key-data",
        )?
        .ok_or_else(|| {
            err(
                "users[].user.client-key-data",
                "missing: this kubeconfig carries no client key".into(),
            )
        })?;
        // One file may hold both (kubelet-client-current.pem): like Go's tls.X509KeyPair, take
        // the certificates from the certificate file and the key from the key file.
        let cert_pem = only_blocks(cert_pem, |tag| tag == "CERTIFICATE");
        let key_pem = only_blocks(key_pem, |tag| tag.ends_with("PRIVATE KEY"));
        Ok(Credentials {
            server: cluster.cluster.server.clone(),
            ca_pem,
            cert_pem,
            key_pem,
            user: user.name.clone(),
        })
    }

    /// Replaces the current user's embedded certificate and key (used by renewal).
    pub fn set_client_cert(&mut self, cert_pem: &str, key_pem: &str) {
        let user_name = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| c.context.user.clone());
        for user in &mut self.users {
            if Some(&user.name) == user_name.as_ref() {
                user.user.client_certificate_data = Some(STANDARD.encode(cert_pem));
                user.user.client_key_data = Some(STANDARD.encode(key_pem));
                user.user.client_certificate = None;
                user.user.client_key = None;
            }
        }
    }

    /// Points the current user at a certificate and key on disk instead of embedded data, as
    /// kubeadm's `kubelet-finalize` phase points `kubelet.conf` at
    /// `/var/lib/kubelet/pki/kubelet-client-current.pem` (cert and key in one file).
    pub fn set_client_cert_files(&mut self, cert: &Path, key: &Path) {
        let user_name = self
            .contexts
            .iter()
            .find(|c| c.name == self.current_context)
            .map(|c| c.context.user.clone());
        for user in &mut self.users {
            if Some(&user.name) == user_name.as_ref() {
                user.user.client_certificate_data = None;
                user.user.client_key_data = None;
                user.user.client_certificate = Some(cert.display().to_string());
                user.user.client_key = Some(key.display().to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubeconfig_naming_one_file_for_cert_and_key_reads_each_from_it() {
        let ca = crate::issue::Ca::generate(
            "kubernetes",
            crate::KeyAlgorithm::EcdsaP256.generate().unwrap(),
            time::OffsetDateTime::now_utc(),
            crate::issue::CA_VALIDITY,
        )
        .unwrap();
        let key = crate::KeyAlgorithm::EcdsaP256.generate().unwrap();
        let shape = crate::issue::Shape {
            common_name: "system:node:n1".into(),
            organizations: vec!["system:nodes".into()],
            sans: Vec::new(),
            server_auth: false,
            client_auth: true,
        };
        let cert = ca
            .issue_now(&shape, &key, time::OffsetDateTime::now_utc())
            .unwrap();
        let cert_pem = crate::cert::cert_pem(&cert);
        let key_pem = crate::keys::private_key_pem(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kubelet-client-current.pem"),
            format!("{cert_pem}{key_pem}"),
        )
        .unwrap();
        let mut config = Kubeconfig::with_client_cert(
            "kubernetes",
            "https://127.0.0.1:6443",
            &crate::cert::cert_pem(&ca.cert),
            "system:node:n1",
            &cert_pem,
            &key_pem,
        );
        let file = dir.path().join("kubelet-client-current.pem");
        config.set_client_cert_files(&file, &file);
        let path = dir.path().join("kubelet.conf");
        let credentials = config.credentials(&path).unwrap();
        assert_eq!(
            String::from_utf8(credentials.cert_pem).unwrap().trim(),
            cert_pem.trim()
        );
        let key_only = String::from_utf8(credentials.key_pem).unwrap();
        assert!(key_only.contains("PRIVATE KEY") && !key_only.contains("CERTIFICATE"));
    }
}
