//! Judge 1: Go's `Certificate.Verify`, replayed step by step (Go 1.23, `crypto/x509/verify.go`):
//! the badge's dates, chains to a trusted root with each candidate's signature, dates and CA bit,
//! and the extended key usage along the chain.

use super::*;

// ---------------------------------------------------------------------------------------------
// Judge 1: Go's Certificate.Verify, step by step (Go 1.23, crypto/x509/verify.go).
// ---------------------------------------------------------------------------------------------

pub(super) fn go_verify(
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
pub(super) fn is_valid(
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
pub(super) const MAX_CHAIN_SIGNATURE_CHECKS: usize = 100;

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
pub(super) fn build_chains<'p, 'c>(
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

pub(super) fn extended<'p, 'c>(chain: &[&'p Cert<'c>], next: &'p Cert<'c>) -> Vec<&'p Cert<'c>> {
    let mut longer = chain.to_vec();
    longer.push(next);
    longer
}

/// Go's `CertPool.findPotentialParents`: every certificate whose subject is byte-for-byte the
/// child's issuer, best guesses first: key identifiers matching, then one of them missing, then
/// mismatching. The name is all that links a badge to a CA; the key decides.
pub(super) fn potential_parents<'p, 'c>(
    child: &Cert<'_>,
    pool: &'p [Cert<'c>],
) -> Vec<&'p Cert<'c>> {
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
pub(super) fn already_in_chain(candidate: &Cert<'_>, chain: &[&Cert<'_>]) -> bool {
    chain.iter().any(|cert| {
        cert.raw_subject == candidate.raw_subject
            && cert.x509.public_key().raw == candidate.x509.public_key().raw
            && cert.san_extension == candidate.san_extension
    })
}

/// Why a candidate CA's key did not verify the child's signature: the text inside
/// `(possibly because of "…")`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum SignatureError {
    /// The candidate is not a CA (v3 without basic constraints, `CA:FALSE`, or key usage
    /// without `keyCertSign`): Go's `ConstraintViolationError`.
    #[error("x509: invalid signature: parent certificate cannot sign this kind of certificate")]
    ParentCannotSign,
    /// `rsa.ErrVerification` (Go 1.22 `src/crypto/rsa/rsa.go`: `errors.New("crypto/rsa:
    /// verification error")`), which `rsa.VerifyPKCS1v15` returns and crypto/x509's
    /// `checkSignature` passes on as it is: the text of kubeadm's RSA-2048 CAs.
    #[error("crypto/rsa: verification error")]
    Rsa,
    /// crypto/x509's own text when `ecdsa.VerifyASN1` says no (Go 1.22
    /// `src/crypto/x509/x509.go`, `checkSignature`).
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

pub(super) fn sha1_override_note(algorithm: &str) -> &'static str {
    if algorithm.contains("SHA1") {
        " (temporarily override with GODEBUG=x509sha1=1)"
    } else {
        ""
    }
}

/// The first candidate CA that was tried and failed, as Go remembers it.
#[derive(Clone, Debug)]
pub(super) struct Hint {
    pub(super) error: SignatureError,
    pub(super) candidate: String,
}

/// Go's `CheckSignatureFrom`: may `parent` sign, and did its key make `child`'s signature?
///
/// `checked`: webpki has already verified this very signature, so only the rules are replayed.
pub(super) fn check_signature_from(
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
pub(super) fn chain_allows(chain: &[&Cert<'_>], usage: Usage) -> bool {
    chain.iter().all(|cert| cert_allows(cert, usage))
}

pub(super) fn cert_allows(cert: &Cert<'_>, usage: Usage) -> bool {
    let wanted = match usage {
        Usage::Server => Eku::ServerAuth,
        Usage::Client => Eku::ClientAuth,
    };
    cert.ext_key_usage.is_empty()
        || cert.ext_key_usage.contains(&Eku::Any)
        || cert.ext_key_usage.contains(&wanted)
}
