//! Badges nobody vouches for: the throwaway CA and serving certificate a Kubernetes component
//! makes for itself when it is given none, as client-go's `GenerateSelfSignedCertKey` does.
//!
//! Two of the office's staff serve with one:
//!
//! - **the kubelet** (port 10250, `serverTLSBootstrap: false`) calls it with its hostname and
//!   nothing else, and keeps the result in `kubelet.crt`/`kubelet.key`;
//! - **kube-scheduler** (and kube-controller-manager) on the secure port, when kubeadm passes no
//!   `--tls-cert-file`: `MaybeDefaultWithSelfSignedCerts("localhost", nil, [127.0.0.1])` adds the
//!   `--bind-address` (kubeadm: `127.0.0.1`, so that IP appears twice) and keeps the pair in
//!   memory only.
//!
//! The shape, from client-go `util/cert/cert.go`: a CA `CN=<host>-ca@<unix time>` (RSA 2048,
//! key usages key encipherment, digital signature and cert sign) signs a leaf
//! `CN=<host>@<unix time>` (RSA 2048, key encipherment and digital signature, server auth only),
//! both valid from an hour ago for a year. The host goes into the IP SANs when it parses as an
//! IP and into the DNS SANs otherwise; the alternate IPs and names follow, in the order given,
//! duplicates kept. The certificate PEM holds the leaf, then the CA, so a client sees both.
//!
//! Nobody trusts that CA. That is the point of the lesson: a client either skips verification
//! (`curl -k`, the apiserver dialling a kubelet without `--kubelet-certificate-authority`, a
//! kubelet probe) or refuses with `x509: certificate signed by unknown authority`.

use std::net::IpAddr;
use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::fs::{write_atomic, Mode};
use crate::issue::random_serial;
use crate::key_source::KeySource;
use crate::keys::private_key_pem;
use crate::{KeyAlgorithm, PkiError, Result};

/// How long before "now" the pair becomes valid: client-go's allowance for clock skew.
pub const BACKDATE: Duration = Duration::hours(1);
/// How long the pair is valid: one year.
pub const VALIDITY: Duration = Duration::days(365);

/// A self-signed serving pair, PEM encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct SelfSigned {
    /// The leaf, then its throwaway CA.
    pub cert_pem: String,
    /// The leaf's RSA key (`RSA PRIVATE KEY`, PKCS#1).
    pub key_pem: String,
}

impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key stays out of logs.
        f.debug_struct("SelfSigned")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Makes a pair for `host` with the given extra SANs, on the lab clock's `now`, its two RSA
/// keys from `keys` (see [`crate::key_source`]). RSA key generation takes a moment: call this
/// off the async threads.
pub fn generate(
    host: &str,
    alternate_ips: &[IpAddr],
    alternate_dns: &[&str],
    now: OffsetDateTime,
    keys: &KeySource,
) -> Result<SelfSigned> {
    let stamp = now.unix_timestamp();
    let (not_before, not_after) = crate::when::validity(host, now, -BACKDATE, VALIDITY - BACKDATE)?;
    let failed = |what: &str| {
        let what = what.to_owned();
        move |e: rcgen::Error| PkiError::Sign {
            what,
            detail: e.to_string(),
        }
    };

    let [ca_key, key]: [KeyPair; 2] = keys
        .keys(&[KeyAlgorithm::Rsa2048, KeyAlgorithm::Rsa2048])?
        .try_into()
        .map_err(|_| PkiError::Sign {
            what: "the self-signed serving keys".into(),
            detail: "two keys were asked for".into(),
        })?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = common_name(&format!("{host}-ca@{stamp}"));
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    ca.serial_number = Some(random_serial());
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(failed("the self-signed serving CA"))?;

    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = common_name(&format!("{host}@{stamp}"));
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Go writes all DNS names before all IPs, whatever order they were given in.
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    match host.parse::<IpAddr>() {
        Ok(ip) => ips.push(ip),
        Err(_) => dns.push(host),
    }
    ips.extend_from_slice(alternate_ips);
    dns.extend_from_slice(alternate_dns);
    let mut sans = Vec::with_capacity(dns.len() + ips.len());
    for name in dns {
        let name = name
            .to_owned()
            .try_into()
            .map_err(failed("the self-signed serving certificate"))?;
        sans.push(SanType::DnsName(name));
    }
    sans.extend(ips.into_iter().map(SanType::IpAddress));
    leaf.subject_alt_names = sans;
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    leaf.serial_number = Some(random_serial());
    let issuer = Issuer::from_params(&ca, &ca_key);
    let cert = leaf
        .signed_by(&key, &issuer)
        .map_err(failed("the self-signed serving certificate"))?;
    Ok(SelfSigned {
        cert_pem: format!("{}{}", cert.pem(), ca_cert.pem()),
        key_pem: private_key_pem(&key)?,
    })
}

