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

// ---------------------------------------------------------------------------------------------
// Judge 1: Go's Certificate.Verify, step by step (Go 1.23, crypto/x509/verify.go).
// ---------------------------------------------------------------------------------------------

fn go_verify(
    leaf: &Cert<'_>,
    pools: &Pools<'_>,
    name: Option<&str>,
    usage: Option<Usage>,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    // (a) The badge's own dates, before anything else: Go calls `c.isValid(leafCertificate, …)`
    // first, so a badge that is out of date is reported as such even when nobody trusts its
    // signer.
    is_valid(leaf, Role::Leaf, &[], now)?;

    // (b) The host name, still before the chain: a genuine badge for the wrong door is a name
    // error even if it also comes from the wrong Founder.
    if let Some(host) = name.filter(|h| !h.is_empty()) {
        verify_hostname(leaf, host).map_err(Refusal::Hostname)?;
    }

    // (c) A chain to a trusted root. A badge that is itself in the trust pool is its own chain.
    let chains = if pools.roots.iter().any(|root| root.der == leaf.der) {
        vec![vec![leaf]]
    } else {
        let mut sig_checks = 0;
        build_chains(&[leaf], &mut sig_checks, pools, now)?
    };

    // (d) Extended key usage, last, and for the whole chain: a CA that lists EKUs limits what
    // the badges below it may be used for. Go accepts if any one chain allows the usage.
    let Some(usage) = usage else { return Ok(()) };
    if chains.iter().any(|chain| chain_allows(chain, usage)) {
        return Ok(());
    }
    let first = &chains[0];
    let offender = first
        .iter()
        .find(|cert| !cert_allows(cert, usage))
        .unwrap_or(&first[0]);
    Err(Refusal::IncompatibleUsage {
        usage,
        subject: offender.go_name(),
        allowed: offender.ext_key_usage.iter().map(Eku::to_string).collect(),
    })
}

