//! A certificate signing request as `openssl req -new -key KEY -subj "/O=GROUP/CN=NAME"` writes
//! it: the subject a user asks the Founder to sign, proven by the key's own signature.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use crate::error::{PkiError, Result};

/// The PEM of a CSR for `cn` in `groups` (each an `O=`), signed with `key`.
pub fn request_pem(key: &KeyPair, cn: &str, groups: &[String]) -> Result<String> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for g in groups {
        dn.push(DnType::OrganizationName, g.as_str());
    }
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params
        .serialize_request(key)
        .and_then(|r| r.pem())
        .map_err(|e| PkiError::Sign {
            what: format!("a certificate signing request for CN={cn}"),
            detail: e.to_string(),
        })
}
