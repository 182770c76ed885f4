//! Node certificates through the `certificates.k8s.io/v1` API, for when nobody has the CA key
//! (managed control planes): file a CSR for a key made on this side, approve it when the caller's
//! credentials allow, wait for the signer to issue it, and hand back what it issued.
//!
//! Shaped like the kubelet's own requests (`pkg/kubelet/certificate`): signer
//! `kubernetes.io/kube-apiserver-client-kubelet` with usages digital signature + client auth (+ key
//! encipherment for RSA keys), or `kubernetes.io/kubelet-serving` with server auth. The
//! kube-controller-manager approves a client CSR by itself when its requestor may create
//! `certificatesigningrequests/nodeclient` (or `selfnodeclient` for its own name); serving CSRs
//! always need someone to approve them.

use crate::error::{describe, Context};
use crate::ApiError;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, PostParams};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Which signer to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signer {
    /// `kubernetes.io/kube-apiserver-client-kubelet`: the kubelet's client certificate.
    KubeletClient,
    /// `kubernetes.io/kubelet-serving`: the kubelet's serving certificate.
    KubeletServing,
}

impl Signer {
    /// The signer name.
    pub fn name(self) -> &'static str {
        match self {
            Signer::KubeletClient => crate::names::KUBELET_CLIENT_SIGNER,
            Signer::KubeletServing => crate::names::KUBELET_SERVING_SIGNER,
        }
    }

    /// The usages the kubelet requests (and the signer requires) for a key of this kind.
    pub fn usages(self, rsa: bool) -> Vec<&'static str> {
        let mut u = vec!["digital signature"];
        if rsa {
            u.push("key encipherment");
        }
        u.push(match self {
            Signer::KubeletClient => "client auth",
            Signer::KubeletServing => "server auth",
        });
        u
    }
}

/// What the caller's credentials allow for this signer.
#[derive(Debug, Clone, Serialize)]
pub struct Permissions {
    /// May create CSRs at all.
    pub can_create: bool,
    /// May approve CSRs for this signer (`approve` on the signer and `update` on `certificatesigningrequests/approval`).
    pub can_approve: bool,
    /// What is missing for approval, in words (empty when allowed).
    pub approve_missing: Vec<String>,
    /// The controller-manager will approve a client CSR from this requestor by itself (it may
    /// create `certificatesigningrequests/nodeclient`).
    pub auto_approved: bool,
}

/// Asks the API server (SelfSubjectAccessReviews) what the caller may do with CSRs for `signer`.
pub async fn permissions(client: &kube::Client, signer: Signer) -> Result<Permissions, ApiError> {
    let can_create = allowed(client, "create", "certificatesigningrequests", None, None).await?;
    let approve_signer = allowed(client, "approve", "signers", None, Some(signer.name())).await?;
    let update_approval = allowed(client, "update", "certificatesigningrequests", Some("approval"), None).await?;
    let mut approve_missing = Vec::new();
    if !update_approval {
        approve_missing.push("update on certificatesigningrequests/approval".to_string());
    }
    if !approve_signer {
        approve_missing.push(format!("approve on signers {}", signer.name()));
    }
    let auto_approved = signer == Signer::KubeletClient && allowed(client, "create", "certificatesigningrequests", Some("nodeclient"), None).await?;
    Ok(Permissions { can_create, can_approve: approve_missing.is_empty(), approve_missing, auto_approved })
}

async fn allowed(client: &kube::Client, verb: &str, resource: &str, sub: Option<&str>, name: Option<&str>) -> Result<bool, ApiError> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some("certificates.k8s.io".into()),
                resource: Some(resource.into()),
                subresource: sub.map(String::from),
                name: name.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let what = format!("{verb} {resource}{}", sub.map(|s| format!("/{s}")).unwrap_or_default());
    let got = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .ctx(|| format!("ask whether this user may {what}"))?;
    Ok(got.status.is_some_and(|s| s.allowed))
}

