//! Taking in a PKI made elsewhere (kubeadm's `/etc/kubernetes/pki`, with its kubeconfigs one
//! level up) as the lab keeps its own: directories 0700, every file written atomically, keys
//! and kubeconfigs 0600.

use std::path::Path;

use time::OffsetDateTime;

use crate::error::{PkiError, Result};
use crate::fs::{ensure_dir, write_atomic, Mode};
use crate::layout::Lab;

/// Copies the kubeadm PKI directory `src` (`src/ca.crt`, `src/etcd/ca.crt`…) into `lab`, and the
/// kubeconfigs (`*.conf`) next to it into the lab's root.
pub fn import_kubeadm(src: &Path, lab: &Lab) -> Result<()> {
    if !src.join("ca.crt").exists() {
        return Err(PkiError::Missing {
            path: src.join("ca.crt"),
            expected: "a kubeadm pki directory such as /etc/kubernetes/pki".into(),
        });
    }
    copy_dir(src, &lab.pki_dir())?;
    if let Some(parent) = src.parent() {
        if let Ok(entries) = std::fs::read_dir(parent) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "conf") && path.is_file() {
                    copy_file(&path, &lab.root().join(entry.file_name()))?;
                }
            }
        }
    }
    Ok(())
}

/// The time every certificate under `dir` is valid: the latest NotBefore and the earliest
/// NotAfter (`None` when there is no certificate to read).
pub fn common_validity(dir: &Path) -> Option<(OffsetDateTime, OffsetDateTime)> {
    fn certs(dir: &Path, out: &mut Vec<crate::cert::CertInfo>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                certs(&path, out);
            } else if path.extension().is_some_and(|e| e == "crt") {
                if let Ok(info) = crate::cert::read_cert(&path) {
                    out.push(info);
                }
            }
        }
    }
    let mut all = Vec::new();
    certs(dir, &mut all);
    let from = all.iter().map(|c| c.not_before).max()?;
    let until = all.iter().map(|c| c.not_after).min()?;
    Some((from, until))
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    ensure_dir(to)?;
    let read = |source| PkiError::read(from, source);
    for entry in std::fs::read_dir(from).map_err(read)? {
        let entry = entry.map_err(read)?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let is_dir = entry
            .file_type()
            .map_err(|e| PkiError::read(&source, e))?
            .is_dir();
        if is_dir {
            copy_dir(&source, &target)?;
        } else {
            copy_file(&source, &target)?;
        }
    }
    Ok(())
}

/// One file of a foreign PKI, with the lab's modes.
fn copy_file(source: &Path, target: &Path) -> Result<()> {
    let bytes = std::fs::read(source).map_err(|e| PkiError::read(source, e))?;
    let secret = source
        .extension()
        .is_some_and(|e| e == "key" || e == "conf");
    let mode = match secret {
        true => Mode::Secret,
        false => Mode::Public,
    };
    write_atomic(target, &bytes, mode)
}
