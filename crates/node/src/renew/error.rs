//! Why a renewal did not happen. Every variant means nothing on the node was changed, except
//! [`RenewError::Install`], whose own message says what the engine restored.

use crate::controlplane::LoadError;
use crate::install::InstallError;

/// A renewal that was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RenewError {
    /// The root holds no control-plane certificates.
    #[error("{root} is not a control-plane node (no /etc/kubernetes/pki/apiserver.crt, no /etc/kubernetes/manifests/kube-apiserver.yaml)")]
    NotControlPlane {
        /// The root directory.
        root: String,
    },
    /// A name that kubeadm does not renew.
    #[error("{name:?} is not a certificate kubeadm renews; one of: all, {known}")]
    UnknownName {
        /// What was asked for.
        name: String,
        /// The valid names.
        known: String,
    },
    /// A certificate or CA that is there but cannot be read.
    #[error("cannot renew: {0}; nothing was changed")]
    Unreadable(#[from] LoadError),
    /// Renewing would make things worse (a CA expired, unusable, or expiring before the new certificate).
    #[error("{}; nothing was changed", .problems.join("; "))]
    Refused {
        /// One line per problem, naming the CA and the certificate.
        problems: Vec<String>,
    },
    /// The certificate could not be re-issued.
    #[error("cannot re-issue {name}: {source}; nothing was changed")]
    Pki {
        /// The catalog name.
        name: String,
        /// The PKI error.
        source: kubecert_pki::PkiError,
    },
    /// A kubeconfig could not be written back.
    #[error("cannot rewrite {path}: {detail}; nothing was changed")]
    Kubeconfig {
        /// Node path.
        path: String,
        /// Why.
        detail: String,
    },
    /// The install engine failed (its message says what was restored).
    #[error(transparent)]
    Install(#[from] InstallError),
}