/// Files the CSR (`generateName: kubecert-<node>-`) and returns its name.
pub async fn create(client: &kube::Client, node: &str, signer: Signer, csr_pem: &str, rsa: bool, expiration: Option<Duration>) -> Result<String, ApiError> {
    let csr = CertificateSigningRequest {
        metadata: ObjectMeta { generate_name: Some(format!("kubecert-{node}-")), ..Default::default() },
        spec: CertificateSigningRequestSpec {
            request: ByteString(csr_pem.as_bytes().to_vec()),
            signer_name: signer.name().into(),
            usages: Some(signer.usages(rsa).into_iter().map(String::from).collect()),
            expiration_seconds: expiration.map(|d| d.as_secs().min(i32::MAX as u64) as i32),
            ..Default::default()
        },
        status: None,
    };
    let created = Api::<CertificateSigningRequest>::all(client.clone())
        .create(&PostParams::default(), &csr)
        .await
        .ctx(|| format!("create a CertificateSigningRequest for node {node} (signer {})", signer.name()))?;
    Ok(created.metadata.name.unwrap_or_default())
}

/// A CSR that has sat undecided (or approved without a certificate) this long is stuck. Five
/// minutes, not one: the controller-manager approves and signs in a second or two, but serving
/// CSRs wait for a person or an external approver, and a kubelet keeps waiting for 15 minutes
/// (client-go `certificateWaitTimeout`) — five minutes flags a real stall with ten minutes left to
/// act, without reporting every CSR an admin has not looked at yet. The one threshold for the
/// scan, the forecast and the bootstrap preflight.
pub const STUCK_AFTER_SECONDS: i64 = 300;

/// Whether a CSR `age_seconds` old that is still Pending (or approved and not issued) is stuck.
pub fn is_stuck(age_seconds: i64) -> bool {
    age_seconds > STUCK_AFTER_SECONDS
}

/// Where a CSR stands: the one reading of a CSR's conditions that every caller uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum CsrState {
    /// Neither approved nor denied.
    Pending,
    /// Approved, not issued yet.
    Approved {
        /// The approval's reason (e.g. `AutoApproved`, `KubecertApprove`).
        reason: String,
        /// The approval's message, when it has one.
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Issued: the certificate PEM.
    Issued {
        /// The certificate (PEM), as the signer wrote it.
        certificate: String,
    },
    /// Denied by someone.
    Denied {
        /// Reason and message.
        why: String,
    },
    /// The signer failed to issue it.
    Failed {
        /// Reason and message.
        why: String,
    },
}

impl std::fmt::Display for CsrState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsrState::Pending => f.write_str("Pending"),
            CsrState::Approved { reason, .. } => write!(f, "Approved ({reason}), waiting for the signer"),
            CsrState::Issued { .. } => f.write_str("Approved, Issued"),
            CsrState::Denied { why } => write!(f, "Denied: {why}"),
            CsrState::Failed { why } => write!(f, "Failed: {why}"),
        }
    }
}

impl CsrState {
    /// kubectl's short word for it (`kubectl get csr`'s CONDITION column without the modifiers
    /// this state already decided): `Pending`, `Approved`, `Approved,Issued`, `Denied`, `Failed`.
    pub fn label(&self) -> &'static str {
        match self {
            CsrState::Pending => "Pending",
            CsrState::Approved { .. } => "Approved",
            CsrState::Issued { .. } => "Approved,Issued",
            CsrState::Denied { .. } => "Denied",
            CsrState::Failed { .. } => "Failed",
        }
    }

    /// Whether the signer issued it (the CSR is done).
    pub fn is_issued(&self) -> bool {
        matches!(self, CsrState::Issued { .. })
    }
}

