//! A policy-checked approver for kubelet CSRs, in the spirit of postfinance/kubelet-csr-approver
//! but for both signers. Pending CSRs are checked and either approved or skipped with every
//! reason written down; nothing is ever denied, and CSRs of other signers are not looked at.
//!
//! Client CSRs (`kubernetes.io/kube-apiserver-client-kubelet`): subject exactly
//! `CN=system:node:<name>, O=system:nodes`, no SANs, usages within digital signature / key
//! encipherment / client auth; requested by that same node (which must exist) or by a bootstrap
//! token (`system:bootstrap:<id>` in group `system:bootstrappers`). A node asking for another
//! node's certificate is never approved.
//!
//! Serving CSRs (`kubernetes.io/kubelet-serving`, which the controller-manager never approves):
//! the requestor is the node named in the CN, the Node exists, at least one SAN, every SAN is one
//! of that Node's `status.addresses` or matches the allow list (a DNS regex, IP ranges), usages
//! within digital signature / key encipherment / server auth, and `expirationSeconds` at most
//! the maximum.
//!
//! What is approved is exactly the object that was checked: the approval is written with its
//! resourceVersion, so a CSR changed in between is checked again on the next round.

use std::collections::HashMap;
use std::net::IpAddr;

use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use kube::api::{Api, ListParams, PostParams};
use kubecert_pki::{NODES_GROUP, node_name_from_common_name, parse_csr};
use serde::Serialize;

use crate::error::{ApiError, Context};
use crate::scan::nodes;

/// The client signer.
pub use crate::names::KUBELET_CLIENT_SIGNER as CLIENT_SIGNER;
/// The serving signer.
pub use crate::names::KUBELET_SERVING_SIGNER as SERVING_SIGNER;
/// The approval condition's reason.
pub(crate) const REASON: &str = "KubecertPolicyApprove";
/// kubelet-csr-approver's hard cap on expirationSeconds (367 days).
pub(crate) const DEFAULT_MAX_EXPIRATION_SECONDS: i64 = 367 * 86400;

/// What went wrong (policy refusals are not errors: they are `Verdict::Skip`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApproveError {
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An allow-list entry does not parse.
    #[error("invalid allow list entry {entry:?}: {detail}")]
    AllowList {
        /// The entry.
        entry: String,
        /// Why.
        detail: String,
    },
}

/// An IP range (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Parses `ADDR/PREFIX` or `ADDR`.
    pub fn parse(s: &str) -> Result<IpRange, ApproveError> {
        let bad = |d: &str| ApproveError::AllowList { entry: s.to_string(), detail: d.to_string() };
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let net: IpAddr = a.parse().map_err(|_| bad("not an IP address"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| bad("bad prefix length"))?,
        };
        Ok(IpRange { net, prefix })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> Option<u128> {
            match (self.net, ip) {
                (IpAddr::V4(_), IpAddr::V4(v)) => Some(u128::from(u32::from(v)) << 96),
                (IpAddr::V6(_), IpAddr::V6(v)) => Some(u128::from(v)),
                _ => None,
            }
        };
        let (Some(n), Some(i)) = (bits(self.net), bits(ip)) else { return false };
        // IPv4 sits in the top 32 bits, so the prefix counts from the top in both families.
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
        n & mask == i & mask
    }
}

/// The policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Longest `expirationSeconds` a serving CSR may ask for.
    pub max_expiration_seconds: i64,
    /// DNS SANs matching this are allowed besides the Node's addresses.
    pub allowed_dns: Option<regex::Regex>,
    /// IP SANs in these ranges are allowed besides the Node's addresses.
    pub allowed_ips: Vec<IpRange>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { max_expiration_seconds: DEFAULT_MAX_EXPIRATION_SECONDS, allowed_dns: None, allowed_ips: Vec::new() }
    }
}

/// Compiles a `--allowed-dns` pattern, anchored (the whole SAN must match).
pub fn dns_pattern(s: &str) -> Result<regex::Regex, ApproveError> {
    regex::Regex::new(&format!("^(?:{s})$")).map_err(|e| ApproveError::AllowList { entry: s.to_string(), detail: e.to_string() })
}