/// Go's `isValid`: the checks a certificate must pass to stand at `role` in a chain.
fn is_valid(
    cert: &Cert<'_>,
    role: Role,
    chain: &[&Cert<'_>],
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    if let Some(oid) = &cert.unhandled_critical {
        return Err(Refusal::UnhandledCriticalExtension {
            subject: cert.go_name(),
            oid: oid.clone(),
        });
    }

    // The dates. Go tests `now.Before(NotBefore)` first and `now.After(NotAfter)` second, both
    // strict, so a badge is still good at the very second of its NotAfter.
    if now < cert.not_before {
        return Err(Refusal::NotYetValid {
            now,
            not_before: cert.not_before,
            subject: cert.go_name(),
            role,
        });
    }
    if now > cert.not_after {
        return Err(Refusal::Expired {
            now,
            not_after: cert.not_after,
            subject: cert.go_name(),
            role,
        });
    }

    // (Go checks a CA's name constraints here; webpki enforces them below.)

    // Only an intermediate can fail this: a root is trusted as configured, and a leaf signs
    // nothing. Key usage bits are ignored, as in Go (see the Peter Gutmann anecdote there).
    if role == Role::Intermediate && !cert.is_ca() {
        return Err(Refusal::NotAuthorizedToSign {
            subject: cert.go_name(),
        });
    }

    if let Some((_, Some(max_path_len))) = cert.basic_constraints {
        // `chain` holds the leaf and the intermediates below this CA.
        let intermediates_below = chain.len().saturating_sub(1);
        if intermediates_below > max_path_len as usize {
            return Err(Refusal::TooManyIntermediates {
                subject: cert.go_name(),
                max_path_len,
            });
        }
    }
    Ok(())
}

/// Go caps the signature checks of one `Verify` call, so a hostile pile of same-name CAs cannot
/// burn the guard's CPU.
const MAX_CHAIN_SIGNATURE_CHECKS: usize = 100;

/// Go's `buildChains`: finds every path from the end of `chain` up to a trusted root.
///
/// The error handling is Go's, and it decides what a learner reads:
///
/// - A candidate CA whose signature does not verify is skipped, and the *first* such failure is
///   kept as the hint for "unknown authority (possibly because of …)".
/// - A candidate whose signature verifies but which fails `isValid` (an expired CA!) sets the
///   returned error itself. That is why an expired cluster CA reads "certificate has expired"
///   with the CA's NotAfter, not "unknown authority".
/// - Any candidate that yields a chain wipes earlier errors.
fn build_chains<'p, 'c>(
    chain: &[&'p Cert<'c>],
    sig_checks: &mut usize,
    pools: &'p Pools<'c>,
    now: OffsetDateTime,
) -> Result<Vec<Vec<&'p Cert<'c>>>, Refusal> {
    let child = *chain.last().expect("a chain starts with its leaf");
    let mut chains = Vec::new();
    let mut err: Option<Refusal> = None;
    let mut hint: Option<Hint> = None;

    // Roots are tried before intermediates, each pool in Go's order of plausibility.
    let candidates = potential_parents(child, &pools.roots)
        .into_iter()
        .map(|c| (Role::Root, c))
        .chain(
            potential_parents(child, &pools.intermediates)
                .into_iter()
                .map(|c| (Role::Intermediate, c)),
        );

    for (role, candidate) in candidates {
        // Go never considers a CA whose key type it cannot parse, nor one already in the chain.
        if candidate.key == KeyFamily::Unknown || already_in_chain(candidate, chain) {
            continue;
        }
        *sig_checks += 1;
        if *sig_checks > MAX_CHAIN_SIGNATURE_CHECKS {
            err = Some(Refusal::SignatureCheckLimit);
            continue;
        }
        let checked = pools
            .verified
            .iter()
            .any(|&(c, p)| c == child.der && p == candidate.der);
        if let Err(error) = check_signature_from(child, candidate, checked) {
            hint.get_or_insert_with(|| Hint {
                error,
                candidate: candidate.go_name(),
            });
            continue;
        }
        // Go also records an isValid failure as the hint, but it never shows: `err` is set at
        // the same time, and an UnknownAuthorityError is only built when `err` is empty.
        if let Err(invalid) = is_valid(candidate, role, chain, now) {
            err = Some(invalid);
            continue;
        }
        match role {
            Role::Root => {
                err = None;
                chains.push(extended(chain, candidate));
            }
            Role::Intermediate | Role::Leaf => {
                match build_chains(&extended(chain, candidate), sig_checks, pools, now) {
                    Ok(found) => {
                        err = None;
                        chains.extend(found);
                    }
                    Err(e) => err = Some(e),
                }
            }
        }
    }

    if !chains.is_empty() {
        return Ok(chains);
    }
    Err(err.unwrap_or_else(|| Refusal::UnknownAuthority {
        issuer: child.issuer_common_name.clone(),
        hint,
    }))
}

fn extended<'p, 'c>(chain: &[&'p Cert<'c>], next: &'p Cert<'c>) -> Vec<&'p Cert<'c>> {
    let mut longer = chain.to_vec();
    longer.push(next);
    longer
}

/// Go's `CertPool.findPotentialParents`: every certificate whose subject is byte-for-byte the
/// child's issuer, best guesses first: key identifiers matching, then one of them missing, then
/// mismatching. The name is all that links a badge to a CA; the key decides.
fn potential_parents<'p, 'c>(child: &Cert<'_>, pool: &'p [Cert<'c>]) -> Vec<&'p Cert<'c>> {
    let mut matching = Vec::new();
    let mut one_missing = Vec::new();
    let mut mismatching = Vec::new();
    for candidate in pool.iter().filter(|c| c.raw_subject == child.raw_issuer) {
        let skid = candidate.subject_key_id;
        let akid = child.authority_key_id;
        if skid == akid {
            matching.push(candidate);
        } else if skid.is_empty() != akid.is_empty() {
            one_missing.push(candidate);
        } else {
            mismatching.push(candidate);
        }
    }
    matching.extend(one_missing);
    matching.extend(mismatching);
    matching
}

/// Go's `alreadyInChain`: same subject, same key and same SANs count as the same certificate,
/// which stops loops through cross-signed CAs.
fn already_in_chain(candidate: &Cert<'_>, chain: &[&Cert<'_>]) -> bool {
    chain.iter().any(|cert| {
        cert.raw_subject == candidate.raw_subject
            && cert.x509.public_key().raw == candidate.x509.public_key().raw
            && cert.san_extension == candidate.san_extension
    })
}

/// Why a candidate CA's key did not verify the child's signature: the text inside
/// `(possibly because of "…")`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
enum SignatureError {
    /// The candidate is not a CA (v3 without basic constraints, `CA:FALSE`, or key usage
    /// without `keyCertSign`): Go's `ConstraintViolationError`.
    #[error("x509: invalid signature: parent certificate cannot sign this kind of certificate")]
    ParentCannotSign,
    /// `rsa.ErrVerification`.
    #[error("crypto/rsa: verification error")]
    Rsa,
    #[error("x509: ECDSA verification failure")]
    Ecdsa,
    #[error("x509: Ed25519 verification failure")]
    Ed25519,
    #[error(
        "x509: signature algorithm specifies an {} public key, but have public key of type {}",
        expected.go_name(),
        have.go_type()
    )]
    AlgorithmMismatch {
        expected: KeyFamily,
        have: KeyFamily,
    },
    /// Go 1.23 still offers the GODEBUG override for SHA-1 (it was removed in Go 1.24).
    #[error(
        "x509: cannot verify signature: insecure algorithm {0}{override_note}",
        override_note = sha1_override_note(.0)
    )]
    Insecure(&'static str),
    #[error("x509: cannot verify signature: algorithm unimplemented")]
    Unimplemented,
}

