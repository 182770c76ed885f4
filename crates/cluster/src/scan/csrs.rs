//! CertificateSigningRequests that need a look: Pending, Approved but not issued, Failed (and
//! Denied), with their age, signer and requestor. Issued ones are left out.

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;
use kube::api::{Api, ListParams};
use serde::Serialize;
use time::OffsetDateTime;

use crate::csr::{state_of, CsrState};
use crate::error::{ApiError, Context};

/// Where a listed CSR is stuck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stuck {
    /// Neither approved nor denied.
    Pending,
    /// Approved, but the signer has not issued it.
    ApprovedNotIssued,
    /// The signer failed.
    Failed,
    /// Someone denied it.
    Denied,
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stuck::Pending => "Pending",
            Stuck::ApprovedNotIssued => "Approved,NotIssued",
            Stuck::Failed => "Failed",
            Stuck::Denied => "Denied",
        })
    }
}

/// One CSR that is not done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CsrEntry {
    /// Name.
    pub name: String,
    /// State.
    pub state: Stuck,
    /// signerName.
    pub signer: String,
    /// spec.username (who asked).
    pub requestor: String,
    /// Seconds since creation.
    pub age_seconds: i64,
    /// The condition's reason/message, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Stuck {
    /// How the scan lists `state` (from [`crate::csr::state_of`]) with its condition's text, or
    /// `None` when it is issued.
    pub(crate) fn of(state: &CsrState) -> Option<(Stuck, Option<String>)> {
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        match state {
            CsrState::Issued { .. } => None,
            CsrState::Pending => Some((Stuck::Pending, None)),
            CsrState::Approved { reason, message } => {
                let why = [reason.as_str(), message.as_deref().unwrap_or_default()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": ");
                Some((Stuck::ApprovedNotIssued, text(&why)))
            }
            CsrState::Denied { why } => Some((Stuck::Denied, text(why))),
            CsrState::Failed { why } => Some((Stuck::Failed, text(why))),
        }
    }
}

/// The scan's view of `csr`: where it is stuck, or `None` when it is issued.
pub(crate) fn stuck(csr: &CertificateSigningRequest) -> Option<(Stuck, Option<String>)> {
    Stuck::of(&state_of(csr))
}

/// Every CSR in the cluster.
pub(crate) async fn list_all(client: &kube::Client) -> Result<Vec<CertificateSigningRequest>, ApiError> {
    Ok(Api::<CertificateSigningRequest>::all(client.clone()).list(&ListParams::default()).await.ctx(|| "list CertificateSigningRequests".to_string())?.items)
}

/// The CSRs of `all` that are not issued, oldest first.
pub fn entries(all: &[CertificateSigningRequest], now: OffsetDateTime) -> Vec<CsrEntry> {
    let mut out: Vec<CsrEntry> = all
        .iter()
        .filter_map(|c| {
            let (state, message) = stuck(c)?;
            let created = c.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(now.unix_timestamp());
            Some(CsrEntry {
                name: c.metadata.name.clone().unwrap_or_default(),
                state,
                signer: c.spec.signer_name.clone(),
                requestor: c.spec.username.clone().unwrap_or_default(),
                age_seconds: now.unix_timestamp() - created,
                message,
            })
        })
        .collect();
    out.sort_by_key(|c| std::cmp::Reverse(c.age_seconds));
    out
}
