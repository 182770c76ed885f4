//! What a kubelet serves, judged: the leaf's expiry, issuer and SANs, and whether this cluster's
//! CA signed it, the kubelet signed it itself (its `<host>-ca@<time>` CA, or the leaf alone), or
//! some other CA did ("foreign": e.g. files copied from another cluster).

use kubecert_pki::{Certificate, verify_signed_by};
use serde::Serialize;
use time::OffsetDateTime;

/// Who signed the serving certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trust {
    /// A cluster CA signed it (e.g. through a `kubelet-serving` CSR).
    ClusterSigned,
    /// The kubelet made it itself (the leaf is self-issued, or signed by a self-issued CA it serves alongside).
    SelfSigned,
    /// Neither: a CA this cluster does not know.
    Foreign,
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Trust::ClusterSigned => "cluster-signed",
            Trust::SelfSigned => "self-signed",
            Trust::Foreign => "foreign",
        })
    }
}

/// The serving certificate as read from the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServedCert {
    /// Leaf subject.
    pub subject: String,
    /// Leaf issuer.
    pub issuer: String,
    /// Not before.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// Not after.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Seconds until not-after (negative once expired).
    pub expires_in_seconds: i64,
    /// Past not-after.
    pub expired: bool,
    /// DNS SANs.
    pub dns_names: Vec<String>,
    /// IP SANs.
    pub ip_addresses: Vec<std::net::IpAddr>,
    /// Who signed it.
    pub trust: Trust,
    /// Certificates in the served chain.
    pub chain_length: usize,
}

/// Why a served chain could not be judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the served certificate does not parse: {0}")]
pub(crate) struct ChainError(pub String);

/// Judges `chain` (DER, leaf first) against the cluster's CAs at `now`.
pub(crate) fn judge(chain: &[Vec<u8>], cluster_cas: &[Certificate], now: OffsetDateTime) -> Result<ServedCert, ChainError> {
    let leaf_der = chain.first().ok_or_else(|| ChainError("empty chain".into()))?;
    let leaf = Certificate::from_der(leaf_der).map_err(|e| ChainError(e.to_string()))?;
    let rest: Vec<Certificate> = chain[1..].iter().filter_map(|d| Certificate::from_der(d).ok()).collect();
    let info = leaf.info();
    let trust = if cluster_cas.iter().any(|ca| verify_signed_by(&leaf, ca).is_ok()) {
        Trust::ClusterSigned
    } else if info.self_issued || rest.iter().any(|ca| ca.info().self_issued && verify_signed_by(&leaf, ca).is_ok() && !cluster_cas.iter().any(|c| c.der() == ca.der())) {
        Trust::SelfSigned
    } else {
        Trust::Foreign
    };
    let left = info.not_after - now;
    Ok(ServedCert {
        subject: info.subject.clone(),
        issuer: info.issuer.clone(),
        not_before: info.not_before,
        not_after: info.not_after,
        expires_in_seconds: left.whole_seconds(),
        expired: left.is_negative(),
        dns_names: info.dns_names.clone(),
        ip_addresses: info.ip_addresses.clone(),
        trust,
        chain_length: chain.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecert_pki::{CertificateAuthority, KeyType, LeafProfile, PrivateKey, self_signed_ca, sign_with_dates};
    use time::Duration;

    fn ca(name: &str, now: OffsetDateTime) -> CertificateAuthority {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let cert = self_signed_ca(&key, name, now - Duration::days(1), now + Duration::days(3650)).unwrap();
        CertificateAuthority::new(cert, key, now).unwrap()
    }

    fn leaf(ca: &CertificateAuthority, nb: OffsetDateTime, na: OffsetDateTime) -> Vec<u8> {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let p = LeafProfile { common_name: "n1".into(), server_auth: true, dns_names: vec!["n1".into()], ip_addresses: vec!["127.0.0.1".parse().unwrap()], organization: None, client_auth: false, valid_for: Duration::days(1) };
        sign_with_dates(ca, &key, &p, nb, na).unwrap().der().to_vec()
    }

    #[test]
    fn cluster_self_and_foreign() {
        let now = OffsetDateTime::now_utc();
        let cluster = ca("kubernetes", now);
        let own = ca("n1-ca@1700000000", now);
        let other = ca("other-cluster", now);
        let cas = vec![cluster.certificate().clone()];
        let s = judge(&[leaf(&cluster, now - Duration::days(1), now + Duration::days(10))], &cas, now).unwrap();
        assert_eq!((s.trust, s.expired), (Trust::ClusterSigned, false));
        assert!(s.expires_in_seconds > 9 * 86400);
        let s = judge(&[leaf(&own, now - Duration::days(1), now + Duration::days(10)), own.certificate().der().to_vec()], &cas, now).unwrap();
        assert_eq!(s.trust, Trust::SelfSigned);
        // The same leaf without its CA: foreign (nothing shows who signed it).
        let s = judge(&[leaf(&other, now - Duration::days(10), now - Duration::days(1))], &cas, now).unwrap();
        assert_eq!((s.trust, s.expired), (Trust::Foreign, true));
        assert_eq!(s.ip_addresses, vec!["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
        let self_only = own.certificate().der().to_vec();
        assert_eq!(judge(&[self_only], &cas, now).unwrap().trust, Trust::SelfSigned);
        assert!(judge(&[b"junk".to_vec()], &cas, now).is_err());
    }
}
