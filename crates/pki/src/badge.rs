//! A badge on disk: load and store a profile's certificate and key, whether they live in
//! `pki/` or inside a kubeconfig.

use std::path::PathBuf;

use rcgen::KeyPair;

use crate::cert::{cert_pem, parse_cert_chain, read_cert_chain, CertInfo};
use crate::error::{PkiError, Result};
use crate::fs::{write_atomic, Mode};
use crate::issue::Ca;
use crate::keys::{parse_private_key, private_key_pem, read_private_key};
use crate::kubeconfig::Kubeconfig;
use crate::layout::Lab;
use crate::profile::{Authority, ClusterFacts, Profile, Storage};

/// A badge read from disk: the certificate's facts and the private key that goes with it.
pub struct Badge {
    pub profile: &'static Profile,
    pub path: PathBuf,
    pub info: CertInfo,
    pub key: KeyPair,
}

impl Lab {
    /// Loads a CA's certificate and key, checking that they belong together.
    pub fn load_ca(&self, authority: Authority) -> Result<Ca> {
        let cert_path = self.ca_cert_path(authority);
        let key_path = self.ca_key_path(authority);
        let chain = read_cert_chain(&cert_path)?;
        let info = CertInfo::from_der(&cert_path, &chain[0])?;
        let key = read_private_key(&key_path)?;
        check_pair(&info, &key, &key_path, &cert_path)?;
        Ok(Ca {
            authority: Some(authority),
            cert: chain[0].clone(),
            key,
        })
    }

    /// Writes a CA's certificate (0644) and key (0600).
    pub fn store_ca(&self, authority: Authority, ca: &Ca) -> Result<()> {
        write_atomic(
            &self.ca_key_path(authority),
            private_key_pem(&ca.key)?.as_bytes(),
            Mode::Secret,
        )?;
        write_atomic(
            &self.ca_cert_path(authority),
            cert_pem(&ca.cert).as_bytes(),
            Mode::Public,
        )
    }

    /// Loads a badge by profile, from `pki/` or from its kubeconfig.
    pub fn load_badge(&self, profile: &'static Profile) -> Result<Badge> {
        let path = self.storage_path(profile.storage);
        let (info, key) = match profile.storage {
            Storage::Pki(stem) => {
                let chain = read_cert_chain(&path)?;
                let info = CertInfo::from_der(&path, &chain[0])?;
                let key_path = self.key_path(stem);
                let key = read_private_key(&key_path)?;
                check_pair(&info, &key, &key_path, &path)?;
                (info, key)
            }
            Storage::Kubeconfig(_) => {
                let creds = Kubeconfig::read(&path)?.credentials(&path)?;
                let chain = parse_cert_chain(&path, &creds.cert_pem)?;
                let info = CertInfo::from_der(&path, &chain[0])?;
                let key = parse_private_key(&path, &creds.key_pem)?;
                check_pair(&info, &key, &path, &path)?;
                (info, key)
            }
        };
        Ok(Badge {
            profile,
            path,
            info,
            key,
        })
    }

    /// Reads only a badge's certificate facts (no key needed), e.g. for check-expiration.
    pub fn read_badge_cert(&self, profile: &Profile) -> Result<CertInfo> {
        let path = self.storage_path(profile.storage);
        match profile.storage {
            Storage::Pki(_) => {
                let chain = read_cert_chain(&path)?;
                CertInfo::from_der(&path, &chain[0])
            }
            Storage::Kubeconfig(_) => {
                let creds = Kubeconfig::read(&path)?.credentials(&path)?;
                let chain = parse_cert_chain(&path, &creds.cert_pem)?;
                CertInfo::from_der(&path, &chain[0])
            }
        }
    }

    /// Writes a badge: key then certificate for `pki/` badges, or the whole kubeconfig.
    /// An existing kubeconfig keeps its server and names; only the credentials change.
    pub fn store_badge(
        &self,
        profile: &Profile,
        facts: &ClusterFacts,
        ca: &Ca,
        cert: &[u8],
        key: &KeyPair,
    ) -> Result<()> {
        let key_pem = private_key_pem(key)?;
        let cert_pem = cert_pem(cert);
        match profile.storage {
            Storage::Pki(stem) => {
                write_atomic(&self.key_path(stem), key_pem.as_bytes(), Mode::Secret)?;
                write_atomic(&self.cert_path(stem), cert_pem.as_bytes(), Mode::Public)
            }
            Storage::Kubeconfig(file) => {
                let path = self.kubeconfig_path(file);
                let config = match Kubeconfig::read(&path) {
                    Ok(mut existing) => {
                        existing.set_client_cert(&cert_pem, &key_pem);
                        existing
                    }
                    Err(_) => Kubeconfig::with_client_cert(
                        &facts.cluster_name,
                        &facts.server_url(),
                        &crate::cert::cert_pem(&ca.cert),
                        &profile.common_name(facts),
                        &cert_pem,
                        &key_pem,
                    ),
                };
                write_atomic(&path, config.to_yaml().as_bytes(), Mode::Secret)
            }
        }
    }
}

/// A key that does not match its certificate is useless: the holder cannot prove the badge is theirs.
fn check_pair(
    info: &CertInfo,
    key: &KeyPair,
    key_path: &std::path::Path,
    cert_path: &std::path::Path,
) -> Result<()> {
    if rcgen::PublicKeyData::der_bytes(key) != info.public_key_der.as_slice() {
        return Err(PkiError::KeyMismatch {
            path: key_path.into(),
            cert: cert_path.into(),
        });
    }
    Ok(())
}
