//! Verdicts: the vocabulary the whole lab speaks when a guard accepts or refuses a badge.
//!
//! A [`Verdict`] keeps three texts apart, because a learner needs all three:
//!
//! - `text`: exactly what Go's `crypto/x509` (and so kubectl, the apiserver, etcd) prints. A
//!   learner will meet this line in a real cluster and should recognise it.
//! - `explanation`: one plain-language line in the office story. The Founder (the cluster CA)
//!   signs badges; guards (every TLS server and client) check them.
//! - `hint`: one line saying how to fix it, naming real commands.
//!
//! [`VerdictKind`] is the stable, machine-readable name (kebab-case, as scenario files and
//! `kubecorp explain KIND` spell it). [`classify_text`] goes the other way: from a Go error line,
//! however it is wrapped, back to its kind.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a guard concluded about a badge. The names are the lab's vocabulary: scenario files
/// assert on them, so renaming one is a breaking change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictKind {
    /// The chain verifies, is in date, matches the name and allows the usage.
    Valid,
    /// No trusted CA has the name of the badge's issuer.
    UnknownAuthority,
    /// A trusted CA has the issuer's name but another key (the CA was re-created).
    UnknownAuthorityPossibly,
    /// The badge's NotAfter has passed.
    Expired,
    /// The badge's NotBefore is still in the future.
    NotYetValid,
    /// The CA that signed the badge (root or intermediate) has expired.
    CaExpired,
    /// The CA that signed the badge (root or intermediate) is not valid yet.
    CaNotYetValid,
    /// The badge lists names, but not the one asked for.
    NameMismatch,
    /// An IP address was asked for and the badge has no IP SANs.
    NoIpSans,
    /// The badge has no SANs; its Common Name matches, but Go ignores Common Names.
    LegacyCommonName,
    /// The badge has no names of the kind asked for at all.
    NotValidForAnyNames,
    /// The badge's extended key usage does not allow this use (server vs client).
    IncompatibleUsage,
    /// A certificate that is not a CA signed the badge.
    NotAuthorizedToSign,
    /// A CA's path length constraint forbids this many CAs below it.
    TooManyIntermediates,
    /// A certificate carries a critical extension Go does not understand.
    UnhandledCriticalExtension,
    /// The bytes are not a certificate.
    Malformed,
    /// rustls-webpki refused the chain for a reason Go words differently or does not check.
    Rejected,
    // Room for later kinds (TLS-level ones such as `remote error: tls: bad certificate`,
    // kube-apiserver's 401/403): add them here, to `ALL`, to `explain` and to `classify_text`.
}

/// How a name gets onto a badge, kubeadm's way (kubeadm v1.32: `certs renew` copies the SANs
/// of the certificate on disk, `cmd/kubeadm/app/phases/certs/renewal`; `init phase certs`
/// keeps an existing certificate only if it already has every configured name,
/// `validateCertificateWithConfig` in `phases/certs/certs.go`, so the old one must go first).
macro_rules! add_a_name {
    () => {
        "Renewing cannot add a name: `certs renew` (kubeadm's and the lab's) keeps the names it finds on the badge. kubeadm's way for the apiserver: add the name to `apiServer.certSANs` in the kubeadm configuration, delete apiserver.crt and apiserver.key, run `kubeadm init phase certs apiserver --config kubeadm.yaml` and restart kube-apiserver (etcd's serving badge: `etcd.local.serverCertSANs` and `init phase certs etcd-server`). In the lab: `rm pki/apiserver.crt pki/apiserver.key` and `kubecorp pki init --apiserver-cert-extra-sans HOST`, which re-issues only that badge."
    };
}

const ALL: &[VerdictKind] = &[
    VerdictKind::Valid,
    VerdictKind::UnknownAuthority,
    VerdictKind::UnknownAuthorityPossibly,
    VerdictKind::Expired,
    VerdictKind::NotYetValid,
    VerdictKind::CaExpired,
    VerdictKind::CaNotYetValid,
    VerdictKind::NameMismatch,
    VerdictKind::NoIpSans,
    VerdictKind::LegacyCommonName,
    VerdictKind::NotValidForAnyNames,
    VerdictKind::IncompatibleUsage,
    VerdictKind::NotAuthorizedToSign,
    VerdictKind::TooManyIntermediates,
    VerdictKind::UnhandledCriticalExtension,
    VerdictKind::Malformed,
    VerdictKind::Rejected,
];

