//! Breaking a badge on purpose (`kubecorp break`): each fault rewrites one certificate the way
//! a real mistake would, keeping a backup so `--undo` puts the original back.

use std::path::PathBuf;

use time::{Duration, OffsetDateTime};

use crate::error::{PkiError, Result};
use crate::fs::{ensure_dir, read, write_atomic, Mode};
use crate::issue::{Ca, Shape, CA_VALIDITY};
use crate::key_source::KeySource;
use crate::keys::{private_key_pem, KeyAlgorithm};
use crate::kubeconfig::Kubeconfig;
use crate::layout::Lab;
use crate::profile::{profile, Storage, PROFILES};

/// The faults a learner can inflict. Each one rewrites a badge the way a real mistake would;
/// [`Fault::teaches`] says what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Fault {
    /// The badge expired yesterday.
    Expire,
    /// The badge only becomes valid tomorrow (a clock skew).
    NotYetValid,
    /// The badge is signed by a CA nobody trusts (CN rogue-ca).
    RogueCa,
    /// The badge is signed by another CA with the same name but another key.
    SameNameCa,
    /// The badge loses its DNS and IP names.
    DropSan,
    /// A client badge becomes a server badge, or the other way round.
    WrongUsage,
    /// The badge's O (group) is changed to kubecorp:wrong-group.
    WrongGroup,
    /// A kubelet badge names another node.
    WrongNodeName,
    /// The private key no longer belongs to the certificate.
    MismatchedKey,
}

impl Fault {
    /// Every fault, in the order the catalogue lists them.
    pub const ALL: [Fault; 9] = [
        Fault::Expire,
        Fault::NotYetValid,
        Fault::RogueCa,
        Fault::SameNameCa,
        Fault::DropSan,
        Fault::WrongUsage,
        Fault::WrongGroup,
        Fault::WrongNodeName,
        Fault::MismatchedKey,
    ];

    /// The name `kubecorp break` and scenario files use: `expire`, `not-yet-valid`, …
    pub fn name(self) -> &'static str {
        match self {
            Fault::Expire => "expire",
            Fault::NotYetValid => "not-yet-valid",
            Fault::RogueCa => "rogue-ca",
            Fault::SameNameCa => "same-name-ca",
            Fault::DropSan => "drop-san",
            Fault::WrongUsage => "wrong-usage",
            Fault::WrongGroup => "wrong-group",
            Fault::WrongNodeName => "wrong-node-name",
            Fault::MismatchedKey => "mismatched-key",
        }
    }

    /// What the fault does to the badge, in words for the room.
    pub fn teaches(self) -> &'static str {
        match self {
            Fault::Expire => "the badge expired yesterday",
            Fault::NotYetValid => "the badge only becomes valid tomorrow (a clock skew)",
            Fault::RogueCa => "the badge is signed by a CA nobody trusts (CN rogue-ca)",
            Fault::SameNameCa => {
                "the badge is signed by another CA with the same name but another key"
            }
            Fault::DropSan => "the badge loses its DNS and IP names",
            Fault::WrongUsage => "a client badge becomes a server badge, or the other way round",
            Fault::WrongGroup => "the badge's O (group) is changed to kubecorp:wrong-group",
            Fault::WrongNodeName => "a kubelet badge names another node",
            Fault::MismatchedKey => "the private key no longer belongs to the certificate",
        }
    }

    /// Every fault's name, for messages and parsers.
    pub fn names() -> Vec<&'static str> {
        Fault::ALL.iter().map(|f| f.name()).collect()
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Fault {
    type Err = PkiError;

    fn from_str(name: &str) -> Result<Fault> {
        Fault::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .ok_or_else(|| unknown("fault", name, &Fault::names()))
    }
}

fn unknown(what: &str, given: &str, known: &[&str]) -> PkiError {
    PkiError::UnknownName {
        name: given.into(),
        suggestion: format!(" (not a {what})"),
        known: known.join(", "),
    }
}

fn backup_dir(lab: &Lab, name: &str) -> PathBuf {
    lab.root().join(".kubecorp-backup").join(name)
}

fn files(lab: &Lab, storage: Storage) -> Vec<PathBuf> {
    match storage {
        Storage::Pki(stem) => vec![lab.cert_path(stem), lab.key_path(stem)],
        Storage::Kubeconfig(file) => vec![lab.kubeconfig_path(file)],
    }
}

