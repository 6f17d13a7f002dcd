//! Object names as kube-apiserver checks them: the rule each kind uses, and apimachinery's texts.
//!
//! `ValidateObjectMeta` runs a kind's name rule on `metadata.name`; a failure is a 422 with one
//! `metadata.name: Invalid value` cause per message. Texts and rules: apimachinery v0.32
//! `pkg/util/validation/validation.go` (IsDNS1123Subdomain, IsDNS1123Label, IsDNS1035Label),
//! `pkg/api/validation/path` (IsValidPathSegmentName, used for RBAC names), and
//! k8s.io/kubernetes v1.32 `pkg/apis/*/validation` (which kind uses which rule).

use crate::status::{go_quote, Cause};

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1035_LABEL_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";

/// The rule a kind's names follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain`: pods, nodes, config maps, endpoints, service accounts, leases.
    Dns1123Subdomain,
    /// `NameIsDNSLabel`: namespaces.
    Dns1123Label,
    /// `NameIsDNS1035Label`: services (their names become DNS labels).
    Dns1035Label,
    /// `path.IsValidPathSegmentName`: RBAC roles and bindings (`system:…` names are fine).
    PathSegment,
    /// CertificateSigningRequests: "We don't care what you call your certificate requests."
    /// (their names must still be a path segment, checked when the storage key is made).
    Any,
}

impl NameRule {
    /// The rule kube-apiserver uses for `kind`.
    pub fn of_kind(kind: &str) -> NameRule {
        match kind {
            "Namespace" => NameRule::Dns1123Label,
            "Service" => NameRule::Dns1035Label,
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => NameRule::PathSegment,
            "CertificateSigningRequest" => NameRule::Any,
            _ => NameRule::Dns1123Subdomain,
        }
    }

    /// The messages for a bad name; empty when it is fine.
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::Dns1123Subdomain => is_dns1123_subdomain(name),
            NameRule::Dns1123Label => is_dns1123_label(name),
            NameRule::Dns1035Label => is_dns1035_label(name),
            NameRule::PathSegment => is_valid_path_segment_name(name),
            NameRule::Any => Vec::new(),
        }
    }
}

/// The 422 causes for `metadata.name`, if any.
pub fn name_causes(kind: &str, name: &str) -> Vec<Cause> {
    NameRule::of_kind(kind)
        .check(name)
        .into_iter()
        .map(|message| Cause::invalid("metadata.name", &go_quote(name), &message))
        .collect()
}

/// `genericregistry.NamespaceKeyFunc`'s check before a name becomes part of a storage key:
/// the 400 message `Name parameter invalid: "a/b": may not contain '/'`.
pub fn key_problem(name: &str) -> Option<String> {
    let msgs = is_valid_path_segment_name(name);
    (!msgs.is_empty()).then(|| {
        format!(
            "Name parameter invalid: {}: {}",
            go_quote(name),
            msgs.join(";")
        )
    })
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{fmt}')",
        examples.join(" or ")
    )
}

use kubecorp_pki::node_name::{
    is_dns1123_label as matches_dns1123_label, is_dns1123_subdomain as matches_dns1123_subdomain,
};

/// `IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !matches_dns1123_subdomain(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `IsDNS1123Label`.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            errs.push("must not contain dots".into());
        } else {
            errs.push(regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// `IsDNS1035Label`.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    let b = value.as_bytes();
    let ok = matches_dns1123_label(value) && b[0].is_ascii_lowercase();
    if !ok {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// `path.IsValidPathSegmentName`.
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"]
        .iter()
        .filter(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_name_with_a_slash_gets_the_rfc_1123_subdomain_text() {
        let causes = name_causes("Pod", "a/b");
        assert_eq!(causes.len(), 1);
        assert_eq!(
            causes[0].error(),
            r#"metadata.name: Invalid value: "a/b": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"#
        );
        assert_eq!(name_causes("Pod", "..").len(), 1);
        assert!(name_causes("Pod", "web-1.example").is_empty());
    }

    #[test]
    fn a_ten_thousand_character_name_is_too_long() {
        let name = "a".repeat(10_000);
        let msgs = NameRule::of_kind("Pod").check(&name);
        assert_eq!(msgs, vec!["must be no more than 253 characters".to_owned()]);
        let msgs = NameRule::of_kind("Service").check(&name);
        assert_eq!(msgs, vec!["must be no more than 63 characters".to_owned()]);
    }

    #[test]
    fn services_and_namespaces_use_labels() {
        assert_eq!(
            NameRule::of_kind("Service").check("1web"),
            vec!["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_owned()]
        );
        assert_eq!(
            NameRule::of_kind("Namespace").check("a.b"),
            vec!["must not contain dots".to_owned()]
        );
    }

    #[test]
    fn rbac_names_are_path_segments() {
        assert!(NameRule::of_kind("ClusterRole")
            .check("system:node")
            .is_empty());
        assert_eq!(
            NameRule::of_kind("Role").check(".."),
            vec!["may not be '..'".to_owned()]
        );
        assert_eq!(
            key_problem("a/b%c").unwrap(),
            r#"Name parameter invalid: "a/b%c": may not contain '/';may not contain '%'"#
        );
    }
}