/// Which kubelet certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Client (`kube-apiserver-client-kubelet`).
    Client,
    /// Serving (`kubelet-serving`).
    Serving,
}

/// The decision on one CSR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Every check passed.
    Approve,
    /// At least one check failed: all the failures.
    Skip {
        /// Why.
        reasons: Vec<String>,
    },
}

/// One pending kubelet CSR and what the policy says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// CSR name.
    pub name: String,
    /// Client or serving.
    pub kind: Kind,
    /// spec.username.
    pub requestor: String,
    /// The node the CN names, when it names one.
    pub node: Option<String>,
    /// The decision.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The resourceVersion that was checked.
    #[serde(skip)]
    pub resource_version: Option<String>,
}

/// The Nodes the policy consults: name → status.addresses values.
pub(crate) type NodeIndex = HashMap<String, Vec<String>>;

fn is_pending(csr: &CertificateSigningRequest) -> bool {
    crate::csr::state_of(csr) == crate::csr::CsrState::Pending
}

fn usages_within(usages: &[String], allowed: &[&str], required: &str) -> Option<String> {
    let extra: Vec<&str> = usages.iter().map(String::as_str).filter(|u| !allowed.contains(u)).collect();
    if !extra.is_empty() {
        return Some(format!("usages {extra:?} are not allowed (allowed: {})", allowed.join(", ")));
    }
    (!usages.iter().any(|u| u == required)).then(|| format!("usages lack {required:?}"))
}