/// Where `csr` stands. The precedence is the kubelet's (client-go `util/certificate/csr`
/// `WaitForCertificate`, which gives up on Denied or Failed before it looks for a certificate) and
/// agrees with kubectl's printer (`extractCSRStatus`: Denied before Approved, Failed and Issued as
/// modifiers): Denied, then Failed, then Approved with a certificate (Issued), then Approved, else
/// Pending. Approved and Denied are mutually exclusive (API validation), and the three condition
/// types only take status `True`.
pub fn state_of(csr: &CertificateSigningRequest) -> CsrState {
    let status = csr.status.as_ref();
    let conds = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let is = |t: &str| conds.iter().find(|c| c.type_ == t && c.status == "True");
    let why = |c: &CertificateSigningRequestCondition| {
        [c.reason.as_deref().unwrap_or_default(), c.message.as_deref().unwrap_or_default()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": ")
    };
    if let Some(c) = is("Denied") {
        return CsrState::Denied { why: why(c) };
    }
    if let Some(c) = is("Failed") {
        return CsrState::Failed { why: why(c) };
    }
    let certificate = status.and_then(|s| s.certificate.as_ref()).filter(|c| !c.0.is_empty());
    match (is("Approved"), certificate) {
        (Some(_), Some(cert)) => CsrState::Issued { certificate: String::from_utf8_lossy(&cert.0).into_owned() },
        (Some(c), None) => CsrState::Approved { reason: c.reason.clone().unwrap_or_default(), message: c.message.clone().filter(|m| !m.is_empty()) },
        (None, _) => CsrState::Pending,
    }
}

/// Reads where CSR `name` stands.
pub async fn state(client: &kube::Client, name: &str) -> Result<CsrState, ApiError> {
    let csr = Api::<CertificateSigningRequest>::all(client.clone()).get(name).await.ctx(|| format!("get CertificateSigningRequest {name}"))?;
    Ok(state_of(&csr))
}

/// What `approve` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Approval {
    /// kubecert approved it.
    Approved,
    /// It was approved already (e.g. by the controller-manager).
    AlreadyApproved {
        /// The existing approval's reason.
        reason: String,
    },
    /// It was denied or failed before kubecert could approve it.
    TooLate {
        /// Its state.
        state: String,
    },
    /// The caller may not approve it (403 from the API server).
    Forbidden {
        /// The server's message.
        message: String,
    },
}

/// Approves CSR `name` as `kubectl certificate approve` does (an update of the approval
/// subresource with the object's resourceVersion), unless it is already decided.
pub async fn approve(client: &kube::Client, name: &str) -> Result<Approval, ApiError> {
    let api = Api::<CertificateSigningRequest>::all(client.clone());
    for _ in 0..5 {
        let mut csr = api.get(name).await.ctx(|| format!("get CertificateSigningRequest {name}"))?;
        match state_of(&csr) {
            CsrState::Pending => {}
            CsrState::Approved { reason, .. } => return Ok(Approval::AlreadyApproved { reason }),
            CsrState::Issued { .. } => {
                return Ok(Approval::AlreadyApproved { reason: "issued".into() });
            }
            s => return Ok(Approval::TooLate { state: s.to_string() }),
        }
        let status = csr.status.get_or_insert_with(Default::default);
        status.conditions.get_or_insert_with(Vec::new).push(CertificateSigningRequestCondition {
            type_: "Approved".into(),
            status: "True".into(),
            reason: Some("KubecertApprove".into()),
            message: Some("approved by kubecert csr --approve".into()),
            ..Default::default()
        });
        match api.replace_subresource("approval", name, &PostParams::default(), &csr).await {
            Ok(_) => return Ok(Approval::Approved),
            Err(kube::Error::Api(s)) if s.code == 409 => continue, // changed meanwhile (the controller-manager approved it?): look again
            Err(kube::Error::Api(s)) if s.code == 403 => return Ok(Approval::Forbidden { message: s.message }),
            Err(e) => return Err(ApiError::new(format!("approve CertificateSigningRequest {name}"), e)),
        }
    }
    Ok(Approval::TooLate { state: "kept changing while kubecert tried to approve it".into() })
}

