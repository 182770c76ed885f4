//! Why a renewal did not happen. Every variant means nothing on the node was changed, except
//! [`RenewError::Install`], whose own message says what the engine restored.

use crate::controlplane::{EmbeddedError, LoadError};
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
    #[error("cannot rewrite {path}: {source}; nothing was changed")]
    Kubeconfig {
        /// Node path.
        path: String,
        /// Why.
        #[source]
        source: KubeconfigEditError,
    },
    /// The install engine failed (its message says what was restored).
    #[error(transparent)]
    Install(#[from] InstallError),
}

/// Why a kubeconfig could not be given the new certificate (or pointed at the rotating store).
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigEditError {
    /// Its current context does not resolve, or the edited file does not serialise.
    #[error(transparent)]
    Config(#[from] kubecert_config::ConfigError),
    /// The current context names a cluster that is not in the file.
    #[error("the current cluster vanished")]
    ClusterVanished,
    /// The current context names a user that is not in the file.
    #[error("the current user vanished")]
    UserVanished,
    /// The catalog says kubeconfig and the file read is a PEM file (or the reverse).
    #[error("catalog entry and file kind disagree")]
    KindMismatch,
}

/// Why the files on disk after the switch are not the renewed ones (the engine then restores the
/// old files).
#[derive(Debug, thiserror::Error)]
pub(crate) enum InstalledMismatch {
    /// A renewed file cannot be read back.
    #[error(transparent)]
    Unreadable(#[from] LoadError),
    /// A renewed kubeconfig has no client key.
    #[error("{path} has no client-key-data")]
    NoKey {
        /// Node path.
        path: &'static str,
    },
    /// A renewed kubeconfig's client key cannot be used.
    #[error(transparent)]
    Key(#[from] EmbeddedError),
    /// Another certificate is on disk.
    #[error("{name}: the certificate on disk is not the one just written")]
    NotWritten {
        /// Catalog name.
        name: &'static str,
    },
    /// The key on disk is not the new certificate's.
    #[error("{name}: the key on disk does not match the new certificate")]
    KeyMismatch {
        /// Catalog name.
        name: &'static str,
    },
}
