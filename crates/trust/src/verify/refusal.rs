//! Refusals: each carries the facts of its case; `Display` is exactly Go's text, and each knows
//! its plain explanation and the hint that leads to the fix.

use super::*;

// ---------------------------------------------------------------------------------------------
// Refusals: each carries the facts of its case; Display is exactly Go's text.
// ---------------------------------------------------------------------------------------------

/// Why the guard said no. `Display` is the line Go prints.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
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
pub(super) fn possibly(hint: &Option<Hint>) -> String {
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
    pub(super) fn malformed(which: &str, error: ParseError) -> Self {
        Refusal::Malformed {
            which: which.to_owned(),
            detail: error.to_string(),
        }
    }

    /// Maps a webpki error to the line Go would print for the same fault.
    pub(super) fn from_webpki(error: webpki::Error, leaf: &Cert<'_>) -> Self {
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

    pub(super) fn kind(&self) -> VerdictKind {
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
    pub(super) fn explanation(&self) -> String {
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

    pub(super) fn verdict(&self) -> Verdict {
        Verdict::new(self.kind(), self.to_string(), self.explanation())
    }
}