/// A self-signed pair kept as files only this user can read: a fresh private directory (0700)
/// under the system's temporary directory, holding `STEM.key` (0600) and `STEM.crt`, removed
/// when this is dropped. The real components keep the pair in memory; the lab's one TLS builder
/// reads badges from files.
#[derive(Debug)]
pub struct KeptPair {
    _dir: tempfile::TempDir,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Why a pair could not be kept: in which directory (the system's temporary directory when the
/// private one could not be made), and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("keeping the self-signed certificate in {}: {problem}", dir.display())]
pub struct KeepFailed {
    pub dir: PathBuf,
    pub problem: String,
}

impl SelfSigned {
    /// Writes the pair to a new private directory named `prefix…` as `stem.key` and `stem.crt`.
    pub fn keep_private(
        &self,
        prefix: &str,
        stem: &str,
    ) -> std::result::Result<KeptPair, KeepFailed> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| KeepFailed {
                dir: std::env::temp_dir(),
                problem: e.to_string(),
            })?;
        let cert_path = dir.path().join(format!("{stem}.crt"));
        let key_path = dir.path().join(format!("{stem}.key"));
        let failed = |e: PkiError| KeepFailed {
            dir: dir.path().to_owned(),
            problem: e.to_string(),
        };
        write_atomic(&key_path, self.key_pem.as_bytes(), Mode::Secret).map_err(failed)?;
        write_atomic(&cert_path, self.cert_pem.as_bytes(), Mode::Public).map_err(failed)?;
        Ok(KeptPair {
            _dir: dir,
            cert_path,
            key_path,
        })
    }
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::cert::{parse_cert_chain, CertInfo};
    use time::macros::datetime;

    #[test]
    fn the_scheduler_shape_names_localhost_and_the_loopback_ip_twice() {
        let now = datetime!(2026-11-29 09:00:00 UTC);
        let loopback: IpAddr = [127, 0, 0, 1].into();
        let pair = generate(
            "localhost",
            &[loopback, loopback],
            &[],
            now,
            &KeySource::Fresh,
        )
        .unwrap();
        assert!(pair.key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        let chain = parse_cert_chain(Path::new("mem"), pair.cert_pem.as_bytes()).unwrap();
        assert_eq!(chain.len(), 2, "leaf then its throwaway CA");
        let leaf = CertInfo::from_der(Path::new("mem"), &chain[0]).unwrap();
        let ca = CertInfo::from_der(Path::new("mem"), &chain[1]).unwrap();
        let stamp = now.unix_timestamp();
        assert_eq!(leaf.subject_cn, format!("localhost@{stamp}"));
        assert_eq!(ca.subject_cn, format!("localhost-ca@{stamp}"));
        assert_eq!(leaf.issuer_cn, ca.subject_cn);
        assert_eq!(
            leaf.alt_names,
            vec!["DNS:localhost", "IP:127.0.0.1", "IP:127.0.0.1"]
        );
        assert!(leaf.has_server_auth() && !leaf.has_client_auth());
        assert!(ca.is_ca && !leaf.is_ca);
        assert_eq!(leaf.not_before, now - Duration::hours(1));
        assert_eq!(
            leaf.not_after,
            now - Duration::hours(1) + Duration::days(365)
        );
    }
}
