//! Kubernetes node identities as they appear in certificates: `CN=system:node:<name>`,
//! `O=system:nodes`, and the DNS-1123 rule a node name must follow.

/// The group every kubelet client certificate carries in `O=`.
pub const NODES_GROUP: &str = "system:nodes";
/// The prefix of a node's user name and certificate CN.
pub const NODE_USER_PREFIX: &str = "system:node:";

/// The certificate CN (and API user name) of node `name`.
pub fn node_common_name(name: &str) -> String {
    format!("{NODE_USER_PREFIX}{name}")
}

/// The node name inside a `system:node:<name>` CN, if it is one.
pub fn node_name_from_common_name(cn: &str) -> Option<&str> {
    cn.strip_prefix(NODE_USER_PREFIX).filter(|n| !n.is_empty())
}

/// Checks that `name` is a valid DNS-1123 subdomain, as the API server requires of Node names:
/// at most 253 characters, lowercase alphanumerics, `-` and `.`, each label starting and ending
/// with an alphanumeric.
pub fn validate_node_name(name: &str) -> Result<(), NodeNameError> {
    if name.is_empty() {
        return Err(NodeNameError::Empty);
    }
    if name.len() > 253 {
        return Err(NodeNameError::TooLong(name.to_string()));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(NodeNameError::NotDns1123(name.to_string()));
        }
    }
    Ok(())
}

/// Why a string is not a valid Node name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeNameError {
    /// Empty.
    #[error("a node name cannot be empty")]
    Empty,
    /// Over 253 characters.
    #[error("node name {0:?} is longer than 253 characters")]
    TooLong(String),
    /// Not a DNS-1123 subdomain.
    #[error(
        "node name {0:?} is not a valid DNS-1123 subdomain (lowercase letters, digits, '-' and '.', \
         each part starting and ending with a letter or digit)"
    )]
    NotDns1123(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names() {
        for ok in ["n1", "worker-1.example.com", "a"] {
            assert!(validate_node_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Worker", "-a", "a-", "a..b", "a_b", &"x".repeat(254)] {
            assert!(validate_node_name(bad).is_err(), "{bad}");
        }
        assert_eq!(node_name_from_common_name("system:node:n1"), Some("n1"));
        assert_eq!(node_name_from_common_name("system:node:"), None);
        assert_eq!(node_name_from_common_name("admin"), None);
    }
}
