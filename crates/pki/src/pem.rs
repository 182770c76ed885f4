//! Splitting input bytes into certificates and keys, whatever the container: a PEM bundle
//! (kubelet's `kubelet-client-<stamp>.pem` holds the certificate then the key), a single DER
//! certificate or key, or the base64 `*-data` value of a kubeconfig.

use crate::error::{PkiError, Result};
use base64::Engine as _;

/// One decoded block of input, classified by what it claims to be.
#[derive(Debug, Clone)]
pub enum Block {
    /// A DER-encoded X.509 certificate.
    Certificate(Vec<u8>),
    /// A private key with the PEM label it came with (`PRIVATE KEY`, `RSA PRIVATE KEY`,
    /// `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`) or `DER` when it came as raw DER.
    PrivateKey {
        /// The PEM label, or `DER`.
        label: String,
        /// The DER bytes.
        der: zeroize::Zeroizing<Vec<u8>>,
        /// True when the PEM headers say `Proc-Type: 4,ENCRYPTED` (legacy OpenSSL encryption).
        legacy_encrypted: bool,
    },
    /// A PKCS#10 certificate signing request.
    CertificateRequest(Vec<u8>),
    /// Anything else (`PUBLIC KEY`, `EC PARAMETERS`, ...), kept by label so callers can say what it was.
    Other(String),
}

/// Splits `input` into blocks. PEM is tried first; input with no PEM marker is taken as DER.
pub fn decode_blocks(input: &[u8]) -> Result<Vec<Block>> {
    if contains(input, b"-----BEGIN ") {
        if !contains(input, b"-----END ") {
            return Err(PkiError::BadPem("a BEGIN line has no matching END line (truncated file?)".into()));
        }
        let pems = pem::parse_many(input).map_err(|e| PkiError::BadPem(e.to_string()))?;
        if pems.is_empty() {
            return Err(PkiError::BadPem("PEM markers found but no complete block".into()));
        }
        return Ok(pems.into_iter().map(classify).collect());
    }
    if input.first() == Some(&0x30) {
        return Ok(vec![classify_der(input)]);
    }
    Err(PkiError::NotPemOrDer)
}

/// Decodes the base64 value of a kubeconfig `*-data` field, then splits it like [`decode_blocks`].
pub(crate) fn decode_base64_field(value: &str) -> Result<Vec<Block>> {
    let cleaned: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|e| PkiError::BadPem(format!("the base64 data field does not decode: {e}")))?;
    decode_blocks(&bytes)
}

fn classify(p: pem::Pem) -> Block {
    let legacy_encrypted = p.headers().get("Proc-Type").is_some_and(|v| v.contains("ENCRYPTED"));
    let tag = p.tag().to_string();
    match tag.as_str() {
        "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => Block::Certificate(p.into_contents()),
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Block::CertificateRequest(p.into_contents()),
        t if t.ends_with("PRIVATE KEY") => Block::PrivateKey {
            label: tag.clone(),
            der: zeroize::Zeroizing::new(p.into_contents()),
            legacy_encrypted,
        },
        _ => Block::Other(tag),
    }
}

/// A lone DER blob: a certificate parses as X.509; anything else that is a SEQUENCE is offered as a key.
fn classify_der(input: &[u8]) -> Block {
    if x509_parser::parse_x509_certificate(input).is_ok() {
        Block::Certificate(input.to_vec())
    } else if <x509_parser::certification_request::X509CertificationRequest as x509_parser::prelude::FromDer<_>>::from_der(input).is_ok() {
        Block::CertificateRequest(input.to_vec())
    } else {
        Block::PrivateKey { label: "DER".into(), der: zeroize::Zeroizing::new(input.to_vec()), legacy_encrypted: false }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Encodes DER bytes as one PEM block with `label`.
pub fn encode(label: &str, der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new(label, der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_pem_is_an_error_not_a_panic() {
        let err = decode_blocks(b"-----BEGIN CERTIFICATE-----\nMIIB").unwrap_err();
        assert!(matches!(err, PkiError::BadPem(_)), "{err}");
    }

    #[test]
    fn empty_input_is_not_pem_or_der() {
        assert!(matches!(decode_blocks(b"").unwrap_err(), PkiError::NotPemOrDer));
        assert!(matches!(decode_blocks(b"hello").unwrap_err(), PkiError::NotPemOrDer));
    }
}
