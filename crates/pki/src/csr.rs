//! PKCS#10 certificate signing requests: building a kubelet-style request for a key, and reading
//! one made elsewhere (subject, SANs, public key, self-signature) before anything signs it.

use crate::error::{PkiError, Result};
use crate::key::PrivateKey;
use crate::pem::Block;
use rcgen::{CertificateParams, DistinguishedName, DnType, SanType};
use serde::Serialize;
use std::net::IpAddr;
use x509_parser::prelude::*;

/// A subject and SANs to request.
#[derive(Debug, Clone, Default)]
pub struct RequestSubject {
    /// The CN.
    pub common_name: String,
    /// The O (at most one: see [`build_csr`]).
    pub organization: Option<String>,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ip_addresses: Vec<IpAddr>,
}

/// Builds a PEM CSR for `subject`, signed by `key`. The subject is written O then CN, as the
/// kubelet writes it.
pub fn build_csr(key: &PrivateKey, subject: &RequestSubject) -> Result<String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    if let Some(o) = &subject.organization {
        params.distinguished_name.push(DnType::OrganizationName, o.as_str());
    }
    params.distinguished_name.push(DnType::CommonName, subject.common_name.as_str());
    params.subject_alt_names = sans(&subject.dns_names, &subject.ip_addresses)?;
    let kp = key.key_pair()?;
    let csr = params.serialize_request(&kp).map_err(|e| PkiError::Crypto(e.to_string()))?;
    csr.pem().map_err(|e| PkiError::Crypto(e.to_string()))
}

pub(crate) fn sans(dns: &[String], ips: &[IpAddr]) -> Result<Vec<SanType>> {
    let mut out = Vec::new();
    for d in dns {
        out.push(SanType::DnsName(d.clone().try_into().map_err(|_| PkiError::Refused(format!("{d:?} is not a valid DNS name")))?));
    }
    out.extend(ips.iter().copied().map(SanType::IpAddress));
    Ok(out)
}

/// What a CSR asks for.
#[derive(Debug, Clone, Serialize)]
pub struct CsrInfo {
    /// The subject as text.
    pub subject: String,
    /// Every CN (more than one is refused by the signer).
    pub common_names: Vec<String>,
    /// Every O (more than one is refused: rcgen would silently keep only the last).
    pub organizations: Vec<String>,
    /// Requested DNS SANs.
    pub dns_names: Vec<String>,
    /// Requested IP SANs.
    pub ip_addresses: Vec<IpAddr>,
    /// Requested email/URI SANs (kubelet never asks for these).
    pub other_names: Vec<String>,
    /// The DER SubjectPublicKeyInfo.
    #[serde(skip)]
    pub spki_der: Vec<u8>,
    /// True when the public key is RSA (kubelet then also asks for key encipherment).
    pub rsa: bool,
    /// The DER of the request.
    #[serde(skip)]
    pub der: Vec<u8>,
}

/// Reads the first CSR in `input` (PEM or DER) and checks its self-signature.
pub fn parse_csr(input: &[u8]) -> Result<CsrInfo> {
    let der = crate::pem::decode_blocks(input)
        .map_err(|e| PkiError::BadCsr(e.to_string()))?
        .into_iter()
        .find_map(|b| match b {
            Block::CertificateRequest(d) => Some(d),
            _ => None,
        })
        .ok_or_else(|| PkiError::BadCsr("no CERTIFICATE REQUEST block".into()))?;
    let (_, req) = X509CertificationRequest::from_der(&der).map_err(|e| PkiError::BadCsr(e.to_string()))?;
    req.verify_signature().map_err(|_| PkiError::BadCsr("its self-signature does not verify".into()))?;
    let info = &req.certification_request_info;
    let text = |it: &mut dyn Iterator<Item = &AttributeTypeAndValue<'_>>| -> Vec<String> {
        it.map(|a| a.as_str().map(str::to_string).unwrap_or_default()).collect()
    };
    let (mut dns_names, mut ip_addresses, mut other_names) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(exts) = req.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for n in &san.general_names {
                    match n {
                        GeneralName::DNSName(d) => dns_names.push(d.to_string()),
                        GeneralName::IPAddress(b) if b.len() == 4 => ip_addresses.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
                        GeneralName::IPAddress(b) if b.len() == 16 => ip_addresses.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap())),
                        other => other_names.push(other.to_string()),
                    }
                }
            }
        }
    }
    let spki = &info.subject_pki;
    Ok(CsrInfo {
        subject: info.subject.to_string(),
        common_names: text(&mut info.subject.iter_common_name()),
        organizations: text(&mut info.subject.iter_organization()),
        dns_names,
        ip_addresses,
        other_names,
        rsa: spki.algorithm.algorithm == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION,
        spki_der: spki.raw.to_vec(),
        der: der.clone(),
    })
}

impl CsrInfo {
    /// Says why this CSR is not a kubelet node identity request (`CN=system:node:<name>`,
    /// exactly one `O=system:nodes`, one CN), or returns the node name.
    pub fn node_name(&self) -> Result<&str> {
        if self.common_names.len() != 1 {
            return Err(PkiError::Refused(format!("the CSR has {} CNs; a node identity has exactly one", self.common_names.len())));
        }
        if self.organizations.len() > 1 {
            return Err(PkiError::Refused(format!(
                "the CSR repeats O= ({}); kubecert refuses repeated subject fields rather than silently drop a group",
                self.organizations.join(", ")
            )));
        }
        if self.organizations.first().map(String::as_str) != Some(crate::identity::NODES_GROUP) {
            return Err(PkiError::Refused(format!("the CSR's subject {:?} does not have O=system:nodes", self.subject)));
        }
        crate::identity::node_name_from_common_name(&self.common_names[0])
            .ok_or_else(|| PkiError::Refused(format!("CN {:?} is not a node identity (system:node:<name>)", self.common_names[0])))
    }
}
