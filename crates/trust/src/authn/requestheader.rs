//! The request-header (front-proxy) authenticator: a proxy's badge vouches for the user named in
//! its `X-Remote-User` headers.
//!
//! kube-apiserver runs it first (kubeadm: `--requestheader-client-ca-file=front-proxy-ca.crt`,
//! `--requestheader-allowed-names=front-proxy-client`, `--requestheader-username-headers=
//! X-Remote-User`, `--requestheader-group-headers=X-Remote-Group`,
//! `--requestheader-extra-headers-prefix=X-Remote-Extra-`), and every extension API server
//! (metrics-server) runs it with the same settings, read from the `extension-apiserver-
//! authentication` ConfigMap. Its steps, in the order of k8s.io/apiserver v0.32
//! `pkg/authentication/request/x509/x509.go` (`Verifier.AuthenticateRequest`) and
//! `pkg/authentication/request/headerrequest/requestheader.go`:
//!
//! 1. no client certificate, or an empty CA bundle: no opinion;
//! 2. the chain must verify against the request-header CA for clientAuth, or the error is Go's
//!    own (`x509: certificate signed by unknown authority`, `… has expired …`), with no
//!    `verifying certificate SN=…` prefix: that prefix is the x509 authenticator's;
//! 3. the badge's CN must be one of the allowed names (none listed: any), or
//!    `x509: subject with cn=<CN> is not in the allowed list`;
//! 4. only then are the headers read: no user name, no opinion (the next authenticator tries);
//!    otherwise the user is the first non-empty value of the user-name headers, the groups
//!    every non-empty value of the group headers, and the extra every header under the prefix
//!    (the rest of its name lower-cased and %-decoded as the key).
//!
//! A badge from another CA is an error here and no more: the next authenticator (x509, against
//! `ca.crt`) may still know it, and then its `X-Remote-User` is simply ignored.

use std::collections::BTreeMap;

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::events::Identity;
use crate::verify::{verify_badge, Usage, VerifyRequest};

/// The `--requestheader-*` settings (or the ConfigMap's `requestheader-*` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeaderConfig {
    /// `--requestheader-username-headers`: checked in order, the first non-empty value wins.
    pub username_headers: Vec<String>,
    /// `--requestheader-group-headers`: every value of every one is a group.
    pub group_headers: Vec<String>,
    /// `--requestheader-extra-headers-prefix`.
    pub extra_headers_prefix: Vec<String>,
    /// `--requestheader-allowed-names`: the CNs a proxy's badge may have; empty is any.
    pub allowed_names: Vec<String>,
}

impl RequestHeaderConfig {
    /// What kubeadm 1.32 writes into kube-apiserver's manifest
    /// (`cmd/kubeadm/app/phases/controlplane/manifests.go`, `getAPIServerCommand`).
    pub fn kubeadm() -> RequestHeaderConfig {
        RequestHeaderConfig {
            username_headers: vec!["X-Remote-User".into()],
            group_headers: vec!["X-Remote-Group".into()],
            extra_headers_prefix: vec!["X-Remote-Extra-".into()],
            allowed_names: vec!["front-proxy-client".into()],
        }
    }
}

/// The ConfigMap kube-apiserver publishes in `kube-system` so that extension API servers
/// (metrics-server) can check callers as it does.
pub const CONFIGMAP: &str = "extension-apiserver-authentication";

/// What `extension-apiserver-authentication` holds: kube-apiserver's `--client-ca-file`, its
/// `--requestheader-client-ca-file` and the `--requestheader-*` settings (k8s.io/kubernetes
/// v1.32 `pkg/controlplane/controller/clusterauthenticationtrust/cluster_authentication_trust_controller.go`,
/// whose lists are JSON arrays in strings).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionAuthentication {
    /// `client-ca-file`: PEM.
    pub client_ca_pem: String,
    /// `requestheader-client-ca-file`: PEM.
    pub requestheader_ca_pem: String,
    pub config: RequestHeaderConfig,
}

