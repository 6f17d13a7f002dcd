//! Who is calling: the badge a step names (a kubeconfig, a kubeadm badge, files, an identity the
//! scenario made), ready to dial, and the clients that dial Alice with it.

use std::path::PathBuf;

use kubecorp_client::KubeClient;
use kubecorp_pki::profile::{profile, Storage};
use kubecorp_pki::Authority;
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::Identity;

use super::{Runner, StepError};
use crate::model::Who;

/// A scenario-made identity's files.
#[derive(Debug, Clone)]
pub(super) struct Made {
    pub key: PathBuf,
    pub cert: Option<PathBuf>,
}

/// Who is calling, ready to dial.
pub(super) struct Caller {
    pub label: String,
    pub cert: Option<CertSource>,
    pub identity: Option<Identity>,
    /// The kubeconfig, when the badge comes from one (its CA is then the one trusted).
    pub kubeconfig: Option<PathBuf>,
}

impl Runner<'_> {
    pub(super) fn caller(&self, who: &Who) -> Result<Caller, StepError> {
        let (cert, kubeconfig) = match who {
            Who::Anonymous => (None, None),
            Who::Kubeconfig(file) => {
                let path = self.lab.kubeconfig_path(file);
                if !path.exists() {
                    return Err(StepError::NoKubeconfig { path });
                }
                (Some(CertSource::kubeconfig(&path)), Some(path))
            }
            Who::Badge(name) => {
                let stem = match profile(name).map(|p| p.storage) {
                    Some(Storage::Pki(stem)) => stem,
                    _ => return Err(StepError::NotAPkiBadge { name: name.clone() }),
                };
                (
                    Some(CertSource::pem_files(
                        self.lab.cert_path(stem),
                        self.lab.key_path(stem),
                    )),
                    None,
                )
            }
            Who::Files { cert, key } => (
                Some(CertSource::pem_files(
                    self.dir.join(cert),
                    self.dir.join(key),
                )),
                None,
            ),
            Who::Made(name) => {
                let made = self.made.get(name).ok_or_else(|| StepError::NoKey {
                    identity: name.clone(),
                })?;
                let cert = made.cert.clone().ok_or_else(|| StepError::NoCertificate {
                    identity: name.clone(),
                })?;
                (Some(CertSource::pem_files(cert, made.key.clone())), None)
            }
        };
        let identity = cert.as_ref().and_then(|c| c.identity().ok());
        Ok(Caller {
            label: who.label(),
            cert,
            identity,
            kubeconfig,
        })
    }

    pub(super) fn apiserver(&self, caller: &Caller) -> Result<KubeClient, StepError> {
        self.apiserver_as(caller, None)
    }

    /// A client for Alice at her address; with `host`, her badge must carry that name (sent as
    /// SNI), as kubeconfig's `tls-server-name` asks: the name is never looked up in DNS.
    pub(super) fn apiserver_as(
        &self,
        caller: &Caller,
        host: Option<&str>,
    ) -> Result<KubeClient, StepError> {
        let trust = match &caller.kubeconfig {
            Some(k) => TrustSource::kubeconfig(k),
            None => TrustSource::bundle(self.lab.ca_cert_path(Authority::Cluster)),
        };
        let client = KubeClient::new(
            &caller.label,
            &self.office.apiserver_url(),
            caller.cert.clone(),
            trust,
            self.clock.clone(),
            self.events.clone(),
        )?;
        Ok(match host {
            Some(name) => client.with_tls_server_name(name),
            None => client,
        })
    }

    /// The lab's administrator (`admin.conf`), as the runner's own eyes.
    pub(super) fn admin(&self) -> Result<KubeClient, StepError> {
        let caller = self.caller(&Who::Kubeconfig("admin.conf".into()))?;
        self.apiserver(&caller)
    }
}

/// `pki/<stem>` for a kubeadm badge name (`etcd-healthcheck-client` → `etcd/healthcheck-client`);
/// other names are taken as stems.
pub(super) fn pki_stem(name: &str) -> &str {
    match profile(name).map(|p| p.storage) {
        Some(Storage::Pki(stem)) => stem,
        _ => name,
    }
}
