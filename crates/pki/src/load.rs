//! Loading what a file holds: every certificate and the private key, from a PEM bundle, a DER
//! file or a kubeconfig `*-data` field. A bad key does not hide good certificates: the bundle
//! keeps the key's own error so a diagnosis can report both.

use crate::cert::Certificate;
use crate::error::{PkiError, Result};
use crate::key::PrivateKey;
use crate::pem::Block;

/// The contents of one certificate/key file.
#[derive(Debug)]
pub struct Bundle {
    /// Every certificate, in file order (the leaf first in kubelet's files).
    pub certificates: Vec<Certificate>,
    /// The first private key, if the file has one: loaded, or why it could not be.
    pub key: Option<Result<PrivateKey>>,
    /// Labels of PEM blocks that are neither certificates nor keys.
    pub other_blocks: Vec<String>,
}

/// Loads a bundle from raw bytes (PEM or DER).
pub fn load_bundle(input: &[u8]) -> Result<Bundle> {
    bundle_from_blocks(crate::pem::decode_blocks(input)?)
}

/// Loads a bundle from a kubeconfig `*-data` base64 value.
pub fn load_bundle_base64(value: &str) -> Result<Bundle> {
    bundle_from_blocks(crate::pem::decode_base64_field(value)?)
}

fn bundle_from_blocks(blocks: Vec<Block>) -> Result<Bundle> {
    let mut b = Bundle { certificates: Vec::new(), key: None, other_blocks: Vec::new() };
    for block in blocks {
        match block {
            Block::Certificate(der) => b.certificates.push(Certificate::from_der(&der)?),
            Block::PrivateKey { label, der, legacy_encrypted } => {
                let key = PrivateKey::from_block(&label, &der, legacy_encrypted);
                // Raw DER that is neither a certificate nor a key is simply not ours.
                if label == "DER" {
                    return key.map(|k| Bundle { certificates: vec![], key: Some(Ok(k)), other_blocks: vec![] });
                }
                if b.key.is_none() {
                    b.key = Some(key);
                }
            }
            Block::CertificateRequest(_) => b.other_blocks.push("CERTIFICATE REQUEST".into()),
            Block::Other(label) => b.other_blocks.push(label),
        }
    }
    if b.certificates.is_empty() && b.key.is_none() {
        return Err(if b.other_blocks.is_empty() {
            PkiError::NotPemOrDer
        } else {
            PkiError::BadPem(format!("no certificate or private key, only {}", b.other_blocks.join(", ")))
        });
    }
    Ok(b)
}

/// Loads every certificate in `input`; an input with none is an error.
pub fn load_certificates(input: &[u8]) -> Result<Vec<Certificate>> {
    let b = load_bundle(input)?;
    if b.certificates.is_empty() {
        return Err(PkiError::BadCertificate("no CERTIFICATE block in the input".into()));
    }
    Ok(b.certificates)
}
