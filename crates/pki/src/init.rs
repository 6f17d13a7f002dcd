//! `kubecorp pki init`: the Founder opens the office and prints every badge kubeadm 1.32 would.
//!
//! Like `kubeadm init phase certs` and `phase kubeconfig`: an existing CA (certificate and key)
//! is reused to sign whatever is missing, and existing files are kept unless `force` is set;
//! then a whole new set is made beside the old one and swapped in ([`crate::swap`]).

use time::OffsetDateTime;

use crate::error::{PkiError, Result};
use crate::fs::{ensure_dir, write_atomic, Mode};
use crate::issue::{Ca, Shape, CA_VALIDITY};
use crate::keys::{private_key_pem, KeyAlgorithm, KeySupply};
use crate::layout::Lab;
use crate::profile::{profile, AltNames, Authority, ClusterFacts, Profile, San, Storage};

/// What `pki init` needs to know.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub facts: ClusterFacts,
    pub key_algorithm: KeyAlgorithm,
    /// Overwrite existing files instead of keeping them.
    pub force: bool,
    /// The lab clock's "now": every NotBefore and NotAfter counts from it.
    pub now: OffsetDateTime,
}

/// kubeadm's order: each CA followed by the badges it signs; kubeconfigs last.
const ORDER: &[(Authority, &[&str])] = &[
    (
        Authority::Cluster,
        &["apiserver", "apiserver-kubelet-client"],
    ),
    (Authority::FrontProxy, &["front-proxy-client"]),
    (
        Authority::Etcd,
        &[
            "etcd-server",
            "etcd-peer",
            "etcd-healthcheck-client",
            "apiserver-etcd-client",
        ],
    ),
];

const KUBECONFIGS: &[&str] = &[
    "admin.conf",
    "super-admin.conf",
    "kubelet.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "kube-proxy.conf",
];

/// Writes the lab's PKI and kubeconfigs; returns kubeadm-style progress lines.
pub fn init(lab: &Lab, opts: &InitOptions) -> Result<Vec<String>> {
    init_drawing(lab, opts, None)
}

/// As [`init`], for a throwaway lab: RSA keys are drawn from `pool` (see [`crate::pool`]).
pub fn init_drawing(
    lab: &Lab,
    opts: &InitOptions,
    pool: Option<&crate::pool::KeyPool>,
) -> Result<Vec<String>> {
    validate(&opts.facts)?;
    let _lock = lab.lock()?;
    ensure_dir(lab.root())?;
    ensure_dir(&lab.pki_dir())?;
    let (log, keys) = if opts.force {
        // Every file is made anew beside the old set, which is replaced only once the new one
        // is whole (see [`crate::swap`]).
        crate::swap::replace_set(lab, |staging| build(staging, lab, opts, pool))?
    } else {
        build(lab, lab, opts, pool)?
    };
    // The lab's later keys (renewals, faults, rotations, CSRs) come from where these came from.
    match pool {
        Some(pool) => crate::key_source::KeySource::record(lab, pool, keys.drawn())?,
        None if opts.force => crate::key_source::KeySource::forget(lab)?,
        None => {}
    }
    Ok(log)
}

/// Writes (or checks) every file of the set into `into`; the log names `shown`'s folders, the
/// lab the user asked for. Returns the log and the keys' supply (which names what it drew).
pub(crate) fn build(
    into: &Lab,
    shown: &Lab,
    opts: &InitOptions,
    pool: Option<&crate::pool::KeyPool>,
) -> Result<(Vec<String>, KeySupply)> {
    let lab = into;
    ensure_dir(&lab.pki_dir())?;
    let mut log = vec![format!(
        "[certs] Using certificateDir folder {:?}",
        shown.pki_dir().display().to_string()
    )];
    // Every key the run will need is made first, side by side: with RSA that is most of the
    // time `pki init` takes.
    let mut supply = KeySupply::new(opts.key_algorithm, keys_needed(lab, opts), pool)?;
    let keys = &mut supply;
    let mut cluster_ca = None;
    let mut strangers = Vec::new();
    for (authority, leaves) in ORDER {
        let ca = ensure_ca(lab, *authority, opts, keys, &mut log)?;
        for name in *leaves {
            let p = profile(name).expect("every ordered name has a profile");
            ensure_leaf(lab, p, &ca, opts, keys, &mut log, &mut strangers)?;
        }
        if *authority == Authority::Cluster {
            cluster_ca = Some(ca);
        }
    }
    ensure_sa(lab, opts, keys, &mut log)?;
    let ca = cluster_ca.expect("the cluster CA is first in ORDER");
    log.push(format!(
        "[kubeconfig] Using kubeconfig folder {:?}",
        shown.root().display().to_string()
    ));
    for name in KUBECONFIGS {
        let p = profile(name).expect("every kubeconfig has a profile");
        ensure_leaf(lab, p, &ca, opts, keys, &mut log, &mut strangers)?;
    }
    if !strangers.is_empty() {
        return Err(PkiError::NotSignedByCa { files: strangers });
    }
    Ok((log, supply))
}

