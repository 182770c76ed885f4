//! Re-issuing an existing certificate the way `kubeadm certs renew` does (renewal.certToConfig +
//! pkiutil.NewSignedCert, Kubernetes v1.37.2): the old certificate's CN, O, DNS and IP SANs and
//! extended key usages are copied; key usage is always digital signature + key encipherment;
//! basicConstraints CA:FALSE; signed by the CA for a new key over an explicit validity window.

use crate::cert::Certificate;
use crate::error::{PkiError, Result};
use crate::key::{KeyType, PrivateKey};
use crate::sign::CertificateAuthority;
use rcgen::{CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyUsagePurpose};
use time::OffsetDateTime;

/// The key type of a certificate's public key, when kubecert can generate one like it.
pub fn key_type_of(cert: &Certificate) -> Option<KeyType> {
    let k = &cert.info().key;
    match (k.algorithm.as_str(), k.bits, k.curve.as_deref()) {
        ("RSA", 2048, _) => Some(KeyType::Rsa2048),
        ("RSA", 3072, _) => Some(KeyType::Rsa3072),
        ("RSA", 4096, _) => Some(KeyType::Rsa4096),
        ("ECDSA", _, Some("P-256")) => Some(KeyType::EcdsaP256),
        ("ECDSA", _, Some("P-384")) => Some(KeyType::EcdsaP384),
        ("Ed25519", _, _) => Some(KeyType::Ed25519),
        _ => None,
    }
}

/// Issues a certificate shaped like `old` (kubeadm's renewal) for `new_key`, valid from
/// `not_before` to `not_after`. Refuses templates kubeadm could not have made: no CN, more than
/// one O (kubeadm never writes two), no extended key usage.
pub fn renew_like(ca: &CertificateAuthority, old: &Certificate, new_key: &PrivateKey, not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Certificate> {
    let i = old.info();
    let cn = match i.common_names.as_slice() {
        [cn] if !cn.is_empty() => cn,
        _ => return Err(PkiError::Refused(format!("{:?} has not exactly one CN; kubeadm's certificates have one", i.subject))),
    };
    if i.organizations.len() > 1 {
        return Err(PkiError::Refused(format!("{:?} has {} O values; kubecert renews certificates with one at most", i.subject, i.organizations.len())));
    }
    if i.extended_key_usages.is_empty() {
        return Err(PkiError::Refused(format!("{:?} has no extended key usage (kubeadm requires at least one)", i.subject)));
    }
    if not_after <= not_before {
        return Err(PkiError::Refused(format!("validity window {not_before} .. {not_after} is empty")));
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    if let Some(o) = i.organizations.first() {
        params.distinguished_name.push(DnType::OrganizationName, o.as_str());
    }
    params.distinguished_name.push(DnType::CommonName, cn.as_str());
    params.not_before = not_before;
    params.not_after = not_after;
    params.serial_number = Some(crate::sign::random_serial()?);
    // kubeadm's RemoveDuplicateAltNames: each name once, first occurrence kept.
    let mut dns = Vec::new();
    for d in &i.dns_names {
        if !dns.contains(d) {
            dns.push(d.clone());
        }
    }
    let mut ips = Vec::new();
    for a in &i.ip_addresses {
        if !ips.contains(a) {
            ips.push(*a);
        }
    }
    params.subject_alt_names = crate::csr::sans(&dns, &ips)?;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = i.extended_key_usages.iter().map(|e| eku(e)).collect::<Result<_>>()?;
    params.use_authority_key_identifier_extension = true;
    let spki = rcgen::SubjectPublicKeyInfo::from_der(new_key.spki_der()).map_err(|e| PkiError::Crypto(e.to_string()))?;
    let issuer = Issuer::from_ca_cert_der(&ca.certificate().der().into(), ca.key().key_pair()?).map_err(|e| PkiError::BadCa(e.to_string()))?;
    let cert = params.signed_by(&spki, &issuer).map_err(|e| PkiError::Crypto(e.to_string()))?;
    Certificate::from_der(cert.der())
}

/// An extended key usage by the name [`crate::CertInfo`] gives it (or its dotted OID).
fn eku(name: &str) -> Result<ExtendedKeyUsagePurpose> {
    Ok(match name {
        "any" => ExtendedKeyUsagePurpose::Any,
        "serverAuth" => ExtendedKeyUsagePurpose::ServerAuth,
        "clientAuth" => ExtendedKeyUsagePurpose::ClientAuth,
        "codeSigning" => ExtendedKeyUsagePurpose::CodeSigning,
        "emailProtection" => ExtendedKeyUsagePurpose::EmailProtection,
        "timeStamping" => ExtendedKeyUsagePurpose::TimeStamping,
        "ocspSigning" => ExtendedKeyUsagePurpose::OcspSigning,
        oid => ExtendedKeyUsagePurpose::Other(
            oid.split('.').map(|p| p.parse::<u64>().map_err(|_| PkiError::Refused(format!("extended key usage {oid:?} is not an OID")))).collect::<Result<_>>()?,
        ),
    })
}