/// A ConfigMap an extension server cannot use, naming the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionAuthenticationError {
    #[error("configmap kube-system/extension-apiserver-authentication has no key {key}")]
    Missing { key: &'static str },
    #[error("configmap kube-system/extension-apiserver-authentication, key {key}: expected a JSON list of strings: {reason}")]
    NotAList { key: &'static str, reason: String },
}

impl ExtensionAuthentication {
    /// The ConfigMap's `data`, with the keys kube-apiserver writes.
    pub fn to_data(&self) -> serde_json::Value {
        let list = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
        serde_json::json!({
            "client-ca-file": self.client_ca_pem,
            "requestheader-allowed-names": list(&self.config.allowed_names),
            "requestheader-client-ca-file": self.requestheader_ca_pem,
            "requestheader-extra-headers-prefix": list(&self.config.extra_headers_prefix),
            "requestheader-group-headers": list(&self.config.group_headers),
            "requestheader-username-headers": list(&self.config.username_headers),
        })
    }

    /// Reads the ConfigMap's `data` as an extension server does (k8s.io/apiserver v0.32
    /// `pkg/server/options/authentication.go`, `inClusterClientCA`/`inClusterRequestHeader`).
    pub fn from_data(
        data: &serde_json::Value,
    ) -> Result<ExtensionAuthentication, ExtensionAuthenticationError> {
        let text = |key: &'static str| {
            data.get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or(ExtensionAuthenticationError::Missing { key })
        };
        // `deserializeStrings`: an absent or empty value is an empty list.
        let list = |key: &'static str| -> Result<Vec<String>, ExtensionAuthenticationError> {
            match data.get(key).and_then(|v| v.as_str()) {
                None | Some("") => Ok(Vec::new()),
                Some(s) => {
                    serde_json::from_str(s).map_err(|e| ExtensionAuthenticationError::NotAList {
                        key,
                        reason: e.to_string(),
                    })
                }
            }
        };
        Ok(ExtensionAuthentication {
            client_ca_pem: text("client-ca-file")?,
            requestheader_ca_pem: text("requestheader-client-ca-file")?,
            config: RequestHeaderConfig {
                username_headers: list("requestheader-username-headers")?,
                group_headers: list("requestheader-group-headers")?,
                extra_headers_prefix: list("requestheader-extra-headers-prefix")?,
                allowed_names: list("requestheader-allowed-names")?,
            },
        })
    }
}

/// A user vouched for by a proxy: who the headers name, and the proxy's own badge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedUser {
    pub name: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
    /// The badge the proxy showed (`front-proxy-client`).
    pub proxy: Identity,
}

/// What the request-header authenticator concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestHeaderAuthn {
    /// No badge, or a good proxy badge with no user-name header: the next authenticator decides.
    NoOpinion,
    /// A good proxy badge naming a user in its headers.
    User(ProxiedUser),
    /// The badge is not a proxy's: Go's error, which joins the others in the 401's log line.
    Failed {
        /// The badge shown, when it could be read.
        identity: Option<Identity>,
        error: RequestHeaderError,
    },
}

/// Why a badge does not count as the front proxy's, in Go's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestHeaderError {
    /// The chain does not verify against the request-header CA (Go's x509 text).
    #[error("{0}")]
    Unverified(String),
    /// The chain verifies but its CN is not among `--requestheader-allowed-names`.
    #[error("x509: subject with cn={cn} is not in the allowed list")]
    NotAllowed { cn: String },
}

/// Runs the request-header authenticator on a request's client chain (leaf first) and headers
/// (name, value; names in any case, a name may repeat).
pub fn authenticate_request_header<'h>(
    chain: &[CertificateDer<'_>],
    ca: &[CertificateDer<'_>],
    config: &RequestHeaderConfig,
    headers: impl IntoIterator<Item = (&'h str, &'h str)> + Clone,
    now: OffsetDateTime,
) -> RequestHeaderAuthn {
    let Some(leaf) = chain.first() else {
        return RequestHeaderAuthn::NoOpinion;
    };
    if ca.is_empty() {
        return RequestHeaderAuthn::NoOpinion;
    }
    let (verdict, identity) = verify_badge(&VerifyRequest {
        leaf,
        intermediates: &chain[1..],
        roots: ca,
        name: None,
        usage: Some(Usage::Client),
        at: now,
    });
    let proxy = match identity {
        Some(identity) if verdict.is_valid() => identity,
        identity => {
            return RequestHeaderAuthn::Failed {
                identity,
                error: RequestHeaderError::Unverified(verdict.text),
            }
        }
    };
    if !config.allowed_names.is_empty() && !config.allowed_names.contains(&proxy.cn) {
        return RequestHeaderAuthn::Failed {
            error: RequestHeaderError::NotAllowed {
                cn: proxy.cn.clone(),
            },
            identity: Some(proxy),
        };
    }
    // `headerValue`: the first header, in the configured order, with a non-empty first value.
    let name = config.username_headers.iter().find_map(|wanted| {
        headers
            .clone()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(wanted))
            .map(|(_, v)| v)
            .filter(|v| !v.is_empty())
    });
    let Some(name) = name else {
        return RequestHeaderAuthn::NoOpinion;
    };
    let groups = config
        .group_headers
        .iter()
        .flat_map(|wanted| {
            headers
                .clone()
                .into_iter()
                .filter(move |(n, v)| n.eq_ignore_ascii_case(wanted) && !v.is_empty())
                .map(|(_, v)| v.to_owned())
        })
        .collect();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for prefix in &config.extra_headers_prefix {
        for (n, v) in headers.clone() {
            if n.len() >= prefix.len()
                && n.is_char_boundary(prefix.len())
                && n[..prefix.len()].eq_ignore_ascii_case(prefix)
            {
                let key = path_unescape(&n[prefix.len()..].to_ascii_lowercase());
                extra.entry(key).or_default().push(v.to_owned());
            }
        }
    }
    RequestHeaderAuthn::User(ProxiedUser {
        name: name.to_owned(),
        groups,
        extra,
        proxy,
    })
}

