//! Inspecting one X.509 certificate: the facts a node's diagnosis needs, pulled out once into an
//! owned, serialisable [`CertInfo`] so that callers never touch ASN.1.

use crate::error::{PkiError, Result};
use serde::Serialize;
use std::net::IpAddr;
use ::time::OffsetDateTime;
use x509_parser::prelude::*;

/// A parsed certificate: its DER and the facts read from it.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    info: CertInfo,
}

/// The public key inside a certificate or key: algorithm and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// `RSA`, `ECDSA`, `Ed25519`, or the algorithm's OID when unknown.
    pub algorithm: String,
    /// Size in bits (RSA modulus, EC curve size; 256 for Ed25519).
    pub bits: usize,
    /// The curve name for ECDSA keys (`P-256`, `P-384`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
}

impl std::fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.curve {
            Some(c) => write!(f, "{} {}", self.algorithm, c),
            None if self.algorithm == "Ed25519" => f.write_str("Ed25519"),
            None => write!(f, "{} {}", self.algorithm, self.bits),
        }
    }
}

/// Everything kubecert reads from a certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertInfo {
    /// The subject as text, e.g. `O=system:nodes, CN=system:node:worker1`.
    pub subject: String,
    /// Every CN in the subject, in order (normally one).
    pub common_names: Vec<String>,
    /// Every O in the subject, in order (Kubernetes groups).
    pub organizations: Vec<String>,
    /// The issuer as text.
    pub issuer: String,
    /// The issuer's CN, if any.
    pub issuer_common_name: Option<String>,
    /// Serial number in lowercase hex with colons.
    pub serial: String,
    /// Start of validity.
    #[serde(with = "::time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "::time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The certificate's public key.
    pub key: KeyInfo,
    /// Extended key usages by name (`clientAuth`, `serverAuth`, or an OID).
    pub extended_key_usages: Vec<String>,
    /// Key usages by name (`digitalSignature`, `keyEncipherment`, `keyCertSign`, ...).
    pub key_usages: Vec<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// IP subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// basicConstraints CA flag (false when the extension is absent).
    pub is_ca: bool,
    /// X.509 version (1 or 3). rustls and Go refuse v1 client certificates.
    pub version: u32,
    /// True when subject and issuer are the same name (self-issued, e.g. a CA or kubelet's own serving cert).
    pub self_issued: bool,
    /// The SHA-256 pin of the public key, kubeadm's `sha256:<hex>` format.
    pub public_key_pin: String,
}

impl Certificate {
    /// Parses a DER certificate. Trailing bytes after the certificate are an error.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (rest, x509) = parse_x509_certificate(der).map_err(|e| PkiError::BadCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(PkiError::BadCertificate(format!("{} unexpected bytes after the certificate", rest.len())));
        }
        let info = inspect(&x509)?;
        Ok(Certificate { der: der.to_vec(), info })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as one PEM block.
    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.der)
    }

    /// The facts read from the certificate.
    pub fn info(&self) -> &CertInfo {
        &self.info
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.parsed().public_key().raw.to_vec()
    }

    /// Re-parses the stored DER (it parsed once already, so this cannot fail).
    pub(crate) fn parsed(&self) -> X509Certificate<'_> {
        parse_x509_certificate(&self.der).expect("DER was validated at construction").1
    }

    /// Is `at` inside the validity window?
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.info.not_before <= at && at <= self.info.not_after
    }

    /// Fraction of the lifetime elapsed at `at` (0.0 at NotBefore, 1.0 at NotAfter).
    pub fn life_used(&self, at: OffsetDateTime) -> f64 {
        let total = (self.info.not_after - self.info.not_before).as_seconds_f64();
        if total <= 0.0 {
            return 1.0;
        }
        (at - self.info.not_before).as_seconds_f64() / total
    }
}

