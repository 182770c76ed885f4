//! A kubeadm control-plane node's certificates: the catalog, detection, and loading the CAs,
//! leaves and kubeconfigs from a node root (every read root-confined and bounded).

pub mod catalog;
pub mod snapshot;

use crate::root::{NodeRoot, ReadError};
use base64::Engine as _;
use kubecert_config::Kubeconfig;
use kubecert_pki::{Certificate, PrivateKey};

/// True when the root looks like a control-plane node: kubeadm's pki tree or the API server's
/// static pod manifest.
pub(crate) fn is_control_plane(root: &NodeRoot) -> bool {
    root.exists_lexically("/etc/kubernetes/pki/apiserver.crt") || root.exists_lexically("/etc/kubernetes/manifests/kube-apiserver.yaml")
}

/// Why a file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Not there.
    #[error("{path} does not exist")]
    Missing {
        /// Node path.
        path: String,
    },
    /// There but unusable (unreadable, special file, does not parse, no certificate).
    #[error("{path}: {detail}")]
    Invalid {
        /// Node path.
        path: String,
        /// Why.
        detail: String,
    },
}

/// Why data a kubeconfig embeds (client-key-data, certificate-authority-data) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The base64 PEM does not decode, or what it holds does not parse.
    #[error(transparent)]
    Decode(#[from] kubecert_pki::PkiError),
    /// client-key-data does not decode as base64 PEM.
    #[error("client-key-data: {0}")]
    KeyData(#[source] kubecert_pki::PkiError),
    /// The data decodes but holds no private key.
    #[error("client-key-data holds no private key")]
    NoKey,
    /// The data decodes but holds no certificate.
    #[error("holds no certificate")]
    NoCertificate,
}

impl LoadError {
    fn from_read(path: &str, e: ReadError) -> Self {
        match e {
            ReadError::NotFound { .. } => LoadError::Missing { path: path.to_string() },
            e => LoadError::Invalid { path: path.to_string(), detail: e.to_string() },
        }
    }

    fn invalid(path: &str, detail: impl std::fmt::Display) -> Self {
        LoadError::Invalid { path: path.to_string(), detail: detail.to_string() }
    }

    /// True when the file is absent.
    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, LoadError::Missing { .. })
    }
}

/// The first certificate of a PEM file.
pub(crate) fn load_cert(root: &NodeRoot, path: &str) -> Result<Certificate, LoadError> {
    let f = root.read(path).map_err(|e| LoadError::from_read(path, e))?;
    let mut certs = kubecert_pki::load_certificates(&f.bytes).map_err(|e| LoadError::invalid(path, e))?;
    if certs.is_empty() {
        return Err(LoadError::invalid(path, "holds no certificate"));
    }
    Ok(certs.remove(0))
}

/// A private key file.
pub(crate) fn load_key(root: &NodeRoot, path: &str) -> Result<PrivateKey, LoadError> {
    let f = root.read(path).map_err(|e| LoadError::from_read(path, e))?;
    kubecert_pki::load_private_key(&f.bytes).map_err(|e| LoadError::invalid(path, e))
}

/// A kubeconfig whose current user embeds its client certificate (kubeadm's layout).
#[derive(Debug)]
pub(crate) struct EmbeddedKubeconfig {
    /// The parsed file.
    pub kubeconfig: Kubeconfig,
    /// The embedded client certificate.
    pub cert: Certificate,
    /// The embedded client key, when present and loadable.
    pub key: Option<Result<PrivateKey, EmbeddedError>>,
    /// The embedded cluster CA, when present and loadable.
    pub ca: Option<Result<Certificate, EmbeddedError>>,
}

/// Reads a kubeconfig and the certificate its current context's user embeds.
pub(crate) fn load_embedded_kubeconfig(root: &NodeRoot, path: &str) -> Result<EmbeddedKubeconfig, LoadError> {
    let f = root.read(path).map_err(|e| LoadError::from_read(path, e))?;
    let kubeconfig = Kubeconfig::parse(&f.bytes).map_err(|e| LoadError::invalid(path, e))?;
    let r = kubeconfig.resolve(None).map_err(|e| LoadError::invalid(path, e))?;
    let data = r.user.client_certificate_data.as_deref().ok_or_else(|| {
        LoadError::invalid(path, format!("user {:?} does not embed a client certificate (client-certificate-data)", r.user_name))
    })?;
    let cert = decode_cert(data).map_err(|e| LoadError::invalid(path, format!("client-certificate-data: {e}")))?;
    let key = r.user.client_key_data.as_ref().map(|k| match kubecert_pki::load_bundle_base64(k.expose()) {
        Ok(b) => b.key.map(|r| r.map_err(EmbeddedError::Decode)).unwrap_or(Err(EmbeddedError::NoKey)),
        Err(e) => Err(EmbeddedError::KeyData(e)),
    });
    let ca = r.cluster.certificate_authority_data.as_deref().map(decode_cert);
    Ok(EmbeddedKubeconfig { kubeconfig, cert, key, ca })
}

fn decode_cert(b64: &str) -> Result<Certificate, EmbeddedError> {
    let mut certs = kubecert_pki::load_bundle_base64(b64)?.certificates;
    if certs.is_empty() {
        return Err(EmbeddedError::NoCertificate);
    }
    Ok(certs.remove(0))
}

/// The node's hostname (`/etc/hostname`'s first line), lowercased.
pub fn hostname(root: &NodeRoot) -> Option<String> {
    let f = root.read("/etc/hostname").ok()?;
    let h = String::from_utf8_lossy(&f.bytes).lines().next().unwrap_or("").trim().to_lowercase();
    (!h.is_empty()).then_some(h)
}

/// Base64 of a PEM, as kubeconfigs embed it.
pub(crate) fn base64_pem(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())
}