/// How many new keys `init` will make: one per CA, badge or kubeconfig not already on disk
/// (all of them with `force`), and one for `sa` if it is missing.
fn keys_needed(lab: &Lab, opts: &InitOptions) -> usize {
    let missing = |present: bool| usize::from(opts.force || !present);
    let cas: usize = ORDER
        .iter()
        .map(|(authority, _)| {
            missing(lab.ca_cert_path(*authority).exists() && lab.ca_key_path(*authority).exists())
        })
        .sum();
    let badges: usize = ORDER
        .iter()
        .flat_map(|(_, leaves)| leaves.iter())
        .chain(KUBECONFIGS)
        .map(|name| {
            let p = profile(name).expect("every ordered name has a profile");
            missing(has_leaf(lab, p))
        })
        .sum();
    let sa = missing(lab.sa_key_path().exists() && lab.sa_pub_path().exists());
    cas + badges + sa
}

/// Whether a badge's files are on disk: certificate and key, or the kubeconfig.
fn has_leaf(lab: &Lab, p: &Profile) -> bool {
    match p.storage {
        Storage::Pki(stem) => lab.storage_path(p.storage).exists() && lab.key_path(stem).exists(),
        Storage::Kubeconfig(_) => lab.storage_path(p.storage).exists(),
    }
}

fn validate(facts: &ClusterFacts) -> Result<()> {
    crate::node_name::NodeName::new(&facts.node_name)?;
    Ok(())
}

fn ensure_ca(
    lab: &Lab,
    authority: Authority,
    opts: &InitOptions,
    keys: &mut KeySupply,
    log: &mut Vec<String>,
) -> Result<Ca> {
    let cert = lab.ca_cert_path(authority);
    let key = lab.ca_key_path(authority);
    let phase = authority.stem();
    if !opts.force && cert.exists() && key.exists() {
        let ca = lab.load_ca(authority)?;
        log.push(format!(
            "[certs] Using existing {} certificate authority",
            authority.name()
        ));
        return Ok(ca);
    }
    if !opts.force && cert.exists() != key.exists() {
        let (present, absent) = if cert.exists() {
            (cert, key)
        } else {
            (key, cert)
        };
        return Err(PkiError::Missing {
            path: absent,
            expected: format!(
                "the other half of {} (the lab needs both the CA certificate and its key to sign; pass --force to make a new CA)",
                present.display()
            ),
        });
    }
    log.push(format!(
        "[certs] Generating \"{phase}\" certificate and key"
    ));
    let mut ca = Ca::generate(authority.common_name(), keys.take()?, opts.now, CA_VALIDITY)?;
    ca.authority = Some(authority);
    lab.store_ca(authority, &ca)?;
    Ok(ca)
}

