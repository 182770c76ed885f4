//! Private keys: loading every format kubeadm, kubelet, openssl and cfssl write (PKCS#8, PKCS#1 RSA,
//! SEC1 EC), refusing encrypted or unsupported ones with a clear reason, generating new ones, and
//! matching a key to a certificate. Key bytes are zeroized on drop and never printed.

use crate::cert::{key_info, Certificate, KeyInfo};
use crate::error::{PkiError, Result};
use crate::pem::Block;
use rcgen::{KeyPair, PublicKeyData};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use x509_parser::prelude::FromDer;
use zeroize::Zeroizing;

/// The kinds of key kubecert can generate (`--key-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    /// ECDSA on P-256: what the kubelet itself generates.
    #[default]
    EcdsaP256,
    /// ECDSA on P-384.
    EcdsaP384,
    /// Ed25519 (the API server accepts it; older kubelets may not).
    Ed25519,
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
}

impl KeyType {
    /// Every key type with its command-line name.
    pub const ALL: [(KeyType, &'static str); 6] = [
        (KeyType::EcdsaP256, "ecdsa-p256"),
        (KeyType::EcdsaP384, "ecdsa-p384"),
        (KeyType::Ed25519, "ed25519"),
        (KeyType::Rsa2048, "rsa2048"),
        (KeyType::Rsa3072, "rsa3072"),
        (KeyType::Rsa4096, "rsa4096"),
    ];

    /// True for RSA keys, whose kubelet CSRs also ask for `key encipherment`.
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096)
    }
}

/// A key type name that is not one of [`KeyType::ALL`] (e.g. a mistyped `--key-type`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key type {name:?}; one of {}", KeyType::ALL.map(|(_, n)| n).join(", "))]
pub struct UnknownKeyType {
    /// The name given.
    pub name: String,
}

impl std::str::FromStr for KeyType {
    type Err = UnknownKeyType;
    fn from_str(s: &str) -> std::result::Result<Self, UnknownKeyType> {
        KeyType::ALL.iter().find(|(_, n)| *n == s).map(|(k, _)| *k).ok_or_else(|| UnknownKeyType { name: s.to_string() })
    }
}

/// A private key that kubecert can use for signing and matching.
pub struct PrivateKey {
    /// PKCS#8 DER (normalised at load time so every key serialises the same way).
    pkcs8: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
    info: KeyInfo,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({}, <redacted>)", self.info)
    }
}

impl PrivateKey {
    /// Loads a key from a decoded block. `label` is the PEM label (or `DER` for raw DER).
    pub(crate) fn from_block(label: &str, der: &[u8], legacy_encrypted: bool) -> Result<Self> {
        if legacy_encrypted || label == "ENCRYPTED PRIVATE KEY" {
            return Err(PkiError::EncryptedKey);
        }
        let candidates: Vec<PrivateKeyDer<'_>> = match label {
            "PRIVATE KEY" => vec![PrivatePkcs8KeyDer::from(der).into()],
            "RSA PRIVATE KEY" => vec![PrivatePkcs1KeyDer::from(der).into()],
            "EC PRIVATE KEY" => vec![PrivateSec1KeyDer::from(der).into()],
            "DER" => vec![
                PrivatePkcs8KeyDer::from(der).into(),
                PrivateSec1KeyDer::from(der).into(),
                PrivatePkcs1KeyDer::from(der).into(),
            ],
            other => return Err(PkiError::UnsupportedKey(format!("PEM label {other:?}"))),
        };
        for c in &candidates {
            if let Ok(kp) = KeyPair::try_from(c) {
                return Ok(Self::from_key_pair(&kp));
            }
        }
        if (label == "PRIVATE KEY" || label == "DER")
            && let Some(alg) = pkcs8_algorithm(der) {
                return Err(PkiError::UnsupportedKey(alg));
            }
        if label == "DER" {
            return Err(PkiError::NotPemOrDer);
        }
        Err(PkiError::BadKey { label: label.to_string() })
    }

    fn from_key_pair(kp: &KeyPair) -> Self {
        let spki = kp.subject_public_key_info();
        let info = x509_parser::x509::SubjectPublicKeyInfo::from_der(&spki)
            .map(|(_, s)| key_info(&s))
            .unwrap_or(KeyInfo { algorithm: "unknown".into(), bits: 0, curve: None });
        PrivateKey { pkcs8: Zeroizing::new(kp.serialize_der()), spki, info }
    }

    /// Generates a fresh key from the operating system's CSPRNG (through aws-lc).
    pub fn generate(kind: KeyType) -> Result<Self> {
        use rcgen::{RsaKeySize, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256};
        let kp = match kind {
            KeyType::EcdsaP256 => KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256),
            KeyType::EcdsaP384 => KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384),
            KeyType::Ed25519 => KeyPair::generate_for(&PKCS_ED25519),
            KeyType::Rsa2048 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048),
            KeyType::Rsa3072 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_3072),
            KeyType::Rsa4096 => KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_4096),
        }
        .map_err(|e| PkiError::Crypto(e.to_string()))?;
        Ok(Self::from_key_pair(&kp))
    }

    /// Algorithm and size.
    pub fn info(&self) -> &KeyInfo {
        &self.info
    }

    /// True for RSA keys.
    pub fn is_rsa(&self) -> bool {
        self.info.algorithm == "RSA"
    }

    /// The DER SubjectPublicKeyInfo of the public half.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Does this key belong to `cert`?
    pub fn matches(&self, cert: &Certificate) -> bool {
        cert.spki_der() == self.spki
    }

    /// The key as a PKCS#8 PEM block (`BEGIN PRIVATE KEY`), in a buffer zeroized on drop.
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::pem::encode("PRIVATE KEY", &self.pkcs8))
    }

    /// The key PEM-encoded the way kubeadm writes its files (Go's `keyutil.MarshalPrivateKeyToPEM`):
    /// PKCS#1 `RSA PRIVATE KEY` for RSA keys; PKCS#8 for the others (which every component reads).
    pub fn to_pem_like_kubeadm(&self) -> Zeroizing<String> {
        if self.is_rsa()
            && let Some(pkcs1) = pkcs8_inner_key(&self.pkcs8)
        {
            return Zeroizing::new(crate::pem::encode("RSA PRIVATE KEY", &pkcs1));
        }
        self.to_pem()
    }

    /// The rcgen key pair, for signing.
    pub(crate) fn key_pair(&self) -> Result<KeyPair> {
        KeyPair::try_from(self.pkcs8.as_slice()).map_err(|e| PkiError::Crypto(e.to_string()))
    }
}

