//! Host names as Go checks them (`VerifyHostname`, `HostnameError`): SANs only, wildcards in the
//! leftmost label, IP addresses against IP SANs, and Go's exact texts when none match.

use super::*;

// ----- host names: Go's VerifyHostname and HostnameError ------------------------------------

/// The facts Go's `HostnameError` prints from.
#[derive(Clone, Debug)]
pub(super) struct HostnameError {
    /// The name as Go keeps it: an IP without its `[ ]`, a DNS name as given.
    pub(super) host: String,
    pub(super) common_name: String,
    pub(super) has_san_extension: bool,
    pub(super) dns_names: Vec<String>,
    pub(super) ip_addresses: Vec<IpAddr>,
}

impl HostnameError {
    pub(super) fn new(cert: &Cert<'_>, host: &str) -> Self {
        HostnameError {
            host: host.to_owned(),
            common_name: cert.common_name.clone(),
            has_san_extension: cert.san_extension.is_some(),
            dns_names: cert.dns_names.clone(),
            ip_addresses: cert.ip_addresses.clone(),
        }
    }

    pub(super) fn host_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }

    /// Which of Go's messages applies, in the order `HostnameError.Error` tries them.
    pub(super) fn kind(&self) -> VerdictKind {
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
    pub(super) fn valid_names(&self) -> Vec<String> {
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
pub(super) fn verify_hostname(cert: &Cert<'_>, host: &str) -> Result<(), HostnameError> {
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
pub(super) fn valid_hostname(host: &str, is_pattern: bool) -> bool {
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

pub(super) fn match_exactly(a: &str, b: &str) -> bool {
    if a.is_empty() || a == "." || b.is_empty() || b == "." {
        return false;
    }
    a.eq_ignore_ascii_case(b)
}

/// Go's `matchHostnames`: label by label, a leading `*` matching exactly one label.
pub(super) fn match_hostnames(pattern: &str, host: &str) -> bool {
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