/// The headers a front proxy sets for `user` (client-go `transport.SetAuthProxyHeaders`, which
/// kube-aggregator calls): `X-Remote-User`, one `X-Remote-Group` per group, and one
/// `X-Remote-Extra-<key>` per extra value, the key %-escaped.
pub fn proxy_headers(
    name: &str,
    groups: &[String],
    extra: &BTreeMap<String, Vec<String>>,
) -> Vec<(String, String)> {
    let mut out = vec![("X-Remote-User".to_owned(), name.to_owned())];
    out.extend(
        groups
            .iter()
            .map(|g| ("X-Remote-Group".to_owned(), g.clone())),
    );
    for (key, values) in extra {
        for v in values {
            out.push((format!("X-Remote-Extra-{}", path_escape(key)), v.clone()));
        }
    }
    out
}

/// Go's `url.PathUnescape`; a malformed escape keeps the key as it came (as requestheader.go
/// does: "Always record extra strings, even if malformed/unencoded").
fn path_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return s.to_owned(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// Go's `url.PathEscape` for the characters a header name cannot carry.
fn path_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configmap_keeps_its_lists_as_json_in_strings_and_reads_back() {
        let auth = ExtensionAuthentication {
            client_ca_pem: "ca".into(),
            requestheader_ca_pem: "fp".into(),
            config: RequestHeaderConfig::kubeadm(),
        };
        let data = auth.to_data();
        assert_eq!(
            data["requestheader-allowed-names"],
            "[\"front-proxy-client\"]"
        );
        assert_eq!(
            data["requestheader-username-headers"],
            "[\"X-Remote-User\"]"
        );
        assert_eq!(ExtensionAuthentication::from_data(&data).unwrap(), auth);
        let mut broken = data.clone();
        broken["requestheader-allowed-names"] = "front-proxy-client".into();
        assert_eq!(
            ExtensionAuthentication::from_data(&broken).unwrap_err().to_string(),
            "configmap kube-system/extension-apiserver-authentication, key requestheader-allowed-names: expected a JSON list of strings: expected ident at line 1 column 2"
        );
    }

    #[test]
    fn extra_keys_are_lower_cased_and_percent_decoded_and_malformed_ones_kept() {
        assert_eq!(path_unescape("scopes"), "scopes");
        assert_eq!(path_unescape("example.com%2fteam"), "example.com/team");
        assert_eq!(path_unescape("bad%zz"), "bad%zz");
        assert_eq!(path_escape("example.com/team"), "example.com%2Fteam");
    }

    #[test]
    fn the_proxy_headers_name_the_user_each_group_and_each_extra_value() {
        let mut extra = BTreeMap::new();
        extra.insert("scopes".to_owned(), vec!["a".to_owned(), "b".to_owned()]);
        let headers = proxy_headers("jane", &["dev".into(), "ops".into()], &extra);
        assert_eq!(
            headers,
            vec![
                ("X-Remote-User".into(), "jane".into()),
                ("X-Remote-Group".into(), "dev".into()),
                ("X-Remote-Group".into(), "ops".into()),
                ("X-Remote-Extra-scopes".into(), "a".into()),
                ("X-Remote-Extra-scopes".into(), "b".into()),
            ]
        );
    }
}
