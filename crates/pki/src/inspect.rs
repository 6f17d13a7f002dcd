//! `kubecorp certs inspect`: everything a badge says, and its place in KubeCorp.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;

use crate::cert::{parse_cert_chain, CertInfo};
use crate::error::{PkiError, Result};
use crate::expiration::short_human_duration;
use crate::kubeconfig::Kubeconfig;
use crate::layout::Lab;
use crate::profile::{Authority, CommonName, Role, PROFILES};
use crate::renew::suggestion;

/// A badge as `inspect` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Inspection {
    /// kubeadm's name for the badge when it is one of kubeadm's.
    pub name: Option<String>,
    pub file: PathBuf,
    #[serde(flatten)]
    pub cert: CertInfo,
    /// Time left on the lab clock, as `check-expiration` prints it.
    pub residual_time: String,
    pub role: Option<Role>,
    pub note: Option<String>,
}

/// Finds the badge named by a kubeadm name, a CA name, or a file path (PEM or kubeconfig).
pub fn inspect(lab: &Lab, target: &str, now: OffsetDateTime) -> Result<Inspection> {
    let (name, file, cert) = locate(lab, target)?;
    let name = name.or_else(|| guess_name(&cert));
    let (role, note) = match name.as_deref() {
        Some(n) => describe(n),
        None => (None, None),
    };
    Ok(Inspection {
        residual_time: short_human_duration(
            (cert.not_after - now)
                .whole_nanoseconds()
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        ),
        name,
        file,
        cert,
        role,
        note,
    })
}

fn locate(lab: &Lab, target: &str) -> Result<(Option<String>, PathBuf, CertInfo)> {
    if let Some(p) = PROFILES.iter().find(|p| p.name == target) {
        let path = lab.storage_path(p.storage);
        return Ok((Some(p.name.into()), path, lab.read_badge_cert(p)?));
    }
    if let Some(a) = Authority::ALL
        .iter()
        .find(|a| a.name() == target || a.stem() == target)
    {
        let path = lab.ca_cert_path(*a);
        return Ok((
            Some(a.name().into()),
            path.clone(),
            crate::cert::read_cert(&path)?,
        ));
    }
    if target == "sa" {
        return Err(PkiError::NotRenewable {
            name: "sa".into(),
            reason: "`sa` is a key pair (pki/sa.key, pki/sa.pub) that signs service-account tokens; it has no certificate to inspect".into(),
        });
    }
    let path = Path::new(target);
    if path.exists() || target.contains('/') || target.contains('.') && !target.ends_with(".conf") {
        let bytes = crate::fs::read(path, "a PEM certificate or a kubeconfig")?;
        let looks_like_pem = bytes.windows(10).any(|w| w == b"-----BEGIN");
        if !looks_like_pem {
            if let Ok(config) = Kubeconfig::read(path) {
                let creds = config.credentials(path)?;
                let chain = parse_cert_chain(path, &creds.cert_pem)?;
                return Ok((None, path.into(), CertInfo::from_der(path, &chain[0])?));
            }
        }
        let chain = parse_cert_chain(path, &bytes)?;
        return Ok((None, path.into(), CertInfo::from_der(path, &chain[0])?));
    }
    let mut known: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
    known.extend(Authority::ALL.iter().map(|a| a.name()));
    Err(PkiError::UnknownName {
        name: target.into(),
        suggestion: suggestion(target)
            .map(|s| format!(" ({s})"))
            .unwrap_or_else(|| " (and no such file either)".into()),
        known: known.join(", "),
    })
}

/// A certificate from a file is matched to kubeadm's badge by its subject and issuer.
fn guess_name(cert: &CertInfo) -> Option<String> {
    if cert.is_ca {
        return Authority::ALL
            .iter()
            .find(|a| a.common_name() == cert.subject_cn)
            .map(|a| a.name().to_string());
    }
    PROFILES
        .iter()
        .find(|p| match p.common_name {
            CommonName::Fixed(cn) => {
                cn == cert.subject_cn && p.authority.common_name() == cert.issuer_cn
            }
            CommonName::NodeIdentity => cert.subject_cn.starts_with("system:node:"),
            CommonName::NodeName => false,
        })
        .map(|p| p.name.to_string())
}

fn describe(name: &str) -> (Option<Role>, Option<String>) {
    if let Some(p) = PROFILES.iter().find(|p| p.name == name) {
        return (Some(p.role), p.note.map(str::to_string));
    }
    if let Some(a) = Authority::ALL.iter().find(|a| a.name() == name) {
        return (
            Some(a.role()),
            Some("kubeadm never renews a CA; it lasts 10 years and is rotated by hand".into()),
        );
    }
    (None, None)
}

impl Inspection {
    /// The human-readable report.
    pub fn to_text(&self, now: OffsetDateTime) -> String {
        let c = &self.cert;
        let mut s = String::new();
        let title = self.name.as_deref().unwrap_or("certificate");
        s += &format!("{title} ({})\n", self.file.display());
        s += &format!("  Subject:        {}\n", c.subject);
        s += &format!("  Issuer:         {}\n", c.issuer);
        s += &format!("  Serial:         {}\n", c.serial);
        s += &format!(
            "  Not before:     {}\n",
            crate::expiration::kubeadm_date(c.not_before)
        );
        let left = if c.not_after < now {
            format!(
                "expired {} ago",
                short_human_duration(
                    ((now - c.not_after).whole_nanoseconds()).min(i64::MAX as i128) as i64
                )
            )
        } else if c.not_before > now {
            "not yet valid".to_string()
        } else {
            format!("{} left", self.residual_time)
        };
        s += &format!(
            "  Not after:      {} ({left})\n",
            crate::expiration::kubeadm_date(c.not_after)
        );
        s += &format!(
            "  SANs:           {}\n",
            if c.alt_names.is_empty() {
                "(none)".into()
            } else {
                c.alt_names.join(", ")
            }
        );
        s += &format!("  Key usage:      {}\n", or_none(&c.key_usages));
        s += &format!("  Extended usage: {}\n", or_none(&c.extended_key_usages));
        s += &format!("  CA:             {}\n", if c.is_ca { "yes" } else { "no" });
        s += &format!("  Key:            {}\n", c.key_algorithm);
        if let Some(role) = &self.role {
            s += "KubeCorp role\n";
            s += &format!("  Whose badge:    {}\n", role.whose);
            s += &format!("  Checked by:     {}\n", role.checked_by);
            s += &format!("  Trusted CA:     {}\n", role.trusts);
        }
        if let Some(note) = &self.note {
            s += &format!("  Note:           {note}\n");
        }
        s
    }
}

fn or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}
