//! Node objects for the simulated kubelets, made as cluster-admin: create, then set
//! `status.addresses` (InternalIP: the endpoints' address), `status.daemonEndpoints.kubeletEndpoint.Port` and a
//! Ready condition through the status subresource. All carry the label `kubecert-bench=scan`.

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

use crate::endpoints::{Endpoint, Kind};

/// The label on every bench Node.
pub const LABEL: &str = "kubecert-bench=scan";

/// Creates the Nodes for `endpoints` (at most `concurrency` requests at once).
pub async fn create(client: &kube::Client, endpoints: &[Endpoint], concurrency: usize) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339)?;
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(endpoints)
        .map(|e| {
            let api = api.clone();
            let now = now.clone();
            async move {
                let node: Node = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": e.node, "labels": {"kubecert-bench": "scan"}},
                }))?;
                api.create(&PostParams::default(), &node).await?;
                // Every 10th simulated kubelet is NotReady, so the scan has callouts to make.
                let ready = if matches!(e.kind, Kind::Expired) || e.port % 10 == 0 { "False" } else { "True" };
                let status = serde_json::json!({"status": {
                    "addresses": [{"type": "InternalIP", "address": crate::endpoints::address().to_string()}, {"type": "Hostname", "address": e.node}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": e.port}},
                    "conditions": [{"type": "Ready", "status": ready, "reason": "KubecertBench", "message": "simulated", "lastHeartbeatTime": now, "lastTransitionTime": now}],
                }});
                api.patch_status(&e.node, &PatchParams::default(), &Patch::Merge(&status)).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Deletes every bench Node.
pub async fn delete_all(client: &kube::Client) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    api.delete_collection(&DeleteParams::default(), &ListParams::default().labels(LABEL)).await?;
    Ok(())
}
