//! The cluster side of `renew --restart` (kubecert_node::renew::StaticPodHost): a node's mirror
//! pods read from the API server as kubeadm's waiter reads them (`kube-system/<component>-<node>`,
//! its `kubernetes.io/config.hash`, its Ready condition), and the certificate a component serves
//! (a TLS handshake that reads the leaf without trusting it). Blocking calls on an own runtime: the
//! restart workflow in kubecert-node is synchronous.

use crate::client::{connect, connect_node_kubeconfig, AdminClient, ClientError, ClientOptions};
use crate::kubelet_tls::{ProbeError, Prober};
use k8s_openapi::api::core::v1::Pod;
use kubecert_node::renew::{MirrorPod, MirrorPodError, Served, StaticPodHost};
use std::time::Duration;

/// Mirror pods and endpoints of one cluster.
pub struct StaticPodApi {
    rt: tokio::runtime::Runtime,
    pods: kube::Api<Pod>,
    prober: Prober,
    /// The API server asked (for messages).
    pub server: String,
}

impl std::fmt::Debug for StaticPodApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticPodApi").field("server", &self.server).finish_non_exhaustive()
    }
}

impl StaticPodApi {
    /// Connects with the kubeconfig `opts` names (no request is sent yet).
    pub fn connect(opts: &ClientOptions) -> Result<StaticPodApi, ClientError> {
        Self::with(|| connect(opts))
    }

    /// Connects with a kubeconfig the node holds (its bytes, read root-confined by the caller;
    /// see [`connect_node_kubeconfig`]).
    pub fn connect_node(label: &str, yaml: &[u8], context: Option<String>) -> Result<StaticPodApi, ClientError> {
        Self::with(|| connect_node_kubeconfig(label, yaml, context))
    }

    fn with<F: std::future::Future<Output = Result<AdminClient, ClientError>>>(make: impl FnOnce() -> F) -> Result<StaticPodApi, ClientError> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| ClientError::Build { server: String::new(), detail: e.to_string() })?;
        let AdminClient { client, server, .. } = rt.block_on(make())?;
        Ok(StaticPodApi { pods: kube::Api::namespaced(client, "kube-system"), rt, prober: Prober::new(Duration::from_secs(3)), server })
    }
}

/// The mirror pod as the restart judges it.
pub(crate) fn mirror_of(p: &Pod) -> MirrorPod {
    let status = p.status.as_ref();
    let ready = status.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let started = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref()).map(|t| t.0).max())
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.as_second()).ok());
    MirrorPod {
        uid: p.metadata.uid.clone().unwrap_or_default(),
        config_hash: p.metadata.annotations.as_ref().and_then(|a| a.get("kubernetes.io/config.hash").cloned()),
        ready,
        started,
    }
}

impl StaticPodHost for StaticPodApi {
    fn mirror_pod(&self, name: &str) -> Result<Option<MirrorPod>, MirrorPodError> {
        let after = Duration::from_secs(10);
        let got = self.rt.block_on(async { tokio::time::timeout(after, self.pods.get_opt(name)).await });
        match got {
            Err(_) => Err(MirrorPodError::Timeout { server: self.server.clone(), after }),
            Ok(Err(e)) => Err(MirrorPodError::Request { server: self.server.clone(), detail: crate::error::describe(&e) }),
            Ok(Ok(p)) => Ok(p.as_ref().map(mirror_of)),
        }
    }

    fn served(&self, addr: &str) -> Served {
        let Ok(sock) = addr.parse::<std::net::SocketAddr>() else { return Served::Error(format!("{addr} is not an address:port")) };
        match self.rt.block_on(self.prober.chain(sock)) {
            Ok(mut chain) => Served::Certificate(chain.remove(0)),
            Err(ProbeError::Connect(e)) if e.contains("refused") => Served::Refused,
            Err(e) => Served::Error(e.to_string()),
        }
    }
}