/// Checks one CSR; `None` when it is not a pending kubelet CSR.
pub(crate) fn decide(csr: &CertificateSigningRequest, nodes: &NodeIndex, policy: &Policy) -> Option<Decision> {
    let kind = match csr.spec.signer_name.as_str() {
        CLIENT_SIGNER => Kind::Client,
        SERVING_SIGNER => Kind::Serving,
        _ => return None,
    };
    if !is_pending(csr) {
        return None;
    }
    let requestor = csr.spec.username.clone().unwrap_or_default();
    let groups = csr.spec.groups.clone().unwrap_or_default();
    let mut reasons = Vec::new();
    let mut node = None;
    match parse_csr(&csr.spec.request.0) {
        Err(e) => reasons.push(format!("the request does not parse: {e}")),
        Ok(req) => {
            let cn = req.common_names.first().cloned().unwrap_or_default();
            if req.common_names.len() != 1 {
                reasons.push(format!("subject must have exactly one CN, has {}", req.common_names.len()));
            }
            match node_name_from_common_name(&cn) {
                Some(n) => node = Some(n.to_string()),
                None => reasons.push(format!("CN {cn:?} is not system:node:<name>")),
            }
            if req.organizations != [NODES_GROUP] {
                reasons.push(format!("organizations {:?} are not exactly [\"{NODES_GROUP}\"]", req.organizations));
            }
            let usages = csr.spec.usages.clone().unwrap_or_default();
            let is_bootstrap = crate::names::is_bootstrap_user(&requestor) && groups.iter().any(|g| g == crate::names::BOOTSTRAPPERS_GROUP);
            match kind {
                Kind::Client => {
                    if !req.dns_names.is_empty() || !req.ip_addresses.is_empty() || !req.other_names.is_empty() {
                        reasons.push("a client certificate request must have no SANs".into());
                    }
                    reasons.extend(usages_within(&usages, &["digital signature", "key encipherment", "client auth"], "client auth"));
                    if requestor == cn && !cn.is_empty() {
                        if let Some(n) = node.as_ref().filter(|n| !nodes.contains_key(n.as_str())) {
                            reasons.push(format!("Node {n} does not exist (a renewal needs the Node; a new node must use a bootstrap token)"));
                        }
                    } else if let Some(other) = requestor.strip_prefix(kubecert_pki::NODE_USER_PREFIX) {
                        reasons.push(format!("CN names node {:?} but the requestor is node {other:?}: a node may only ask for its own certificate", node.as_deref().unwrap_or(&cn)));
                    } else if !is_bootstrap {
                        reasons.push(format!("requestor {requestor:?} is neither node {cn:?} nor a bootstrap token (system:bootstrap:<id> in system:bootstrappers)"));
                    }
                }
                Kind::Serving => {
                    if requestor != cn || cn.is_empty() {
                        reasons.push(format!("requestor {requestor:?} is not the node named in the CN ({cn:?})"));
                    }
                    reasons.extend(usages_within(&usages, &["digital signature", "key encipherment", "server auth"], "server auth"));
                    if !req.other_names.is_empty() {
                        reasons.push(format!("SANs other than DNS/IP are not allowed: {:?}", req.other_names));
                    }
                    if req.dns_names.is_empty() && req.ip_addresses.is_empty() {
                        reasons.push("a serving certificate request needs at least one SAN".into());
                    }
                    match node.as_ref().and_then(|n| nodes.get(n.as_str()).map(|a| (n, a))) {
                        None => reasons.push(format!("Node {} does not exist", node.as_deref().unwrap_or("?"))),
                        Some((n, addrs)) => {
                            for d in &req.dns_names {
                                let ok = addrs.iter().any(|a| a.eq_ignore_ascii_case(d)) || policy.allowed_dns.as_ref().is_some_and(|r| r.is_match(d));
                                if !ok {
                                    reasons.push(format!("DNS SAN {d:?} is not one of Node {n}'s addresses {addrs:?} nor allowed by --allowed-dns"));
                                }
                            }
                            for ip in &req.ip_addresses {
                                let ok = addrs.iter().any(|a| a.parse::<IpAddr>().ok() == Some(*ip)) || policy.allowed_ips.iter().any(|r| r.contains(*ip));
                                if !ok {
                                    reasons.push(format!("IP SAN {ip} is not one of Node {n}'s addresses {addrs:?} nor in --allowed-ip-ranges"));
                                }
                            }
                        }
                    }
                    if let Some(e) = csr.spec.expiration_seconds.filter(|e| i64::from(*e) > policy.max_expiration_seconds) {
                        reasons.push(format!("expirationSeconds {e} is above the maximum {}", policy.max_expiration_seconds));
                    }
                }
            }
        }
    }
    Some(Decision {
        name: csr.metadata.name.clone().unwrap_or_default(),
        kind,
        requestor,
        node,
        verdict: if reasons.is_empty() { Verdict::Approve } else { Verdict::Skip { reasons } },
        resource_version: csr.metadata.resource_version.clone(),
    })
}

/// The Nodes with their address values.
pub(crate) async fn node_index(client: &kube::Client) -> Result<NodeIndex, ApiError> {
    Ok(nodes::list(client).await?.into_iter().map(|r| (r.name, r.addresses.into_iter().map(|a| a.address).collect())).collect())
}

/// Every pending kubelet CSR with its decision, oldest first. Reads only.
pub async fn review(client: &kube::Client, policy: &Policy) -> Result<(Vec<Decision>, Vec<CertificateSigningRequest>), ApproveError> {
    let nodes = node_index(client).await?;
    let mut csrs = Api::<CertificateSigningRequest>::all(client.clone()).list(&ListParams::default()).await.ctx(|| "list CertificateSigningRequests".into())?.items;
    csrs.sort_by_key(|c| c.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()));
    csrs.retain(|c| decide(c, &nodes, policy).is_some());
    Ok((csrs.iter().filter_map(|c| decide(c, &nodes, policy)).collect(), csrs))
}

/// What happened to an approvable CSR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Approved.
    Approved,
    /// `--dry-run`: would have been approved.
    WouldApprove,
    /// It changed (or was decided by someone else) after the check: left for the next round.
    Changed,
    /// The API server said these credentials may not approve it.
    Forbidden(String),
}

