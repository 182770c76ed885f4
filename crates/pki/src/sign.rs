//! Signing with an existing cluster CA: loading and checking the CA (pair matches, really a CA,
//! not expired), and issuing kubelet client and serving certificates shaped like the ones the
//! kube-controller-manager signer issues.

use crate::cert::Certificate;
use crate::error::{PkiError, Result};
use crate::key::PrivateKey;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyUsagePurpose, PublicKeyData,
    SerialNumber,
};
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

/// The kube-controller-manager signer backdates certificates by 5 minutes to absorb clock skew.
pub const BACKDATE: Duration = Duration::minutes(5);

/// A CA certificate with its private key, checked to be usable.
#[derive(Debug)]
pub struct CertificateAuthority {
    cert: Certificate,
    key: PrivateKey,
}

impl CertificateAuthority {
    /// Loads a CA from its certificate and key (PEM or DER) and checks, at time `now`, that the key
    /// belongs to the certificate, that the certificate is a CA allowed to sign certificates, and
    /// that it has not expired.
    pub fn load(cert_input: &[u8], key_input: &[u8], now: OffsetDateTime) -> Result<Self> {
        let cert = crate::load::load_certificates(cert_input)?
            .into_iter()
            .next()
            .ok_or_else(|| PkiError::BadCa("the CA file holds no certificate".into()))?;
        let key = crate::key::load_private_key(key_input)?;
        Self::new(cert, key, now)
    }

    /// Checks and wraps an already loaded pair (see [`CertificateAuthority::load`]).
    pub fn new(cert: Certificate, key: PrivateKey, now: OffsetDateTime) -> Result<Self> {
        let i = cert.info();
        if !key.matches(&cert) {
            return Err(PkiError::BadCa(format!("the CA key does not belong to the CA certificate {:?}", i.subject)));
        }
        if !i.is_ca {
            return Err(PkiError::BadCa(format!("{:?} is not a CA certificate (basicConstraints CA:TRUE is missing)", i.subject)));
        }
        if !i.key_usages.is_empty() && !i.key_usages.iter().any(|u| u == "keyCertSign") {
            return Err(PkiError::BadCa(format!("{:?} may not sign certificates (keyUsage lacks keyCertSign)", i.subject)));
        }
        if now > i.not_after {
            return Err(PkiError::BadCa(format!("the CA {:?} expired on {}", i.subject, i.not_after)));
        }
        if now < i.not_before {
            return Err(PkiError::BadCa(format!("the CA {:?} is not valid before {} (clock wrong?)", i.subject, i.not_before)));
        }
        Ok(CertificateAuthority { cert, key })
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The CA key (for signing inside this crate).
    pub(crate) fn key(&self) -> &PrivateKey {
        &self.key
    }
}

/// What to put in a leaf certificate.
#[derive(Debug, Clone)]
pub struct LeafProfile {
    /// The CN.
    pub common_name: String,
    /// The O (one at most: rcgen keeps one value per subject field, so more are refused).
    pub organization: Option<String>,
    /// Add EKU clientAuth.
    pub client_auth: bool,
    /// Add EKU serverAuth.
    pub server_auth: bool,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// Requested lifetime.
    pub valid_for: Duration,
}

/// A freshly signed certificate.
#[derive(Debug)]
pub struct SignedCertificate {
    /// The certificate.
    pub certificate: Certificate,
    /// Set when the requested lifetime went past the CA's own NotAfter and was cut to it.
    pub clamped_to_ca_expiry: Option<OffsetDateTime>,
}

/// Signs a certificate for `subject_key`'s public key (a key kubecert generated or loaded).
pub fn sign_for_key(ca: &CertificateAuthority, subject_key: &PrivateKey, profile: &LeafProfile, now: OffsetDateTime) -> Result<SignedCertificate> {
    let spki = rcgen::SubjectPublicKeyInfo::from_der(subject_key.spki_der()).map_err(|e| PkiError::Crypto(e.to_string()))?;
    sign_public_key(ca, &spki, subject_key.is_rsa(), profile, now)
}

/// Signs a certificate for the public key of a parsed CSR; the caller has checked its subject.
pub fn sign_for_csr(ca: &CertificateAuthority, csr: &crate::csr::CsrInfo, profile: &LeafProfile, now: OffsetDateTime) -> Result<SignedCertificate> {
    let spki = rcgen::SubjectPublicKeyInfo::from_der(&csr.spki_der).map_err(|e| PkiError::BadCsr(format!("its public key: {e}")))?;
    sign_public_key(ca, &spki, csr.rsa, profile, now)
}

fn sign_public_key(ca: &CertificateAuthority, public: &impl PublicKeyData, rsa: bool, p: &LeafProfile, now: OffsetDateTime) -> Result<SignedCertificate> {
    let ca_not_after = ca.cert.info().not_after;
    let wanted = now + p.valid_for;
    let (not_after, clamped) = if wanted > ca_not_after { (ca_not_after, Some(ca_not_after)) } else { (wanted, None) };
    let not_before = (now - BACKDATE).max(ca.cert.info().not_before);
    let certificate = issue(ca, public, rsa, p, not_before, not_after)?;
    Ok(SignedCertificate { certificate, clamped_to_ca_expiry: clamped })
}

/// Issues the certificate for an exact validity window.
fn issue(ca: &CertificateAuthority, public: &impl PublicKeyData, rsa: bool, p: &LeafProfile, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Certificate> {
    if p.common_name.is_empty() {
        return Err(PkiError::Refused("a certificate needs a CN".into()));
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    if let Some(o) = &p.organization {
        params.distinguished_name.push(DnType::OrganizationName, o.as_str());
    }
    params.distinguished_name.push(DnType::CommonName, p.common_name.as_str());
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.subject_alt_names = crate::csr::sans(&p.dns_names, &p.ip_addresses)?;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    // As the kube-controller-manager signer does for kubelet CSRs: digital signature, plus key
    // encipherment for RSA keys only.
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if rsa {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    if p.client_auth {
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    if p.server_auth {
        params.extended_key_usages.push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    params.use_authority_key_identifier_extension = true;
    let issuer = Issuer::from_ca_cert_der(&ca.cert.der().into(), ca.key.key_pair()?).map_err(|e| PkiError::BadCa(e.to_string()))?;
    let cert = params.signed_by(public, &issuer).map_err(|e| PkiError::Crypto(e.to_string()))?;
    Certificate::from_der(cert.der())
}

pub(crate) fn random_serial() -> Result<SerialNumber> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| PkiError::Crypto("the system random generator failed".into()))?;
    b[0] &= 0x7f;
    b[0] |= 0x01; // never a leading zero byte, so the DER integer keeps 16 bytes
    Ok(SerialNumber::from_slice(&b))
}

/// Makes a new self-signed CA (used by tests and by `kubecert` fixtures; real clusters bring their own).
pub fn self_signed_ca(key: &PrivateKey, common_name: &str, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Certificate> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(random_serial()?);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let kp = key.key_pair()?;
    let cert = params.self_signed(&kp).map_err(|e| PkiError::Crypto(e.to_string()))?;
    Certificate::from_der(cert.der())
}

/// Signs a leaf with an explicit validity window, e.g. to build expired or not-yet-valid fixtures.
pub fn sign_with_dates(ca: &CertificateAuthority, subject_key: &PrivateKey, p: &LeafProfile, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Certificate> {
    let spki = rcgen::SubjectPublicKeyInfo::from_der(subject_key.spki_der()).map_err(|e| PkiError::Crypto(e.to_string()))?;
    issue(ca, &spki, subject_key.is_rsa(), p, not_before, not_after)
}
