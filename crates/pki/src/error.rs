//! The one error type of the PKI core. Variants carry what the caller needs to explain the
//! problem; none of them ever carries key material.

/// Everything that can go wrong while reading, checking or making certificates and keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The input holds neither PEM blocks nor a DER certificate or key.
    #[error("no certificate or key found (not PEM, and not a DER certificate or key)")]
    NotPemOrDer,
    /// A PEM block is malformed: bad base64, missing END line, truncated.
    #[error("malformed PEM: {0}")]
    BadPem(String),
    /// A certificate could not be parsed as X.509.
    #[error("malformed certificate: {0}")]
    BadCertificate(String),
    /// A private key is encrypted; kubelet and kubeadm never encrypt theirs.
    #[error("the private key is encrypted (kubelet and kubeadm keys never are); decrypt it first with `openssl pkey`")]
    EncryptedKey,
    /// A private key of a kind kubecert cannot use (e.g. ML-DSA, DSA, an unknown curve).
    #[error("unsupported private key: {0}")]
    UnsupportedKey(String),
    /// A private key block that could not be decoded.
    #[error("malformed private key ({label})")]
    BadKey {
        /// The PEM label or encoding of the key that failed.
        label: String,
    },
    /// A certificate signing request that could not be parsed or verified.
    #[error("malformed certificate signing request: {0}")]
    BadCsr(String),
    /// A request or template that kubecert refuses to sign, with the reason.
    #[error("refused: {0}")]
    Refused(String),
    /// The CA certificate and key cannot sign (wrong pair, not a CA, expired).
    #[error("unusable CA: {0}")]
    BadCa(String),
    /// The underlying crypto library failed (key generation, signing).
    #[error("crypto operation failed: {0}")]
    Crypto(String),
}

/// Shorthand for results of the PKI core.
pub type Result<T, E = PkiError> = std::result::Result<T, E>;