/// Approves `csr` (the very object `decide` approved) with an `Approved` condition, reason
/// [`REASON`]. A dry run sends the update as a server-side dry run.
pub async fn approve(client: &kube::Client, csr: &CertificateSigningRequest, dry_run: bool) -> Result<Outcome, ApiError> {
    let name = csr.metadata.name.clone().unwrap_or_default();
    let mut csr = csr.clone();
    csr.status.get_or_insert_with(Default::default).conditions.get_or_insert_with(Vec::new).push(CertificateSigningRequestCondition {
        type_: "Approved".into(),
        status: "True".into(),
        reason: Some(REASON.into()),
        message: Some("kubecert approve: the request passed the kubelet CSR policy (subject, requestor, SANs, usages, expiration)".into()),
        ..Default::default()
    });
    let pp = PostParams { dry_run, ..Default::default() };
    match Api::<CertificateSigningRequest>::all(client.clone()).replace_subresource("approval", &name, &pp, &csr).await {
        Ok(_) => Ok(if dry_run { Outcome::WouldApprove } else { Outcome::Approved }),
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 404 => Ok(Outcome::Changed),
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(Outcome::Forbidden(s.message)),
        Err(e) => Err(ApiError::new(format!("approve CertificateSigningRequest {name}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_ranges() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains("10.1.2.3".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        assert!(!r.contains("::1".parse().unwrap()));
        assert!(IpRange::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
        assert!(!IpRange::parse("127.0.0.1").unwrap().contains("127.0.0.2".parse().unwrap()));
        assert!(IpRange::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(IpRange::parse("10.0.0.0/33").is_err());
        assert!(IpRange::parse("nope").is_err());
    }

    use k8s_openapi::ByteString;
    use k8s_openapi::api::certificates::v1::{CertificateSigningRequestSpec, CertificateSigningRequestStatus};
    use kubecert_pki::{KeyType, PrivateKey, RequestSubject, build_csr};

    #[allow(clippy::too_many_arguments)]
    fn csr(signer: &str, cn: &str, org: Option<&str>, dns: &[&str], ips: &[&str], requestor: &str, groups: &[&str], usages: &[&str]) -> CertificateSigningRequest {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let subject = RequestSubject {
            common_name: cn.into(),
            organization: org.map(Into::into),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            ip_addresses: ips.iter().map(|s| s.parse().unwrap()).collect(),
        };
        let pem = build_csr(&key, &subject).unwrap();
        CertificateSigningRequest {
            metadata: kube::api::ObjectMeta { name: Some("csr-x".into()), ..Default::default() },
            spec: CertificateSigningRequestSpec {
                request: ByteString(pem.into_bytes()),
                signer_name: signer.into(),
                username: Some(requestor.into()),
                groups: Some(groups.iter().map(|s| s.to_string()).collect()),
                usages: Some(usages.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            status: None,
        }
    }

    fn nodes() -> NodeIndex {
        [("n1".to_string(), vec!["127.0.0.1".to_string(), "n1".to_string()]), ("n2".to_string(), vec![])].into_iter().collect()
    }

    const CLIENT: &[&str] = &["digital signature", "client auth"];
    const SERVING: &[&str] = &["digital signature", "server auth"];
    const NODES: &[&str] = &["system:nodes", "system:authenticated"];

    fn reasons(d: Option<Decision>) -> Vec<String> {
        match d.unwrap().verdict {
            Verdict::Approve => vec![],
            Verdict::Skip { reasons } => reasons,
        }
    }

    #[test]
    fn client_csrs() {
        let p = Policy::default();
        let own = csr(CLIENT_SIGNER, "system:node:n1", Some("system:nodes"), &[], &[], "system:node:n1", NODES, CLIENT);
        assert_eq!(reasons(decide(&own, &nodes(), &p)), Vec::<String>::new());
        let boot = csr(CLIENT_SIGNER, "system:node:new", Some("system:nodes"), &[], &[], "system:bootstrap:abcdef", &["system:bootstrappers", "system:bootstrappers:kubeadm:default-node-token"], CLIENT);
        assert_eq!(reasons(decide(&boot, &nodes(), &p)), Vec::<String>::new());
        let other = csr(CLIENT_SIGNER, "system:node:n2", Some("system:nodes"), &[], &[], "system:node:n1", NODES, CLIENT);
        let r = reasons(decide(&other, &nodes(), &p));
        assert!(r.iter().any(|r| r.contains("a node may only ask for its own")), "{r:?}");
        let gone = csr(CLIENT_SIGNER, "system:node:gone", Some("system:nodes"), &[], &[], "system:node:gone", NODES, CLIENT);
        assert!(reasons(decide(&gone, &nodes(), &p))[0].contains("does not exist"));
        let admin = csr(CLIENT_SIGNER, "system:node:n1", Some("system:nodes"), &[], &[], "kubernetes-admin", &["system:masters"], CLIENT);
        assert!(reasons(decide(&admin, &nodes(), &p))[0].contains("neither node"));
        let bad = csr(CLIENT_SIGNER, "system:node:n1", Some("system:masters"), &["n1"], &[], "system:node:n1", NODES, &["client auth", "server auth"]);
        assert_eq!(reasons(decide(&bad, &nodes(), &p)).len(), 3);
    }

    #[test]
    fn serving_csrs() {
        let mut p = Policy::default();
        let good = csr(SERVING_SIGNER, "system:node:n1", Some("system:nodes"), &["n1"], &["127.0.0.1"], "system:node:n1", NODES, SERVING);
        assert_eq!(reasons(decide(&good, &nodes(), &p)), Vec::<String>::new());
        let foreign_ip = csr(SERVING_SIGNER, "system:node:n1", Some("system:nodes"), &["n1"], &["10.1.2.3"], "system:node:n1", NODES, SERVING);
        let r = reasons(decide(&foreign_ip, &nodes(), &p));
        assert!(r.len() == 1 && r[0].contains("10.1.2.3"), "{r:?}");
        p.allowed_ips.push(IpRange::parse("10.0.0.0/8").unwrap());
        assert_eq!(reasons(decide(&foreign_ip, &nodes(), &p)), Vec::<String>::new());
        let dns = csr(SERVING_SIGNER, "system:node:n1", Some("system:nodes"), &["n1.example.com"], &[], "system:node:n1", NODES, SERVING);
        assert_eq!(reasons(decide(&dns, &nodes(), &p)).len(), 1);
        p.allowed_dns = Some(dns_pattern(r"[a-z0-9-]+\.example\.com").unwrap());
        assert!(!p.allowed_dns.as_ref().unwrap().is_match("evil.example.com.attacker.net"));
        assert_eq!(reasons(decide(&dns, &nodes(), &p)), Vec::<String>::new());
        let other = csr(SERVING_SIGNER, "system:node:n1", Some("system:nodes"), &["n1"], &[], "system:node:n2", NODES, SERVING);
        assert!(reasons(decide(&other, &nodes(), &p))[0].contains("not the node named in the CN"));
        let mut long = good.clone();
        long.spec.expiration_seconds = Some(400 * 86400);
        assert!(reasons(decide(&long, &nodes(), &p))[0].contains("expirationSeconds"));
        let no_san = csr(SERVING_SIGNER, "system:node:n1", Some("system:nodes"), &[], &[], "system:node:n1", NODES, SERVING);
        assert!(reasons(decide(&no_san, &nodes(), &p))[0].contains("at least one SAN"));
    }

    #[test]
    fn only_pending_kubelet_csrs_are_considered() {
        let p = Policy::default();
        let other_signer = csr("example.com/x", "system:node:n1", Some("system:nodes"), &[], &[], "system:node:n1", NODES, CLIENT);
        assert!(decide(&other_signer, &nodes(), &p).is_none());
        let mut done = csr(CLIENT_SIGNER, "system:node:n1", Some("system:nodes"), &[], &[], "system:node:n1", NODES, CLIENT);
        done.status = Some(CertificateSigningRequestStatus {
            conditions: Some(vec![CertificateSigningRequestCondition { type_: "Denied".into(), status: "True".into(), ..Default::default() }]),
            ..Default::default()
        });
        assert!(decide(&done, &nodes(), &p).is_none());
    }
}