impl VerdictKind {
    /// Every kind, in the order `kubecorp explain` lists them.
    pub fn all() -> &'static [VerdictKind] {
        ALL
    }

    /// The kebab-case name, as serde writes it and [`FromStr`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            VerdictKind::Valid => "valid",
            VerdictKind::UnknownAuthority => "unknown-authority",
            VerdictKind::UnknownAuthorityPossibly => "unknown-authority-possibly",
            VerdictKind::Expired => "expired",
            VerdictKind::NotYetValid => "not-yet-valid",
            VerdictKind::CaExpired => "ca-expired",
            VerdictKind::CaNotYetValid => "ca-not-yet-valid",
            VerdictKind::NameMismatch => "name-mismatch",
            VerdictKind::NoIpSans => "no-ip-sans",
            VerdictKind::LegacyCommonName => "legacy-common-name",
            VerdictKind::NotValidForAnyNames => "not-valid-for-any-names",
            VerdictKind::IncompatibleUsage => "incompatible-usage",
            VerdictKind::NotAuthorizedToSign => "not-authorized-to-sign",
            VerdictKind::TooManyIntermediates => "too-many-intermediates",
            VerdictKind::UnhandledCriticalExtension => "unhandled-critical-extension",
            VerdictKind::Malformed => "malformed",
            VerdictKind::Rejected => "rejected",
        }
    }

    /// The shape of the line Go prints for this kind, with `<placeholders>` for the facts.
    pub fn go_text(self) -> &'static str {
        match self {
            VerdictKind::Valid => "(no error: Go returns the verified chains)",
            VerdictKind::UnknownAuthority => "x509: certificate signed by unknown authority",
            VerdictKind::UnknownAuthorityPossibly => {
                "x509: certificate signed by unknown authority (possibly because of \"<signature error>\" while trying to verify candidate authority certificate \"<CA name>\")"
            }
            VerdictKind::Expired | VerdictKind::CaExpired => {
                "x509: certificate has expired or is not yet valid: current time <now> is after <NotAfter>"
            }
            VerdictKind::NotYetValid | VerdictKind::CaNotYetValid => {
                "x509: certificate has expired or is not yet valid: current time <now> is before <NotBefore>"
            }
            VerdictKind::NameMismatch => "x509: certificate is valid for <SANs>, not <host>",
            VerdictKind::NoIpSans => {
                "x509: cannot validate certificate for <ip> because it doesn't contain any IP SANs"
            }
            VerdictKind::LegacyCommonName => {
                "x509: certificate relies on legacy Common Name field, use SANs instead"
            }
            VerdictKind::NotValidForAnyNames => {
                "x509: certificate is not valid for any names, but wanted to match <host>"
            }
            VerdictKind::IncompatibleUsage => {
                "x509: certificate specifies an incompatible key usage"
            }
            VerdictKind::NotAuthorizedToSign => {
                "x509: certificate is not authorized to sign other certificates (or, for a v3 signer: x509: certificate signed by unknown authority (possibly because of \"x509: invalid signature: parent certificate cannot sign this kind of certificate\" …))"
            }
            VerdictKind::TooManyIntermediates => {
                "x509: too many intermediates for path length constraint"
            }
            VerdictKind::UnhandledCriticalExtension => "x509: unhandled critical extension",
            VerdictKind::Malformed => "x509: malformed certificate",
            VerdictKind::Rejected => "(no single Go text: the lab's verifier is stricter here)",
        }
    }

    /// What this kind means in the office story, and a hint template for fixing it.
    ///
    /// Hints use `NAME` for the badge's name in the lab (as `kubecorp certs renew` takes it) and
    /// `FILE` for its certificate file; [`Verdict::naming`] fills them in when they are known.
    pub fn explain(self) -> (&'static str, &'static str) {
        match self {
            VerdictKind::Valid => (
                "The badge checks out: signed by a Founder the guard trusts, in date, made out for this door and for this job.",
                "Nothing to fix. To see what the guard saw: `kubecorp certs inspect FILE`.",
            ),
            VerdictKind::UnknownAuthority => (
                "The guard has never heard of whoever signed this badge: no CA in its trust bundle carries the issuer's name, so it cannot even try the signature. A badge from another company's Founder.",
                "Compare `openssl x509 -noout -issuer -in FILE` with `openssl x509 -noout -subject -in ca.crt` on the guard's side; re-issue the badge from the cluster CA (`kubecorp certs renew NAME`) or give the guard the right CA file.",
            ),
            VerdictKind::UnknownAuthorityPossibly => (
                "The guard trusts a Founder with the right name, but that Founder's seal did not make this signature: two CAs share a name and differ in key. Usually the cluster CA was re-created (`kubeadm reset`, a fresh `pki init`) and one side still holds the old one.",
                "Compare the keys: `openssl x509 -noout -pubkey -in ca.crt` on both sides and the Authority Key Identifier in `openssl x509 -noout -text -in FILE`; re-issue from the current CA (`kubecorp certs renew NAME`) or refresh the kubeconfig's certificate-authority-data.",
            ),
            VerdictKind::Expired => (
                "The badge is past its end date by the guard's clock. Go checks the badge's own dates first, before it even asks who signed it.",
                "Check the dates with `openssl x509 -noout -dates -in FILE`, then renew: `kubecorp certs renew NAME` (in a cluster: `kubeadm certs renew NAME`).",
            ),
            VerdictKind::NotYetValid => (
                "The badge's start date is still in the future by the guard's clock: one of the two machines' clocks is wrong, or the badge was issued ahead of time.",
                "Compare `date -u` on both machines with `openssl x509 -noout -startdate -in FILE`; fix the clock (NTP) rather than the badge.",
            ),
            VerdictKind::CaExpired => (
                "The badge itself is in date, but the Founder's own certificate that signed it has expired, and Go checks every certificate in the chain. One expired CA voids every badge it ever signed.",
                "Check `openssl x509 -noout -enddate -in ca.crt`. Renewing badges cannot help and `kubeadm certs renew` never renews CAs: rotate the CA (new CA, trust both, re-issue every badge, drop the old one).",
            ),
            VerdictKind::CaNotYetValid => (
                "The Founder's own certificate is not valid yet by the guard's clock: the CA was made on a machine whose clock runs ahead, or the guard's clock runs behind.",
                "Compare `date -u` on the guard with `openssl x509 -noout -startdate -in ca.crt`; fix the clock (NTP).",
            ),
            VerdictKind::NameMismatch => (
                "The badge is genuine but made out for other doors: the client asked for one name and the badge lists others. Only the Subject Alternative Names count.",
                concat!("List the badge's names with `openssl x509 -noout -ext subjectAltName -in FILE` and connect by one of them. ", add_a_name!()),
            ),
            VerdictKind::NoIpSans => (
                "The client dialled an IP address, and Go matches IP addresses only against IP SANs, of which this badge has none (its DNS names do not count for an IP).",
                concat!("Dial one of the DNS names from `openssl x509 -noout -ext subjectAltName -in FILE`, or give the badge the IP as an IP SAN. ", add_a_name!()),
            ),
            VerdictKind::LegacyCommonName => (
                "The badge has no Subject Alternative Name list at all; the name is only in its Common Name, which Go stopped accepting as a host name in Go 1.15.",
                concat!("See `openssl x509 -noout -subject -ext subjectAltName -in FILE`: the name must be a SAN, not only the CN. ", add_a_name!()),
            ),
            VerdictKind::NotValidForAnyNames => (
                "The client asked for a host name, and the badge lists no DNS names at all to match it against.",
                concat!("See `openssl x509 -noout -ext subjectAltName -in FILE`: the badge needs the DNS name among its SANs. ", add_a_name!()),
            ),
            VerdictKind::IncompatibleUsage => (
                "The badge is genuine but not for this job: its extended key usage does not allow the role it is being used in, like a visitor badge shown at the staff entrance (a client-only certificate serving, or a server-only one logging in).",
                "Check `openssl x509 -noout -ext extendedKeyUsage -in FILE`: serving needs `TLS Web Server Authentication`, logging in needs `TLS Web Client Authentication`; use the badge made for the job or re-issue it.",
            ),
            VerdictKind::NotAuthorizedToSign => (
                "The certificate that signed this badge is not a CA: an employee signing badges in the Founder's name. Only certificates with `CA:TRUE` (and, if key usage is present, `Certificate Sign`) may sign.",
                "Check `openssl x509 -noout -ext basicConstraints,keyUsage -in FILE` on the signer; sign badges with the CA (`kubecorp certs renew NAME`), not with another badge.",
            ),
            VerdictKind::TooManyIntermediates => (
                "A CA in the chain limits how many CAs may stand below it (its path length constraint), and this chain has more.",
                "Check `openssl x509 -noout -ext basicConstraints -in FILE` on each CA for `pathlen`; sign with a CA higher up, or shorten the chain.",
            ),
            VerdictKind::UnhandledCriticalExtension => (
                "A certificate in the chain carries an extension marked critical that Go does not understand, and a critical extension may never be ignored.",
                "Find it with `openssl x509 -noout -text -in FILE` (look for `critical`); re-issue the certificate without it (`kubecorp certs renew NAME`).",
            ),
            VerdictKind::Malformed => (
                "What was handed over as a badge is not a certificate the guard can read: bad DER, a truncated PEM block, or a key where the certificate should be.",
                "Check it with `openssl x509 -noout -text -in FILE`; re-issue it with `kubecorp certs renew NAME`.",
            ),
            VerdictKind::Rejected => (
                "The lab's verifier (rustls-webpki) refused the chain for a reason Go would word differently or would not check; the badge would not pass a rustls guard either.",
                "Inspect every certificate in the chain with `kubecorp certs inspect FILE` or `openssl x509 -noout -text -in FILE`; re-issue the odd one out.",
            ),
        }
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of [`VerdictKind::all`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verdict kind {given:?}: expected one of {expected}")]
pub struct UnknownVerdictKind {
    /// What was given.
    pub given: String,
    /// The accepted names, comma separated.
    pub expected: String,
}

impl FromStr for VerdictKind {
    type Err = UnknownVerdictKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        ALL.iter()
            .copied()
            .find(|kind| kind.name() == wanted)
            .ok_or_else(|| UnknownVerdictKind {
                given: s.to_owned(),
                expected: ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
            })
    }
}

/// One guard's decision about one badge, in the three texts a learner needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The machine-readable kind.
    pub kind: VerdictKind,
    /// Exactly what Go prints, e.g. `x509: certificate signed by unknown authority`.
    pub text: String,
    /// One plain-language line in the office story, naming the facts of this case.
    pub explanation: String,
    /// One line on how to fix it, naming real commands.
    pub hint: String,
}

