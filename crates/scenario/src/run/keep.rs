//! `--keep`: after the last step the office stays open for questions, with kubeconfigs that
//! dial this run's own ports, until the room is done with it.

use std::path::PathBuf;

use super::{Runner, StepError};

/// The people's kubeconfigs of a kubeadm lab, copied to dial this run's office.
const PEOPLE: &[&str] = &["admin.conf", "super-admin.conf"];

/// An office kept open after its run: where it listens and the kubeconfigs that reach it.
#[derive(Debug, Clone)]
pub struct OpenOffice {
    pub dir: PathBuf,
    pub apiserver: String,
    pub etcd: String,
    /// `users/admin.conf` and the like, their `server:` this office's port, then the
    /// identities the story made (`users/john.conf`).
    pub kubeconfigs: Vec<PathBuf>,
}

impl Runner<'_> {
    /// The office as it stands after the last step, its kubeconfigs written.
    pub(super) fn open_office(&self) -> Result<OpenOffice, StepError> {
        let mut kubeconfigs = Vec::new();
        for who in PEOPLE {
            if self.lab.kubeconfig_path(who).is_file() {
                kubeconfigs.push(self.dialing_kubeconfig(who)?);
            }
        }
        let mut made: Vec<PathBuf> = self
            .made
            .keys()
            .map(|who| self.dir.join("users").join(format!("{who}.conf")))
            .filter(|conf| conf.is_file())
            .collect();
        made.sort();
        kubeconfigs.extend(made);
        Ok(OpenOffice {
            dir: self.dir.clone(),
            apiserver: self.office.apiserver_url(),
            etcd: self.office.etcd_url.clone(),
            kubeconfigs,
        })
    }
}