fn sha1_override_note(algorithm: &str) -> &'static str {
    if algorithm.contains("SHA1") {
        " (temporarily override with GODEBUG=x509sha1=1)"
    } else {
        ""
    }
}

/// The first candidate CA that was tried and failed, as Go remembers it.
#[derive(Clone, Debug)]
struct Hint {
    error: SignatureError,
    candidate: String,
}

/// Go's `CheckSignatureFrom`: may `parent` sign, and did its key make `child`'s signature?
///
/// `checked`: webpki has already verified this very signature, so only the rules are replayed.
fn check_signature_from(
    child: &Cert<'_>,
    parent: &Cert<'_>,
    checked: bool,
) -> Result<(), SignatureError> {
    // RFC 5280 4.2.1.9: a v3 certificate without basic constraints, or with CA:FALSE, must not
    // be used to verify certificate signatures. So a leaf pretending to be a CA fails here,
    // before Go ever asks whether it is an intermediate.
    let is_ca = match parent.basic_constraints {
        Some((ca, _)) => ca,
        None => !parent.is_v3,
    };
    if !is_ca || (parent.key_usage != 0 && !parent.key_cert_sign) {
        return Err(SignatureError::ParentCannotSign);
    }
    if parent.key == KeyFamily::Unknown {
        return Err(SignatureError::Unimplemented);
    }
    let expected = match child.signature {
        SignatureKind::Family(family) => family,
        SignatureKind::Insecure(name) => return Err(SignatureError::Insecure(name)),
        SignatureKind::Unknown => return Err(SignatureError::Unimplemented),
    };
    if expected != parent.key {
        return Err(SignatureError::AlgorithmMismatch {
            expected,
            have: parent.key,
        });
    }
    if checked {
        return Ok(());
    }
    match child.x509.verify_signature(Some(parent.x509.public_key())) {
        Ok(()) => Ok(()),
        Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => {
            Err(SignatureError::Unimplemented)
        }
        Err(_) => Err(match parent.key {
            KeyFamily::Rsa => SignatureError::Rsa,
            KeyFamily::Ecdsa => SignatureError::Ecdsa,
            KeyFamily::Ed25519 => SignatureError::Ed25519,
            KeyFamily::Unknown => SignatureError::Unimplemented,
        }),
    }
}

