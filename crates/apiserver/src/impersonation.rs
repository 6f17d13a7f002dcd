//! Impersonation: `kubectl --as NAME --as-group GROUP`, and so `kubectl auth can-i --list --as`.
//!
//! Once Alice knows who is at the door, a visitor may ask to act as someone else with the
//! `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-<key>`
//! headers. Each thing asked for is a separate question to the authorizers, with the verb
//! `impersonate`: `users` (or `serviceaccounts` in the account's namespace, when the name is
//! `system:serviceaccount:NS:NAME`), `groups`, `uids` and `userextras/<key>` (the last two in the
//! API group `authentication.k8s.io`). Only when every answer is Allow does the request go on as
//! the new user; the first refusal is a 403 naming what could not be impersonated. kubeadm's
//! `cluster-admin` may impersonate anyone (`*` on `*`); nobody else may by default.
//!
//! As kube-apiserver's `WithImpersonation` filter
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go`, v1.32).

use std::collections::BTreeMap;

use crate::api::Api;
use crate::rbac::Attributes;
use crate::status;
use crate::user::{UserInfo, SERVICE_ACCOUNT_PREFIX};

const AUTHENTICATED: &str = "system:authenticated";
const UNAUTHENTICATED: &str = "system:unauthenticated";
const ANONYMOUS: &str = "system:anonymous";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// What the impersonation headers of one request ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Asked {
    pub user: Option<String>,
    pub groups: Vec<String>,
    pub uid: Option<String>,
    /// Lower-case key → values, in header order.
    pub extra: BTreeMap<String, Vec<String>>,
}

impl Asked {
    /// Reads the headers as `(name, value)` pairs, names in any case. `None` when the request
    /// asks to impersonate nobody.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Asked> {
        let mut asked = Asked::default();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            match name.as_str() {
                "impersonate-user" if asked.user.is_none() => asked.user = Some(value.to_string()),
                "impersonate-group" => asked.groups.push(value.to_string()),
                "impersonate-uid" if asked.uid.is_none() => asked.uid = Some(value.to_string()),
                _ => {
                    if let Some(key) = name.strip_prefix(EXTRA_PREFIX) {
                        // The key is percent-decoded, as the header name cannot carry every
                        // character a key may hold.
                        let key = percent_decode(key);
                        asked.extra.entry(key).or_default().push(value.to_string());
                    }
                }
            }
        }
        // An empty Impersonate-User is no request (Go's `Header.Get` returns "").
        asked.user = asked.user.filter(|u| !u.is_empty());
        (asked != Asked::default()).then_some(asked)
    }
}

/// Why a request that asked to impersonate is refused: the status code and body.
pub type Refusal = (u16, String);

/// Checks every part of `asked` for `requestor` and returns the user the request goes on as.
pub async fn impersonate(
    api: &Api,
    requestor: &UserInfo,
    asked: Asked,
) -> Result<UserInfo, Refusal> {
    let Some(name) = asked.user.clone() else {
        // Groups, a uid or extras without a user is the filter's internal error.
        return Err(status::internal_unknown(&format!(
            "requested {} without impersonating a user",
            describe(&asked)
        )));
    };
    let groups_given = !asked.groups.is_empty();
    let mut groups: Vec<String> = Vec::new();
    let mut checks: Vec<Attributes> = Vec::new();
    let ask = |ns: &str, group: &str, resource: &str, name: &str| {
        Attributes::resource(requestor, "impersonate", ns, group, resource).with_name(name)
    };
    match service_account(&name) {
        Some((ns, sa)) => {
            checks.push(ask(ns, "", "serviceaccounts", sa));
            if !groups_given {
                groups = vec![
                    "system:serviceaccounts".to_string(),
                    format!("system:serviceaccounts:{ns}"),
                ];
            }
        }
        None => checks.push(ask("", "", "users", &name)),
    }
    for g in &asked.groups {
        checks.push(ask("", "", "groups", g));
        groups.push(g.clone());
    }
    for (key, values) in &asked.extra {
        for v in values {
            checks.push(ask("", "authentication.k8s.io", "userextras", v).with_subresource(key));
        }
    }
    if let Some(uid) = &asked.uid {
        checks.push(ask("", "authentication.k8s.io", "uids", uid));
    }
    for attrs in &checks {
        let decision = api
            .authorize(attrs)
            .await
            .map_err(|e| status::internal_unknown(&e.to_string()))?;
        if !decision.is_allowed() {
            return Err(status::forbidden(attrs, decision.reason()));
        }
    }
    // A named user is authenticated unless the groups say otherwise; anonymous is not.
    if name != ANONYMOUS {
        if !groups
            .iter()
            .any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED)
        {
            groups.push(AUTHENTICATED.to_string());
        }
    } else if !groups.iter().any(|g| g == UNAUTHENTICATED) {
        groups.push(UNAUTHENTICATED.to_string());
    }
    Ok(UserInfo {
        name,
        uid: asked.uid.unwrap_or_default(),
        groups,
        extra: asked.extra,
    })
}

/// `system:serviceaccount:NS:NAME` → `(NS, NAME)`.
fn service_account(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(SERVICE_ACCOUNT_PREFIX)?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

fn describe(asked: &Asked) -> String {
    let mut parts: Vec<String> = asked.groups.iter().map(|g| format!("group {g}")).collect();
    parts.extend(asked.uid.iter().map(|u| format!("uid {u}")));
    for (k, vs) in &asked.extra {
        parts.extend(vs.iter().map(|v| format!("extra {k}={v}")));
    }
    format!("[{}]", parts.join(" "))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_kubectl_sends_for_as_and_as_group_are_read() {
        let asked = Asked::from_headers([
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "developers"),
            ("Impersonate-Group", "qa"),
            ("Impersonate-Extra-Scopes%2Fx", "a"),
            ("Accept", "application/json"),
        ])
        .unwrap();
        assert_eq!(asked.user.as_deref(), Some("jane"));
        assert_eq!(asked.groups, ["developers", "qa"]);
        assert_eq!(asked.extra["scopes/x"], ["a"]);
        assert_eq!(Asked::from_headers([("Accept", "*/*")]), None);
    }

    #[test]
    fn a_service_account_name_is_split_into_namespace_and_account() {
        assert_eq!(
            service_account("system:serviceaccount:kube-system:kube-proxy"),
            Some(("kube-system", "kube-proxy"))
        );
        assert_eq!(service_account("system:serviceaccount:bad"), None);
        assert_eq!(service_account("jane"), None);
    }
}
