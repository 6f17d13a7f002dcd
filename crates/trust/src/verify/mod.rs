//! The guard's check: does this badge get in? Verifies a certificate chain the way Go does and
//! says so in Go's words.
//!
//! Two judges sit here, and both must agree before a badge is [`VerdictKind::Valid`]:
//!
//! 1. **Go's `Certificate.Verify`, replayed.** Every Kubernetes component is a Go program, so
//!    the lab must refuse what Go refuses, in Go's order, with Go's text. Go checks:
//!    (a) the badge's own dates, (b) the host name, if one was asked for, (c) a chain to a
//!    trusted root, checking each candidate CA's signature and then its dates and CA bit,
//!    (d) the extended key usage along the chain. The first failure is the one printed, so an
//!    expired badge from a rogue CA reads "expired", never "unknown authority".
//! 2. **rustls-webpki**, the verifier the lab's real TLS connections use. It is the judge of
//!    whether a chain is cryptographically and structurally sound; if it refuses something the
//!    replay let through, the verdict is still a refusal, mapped to Go's nearest text.
//!
//! Why replay Go at all, rather than only translating webpki's errors? Because the two differ
//! in what they check, and a learner's cluster runs Go:
//!
//! - webpki treats a trust anchor as just a name and a key: it never looks at the root CA's
//!   own validity period. Go runs the same `isValid` date check on every certificate in the
//!   chain, the root included. Expired cluster CAs are a classic outage (kubeadm's CA lasts ten
//!   years and is never renewed), so the lab must check the CA's dates itself.
//! - webpki reports errors in its own order (signature path first, then dates per
//!   certificate); Go reports the leaf's dates before anything else.
//! - Go explains a same-name CA with another key ("possibly because of …"); webpki only says
//!   `UnknownIssuer`.

use std::fmt;
use std::net::IpAddr;

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::events::Identity;
use crate::facts::{go_ip_string, same_ip, Cert, Eku, KeyFamily, ParseError, SignatureKind};
use crate::gotime::rfc3339 as go_time;
use crate::verdict::{Verdict, VerdictKind};

mod go_judge;
mod hostname;
mod refusal;
mod webpki_judge;

use go_judge::*;
use hostname::*;
pub use refusal::go_quote;
use refusal::*;
use webpki_judge::*;

/// What the badge is being used for: which extended key usage the guard requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// A server showing its badge to a client (EKU `serverAuth`): kubectl → apiserver.
    Server,
    /// A client showing its badge to a server (EKU `clientAuth`): apiserver → etcd.
    Client,
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Usage::Server => "server",
            Usage::Client => "client",
        })
    }
}

/// One badge check: a leaf, what may help chain it, what the guard trusts, and when.
#[derive(Clone, Copy, Debug)]
pub struct VerifyRequest<'a> {
    /// The badge being checked.
    pub leaf: &'a CertificateDer<'a>,
    /// Intermediate CAs the peer sent along (Go's `VerifyOptions.Intermediates`).
    pub intermediates: &'a [CertificateDer<'a>],
    /// The CAs the guard trusts (Go's `VerifyOptions.Roots`, the `--client-ca-file` or the
    /// kubeconfig's `certificate-authority-data`).
    pub roots: &'a [CertificateDer<'a>],
    /// The DNS name or IP address the client dialled (Go's `VerifyOptions.DNSName`); `None` for
    /// a server checking a client, which has no name to match.
    pub name: Option<&'a str>,
    /// The usage to require. `None` accepts any usage (Go's `ExtKeyUsageAny`); note that Go
    /// itself defaults an empty list to server auth.
    pub usage: Option<Usage>,
    /// The guard's "now", usually the [`LabClock`](crate::LabClock)'s.
    pub at: OffsetDateTime,
}

/// Checks a badge as a Go guard would, with rustls-webpki as the final judge.
///
/// Never returns [`VerdictKind::Valid`] when webpki refuses the chain.
pub fn verify(req: &VerifyRequest<'_>) -> Verdict {
    verify_badge(req).0
}

/// [`verify`], and who the badge says its holder is (read from the same parse; `None` when
/// the badge does not parse). An authenticator needs both.
pub fn verify_badge(req: &VerifyRequest<'_>) -> (Verdict, Option<Identity>) {
    let leaf = match Cert::parse(req.leaf) {
        Ok(leaf) => leaf,
        Err(e) => return (Refusal::malformed("badge", e).verdict(), None),
    };
    let verdict = match judge(req, &leaf) {
        Ok(()) => Verdict::new(VerdictKind::Valid, "", VerdictKind::Valid.explain().0),
        Err(refusal) => refusal.verdict(),
    };
    (verdict, Some(Identity::from_cert(&leaf)))
}

fn judge(req: &VerifyRequest<'_>, leaf: &Cert<'_>) -> Result<(), Refusal> {
    let mut intermediates = Vec::with_capacity(req.intermediates.len());
    for (i, der) in req.intermediates.iter().enumerate() {
        let cert = Cert::parse(der)
            .map_err(|e| Refusal::malformed(&format!("intermediate certificate #{}", i + 1), e))?;
        intermediates.push(cert);
    }
    // A root that does not parse never makes it into a Go CertPool (AppendCertsFromPEM skips
    // it), so it is simply not trusted.
    let roots: Vec<Cert<'_>> = req
        .roots
        .iter()
        .filter_map(|der| Cert::parse(der).ok())
        .collect();

    // webpki judges first, but Go's refusal (the text a learner reads) wins when both refuse,
    // and webpki's refusal stands when only it refuses. The signatures webpki has checked on
    // the path it accepted are not checked a second time by the Go replay. (Where webpki can
    // check an algorithm x509-parser cannot, e.g. a P-521 CA, that link now verifies, as it
    // does in Go; a same-name candidate off the path still reads "algorithm unimplemented".)
    let webpki = webpki_verify(req, leaf);
    let verified = match &webpki {
        Ok(path) => path.links(),
        Err(_) => Vec::new(),
    };
    let pools = Pools {
        roots: dedup(roots),
        intermediates: dedup(intermediates),
        verified,
    };
    go_verify(leaf, &pools, req.name, req.usage, req.at)?;
    webpki.map(|_| ())
}

/// Go's `CertPool.AddCert` ignores a certificate it already holds.
fn dedup(certs: Vec<Cert<'_>>) -> Vec<Cert<'_>> {
    let mut out: Vec<Cert<'_>> = Vec::with_capacity(certs.len());
    for cert in certs {
        if !out.iter().any(|held| held.der == cert.der) {
            out.push(cert);
        }
    }
    out
}

struct Pools<'c> {
    roots: Vec<Cert<'c>>,
    intermediates: Vec<Cert<'c>>,
    /// (child, parent) signatures webpki has already verified, as DER: checked once, not twice.
    verified: Vec<(&'c [u8], &'c [u8])>,
}

/// Where a certificate stands in a chain; Go's `leafCertificate`, `intermediateCertificate`,
/// `rootCertificate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Leaf,
    Intermediate,
    Root,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("kubernetes"), "\"kubernetes\"");
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(go_quote("\u{1}"), "\"\\x01\"");
    }

    #[test]
    fn hostnames_match_as_go_matches_them() {
        assert!(match_hostnames("*.example.com", "a.example.com"));
        assert!(!match_hostnames("*.example.com", "a.b.example.com"));
        assert!(match_hostnames("Kubernetes.Default", "kubernetes.default."));
        assert!(valid_hostname("kube_proxy.local", false));
        assert!(!valid_hostname("-bad.local", false));
        assert!(!valid_hostname("*", true));
    }
}
