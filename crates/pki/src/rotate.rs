//! Manual CA rotation, as the Kubernetes docs lay it out: a new CA with the same name joins the
//! old one in every trust bundle and signs from now on (`start`); once every badge has been
//! re-issued, the old CA leaves the bundles (`finish`).
//!
//! Badges still signed by the old key after `finish` fail with Go's "possibly because of"
//! wording: same name, other key. Every kubeconfig carries the cluster CA it checks Alice's
//! serving badge with, so rotating the cluster CA rewrites their `certificate-authority-data`.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use time::OffsetDateTime;

use crate::cert::{cert_pem, read_cert_chain};
use crate::error::{PkiError, Result};
use crate::fs::{write_atomic, Mode};
use crate::issue::{Ca, CA_VALIDITY};
use crate::key_source::KeySource;
use crate::keys::{private_key_pem, KeyAlgorithm};
use crate::kubeconfig::Kubeconfig;
use crate::layout::Lab;
use crate::profile::Authority;

/// Where a rotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// A new CA (same name, new key) signs from now on; the old one stays trusted.
    Start,
    /// Only the new CA is trusted.
    Finish,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Finish => "finish",
        }
    }
}

/// Carries out one phase of rotating `authority`'s CA at `now`. For the cluster CA, the
/// kubeconfigs (`*.conf`) in `kubeconfig_dirs` get the new bundle. Returns one line saying what
/// was done.
pub fn rotate_ca(
    lab: &Lab,
    authority: Authority,
    phase: Phase,
    now: OffsetDateTime,
    kubeconfig_dirs: &[PathBuf],
) -> Result<String> {
    let _lock = lab.lock()?;
    let ca_path = lab.ca_cert_path(authority);
    let bundle = match phase {
        Phase::Finish => {
            let chain = read_cert_chain(&ca_path)?;
            if chain.len() < 2 {
                return Err(PkiError::NoRotation { path: ca_path });
            }
            let bundle = cert_pem(&chain[0]);
            write_atomic(&ca_path, bundle.as_bytes(), Mode::Public)?;
            bundle
        }
        Phase::Start => {
            let old = lab.load_ca(authority)?;
            let key = KeySource::of(lab).key(KeyAlgorithm::of(&old.key))?;
            let new = Ca::generate(authority.common_name(), key, now, CA_VALIDITY)?;
            // The new CA signs from now on (its certificate first, so it is the one loaded with
            // the key); the old one stays trusted until the rotation finishes.
            let bundle = format!("{}{}", cert_pem(&new.cert), cert_pem(&old.cert));
            write_atomic(
                &lab.ca_key_path(authority),
                private_key_pem(&new.key)?.as_bytes(),
                Mode::Secret,
            )?;
            write_atomic(&ca_path, bundle.as_bytes(), Mode::Public)?;
            bundle
        }
    };
    let touched = match authority {
        Authority::Cluster => kubeconfigs_trust(&bundle, kubeconfig_dirs)?,
        _ => Vec::new(),
    };
    let mut line = match phase {
        Phase::Finish => format!(
            "{} now trusts only the new {} CA",
            ca_path.display(),
            authority.name()
        ),
        Phase::Start => format!(
            "a new {} CA (same name, new key) signs from now on; {} trusts the old and the new",
            authority.name(),
            ca_path.display()
        ),
    };
    if !touched.is_empty() {
        line += &format!("; CA data updated in {}", touched.join(", "));
    }
    Ok(line)
}

/// Every kubeconfig in `dirs` trusts `bundle` for the server from now on; returns their names.
fn kubeconfigs_trust(bundle: &str, dirs: &[PathBuf]) -> Result<Vec<String>> {
    let data = base64::engine::general_purpose::STANDARD.encode(bundle.as_bytes());
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        if let Ok(entries) = std::fs::read_dir(dir) {
            files.extend(
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| is_kubeconfig(p)),
            );
        }
    }
    files.sort();
    let mut touched = Vec::new();
    for path in files {
        let mut config = Kubeconfig::read(&path)?;
        for c in &mut config.clusters {
            c.cluster.certificate_authority_data = Some(data.clone());
            c.cluster.certificate_authority = None;
        }
        write_atomic(&path, config.to_yaml().as_bytes(), Mode::Secret)?;
        if let Some(name) = path.file_name() {
            touched.push(name.to_string_lossy().into_owned());
        }
    }
    Ok(touched)
}

fn is_kubeconfig(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "conf")
}
