//! The workflows' error: a refusal (the input or the node's state is not acted on, nothing was
//! written) or a failure of a step below, with what was being done.

use std::path::PathBuf;

/// Why a workflow stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkflowError {
    /// An input or a state the workflow refuses to act on; nothing was written.
    #[error("refused: {0}")]
    Refused(String),
    /// The install engine failed (the node was left as it was, or the error says where it stands).
    #[error(transparent)]
    Install(#[from] kubecert_node::install::InstallError),
    /// A file the operator named could not be read.
    #[error("cannot read the {what} {}", path.display())]
    ReadArgument {
        /// What the file is (`CA key`, `CSR`).
        what: &'static str,
        /// The path as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: kubecert_node::ReadError,
    },
    /// A bundle file could not be written (files this run created were removed).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Making or checking a key or certificate failed.
    #[error("{context}")]
    Pki {
        /// What was being done.
        context: &'static str,
        /// Why.
        #[source]
        source: kubecert_pki::PkiError,
    },
    /// What was just issued does not verify as the API server will check it.
    #[error("{context}")]
    Verify {
        /// What was checked.
        context: &'static str,
        /// Why it failed.
        #[source]
        source: kubecert_pki::VerifyFailure,
    },
    /// A request to the API server failed.
    #[error(transparent)]
    Api(#[from] kubecert_cluster::ApiError),
    /// No client for the cluster could be made.
    #[error(transparent)]
    Client(#[from] kubecert_cluster::client::ClientError),
    /// A kubeconfig could not be serialised.
    #[error("cannot write the kubeconfig: {0}")]
    Kubeconfig(#[from] kubecert_config::ConfigError),
}

impl WorkflowError {
    /// A refusal.
    pub fn refused(msg: impl Into<String>) -> Self {
        WorkflowError::Refused(msg.into())
    }

    /// A PKI error that is the input's fault (a refusal), said once: `PkiError::Refused` carries its own words.
    pub(crate) fn pki_refusal(e: kubecert_pki::PkiError) -> Self {
        match e {
            kubecert_pki::PkiError::Refused(m) => WorkflowError::Refused(m),
            e => WorkflowError::Refused(e.to_string()),
        }
    }

    /// True for outcomes the CLI reports with exit code 1 (refused, or an install that failed).
    pub fn is_refusal(&self) -> bool {
        matches!(self, WorkflowError::Refused(_) | WorkflowError::Install(_))
    }
}

/// `Result` with [`WorkflowError`].
pub type Result<T, E = WorkflowError> = std::result::Result<T, E>;

/// Wraps a PKI error with what was being done.
pub(crate) fn pki(context: &'static str) -> impl FnOnce(kubecert_pki::PkiError) -> WorkflowError {
    move |source| WorkflowError::Pki { context, source }
}
