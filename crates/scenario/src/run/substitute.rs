//! `{{…}}` in a `run:` command: the office's addresses, the lab's paths and clock, and the files
//! of a badge or a made identity, so a real tool is pointed at this run's office.

use std::path::Path;

use kubecorp_pki::fs::{write_atomic, Mode};
use kubecorp_pki::kubeconfig::Kubeconfig;

use super::caller::pki_stem;
use super::{Runner, StepError};

impl Runner<'_> {
    /// `{{apiserver}}`, `{{etcd}}`, `{{dir}}`, `{{pki}}`, `{{now}}`, `{{kubeconfig:NAME}}` (a lab
    /// kubeconfig or a made identity's, pointing at this office), `{{cert:NAME}}`, `{{key:NAME}}`.
    pub(super) fn substitute(&self, text: &str) -> Result<String, StepError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find("}}").ok_or_else(|| StepError::Unclosed {
                text: text.to_owned(),
            })?;
            let name = after[..end].trim();
            out.push_str(&self.lookup(name)?);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `users/NAME`: a copy of the lab kubeconfig NAME that dials this office's port.
    pub(super) fn dialing_kubeconfig(&self, who: &str) -> Result<std::path::PathBuf, StepError> {
        let source = self.lab.kubeconfig_path(who);
        let mut config = Kubeconfig::read(&source)?;
        for c in &mut config.clusters {
            c.cluster.server = self.office.apiserver_url();
        }
        let copy = self.dir.join("users").join(who);
        write_atomic(&copy, config.to_yaml().as_bytes(), Mode::Secret)?;
        Ok(copy)
    }

    fn lookup(&self, name: &str) -> Result<String, StepError> {
        let path = |p: &Path| p.to_string_lossy().into_owned();
        Ok(match name.split_once(':') {
            None => match name {
                "apiserver" => self.office.apiserver_url(),
                "etcd" => self.office.etcd_url.clone(),
                "dir" => path(&self.dir),
                "pki" => path(&self.lab.pki_dir()),
                // The lab clock in Unix seconds, for tools with their own clock (`openssl verify -attime`).
                "now" => self.clock.now().unix_timestamp().to_string(),
                other => {
                    return Err(StepError::UnknownName {
                        name: other.to_owned(),
                    })
                }
            },
            Some(("kubeconfig", who)) => {
                if self.made.contains_key(who) {
                    return Ok(path(&self.dir.join("users").join(format!("{who}.conf"))));
                }
                path(&self.dialing_kubeconfig(who)?)
            }
            Some(("cert", who)) => match self.made.get(who).and_then(|m| m.cert.clone()) {
                Some(c) => path(&c),
                None => path(&self.lab.cert_path(pki_stem(who))),
            },
            Some(("key", who)) => match self.made.get(who) {
                Some(m) => path(&m.key),
                None => path(&self.lab.key_path(pki_stem(who))),
            },
            Some((other, _)) => {
                return Err(StepError::UnknownKind {
                    kind: other.to_owned(),
                })
            }
        })
    }
}