impl Verdict {
    /// A verdict of `kind` with Go's `text`, a case-specific `explanation`, and the kind's hint.
    pub fn new(kind: VerdictKind, text: impl Into<String>, explanation: impl Into<String>) -> Self {
        Verdict {
            kind,
            text: text.into(),
            explanation: explanation.into(),
            hint: kind.explain().1.to_owned(),
        }
    }

    /// The verdict for a line Go printed (possibly wrapped by crypto/tls or kubectl), with the
    /// kind's general explanation. `None` when the line is not a certificate error we know.
    pub fn from_go_text(go_text: &str) -> Option<Self> {
        let kind = classify_text(go_text)?;
        let text = go_text.find("x509: ").map_or(go_text, |at| &go_text[at..]);
        Some(Verdict::new(kind, text.trim_end(), kind.explain().0))
    }

    /// Whether the guard accepted the badge.
    pub fn is_valid(&self) -> bool {
        self.kind == VerdictKind::Valid
    }

    /// Fills the hint's `NAME` and `FILE` placeholders, once the caller knows which badge this
    /// was (`kubecorp certs renew apiserver`, `-in pki/apiserver.crt`).
    pub fn naming(mut self, name: &str, file: &str) -> Self {
        self.hint = replace_word(&replace_word(&self.hint, "NAME", name), "FILE", file);
        self
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Replaces `word` where it stands alone (not inside `HOSTNAME` or `FILES`).
fn replace_word(haystack: &str, word: &str, with: &str) -> String {
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.find(word) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_word_char) || after.is_some_and(is_word_char) {
            out.push_str(word);
        } else {
            out.push_str(with);
        }
        rest = &rest[at + word.len()..];
    }
    out.push_str(rest);
    out
}

