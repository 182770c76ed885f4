//! Where a kubelet client credential lives, read from the node: a certificate/key file pair, one
//! combined cert+key file, the rotating store's `kubelet-client-current.pem`, or data embedded in a
//! kubeconfig. [`precedence::choose`] decides, the way kubelet v1.37.2 does, which one the kubelet
//! presents (docs/kubelet-credential-precedence.md).
//!
//! Still to switch to this type: `install/credential.rs` (the install target's current credential)
//! and the CLI's `sign`/`repair` (the credential they replace) keep their own readers for now.

pub mod inputs;
pub mod precedence;

use crate::root::NodeRoot;
use crate::snapshot::{CertSource, Problem};
use kubecert_pki::{Certificate, PkiError, PrivateKey};
use serde::Serialize;

pub use precedence::{choose, Choice, Inputs, KubeconfigError, Rotation, Step, Verdict};

/// Where a client credential is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Location {
    /// A certificate file and a key file.
    FilePair {
        /// Node path of the certificate.
        cert: String,
        /// Node path of the key.
        key: String,
    },
    /// One file holding the certificate and the key.
    Combined {
        /// Node path.
        path: String,
    },
    /// The rotating store: `<cert-dir>/kubelet-client-current.pem`, a link to the newest
    /// `kubelet-client-<stamp>.pem`.
    Store {
        /// Node path of `kubelet-client-current.pem`.
        current: String,
        /// Where the link points, as written.
        target: Option<String>,
    },
    /// `client-certificate-data`/`client-key-data` in a kubeconfig.
    Embedded {
        /// Node path of the kubeconfig.
        kubeconfig: String,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::FilePair { cert, key } => write!(f, "the file pair {cert} + {key}"),
            Location::Combined { path } => write!(f, "the combined file {path}"),
            Location::Store { current, target: Some(t) } => write!(f, "the rotating store's {current} (-> {t})"),
            Location::Store { current, target: None } => write!(f, "the rotating store's {current}"),
            Location::Embedded { kubeconfig } => write!(f, "the pair embedded in {kubeconfig}"),
        }
    }
}

/// A client credential as found on the node.
#[derive(Debug)]
pub struct Credential {
    /// Where it is.
    pub location: Location,
    /// The certificate (leaf first), or why it cannot be used; the error carries the node path
    /// (or `<kubeconfig>#client-certificate-data`).
    pub cert: Result<CertSource, (String, Problem)>,
    /// The key, or why it cannot be used, with its origin.
    pub key: Result<(String, PrivateKey), (String, Problem)>,
    /// Mode of the key file (None for embedded keys).
    pub key_mode: Option<u32>,
}

impl Credential {
    /// The leaf certificate, when it loaded.
    pub fn leaf(&self) -> Option<&Certificate> {
        self.cert.as_ref().ok().map(|c| c.leaf())
    }

    /// Why the kubelet's loader (`tls.X509KeyPair`) would refuse this pair, if it would.
    pub(crate) fn load_error(&self) -> Option<String> {
        match (&self.cert, &self.key) {
            (Err((p, e)), _) => Some(format!("{p}: {e}")),
            (_, Err((p, e))) => Some(format!("{p}: {e}")),
            (Ok(c), Ok((_, k))) if !k.matches(c.leaf()) => Some("private key does not match public key".into()),
            _ => None,
        }
    }

    /// Reads a certificate file and a key file (the same path for a combined file).
    pub fn read_files(root: &NodeRoot, location: Location, cert_path: &str, key_path: &str) -> Credential {
        let cert = cert_file(root, cert_path);
        let (key, key_mode) = match root.read(key_path) {
            Ok(f) => (key_from(kubecert_pki::load_bundle(&f.bytes), key_path), Some(f.mode)),
            Err(e) => (Err((key_path.to_string(), Problem::Read(e))), None),
        };
        Credential { location, cert, key, key_mode }
    }

    /// Reads base64 data embedded in the kubeconfig at `kubeconfig` (either part may be absent).
    pub fn embedded(kubeconfig: &str, cert_data: Option<&str>, key_data: Option<&str>) -> Credential {
        let cert = match cert_data {
            Some(d) => embedded_cert(kubeconfig, "client-certificate-data", d),
            None => Err((kubeconfig.to_string(), Problem::Invalid("no client-certificate-data".into()))),
        };
        let key_origin = format!("{kubeconfig}#client-key-data");
        let key = match key_data {
            Some(d) => key_from(kubecert_pki::load_bundle_base64(d), &key_origin),
            None => Err((kubeconfig.to_string(), Problem::Invalid("the user has a client certificate but no key".into()))),
        };
        Credential { location: Location::Embedded { kubeconfig: kubeconfig.to_string() }, cert, key, key_mode: None }
    }
}

/// A certificate embedded in a kubeconfig's `field`.
pub(crate) fn embedded_cert(path: &str, field: &str, data: &str) -> Result<CertSource, (String, Problem)> {
    let origin = format!("{path}#{field}");
    match kubecert_pki::load_bundle_base64(data) {
        Ok(b) if !b.certificates.is_empty() => Ok(CertSource { origin, embedded: true, chain: b.certificates }),
        Ok(_) => Err((origin, Problem::Invalid("no certificate in the data".into()))),
        Err(e) => Err((origin, Problem::Invalid(e.to_string()))),
    }
}

/// A certificate file (leaf first).
pub(crate) fn cert_file(root: &NodeRoot, path: &str) -> Result<CertSource, (String, Problem)> {
    cert_from(path, root.read(path))
}

/// The certificate in a file already read (or why not).
pub(crate) fn cert_from(path: &str, read: Result<crate::root::NodeFile, crate::root::ReadError>) -> Result<CertSource, (String, Problem)> {
    match read {
        Ok(f) => match kubecert_pki::load_bundle(&f.bytes) {
            Ok(b) if !b.certificates.is_empty() => Ok(CertSource { origin: path.to_string(), embedded: false, chain: b.certificates }),
            Ok(_) => Err((path.to_string(), Problem::Invalid("no certificate in the file".into()))),
            Err(e) => Err((path.to_string(), Problem::Invalid(e.to_string()))),
        },
        Err(e) => Err((path.to_string(), Problem::Read(e))),
    }
}

fn key_from(bundle: Result<kubecert_pki::Bundle, PkiError>, origin: &str) -> Result<(String, PrivateKey), (String, Problem)> {
    let invalid = |e: String| (origin.to_string(), Problem::Invalid(e));
    match bundle {
        Ok(b) => match b.key {
            Some(Ok(k)) => Ok((origin.to_string(), k)),
            Some(Err(e)) => Err(invalid(e.to_string())),
            None => Err(invalid("no private key in it".into())),
        },
        Err(e) => Err(invalid(e.to_string())),
    }
}
