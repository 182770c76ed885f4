//! The Nodes, read a page at a time (500 per request) and reduced at once to what the scan
//! needs, so that thousands of Node objects are never all held in memory; the scan takes the
//! pages as they arrive.

use futures::channel::mpsc;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use serde::Serialize;
use time::OffsetDateTime;

use super::address::NodeAddress;
use crate::error::{ApiError, Context};

/// Nodes per list request.
pub(crate) const PAGE: u32 = 500;

/// The Ready condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Readiness {
    /// Ready=True.
    Ready,
    /// Ready=False: the kubelet reports a problem.
    NotReady,
    /// Ready=Unknown: the kubelet stopped posting status (the node controller says so).
    Unknown,
    /// No Ready condition yet.
    Missing,
}

impl Readiness {
    /// Ready=True.
    pub fn is_ready(self) -> bool {
        self == Readiness::Ready
    }
}

impl std::fmt::Display for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Readiness::Ready => "Ready",
            Readiness::NotReady => "NotReady",
            Readiness::Unknown => "Unknown",
            Readiness::Missing => "NoCondition",
        })
    }
}

/// What the scan keeps of a Node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Name.
    pub name: String,
    /// Ready condition.
    pub ready: Readiness,
    /// Ready condition's lastHeartbeatTime.
    pub heartbeat: Option<OffsetDateTime>,
    /// status.addresses.
    pub addresses: Vec<NodeAddress>,
    /// status.daemonEndpoints.kubeletEndpoint.Port (0 when unset).
    pub port: u16,
}

/// Reduces a Node to its row.
pub fn row(n: &Node) -> NodeRow {
    let status = n.status.as_ref();
    let ready_cond = status.and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    let ready = match ready_cond.map(|c| c.status.as_str()) {
        Some("True") => Readiness::Ready,
        Some("False") => Readiness::NotReady,
        Some(_) => Readiness::Unknown,
        None => Readiness::Missing,
    };
    let heartbeat = ready_cond.and_then(|c| c.last_heartbeat_time.as_ref()).and_then(|t| OffsetDateTime::from_unix_timestamp(t.0.as_second()).ok());
    let addresses = status
        .and_then(|s| s.addresses.as_ref())
        .map(|a| a.iter().map(|a| NodeAddress { kind: a.type_.clone(), address: a.address.clone() }).collect())
        .unwrap_or_default();
    let port = status.and_then(|s| s.daemon_endpoints.as_ref()).and_then(|d| d.kubelet_endpoint.as_ref()).map(|e| e.port).unwrap_or(0);
    NodeRow { name: n.metadata.name.clone().unwrap_or_default(), ready, heartbeat, addresses, port: u16::try_from(port).unwrap_or(0) }
}

/// One page of Nodes, reduced.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    /// The rows of this page.
    pub rows: Vec<NodeRow>,
    /// Nodes listed so far plus the API server's `remainingItemCount` (its estimate of the total).
    pub total_estimate: usize,
}

/// Reads the Nodes page by page, calling `each` with every page as it arrives.
async fn for_each_page(client: &kube::Client, mut each: impl FnMut(Page) -> bool) -> Result<(), ApiError> {
    let api: Api<Node> = Api::all(client.clone());
    let mut token: Option<String> = None;
    let mut seen = 0usize;
    loop {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = api.list(&lp).await.ctx(|| "list Nodes".to_string())?;
        let rows: Vec<NodeRow> = page.items.iter().map(row).collect();
        seen += rows.len();
        let remaining = page.metadata.remaining_item_count.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if !each(Page { rows, total_estimate: seen + remaining }) || token.is_none() {
            return Ok(());
        }
    }
}

/// Lists every Node as rows, `PAGE` at a time.
pub async fn list(client: &kube::Client) -> Result<Vec<NodeRow>, ApiError> {
    let mut out = Vec::new();
    for_each_page(client, |p| {
        out.extend(p.rows);
        true
    })
    .await?;
    Ok(out)
}

/// Lists the Nodes on a task of its own, handing over each page as it arrives, so work on the
/// first Nodes starts while the API server sends the rest. (Rows are small: all of them are
/// kept by the scan anyway, so the channel needs no bound.) The task's result says whether the
/// whole list was read; it stops early when the receiver is dropped.
pub(crate) fn list_in_background(client: &kube::Client) -> (mpsc::UnboundedReceiver<Page>, tokio::task::JoinHandle<Result<(), ApiError>>) {
    let (tx, rx) = mpsc::unbounded::<Page>();
    let client = client.clone();
    let task = tokio::spawn(async move { for_each_page(&client, |p| tx.unbounded_send(p).is_ok()).await });
    (rx, task)
}
