//! kubecert's PKI core: parse, inspect, verify, generate and sign the certificates, keys and CSRs
//! of a Kubernetes node. Bytes in, bytes out: this crate reads no file and opens no socket, so
//! every rule and repair above it can be tested on bytes alone.
//!
//! Built on maintained crates: x509-parser (parsing, signature checks), rustls-webpki (TLS path
//! validation), rcgen with the aws-lc-rs backend (keys, CSRs, signing) and aws-lc-rs (digests, RNG).

#![deny(missing_docs)]

mod cert;
mod csr;
mod error;
mod identity;
mod key;
mod load;
mod pem;
mod pin;
mod renew;
mod sign;
mod verify;

pub use cert::{CertInfo, Certificate, KeyInfo};
pub use csr::{build_csr, parse_csr, CsrInfo, RequestSubject};
pub use error::{PkiError, Result};
pub use identity::{node_common_name, node_name_from_common_name, validate_node_name, NodeNameError, NODES_GROUP, NODE_USER_PREFIX};
pub use key::{load_private_key, load_public_key, KeyType, PrivateKey, UnknownKeyType};
pub use load::{load_bundle, load_bundle_base64, load_certificates, Bundle};
pub use pem::{decode_blocks, encode as pem_encode, Block};
pub use pin::{parse_pin, PinError};
pub use renew::{key_type_of, renew_like};
pub use sign::{self_signed_ca, sign_for_csr, sign_for_key, sign_with_dates, CertificateAuthority, LeafProfile, SignedCertificate, BACKDATE};
pub use verify::{verify_for_tls, verify_signed_by, TlsUsage, VerifyFailure};