/// How waiting ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// Issued (certificate PEM).
    Issued(String),
    /// Denied or failed: the final state.
    Refused(CsrState),
    /// Still not issued when the time ran out: the last state seen.
    TimedOut(CsrState),
}

/// Polls CSR `name` until it is issued, denied or failed, or `timeout` passes. `progress` is
/// called on every poll with the state and the time waited, so a terminal can show it.
pub async fn wait(client: &kube::Client, name: &str, timeout: Duration, mut progress: impl FnMut(&CsrState, Duration)) -> Result<Waited, ApiError> {
    let start = Instant::now();
    loop {
        let s = state(client, name).await?;
        progress(&s, start.elapsed());
        match s {
            CsrState::Issued { certificate } => return Ok(Waited::Issued(certificate)),
            CsrState::Denied { .. } | CsrState::Failed { .. } => return Ok(Waited::Refused(s)),
            _ if start.elapsed() >= timeout => return Ok(Waited::TimedOut(s)),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Deletes CSR `name` (kubecert's own, after a failure), ignoring "already gone".
pub async fn delete(client: &kube::Client, name: &str) -> Result<(), ApiError> {
    match Api::<CertificateSigningRequest>::all(client.clone()).delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(ApiError::new(format!("delete CertificateSigningRequest {name}"), e)),
    }
}

/// The CA bundle the API server uses to authenticate client certificates, as it publishes it
/// (`kube-system/extension-apiserver-authentication`, key `client-ca-file`); `None` when the
/// caller may not read it.
pub async fn apiserver_client_ca(client: &kube::Client) -> Option<String> {
    use k8s_openapi::api::core::v1::ConfigMap;
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "kube-system").get("extension-apiserver-authentication").await;
    match cm {
        Ok(cm) => cm.data.and_then(|d| d.get("client-ca-file").cloned()),
        Err(e) => {
            tracing::debug!("cannot read the API server's client CA: {}", describe(&e));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::certificates::v1::CertificateSigningRequestStatus;

    fn csr(conds: &[(&str, &str)], cert: &[u8]) -> CertificateSigningRequest {
        let conditions = conds
            .iter()
            .map(|(t, r)| CertificateSigningRequestCondition { type_: t.to_string(), status: "True".into(), reason: Some(r.to_string()), ..Default::default() })
            .collect();
        CertificateSigningRequest {
            status: Some(CertificateSigningRequestStatus { conditions: Some(conditions), certificate: (!cert.is_empty()).then(|| ByteString(cert.to_vec())) }),
            ..Default::default()
        }
    }

    #[test]
    fn precedence_is_the_kubelets() {
        assert_eq!(state_of(&CertificateSigningRequest::default()), CsrState::Pending);
        assert_eq!(state_of(&csr(&[], b"PEM")), CsrState::Pending, "a certificate without an approval is not issued");
        assert_eq!(state_of(&csr(&[("Approved", "A")], b"")), CsrState::Approved { reason: "A".into(), message: None });
        assert_eq!(state_of(&csr(&[("Approved", "A")], b"PEM")), CsrState::Issued { certificate: "PEM".into() });
        // The kubelet gives up on Failed even when a certificate is there.
        assert_eq!(state_of(&csr(&[("Approved", "A"), ("Failed", "F")], b"PEM")), CsrState::Failed { why: "F".into() });
        // Denied wins over Failed, whatever the order (kubectl prints Denied first).
        assert_eq!(state_of(&csr(&[("Failed", "F"), ("Denied", "D")], b"")), CsrState::Denied { why: "D".into() });
        let mut not_true = csr(&[("Approved", "A")], b"PEM");
        not_true.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        assert_eq!(state_of(&not_true), CsrState::Pending);
    }

    #[test]
    fn stuck_is_strictly_after_the_threshold() {
        assert!(!is_stuck(STUCK_AFTER_SECONDS));
        assert!(is_stuck(STUCK_AFTER_SECONDS + 1));
    }
}