fn ensure_leaf(
    lab: &Lab,
    p: &'static Profile,
    ca: &Ca,
    opts: &InitOptions,
    keys: &mut KeySupply,
    log: &mut Vec<String>,
    strangers: &mut Vec<String>,
) -> Result<()> {
    let path = lab.storage_path(p.storage);
    if has_leaf(lab, p) && !opts.force {
        // Load it, so a damaged or mismatched pair is reported now rather than at first use.
        let badge = lab.load_badge(p)?;
        if p.alt_names == AltNames::ApiServer {
            has_every_extra_san(&badge, &opts.facts)?;
        }
        if !signed_by(&badge.info.der, ca) {
            let shown = path.strip_prefix(lab.root()).unwrap_or(&path);
            strangers.push(shown.display().to_string());
        }
        log.push(match p.storage {
            Storage::Pki(stem) => {
                format!("[certs] Using existing {stem} certificate and key on disk")
            }
            Storage::Kubeconfig(_) => format!(
                "[kubeconfig] Using existing kubeconfig file: {:?}",
                path.display().to_string()
            ),
        });
        return Ok(());
    }
    let shape = Shape::of(p, &opts.facts);
    let key = keys.take()?;
    let cert = ca.issue_now(&shape, &key, opts.now)?;
    lab.store_badge(p, &opts.facts, ca, &cert, &key)?;
    match p.storage {
        Storage::Pki(stem) => {
            log.push(format!("[certs] Generating \"{stem}\" certificate and key"));
            if p.alt_names != AltNames::None {
                log.push(format!(
                    "[certs] {stem} serving cert is signed for {}",
                    describe_sans(&shape.sans)
                ));
            }
        }
        Storage::Kubeconfig(file) => {
            log.push(format!("[kubeconfig] Writing {file:?} kubeconfig file"))
        }
    }
    Ok(())
}

/// Whether `ca` signed the certificate `der` (kubeadm's `validateSignedCertWithCA`).
fn signed_by(der: &[u8], ca: &Ca) -> bool {
    use x509_parser::prelude::FromDer;
    let (Ok((_, leaf)), Ok((_, ca))) = (
        x509_parser::certificate::X509Certificate::from_der(der),
        x509_parser::certificate::X509Certificate::from_der(&ca.cert),
    ) else {
        return false;
    };
    leaf.verify_signature(Some(ca.public_key())).is_ok()
}

/// kubeadm keeps an existing apiserver certificate only if it already carries every name of
/// `certSANs`; otherwise it stops (`certificate apiserver is invalid: …`) and the old pair must
/// be deleted first, so that exactly that one badge is issued again.
fn has_every_extra_san(badge: &crate::badge::Badge, facts: &ClusterFacts) -> Result<()> {
    let missing = facts
        .apiserver_extra_sans
        .iter()
        .find(|san| !badge.info.sans.contains(san));
    match missing {
        None => Ok(()),
        Some(san) => Err(PkiError::LacksSan {
            path: badge.path.clone(),
            name: badge.profile.name,
            has: badge
                .info
                .sans
                .iter()
                .map(San::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            missing: san.to_string(),
        }),
    }
}

/// `DNS names [a b] and IPs [1.2.3.4 ::1]`, as kubeadm logs a serving certificate.
fn describe_sans(sans: &[San]) -> String {
    let dns: Vec<&str> = sans
        .iter()
        .filter_map(|s| match s {
            San::Dns(d) => Some(d.as_str()),
            San::Ip(_) => None,
        })
        .collect();
    let ips: Vec<String> = sans
        .iter()
        .filter_map(|s| match s {
            San::Ip(ip) => Some(ip.to_string()),
            San::Dns(_) => None,
        })
        .collect();
    format!("DNS names [{}] and IPs [{}]", dns.join(" "), ips.join(" "))
}

/// The service-account signing key pair: a key and its public half, no certificate, no expiry.
fn ensure_sa(
    lab: &Lab,
    opts: &InitOptions,
    keys: &mut KeySupply,
    log: &mut Vec<String>,
) -> Result<()> {
    if !opts.force && lab.sa_key_path().exists() && lab.sa_pub_path().exists() {
        crate::keys::read_private_key(&lab.sa_key_path())?;
        log.push("[certs] Using the existing \"sa\" key".into());
        return Ok(());
    }
    log.push("[certs] Generating \"sa\" key and public key".into());
    // kubeadm 1.32 makes it with the cluster's encryptionAlgorithm too
    // (`CreateServiceAccountKeyAndPublicKeyFiles(certsDir, cfg.EncryptionAlgorithmType())` in
    // `cmd/kubeadm/app/phases/certs/certs.go`): RSA-2048, so tokens are signed RS256, by default.
    let key = keys.take()?;
    write_atomic(
        &lab.sa_key_path(),
        private_key_pem(&key)?.as_bytes(),
        Mode::Secret,
    )?;
    write_atomic(
        &lab.sa_pub_path(),
        key.public_key_pem().as_bytes(),
        Mode::Public,
    )
}