/// Go's `checkChainForKeyUsage` for one requested usage: every certificate that lists EKUs
/// must list this one (or "any"); certificates without the extension allow everything.
fn chain_allows(chain: &[&Cert<'_>], usage: Usage) -> bool {
    chain.iter().all(|cert| cert_allows(cert, usage))
}

fn cert_allows(cert: &Cert<'_>, usage: Usage) -> bool {
    let wanted = match usage {
        Usage::Server => Eku::ServerAuth,
        Usage::Client => Eku::ClientAuth,
    };
    cert.ext_key_usage.is_empty()
        || cert.ext_key_usage.contains(&Eku::Any)
        || cert.ext_key_usage.contains(&wanted)
}

// ----- host names: Go's VerifyHostname and HostnameError ------------------------------------

/// The facts Go's `HostnameError` prints from.
#[derive(Clone, Debug)]
struct HostnameError {
    /// The name as Go keeps it: an IP without its `[ ]`, a DNS name as given.
    host: String,
    common_name: String,
    has_san_extension: bool,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
}

impl HostnameError {
    fn new(cert: &Cert<'_>, host: &str) -> Self {
        HostnameError {
            host: host.to_owned(),
            common_name: cert.common_name.clone(),
            has_san_extension: cert.san_extension.is_some(),
            dns_names: cert.dns_names.clone(),
            ip_addresses: cert.ip_addresses.clone(),
        }
    }

    fn host_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Which of Go's messages applies, in the order `HostnameError.Error` tries them.
    fn kind(&self) -> VerdictKind {
        if !self.has_san_extension && match_hostnames(&self.common_name, &self.host) {
            VerdictKind::LegacyCommonName
        } else if self.host_ip().is_some() {
            if self.ip_addresses.is_empty() {
                VerdictKind::NoIpSans
            } else {
                VerdictKind::NameMismatch
            }
        } else if self.dns_names.is_empty() {
            VerdictKind::NotValidForAnyNames
        } else {
            VerdictKind::NameMismatch
        }
    }

    /// The names Go lists: only IP SANs for an IP host, only DNS SANs otherwise, in the
    /// certificate's order.
    fn valid_names(&self) -> Vec<String> {
        if self.host_ip().is_some() {
            self.ip_addresses.iter().map(go_ip_string).collect()
        } else {
            self.dns_names.clone()
        }
    }
}

impl fmt::Display for HostnameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        match self.kind() {
            VerdictKind::LegacyCommonName => f.write_str(
                "x509: certificate relies on legacy Common Name field, use SANs instead",
            ),
            VerdictKind::NoIpSans => write!(
                f,
                "x509: cannot validate certificate for {host} because it doesn't contain any IP SANs"
            ),
            VerdictKind::NotValidForAnyNames => write!(
                f,
                "x509: certificate is not valid for any names, but wanted to match {host}"
            ),
            _ => write!(
                f,
                "x509: certificate is valid for {}, not {host}",
                self.valid_names().join(", ")
            ),
        }
    }
}

/// Go's `VerifyHostname`.
fn verify_hostname(cert: &Cert<'_>, host: &str) -> Result<(), HostnameError> {
    // An IP may be written in brackets, as in a URL.
    let candidate_ip = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .filter(|_| host.len() >= 3)
        .unwrap_or(host);
    if let Ok(ip) = candidate_ip.parse::<IpAddr>() {
        // IPs match only IP SANs (RFC 6125 appendix B.2): never a DNS SAN, never the CN.
        return if cert.ip_addresses.iter().any(|san| same_ip(san, &ip)) {
            Ok(())
        } else {
            Err(HostnameError::new(cert, candidate_ip))
        };
    }

    let candidate = host.to_ascii_lowercase();
    let valid_candidate = valid_hostname(&candidate, false);
    // Go ignores the Common Name entirely since 1.15: only DNS SANs can match.
    let matched = cert.dns_names.iter().any(|pattern| {
        if valid_candidate && valid_hostname(pattern, true) {
            match_hostnames(pattern, &candidate)
        } else {
            match_exactly(pattern, &candidate)
        }
    });
    if matched {
        Ok(())
    } else {
        Err(HostnameError::new(cert, host))
    }
}