/// Recognises a Go certificate-verification line and returns its kind.
///
/// Accepts the bare `x509: …` text and the same text wrapped the way Go ≥ 1.20 and kubectl wrap
/// it: `tls: failed to verify certificate: x509: …`, `Unable to connect to the server: …`, or a
/// log line with the error at its end. Expired and not-yet-valid texts are the same for a badge
/// and for its CA, so they classify as [`VerdictKind::Expired`] / [`VerdictKind::NotYetValid`].
pub fn classify_text(go_text: &str) -> Option<VerdictKind> {
    let at = go_text.find("x509: ")?;
    let text = &go_text[at..];

    const UNKNOWN: &str = "x509: certificate signed by unknown authority";
    const EXPIRED: &str = "x509: certificate has expired or is not yet valid: current time ";

    if let Some(rest) = text.strip_prefix(UNKNOWN) {
        return Some(if !rest.starts_with(" (possibly because of ") {
            VerdictKind::UnknownAuthority
        } else if rest.contains("parent certificate cannot sign this kind of certificate") {
            VerdictKind::NotAuthorizedToSign
        } else {
            VerdictKind::UnknownAuthorityPossibly
        });
    }
    if let Some(rest) = text.strip_prefix(EXPIRED) {
        // "current time <t> is before <t>" or "… is after …"; times contain no spaces.
        let verb = rest.split(' ').nth(2);
        return match verb {
            Some("before") => Some(VerdictKind::NotYetValid),
            Some("after") => Some(VerdictKind::Expired),
            _ => None,
        };
    }
    let prefixes: &[(&str, VerdictKind)] = &[
        (
            "x509: certificate relies on legacy Common Name field, use SANs instead",
            VerdictKind::LegacyCommonName,
        ),
        (
            "x509: cannot validate certificate for ",
            VerdictKind::NoIpSans,
        ),
        (
            "x509: certificate is not valid for any names, but wanted to match ",
            VerdictKind::NotValidForAnyNames,
        ),
        ("x509: certificate is valid for ", VerdictKind::NameMismatch),
        (
            "x509: certificate specifies an incompatible key usage",
            VerdictKind::IncompatibleUsage,
        ),
        (
            "x509: certificate is not authorized to sign other certificates",
            VerdictKind::NotAuthorizedToSign,
        ),
        (
            "x509: too many intermediates for path length constraint",
            VerdictKind::TooManyIntermediates,
        ),
        (
            "x509: unhandled critical extension",
            VerdictKind::UnhandledCriticalExtension,
        ),
        ("x509: malformed", VerdictKind::Malformed),
    ];
    prefixes
        .iter()
        .find(|(prefix, _)| text.starts_with(prefix))
        .map(|&(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_kebab_name() {
        for &kind in VerdictKind::all() {
            assert_eq!(kind.name().parse::<VerdictKind>(), Ok(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
            assert_eq!(serde_json::from_str::<VerdictKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn an_unknown_kind_name_lists_the_known_ones() {
        let err = "expird".parse::<VerdictKind>().unwrap_err();
        assert!(err.to_string().starts_with(
            "unknown verdict kind \"expird\": expected one of valid, unknown-authority,"
        ));
    }

    #[test]
    fn every_kind_has_its_own_explanation_and_hint() {
        let mut seen = std::collections::HashSet::new();
        for &kind in VerdictKind::all() {
            let (what, hint) = kind.explain();
            assert!(seen.insert(what), "{kind} repeats an explanation");
            assert!(seen.insert(hint), "{kind} repeats a hint");
        }
    }

    #[test]
    fn wrapped_go_texts_classify_to_their_kind() {
        let cases = [
            ("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority", VerdictKind::UnknownAuthority),
            ("x509: certificate signed by unknown authority (possibly because of \"crypto/rsa: verification error\" while trying to verify candidate authority certificate \"kubernetes\")", VerdictKind::UnknownAuthorityPossibly),
            ("x509: certificate signed by unknown authority (possibly because of \"x509: invalid signature: parent certificate cannot sign this kind of certificate\" while trying to verify candidate authority certificate \"kube-apiserver\")", VerdictKind::NotAuthorizedToSign),
            ("tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23Z is after 2026-04-23T16:42:11Z", VerdictKind::Expired),
            ("x509: certificate has expired or is not yet valid: current time 2026-04-24T10:14:23+02:00 is before 2026-04-25T00:00:00Z", VerdictKind::NotYetValid),
            ("x509: certificate is valid for kubernetes, kubernetes.default, not example.com", VerdictKind::NameMismatch),
            ("x509: certificate is valid for 10.96.0.1, 192.168.1.10, not 10.0.0.1", VerdictKind::NameMismatch),
            ("x509: cannot validate certificate for 10.0.0.1 because it doesn't contain any IP SANs", VerdictKind::NoIpSans),
            ("x509: certificate relies on legacy Common Name field, use SANs instead", VerdictKind::LegacyCommonName),
            ("x509: certificate is not valid for any names, but wanted to match cp-1", VerdictKind::NotValidForAnyNames),
            ("x509: certificate specifies an incompatible key usage", VerdictKind::IncompatibleUsage),
            ("x509: certificate is not authorized to sign other certificates", VerdictKind::NotAuthorizedToSign),
            ("x509: malformed certificate", VerdictKind::Malformed),
        ];
        for (text, kind) in cases {
            assert_eq!(classify_text(text), Some(kind), "{text}");
        }
        assert_eq!(classify_text("remote error: tls: bad certificate"), None);
    }

    #[test]
    fn a_verdict_from_a_kubectl_line_keeps_only_the_go_text() {
        let verdict = Verdict::from_go_text(
            "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority\n",
        )
        .unwrap();
        assert_eq!(verdict.kind, VerdictKind::UnknownAuthority);
        assert_eq!(
            verdict.to_string(),
            "x509: certificate signed by unknown authority"
        );
    }

    #[test]
    fn a_missing_name_is_added_kubeadms_way_not_by_renewing() {
        // kubeadm v1.32: `certs renew` copies the SANs on disk; `init phase certs apiserver`
        // with certSANs re-issues the badge once the old pair is gone.
        for kind in [
            VerdictKind::NameMismatch,
            VerdictKind::NoIpSans,
            VerdictKind::LegacyCommonName,
            VerdictKind::NotValidForAnyNames,
        ] {
            let hint = Verdict::new(kind, "x", "y")
                .naming("apiserver", "pki/apiserver.crt")
                .hint;
            assert!(
                hint.contains("Renewing cannot add a name"),
                "{kind}: {hint}"
            );
            assert!(hint.contains("add the name to `apiServer.certSANs` in the kubeadm configuration, delete apiserver.crt and apiserver.key, run `kubeadm init phase certs apiserver --config kubeadm.yaml`"), "{kind}: {hint}");
            assert!(
                hint.contains("`kubecorp pki init --apiserver-cert-extra-sans HOST`"),
                "{kind}: {hint}"
            );
            assert!(!hint.contains("certs renew apiserver"), "{kind}: {hint}");
        }
    }

    #[test]
    fn naming_fills_the_hint_placeholders_but_not_inside_words() {
        let verdict =
            Verdict::new(VerdictKind::Expired, "x", "y").naming("apiserver", "pki/apiserver.crt");
        assert_eq!(
            verdict.hint,
            "Check the dates with `openssl x509 -noout -dates -in pki/apiserver.crt`, then renew: `kubecorp certs renew apiserver` (in a cluster: `kubeadm certs renew apiserver`)."
        );
        assert_eq!(
            replace_word("HOSTNAME NAME FILES", "NAME", "x"),
            "HOSTNAME x FILES"
        );
    }
}
