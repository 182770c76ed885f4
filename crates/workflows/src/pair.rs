//! Is the pair an install put on the node the new certificate with its key? Read through the
//! node's one credential-location reader (kubecert-node's `credential`).

use kubecert_node::credential::{Credential, Location};
use kubecert_node::install::InstallStyle;
use kubecert_node::NodeRoot;

/// Why an installed pair is not the expected one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PairError {
    /// A file of the pair cannot be used (`path: why`).
    #[error("{0}")]
    Unreadable(String),
    /// The certificate there is another one.
    #[error("the installed certificate is not the new one")]
    NotTheNewCertificate,
    /// The key is not the certificate's.
    #[error("the installed key does not match the installed certificate")]
    KeyMismatch,
}

/// The credential location an install style writes.
pub(crate) fn location(style: &InstallStyle) -> Location {
    match style {
        InstallStyle::KubeletRotating { link, .. } => Location::Store { current: link.clone(), target: None },
        InstallStyle::SeparateFiles { cert, key } => Location::FilePair { cert: cert.clone(), key: key.clone() },
        InstallStyle::CombinedFile { path } => Location::Combined { path: path.clone() },
    }
}

/// Checks that the pair a style names (after an install) is `expected_der` with a matching key.
pub(crate) fn verify_pair(root: &NodeRoot, style: &InstallStyle, expected_der: &[u8]) -> Result<(), PairError> {
    let (cert, key) = match style {
        InstallStyle::KubeletRotating { link, .. } => (link, link),
        InstallStyle::SeparateFiles { cert, key } => (cert, key),
        InstallStyle::CombinedFile { path } => (path, path),
    };
    let cred = Credential::read_files(root, location(style), cert, key);
    let leaf = match &cred.cert {
        Ok(c) => c.leaf(),
        Err((p, e)) => return Err(PairError::Unreadable(format!("{p}: {e}"))),
    };
    if leaf.der() != expected_der {
        return Err(PairError::NotTheNewCertificate);
    }
    match &cred.key {
        Ok((_, k)) if k.matches(leaf) => Ok(()),
        Ok(_) => Err(PairError::KeyMismatch),
        Err((p, e)) => Err(PairError::Unreadable(format!("{p}: {e}"))),
    }
}