/// Go's `validHostname`: RFC 6125 host names, leniently (underscores allowed; for patterns, a
/// whole-label `*` on the left).
fn valid_hostname(host: &str, is_pattern: bool) -> bool {
    let host = if is_pattern {
        host
    } else {
        host.strip_suffix('.').unwrap_or(host)
    };
    if host.is_empty() || host == "*" {
        return false;
    }
    host.split('.').enumerate().all(|(i, part)| {
        if part.is_empty() {
            return false;
        }
        if is_pattern && i == 0 && part == "*" {
            return true;
        }
        part.chars()
            .enumerate()
            .all(|(j, c)| c.is_ascii_alphanumeric() || (c == '-' && j != 0) || c == '_')
    })
}

fn match_exactly(a: &str, b: &str) -> bool {
    if a.is_empty() || a == "." || b.is_empty() || b == "." {
        return false;
    }
    a.eq_ignore_ascii_case(b)
}

/// Go's `matchHostnames`: label by label, a leading `*` matching exactly one label.
fn match_hostnames(pattern: &str, host: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if pattern.is_empty() || host.is_empty() {
        return false;
    }
    let pattern_parts: Vec<&str> = pattern.split('.').collect();
    let host_parts: Vec<&str> = host.split('.').collect();
    pattern_parts.len() == host_parts.len()
        && pattern_parts
            .iter()
            .zip(&host_parts)
            .enumerate()
            .all(|(i, (p, h))| (i == 0 && *p == "*") || p == h)
}

// ---------------------------------------------------------------------------------------------
// Judge 2: rustls-webpki, the verifier behind the lab's real TLS connections.
// ---------------------------------------------------------------------------------------------

/// Accepts any extended key usage: the request asked for none.
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// The path webpki accepted, as DER from the request: leaf, intermediates, root.
struct AcceptedPath<'c>(Vec<&'c [u8]>);

impl<'c> AcceptedPath<'c> {
    /// Each certificate with the one that signed it.
    fn links(&self) -> Vec<(&'c [u8], &'c [u8])> {
        self.0.windows(2).map(|w| (w[0], w[1])).collect()
    }
}

fn webpki_verify<'c>(
    req: &VerifyRequest<'c>,
    leaf: &Cert<'_>,
) -> Result<AcceptedPath<'c>, Refusal> {
    let end_entity = webpki::EndEntityCert::try_from(req.leaf).map_err(|e| Refusal::Malformed {
        which: "badge".into(),
        detail: format!("rustls-webpki: {e}"),
    })?;

    if let Some(host) = req.name.filter(|h| !h.is_empty()) {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        // A name webpki cannot even parse was judged by the Go replay alone.
        if let Ok(server_name) = ServerName::try_from(bare) {
            if end_entity
                .verify_is_valid_for_subject_name(&server_name)
                .is_err()
            {
                let shown = if bare.parse::<IpAddr>().is_ok() {
                    bare
                } else {
                    host
                };
                return Err(Refusal::Hostname(HostnameError::new(leaf, shown)));
            }
        }
    }

    // webpki takes a trust anchor as a subject and a key and nothing else: no dates, no
    // constraints of the root's own. That is why Go's date check on the root (above) is ours.
    let (anchors, anchor_roots): (Vec<_>, Vec<&'c [u8]>) = req
        .roots
        .iter()
        .filter_map(|der| Some((webpki::anchor_from_trusted_cert(der).ok()?, der.as_ref())))
        .unzip();
    let time = unix_time(req.at);
    let algs = webpki::ALL_VERIFICATION_ALGS;
    let result = match req.usage {
        Some(Usage::Server) => end_entity.verify_for_usage(
            algs,
            &anchors,
            req.intermediates,
            time,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        ),
        Some(Usage::Client) => end_entity.verify_for_usage(
            algs,
            &anchors,
            req.intermediates,
            time,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        ),
        None => end_entity.verify_for_usage(
            algs,
            &anchors,
            req.intermediates,
            time,
            AnyUsage,
            None,
            None,
        ),
    };
    let path = result.map_err(|e| Refusal::from_webpki(e, leaf))?;
    let mut accepted = vec![req.leaf.as_ref()];
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        // webpki hands back the intermediates it was given; find ours by their bytes.
        match req
            .intermediates
            .iter()
            .find(|i| i.as_ref() == der.as_ref())
        {
            Some(given) => accepted.push(given.as_ref()),
            None => return Ok(AcceptedPath(Vec::new())),
        }
    }
    match anchors.iter().position(|a| std::ptr::eq(a, path.anchor())) {
        Some(i) => accepted.push(anchor_roots[i]),
        None => return Ok(AcceptedPath(Vec::new())),
    }
    Ok(AcceptedPath(accepted))
}