/// Loads the first private key in `input` (PEM or DER).
pub fn load_private_key(input: &[u8]) -> Result<PrivateKey> {
    let blocks = crate::pem::decode_blocks(input)?;
    for b in &blocks {
        if let Block::PrivateKey { label, der, legacy_encrypted } = b {
            return PrivateKey::from_block(label, der, *legacy_encrypted);
        }
    }
    Err(PkiError::BadKey { label: "no PRIVATE KEY block in the input".into() })
}

/// Names the algorithm of a PKCS#8 key that could not be loaded, e.g. `ML-DSA-65 (2.16.840.1.101.3.4.3.18)`.
fn pkcs8_algorithm(der: &[u8]) -> Option<String> {
    use x509_parser::der_parser::der::parse_der_sequence_defined_g;
    use x509_parser::der_parser::der::parse_der_integer;
    use x509_parser::x509::AlgorithmIdentifier;
    let (_, oid) = parse_der_sequence_defined_g(|i, _| {
        let (i, _version) = parse_der_integer(i)?;
        let (i, alg) = AlgorithmIdentifier::from_der(i).map_err(|_| {
            x509_parser::nom::Err::Error(x509_parser::der_parser::error::BerError::InvalidTag)
        })?;
        Ok((i, alg.algorithm.to_id_string()))
    })(der)
    .ok()?;
    let name = match oid.as_str() {
        "2.16.840.1.101.3.4.3.17" => "ML-DSA-44",
        "2.16.840.1.101.3.4.3.18" => "ML-DSA-65",
        "2.16.840.1.101.3.4.3.19" => "ML-DSA-87",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.111" => "X448",
        "1.3.101.110" => "X25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10045.2.1" => "ECDSA on an unsupported curve",
        _ => "unknown algorithm",
    };
    Some(format!("{name} ({oid})"))
}

/// The DER SubjectPublicKeyInfo of the first `PUBLIC KEY` PEM block (e.g. kubeadm's `sa.pub`),
/// checked to parse; compare it with [`PrivateKey::spki_der`].
pub fn load_public_key(input: &[u8]) -> Result<Vec<u8>> {
    let blocks = ::pem::parse_many(input).map_err(|e| PkiError::BadPem(e.to_string()))?;
    let block = blocks.into_iter().find(|b| b.tag() == "PUBLIC KEY").ok_or_else(|| PkiError::BadKey { label: "no PUBLIC KEY block in the input".into() })?;
    let der = block.into_contents();
    x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).map_err(|_| PkiError::BadKey { label: "PUBLIC KEY".into() })?;
    Ok(der)
}

/// The `privateKey` OCTET STRING of a PKCS#8 PrivateKeyInfo (for RSA: the PKCS#1 RSAPrivateKey).
fn pkcs8_inner_key(der: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    use x509_parser::der_parser::der::{parse_der_integer, parse_der_octetstring, parse_der_sequence_defined_g};
    use x509_parser::x509::AlgorithmIdentifier;
    let (_, inner) = parse_der_sequence_defined_g(|i, _| {
        let (i, _version) = parse_der_integer(i)?;
        let (i, _alg) = AlgorithmIdentifier::from_der(i).map_err(|_| x509_parser::nom::Err::Error(x509_parser::der_parser::error::BerError::InvalidTag))?;
        let (i, key) = parse_der_octetstring(i)?;
        let bytes = key.as_slice().map_err(x509_parser::nom::Err::Error)?.to_vec();
        Ok((i, Zeroizing::new(bytes)))
    })(der)
    .ok()?;
    Some(inner)
}
