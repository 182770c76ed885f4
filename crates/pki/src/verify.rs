//! Does a certificate chain to a CA? Two checks with different jobs: [`verify_signed_by`] is the
//! diagnostic one (issuer name, then the real signature, each failure named), and
//! [`verify_for_tls`] asks rustls-webpki whether a TLS peer would accept the certificate for a
//! given purpose at a given time — what the API server or a kubelet will actually do.

use crate::cert::Certificate;
use rustls_pki_types::{CertificateDer, UnixTime};
use serde::Serialize;
use std::time::Duration;
use time::OffsetDateTime;

/// Why a certificate does not verify against a CA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum VerifyFailure {
    /// The certificate's issuer name is not the CA's subject: it comes from another CA.
    #[error("issued by {issuer:?}, not by this CA ({ca_subject:?})")]
    IssuerMismatch {
        /// The certificate's issuer.
        issuer: String,
        /// The CA's subject.
        ca_subject: String,
    },
    /// The names match but the signature does not verify with the CA's key (a CA with the same name
    /// but a new key, e.g. after a CA rotation).
    #[error("the issuer name matches but the signature does not verify with this CA's key (a different CA with the same name?)")]
    BadSignature,
    /// The CA certificate is not a CA.
    #[error("the issuing certificate is not a CA (basicConstraints CA:FALSE or absent)")]
    NotACa,
    /// rustls-webpki refused the chain for TLS use (wrong usage, v1 certificate, expired, ...).
    #[error("a TLS peer would refuse it: {0}")]
    Tls(String),
}

/// Checks that `ca` issued `leaf`: issuer name, then the signature over the TBS bytes.
pub fn verify_signed_by(leaf: &Certificate, ca: &Certificate) -> Result<(), VerifyFailure> {
    let l = leaf.parsed();
    let c = ca.parsed();
    if l.issuer().as_raw() != c.subject().as_raw() {
        return Err(VerifyFailure::IssuerMismatch { issuer: leaf.info().issuer.clone(), ca_subject: ca.info().subject.clone() });
    }
    l.verify_signature(Some(c.public_key())).map_err(|_| VerifyFailure::BadSignature)?;
    if !ca.info().is_ca && !ca.info().self_issued {
        return Err(VerifyFailure::NotACa);
    }
    Ok(())
}

/// What a TLS peer checks the certificate for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsUsage {
    /// A client certificate (kubelet → API server).
    ClientAuth,
    /// A serving certificate (API server → kubelet, or kubelet's own port).
    ServerAuth,
}

/// Verifies `leaf` against `ca` as rustls would at time `at`, for `usage`.
pub fn verify_for_tls(leaf: &Certificate, ca: &Certificate, usage: TlsUsage, at: OffsetDateTime) -> Result<(), VerifyFailure> {
    let ca_der = CertificateDer::from(ca.der());
    let anchor = webpki::anchor_from_trusted_cert(&ca_der).map_err(|e| VerifyFailure::Tls(format!("CA: {e}")))?;
    let leaf_der = CertificateDer::from(leaf.der());
    let ee = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| VerifyFailure::Tls(e.to_string()))?;
    let secs = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    let ku = match usage {
        TlsUsage::ClientAuth => webpki::KeyUsage::client_auth(),
        TlsUsage::ServerAuth => webpki::KeyUsage::server_auth(),
    };
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[anchor],
        &[],
        UnixTime::since_unix_epoch(Duration::from_secs(secs)),
        ku,
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| VerifyFailure::Tls(e.to_string()))
}