fn unix_time(t: OffsetDateTime) -> UnixTime {
    let seconds = u64::try_from(t.unix_timestamp()).unwrap_or(0);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds))
}

fn from_unix_time(t: UnixTime) -> OffsetDateTime {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

// ---------------------------------------------------------------------------------------------
// Refusals: each carries the facts of its case; Display is exactly Go's text.
// ---------------------------------------------------------------------------------------------

/// Why the guard said no. `Display` is the line Go prints.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error(
        "x509: certificate has expired or is not yet valid: current time {} is before {}",
        go_time(*now),
        go_time(*not_before)
    )]
    NotYetValid {
        now: OffsetDateTime,
        not_before: OffsetDateTime,
        subject: String,
        role: Role,
    },
    #[error(
        "x509: certificate has expired or is not yet valid: current time {} is after {}",
        go_time(*now),
        go_time(*not_after)
    )]
    Expired {
        now: OffsetDateTime,
        not_after: OffsetDateTime,
        subject: String,
        role: Role,
    },
    #[error("{0}")]
    Hostname(HostnameError),
    #[error("x509: certificate signed by unknown authority{}", possibly(hint))]
    UnknownAuthority { issuer: String, hint: Option<Hint> },
    #[error("x509: certificate is not authorized to sign other certificates")]
    NotAuthorizedToSign { subject: String },
    #[error("x509: too many intermediates for path length constraint")]
    TooManyIntermediates { subject: String, max_path_len: u32 },
    #[error("x509: certificate specifies an incompatible key usage")]
    IncompatibleUsage {
        usage: Usage,
        subject: String,
        allowed: Vec<String>,
    },
    #[error("x509: unhandled critical extension")]
    UnhandledCriticalExtension { subject: String, oid: String },
    #[error("x509: signature check attempts limit reached while verifying certificate chain")]
    SignatureCheckLimit,
    #[error("x509: malformed certificate")]
    Malformed { which: String, detail: String },
    /// webpki refused what the Go replay accepted; `text` is Go's nearest line.
    #[error("{text}")]
    Webpki {
        kind: VerdictKind,
        text: String,
        reason: String,
    },
}

/// The `(possibly because of "…" while trying to verify candidate authority certificate "…")`
/// suffix; Go formats both with `%q`.
fn possibly(hint: &Option<Hint>) -> String {
    match hint {
        None => String::new(),
        Some(hint) => format!(
            " (possibly because of {} while trying to verify candidate authority certificate {})",
            go_quote(&hint.error.to_string()),
            go_quote(&hint.candidate)
        ),
    }
}