fn inspect(x: &X509Certificate<'_>) -> Result<CertInfo> {
    let bad = |e: X509Error| PkiError::BadCertificate(e.to_string());
    let mut ekus = Vec::new();
    if let Some(eku) = x.extended_key_usage().map_err(bad)? {
        let e = eku.value;
        for (set, name) in [
            (e.any, "any"),
            (e.server_auth, "serverAuth"),
            (e.client_auth, "clientAuth"),
            (e.code_signing, "codeSigning"),
            (e.email_protection, "emailProtection"),
            (e.time_stamping, "timeStamping"),
            (e.ocsp_signing, "ocspSigning"),
        ] {
            if set {
                ekus.push(name.to_string());
            }
        }
        ekus.extend(e.other.iter().map(|o| o.to_id_string()));
    }
    let mut key_usages = Vec::new();
    if let Some(ku) = x.key_usage().map_err(bad)? {
        let k = ku.value;
        for (set, name) in [
            (k.digital_signature(), "digitalSignature"),
            (k.non_repudiation(), "contentCommitment"),
            (k.key_encipherment(), "keyEncipherment"),
            (k.data_encipherment(), "dataEncipherment"),
            (k.key_agreement(), "keyAgreement"),
            (k.key_cert_sign(), "keyCertSign"),
            (k.crl_sign(), "cRLSign"),
        ] {
            if set {
                key_usages.push(name.to_string());
            }
        }
    }
    let (mut dns_names, mut ip_addresses) = (Vec::new(), Vec::new());
    if let Some(san) = x.subject_alternative_name().map_err(bad)? {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    if let Some(ip) = ip_from_bytes(b) {
                        ip_addresses.push(ip);
                    }
                }
                _ => {}
            }
        }
    }
    let is_ca = x.basic_constraints().map_err(bad)?.is_some_and(|b| b.value.ca);
    let strings = |it: &mut dyn Iterator<Item = &AttributeTypeAndValue<'_>>| -> Vec<String> {
        it.map(|a| a.as_str().map(str::to_string).unwrap_or_else(|_| "<non-text>".into())).collect()
    };
    let common_names = strings(&mut x.subject().iter_common_name());
    let organizations = strings(&mut x.subject().iter_organization());
    let issuer_common_name = strings(&mut x.issuer().iter_common_name()).into_iter().next();
    let spki = x.public_key();
    Ok(CertInfo {
        subject: x.subject().to_string(),
        common_names,
        organizations,
        issuer: x.issuer().to_string(),
        issuer_common_name,
        serial: x.raw_serial_as_string(),
        not_before: x.validity().not_before.to_datetime(),
        not_after: x.validity().not_after.to_datetime(),
        key: key_info(spki),
        extended_key_usages: ekus,
        key_usages,
        dns_names,
        ip_addresses,
        is_ca,
        version: x.version().0 + 1,
        self_issued: x.subject().as_raw() == x.issuer().as_raw(),
        public_key_pin: crate::pin::spki_pin(spki.raw),
    })
}

/// Describes a SubjectPublicKeyInfo: algorithm, size and curve.
pub(crate) fn key_info(spki: &SubjectPublicKeyInfo<'_>) -> KeyInfo {
    use x509_parser::oid_registry::*;
    let alg = &spki.algorithm.algorithm;
    if *alg == OID_PKCS1_RSAENCRYPTION {
        let bits = spki.parsed().map(|k| k.key_size()).unwrap_or(0);
        KeyInfo { algorithm: "RSA".into(), bits, curve: None }
    } else if *alg == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve_oid = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok());
        let (curve, bits) = match curve_oid {
            Some(c) if c == OID_EC_P256 => (Some("P-256".to_string()), 256),
            Some(c) if c == OID_NIST_EC_P384 => (Some("P-384".to_string()), 384),
            Some(c) if c == OID_NIST_EC_P521 => (Some("P-521".to_string()), 521),
            Some(c) => (Some(c.to_id_string()), spki.parsed().map(|k| k.key_size()).unwrap_or(0)),
            None => (None, 0),
        };
        KeyInfo { algorithm: "ECDSA".into(), bits, curve }
    } else if *alg == OID_SIG_ED25519 {
        KeyInfo { algorithm: "Ed25519".into(), bits: 256, curve: None }
    } else {
        KeyInfo { algorithm: alg.to_id_string(), bits: 0, curve: None }
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}
