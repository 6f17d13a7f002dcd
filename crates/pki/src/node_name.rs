//! A node's name, checked once: it becomes `system:node:NAME` in a badge, a SAN, a Node object's
//! name and a directory under the lab, so it must be what Kubernetes accepts for a Node.
//!
//! The rule is the Node object's (`ValidateNodeName` = `NameIsDNSSubdomain`, apimachinery v0.32
//! `IsDNS1123Subdomain`): at most 253 characters, dot-separated labels of `a-z`, `0-9` and `-`,
//! each starting and ending with a letter or digit. So `a..b`, `-a` and `a.` are refused.

/// A valid node name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeName(String);

/// Why a name cannot be a node's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid node name `{value}`: expected a lower-case RFC 1123 DNS name (a-z, 0-9, '-' and '.', each part between dots starting and ending with a letter or digit, at most 253 characters)")]
pub struct NodeNameError {
    pub value: String,
}

impl NodeName {
    pub fn new(name: &str) -> Result<NodeName, NodeNameError> {
        match name.len() <= 253 && is_dns1123_subdomain(name) {
            true => Ok(NodeName(name.to_owned())),
            false => Err(NodeNameError {
                value: name.to_owned(),
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for NodeName {
    type Err = NodeNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NodeName::new(s)
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`: one DNS-1123 label's shape (its length is not checked).
pub fn is_dns1123_label(s: &str) -> bool {
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let b = s.as_bytes();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || c == b'-')
}

/// The DNS-1123 subdomain regex, `label(\.label)*` (its length is not checked).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(is_dns1123_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_name_is_a_dns_subdomain_and_two_dots_in_a_row_are_not() {
        assert!(NodeName::new("kubecorp-worker2").is_ok());
        assert!(NodeName::new("node-1.example").is_ok());
        for bad in [
            "a..b",
            "",
            "-a",
            "a-",
            "a.",
            ".a",
            "A",
            "a_b",
            &"a".repeat(254),
        ] {
            assert!(NodeName::new(bad).is_err(), "{bad}");
        }
        assert_eq!(
            NodeName::new("a..b").unwrap_err().to_string(),
            "invalid node name `a..b`: expected a lower-case RFC 1123 DNS name (a-z, 0-9, '-' and '.', each part between dots starting and ending with a letter or digit, at most 253 characters)"
        );
    }
}