/// Go's `%q` (`strconv.Quote`): the one quoting every lab text that Go would quote uses.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Refusal {
    fn malformed(which: &str, error: ParseError) -> Self {
        Refusal::Malformed {
            which: which.to_owned(),
            detail: error.to_string(),
        }
    }

    /// Maps a webpki error to the line Go would print for the same fault.
    fn from_webpki(error: webpki::Error, leaf: &Cert<'_>) -> Self {
        use webpki::Error as E;
        let reason = format!("{error:?}");
        let (kind, text) = match error {
            E::CertExpired { time, not_after } => (
                VerdictKind::Expired,
                format!(
                    "x509: certificate has expired or is not yet valid: current time {} is after {}",
                    go_time(from_unix_time(time)),
                    go_time(from_unix_time(not_after))
                ),
            ),
            E::CertNotValidYet { time, not_before } => (
                VerdictKind::NotYetValid,
                format!(
                    "x509: certificate has expired or is not yet valid: current time {} is before {}",
                    go_time(from_unix_time(time)),
                    go_time(from_unix_time(not_before))
                ),
            ),
            E::UnknownIssuer
            | E::InvalidSignatureForPublicKey
            | E::SignatureAlgorithmMismatch
            | E::UnsupportedSignatureAlgorithmContext(_)
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => (
                VerdictKind::UnknownAuthority,
                "x509: certificate signed by unknown authority".to_owned(),
            ),
            E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension => (
                VerdictKind::IncompatibleUsage,
                "x509: certificate specifies an incompatible key usage".to_owned(),
            ),
            E::EndEntityUsedAsCa => (
                VerdictKind::NotAuthorizedToSign,
                "x509: certificate is not authorized to sign other certificates".to_owned(),
            ),
            E::PathLenConstraintViolated => (
                VerdictKind::TooManyIntermediates,
                "x509: too many intermediates for path length constraint".to_owned(),
            ),
            E::UnsupportedCriticalExtension => (
                VerdictKind::UnhandledCriticalExtension,
                "x509: unhandled critical extension".to_owned(),
            ),
            E::BadDer
            | E::BadDerTime
            | E::TrailingData(_)
            | E::MalformedExtensions
            | E::ExtensionValueInvalid
            | E::InvalidSerialNumber
            | E::UnsupportedCertVersion
            | E::InvalidCertValidity => (
                VerdictKind::Malformed,
                "x509: malformed certificate".to_owned(),
            ),
            E::NameConstraintViolation => (
                VerdictKind::Rejected,
                format!(
                    "x509: a root or intermediate certificate is not authorized to sign for this name: {}",
                    leaf.dns_names.join(", ")
                ),
            ),
            // No Go text fits (Go accepts a CA certificate as a leaf, for instance): say who
            // refused, rather than invent a Go line.
            other => (VerdictKind::Rejected, format!("rustls-webpki: {other:?}")),
        };
        Refusal::Webpki { kind, text, reason }
    }

    fn kind(&self) -> VerdictKind {
        match self {
            Refusal::NotYetValid {
                role: Role::Leaf, ..
            } => VerdictKind::NotYetValid,
            Refusal::NotYetValid { .. } => VerdictKind::CaNotYetValid,
            Refusal::Expired {
                role: Role::Leaf, ..
            } => VerdictKind::Expired,
            Refusal::Expired { .. } => VerdictKind::CaExpired,
            Refusal::Hostname(h) => h.kind(),
            Refusal::UnknownAuthority { hint: None, .. } => VerdictKind::UnknownAuthority,
            Refusal::UnknownAuthority {
                hint:
                    Some(Hint {
                        error: SignatureError::ParentCannotSign,
                        ..
                    }),
                ..
            } => VerdictKind::NotAuthorizedToSign,
            Refusal::UnknownAuthority { .. } => VerdictKind::UnknownAuthorityPossibly,
            Refusal::NotAuthorizedToSign { .. } => VerdictKind::NotAuthorizedToSign,
            Refusal::TooManyIntermediates { .. } => VerdictKind::TooManyIntermediates,
            Refusal::IncompatibleUsage { .. } => VerdictKind::IncompatibleUsage,
            Refusal::UnhandledCriticalExtension { .. } => VerdictKind::UnhandledCriticalExtension,
            Refusal::SignatureCheckLimit => VerdictKind::Rejected,
            Refusal::Malformed { .. } => VerdictKind::Malformed,
            Refusal::Webpki { kind, .. } => *kind,
        }
    }

    /// The case-specific plain-language line.
    fn explanation(&self) -> String {
        match self {
            Refusal::NotYetValid {
                now,
                not_before,
                subject,
                role: Role::Leaf,
            } => format!(
                "The badge \"{subject}\" only starts being valid at {}, but the guard's clock reads {}: one of the clocks is wrong, or the badge was issued ahead of time.",
                go_time(*not_before),
                go_time(*now)
            ),
            Refusal::NotYetValid {
                now,
                not_before,
                subject,
                ..
            } => format!(
                "The badge is fine, but the CA \"{subject}\" that signed it only starts being valid at {}, and the guard's clock reads {}: a clock is wrong somewhere.",
                go_time(*not_before),
                go_time(*now)
            ),
            Refusal::Expired {
                now,
                not_after,
                subject,
                role: Role::Leaf,
            } => format!(
                "The badge \"{subject}\" ran out at {} and the guard's clock reads {}; Go refuses an out-of-date badge before it even asks who signed it.",
                go_time(*not_after),
                go_time(*now)
            ),
            Refusal::Expired {
                now,
                not_after,
                subject,
                ..
            } => format!(
                "The badge is in date, but the CA \"{subject}\" that signed it ran out at {} (the guard's clock reads {}); Go checks the dates of every certificate in the chain, the Founder's own included.",
                go_time(*not_after),
                go_time(*now)
            ),
            Refusal::Hostname(h) => match h.kind() {
                VerdictKind::LegacyCommonName => format!(
                    "The badge has no Subject Alternative Names; \"{}\" matches only its Common Name, which Go has ignored for host names since Go 1.15.",
                    h.host
                ),
                VerdictKind::NoIpSans => {
                    let dns = if h.dns_names.is_empty() {
                        String::new()
                    } else {
                        format!(" (its DNS names, {}, do not count for an IP)", h.dns_names.join(", "))
                    };
                    format!(
                        "The client dialled the IP address {}, and this badge lists no IP addresses{dns}.",
                        h.host
                    )
                }
                VerdictKind::NotValidForAnyNames => format!(
                    "The client asked for \"{}\", and the badge lists no DNS names at all to match it against.",
                    h.host
                ),
                _ => format!(
                    "The badge is genuine but made out for {}, and the client asked for \"{}\": a real badge for another door.",
                    h.valid_names().join(", "),
                    h.host
                ),
            },
            Refusal::UnknownAuthority { issuer, hint: None } => format!(
                "The badge says it was signed by \"{issuer}\", and the guard trusts no CA of that name, so it cannot check the signature at all."
            ),
            Refusal::UnknownAuthority {
                hint:
                    Some(Hint {
                        error: SignatureError::ParentCannotSign,
                        candidate,
                    }),
                ..
            } => format!(
                "The certificate \"{candidate}\" that the badge names as its signer is not a CA (no CA:TRUE, or a key usage without Certificate Sign), so Go will not take signatures from it."
            ),
            Refusal::UnknownAuthority {
                hint: Some(Hint { error, candidate }),
                ..
            } => format!(
                "The guard trusts a CA named \"{candidate}\", but its key did not make this badge's signature ({error}): two Founders with one name, typically a re-created cluster CA on one side only."
            ),
            Refusal::NotAuthorizedToSign { subject } => format!(
                "\"{subject}\" signed a certificate in this chain, but it is not a CA (no CA:TRUE basic constraint), so it may not sign badges."
            ),
            Refusal::TooManyIntermediates {
                subject,
                max_path_len,
            } => format!(
                "The CA \"{subject}\" allows at most {max_path_len} CA(s) below it (pathlen), and this chain has more."
            ),
            Refusal::IncompatibleUsage {
                usage,
                subject,
                allowed,
            } => format!(
                "\"{subject}\" is being used as a {usage} certificate, but its extended key usage allows only {}.",
                allowed.join(", ")
            ),
            Refusal::UnhandledCriticalExtension { subject, oid } => format!(
                "\"{subject}\" carries an extension ({oid}) marked critical that Go does not understand, and a critical extension may never be ignored."
            ),
            Refusal::SignatureCheckLimit => {
                "Go gave up after 100 signature checks while looking for a path to a trusted CA: too many candidate CAs share one name.".to_owned()
            }
            Refusal::Malformed { which, detail } => {
                format!("The {which} is not a certificate the guard can parse: {detail}.")
            }
            Refusal::Webpki { kind, reason, .. } => {
                format!("{} (rustls-webpki: {reason})", kind.explain().0)
            }
        }
    }

    fn verdict(&self) -> Verdict {
        Verdict::new(self.kind(), self.to_string(), self.explanation())
    }
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