/// Breaks `target` with `fault`; returns one line saying what was done.
pub fn inflict(lab: &Lab, fault: Fault, target: &str, now: OffsetDateTime) -> Result<String> {
    let _lock = lab.lock()?;
    let what = fault.teaches();
    let targets: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
    let p = profile(target).ok_or_else(|| unknown("badge name", target, &targets))?;
    let badge = lab.load_badge(p)?;
    let ca = lab.load_ca(p.authority)?;

    // Keep the original once, so several faults in a row still undo to the real badge.
    let backup = backup_dir(lab, p.name);
    if !backup.exists() {
        ensure_dir(&backup)?;
        for f in files(lab, p.storage) {
            let mode = if f.extension().is_some_and(|e| e == "crt") {
                Mode::Public
            } else {
                Mode::Secret
            };
            write_atomic(
                &backup.join(f.file_name().expect("a file")),
                &read(&f, "the badge")?,
                mode,
            )?;
        }
    }

    let mut shape = Shape::from_cert(&badge.info);
    let mut signer = ca;
    let window = |before: Duration, after: Duration| {
        crate::when::validity(&shape.common_name, now, before, after)
    };
    let (mut not_before, mut not_after) =
        window(-crate::issue::BACKDATE, crate::issue::LEAF_VALIDITY)?;
    let key = badge.key;
    match fault {
        Fault::Expire => {
            (not_before, not_after) = window(-Duration::days(366), -Duration::days(1))?
        }
        Fault::NotYetValid => {
            (not_before, not_after) = window(Duration::days(1), Duration::days(366))?
        }
        Fault::RogueCa => {
            signer = Ca::generate(
                "rogue-ca",
                KeySource::of(lab).key(KeyAlgorithm::of(&signer.key))?,
                now,
                CA_VALIDITY,
            )?
        }
        Fault::SameNameCa => {
            signer = Ca::generate(
                p.authority.common_name(),
                KeySource::of(lab).key(KeyAlgorithm::of(&signer.key))?,
                now,
                CA_VALIDITY,
            )?
        }
        Fault::DropSan => {
            if shape.sans.is_empty() {
                return Err(PkiError::Sign { what: p.name.into(), detail: "it has no SANs to drop (try a serving badge such as apiserver or etcd-server)".into() });
            }
            shape.sans.clear();
        }
        Fault::WrongUsage => {
            (shape.server_auth, shape.client_auth) = (!shape.server_auth, !shape.client_auth)
        }
        Fault::WrongGroup => shape.organizations = vec!["kubecorp:wrong-group".into()],
        Fault::WrongNodeName => match shape.common_name.strip_prefix("system:node:") {
            Some(node) => shape.common_name = format!("system:node:{node}-impostor"),
            None => {
                return Err(PkiError::Sign {
                    what: p.name.into(),
                    detail: "only a kubelet badge (kubelet.conf) names a node".into(),
                })
            }
        },
        Fault::MismatchedKey => {
            let stranger = KeySource::of(lab).key(KeyAlgorithm::of(&key))?;
            let cert_pem = crate::cert::cert_pem(&badge.info.der);
            match p.storage {
                Storage::Pki(stem) => write_atomic(
                    &lab.key_path(stem),
                    private_key_pem(&stranger)?.as_bytes(),
                    Mode::Secret,
                )?,
                Storage::Kubeconfig(file) => {
                    let path = lab.kubeconfig_path(file);
                    let mut config = Kubeconfig::read(&path)?;
                    config.set_client_cert(&cert_pem, &private_key_pem(&stranger)?);
                    write_atomic(&path, config.to_yaml().as_bytes(), Mode::Secret)?;
                }
            }
            return Ok(format!(
                "{}: {what} (backup in {})",
                p.name,
                backup.display()
            ));
        }
    }
    if fault == Fault::WrongUsage && !shape.server_auth && !shape.client_auth {
        shape.server_auth = true;
    }
    let cert = signer.issue(&shape, &key, not_before, not_after)?;
    let facts = crate::profile::ClusterFacts::new(
        "kubecorp-control-plane",
        std::net::IpAddr::from([127, 0, 0, 1]),
    );
    lab.store_badge(p, &facts, &signer, &cert, &key)?;
    Ok(format!(
        "{}: {what} (backup in {})",
        p.name,
        backup.display()
    ))
}

/// Restores a broken badge from its backup.
pub fn undo(lab: &Lab, target: &str) -> Result<String> {
    let _lock = lab.lock()?;
    let targets: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
    let p = profile(target).ok_or_else(|| unknown("badge name", target, &targets))?;
    let backup = backup_dir(lab, p.name);
    if !backup.exists() {
        return Err(PkiError::Missing {
            path: backup,
            expected: format!(
                "a backup made by `kubecorp break … {}`; nothing to undo",
                p.name
            ),
        });
    }
    for f in files(lab, p.storage) {
        let mode = if f.extension().is_some_and(|e| e == "crt") {
            Mode::Public
        } else {
            Mode::Secret
        };
        let saved = read(
            &backup.join(f.file_name().expect("a file")),
            "the backed-up badge",
        )?;
        write_atomic(&f, &saved, mode)?;
    }
    std::fs::remove_dir_all(&backup).map_err(|source| PkiError::Write {
        path: backup.clone(),
        source,
    })?;
    Ok(format!("{}: restored from its backup", p.name))
}
