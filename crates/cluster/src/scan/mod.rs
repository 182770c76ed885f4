//! `scan`: the whole cluster's certificate health from one cluster-admin kubeconfig. Every Node
//! with its Ready condition and heartbeat age; each kubelet's serving certificate read over TLS
//! (bounded concurrency, a timeout per node) and judged against the cluster CA; CSRs that are
//! stuck; bootstrap tokens and their expiry; kubeadm's bootstrap RBAC; the API server's clock.
//! NotReady nodes whose kubelet serves an expired or foreign certificate get a repair command.
//! Reads only: the scan changes nothing.

pub mod address;
pub mod clock;
pub mod csrs;
pub mod exporter_series;
pub mod forecast;
pub mod kubelet_metrics;
pub mod metrics;
pub mod nodes;
pub mod serving;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kubecert_pki::{Certificate, load_certificates};
use serde::Serialize;
use time::OffsetDateTime;

use crate::client::AdminClient;
use crate::kubelet_tls::{ProbeError, Prober};
use crate::rbac::{self, ObjectStatus};
use crate::token::{self, TokenInfo};
use address::{AddressSource, NodeAddress};
use clock::Clock;
use csrs::{CsrEntry, Stuck};
use forecast::{ClusterFacts, Forecast, NodeDeadlines};
use nodes::{NodeRow, Readiness};
use serving::{ServedCert, Trust};

/// Why the scan could not run at all (the parts after the node list only add errors to the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The Nodes could not be listed.
    #[error(transparent)]
    Nodes(#[from] crate::ApiError),
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Kubelets probed at once.
    pub concurrency: usize,
    /// Connect and handshake timeout, each, per node.
    pub timeout: Duration,
    /// Dial this when a Node publishes no usable address (e.g. 127.0.0.1 for loopback kubelets).
    pub default_address: Option<IpAddr>,
    /// Resolve `Hostname` addresses with the system resolver.
    pub resolve_hostnames: bool,
    /// Serving certificates expiring within this are counted as expiring soon.
    pub warn_within: time::Duration,
    /// Skip the TLS probes (API objects only).
    pub no_probe: bool,
    /// Read each kubelet's certificate TTLs through the API server's node proxy (the forecast).
    pub kubelet_metrics: bool,
    /// Read kubecert's exporter Pods in this namespace through the pod proxy (rotation-off
    /// findings, and the dates where the node proxy is refused); `None`: do not.
    pub exporter_namespace: Option<String>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            concurrency: 256,
            timeout: Duration::from_secs(3),
            default_address: None,
            resolve_hostnames: true,
            warn_within: time::Duration::days(30),
            no_probe: false,
            kubelet_metrics: true,
            exporter_namespace: Some(exporter_series::DEFAULT_NAMESPACE.to_string()),
        }
    }
}

/// The kubelet endpoint that was dialled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// IP.
    pub ip: IpAddr,
    /// Port (daemonEndpoints.kubeletEndpoint.Port).
    pub port: u16,
    /// Which address was used.
    pub source: AddressSource,
}

/// What the kubelet endpoint gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Serving {
    /// The certificate it serves.
    Cert(ServedCert),
    /// No answer, or no usable TLS.
    Unreachable {
        /// Why.
        error: ProbeError,
    },
    /// It answered with something that is not a certificate.
    Unparsable {
        /// Why.
        error: String,
    },
    /// Nothing to dial: no address or no port.
    NoEndpoint {
        /// What is missing.
        reason: String,
    },
    /// Not probed (`--no-probe`).
    Skipped,
}

/// A node that needs a person, and what to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Callout {
    /// What is wrong.
    pub problem: String,
    /// The repair, run on that node.
    pub repair: String,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeReport {
    /// Name.
    pub name: String,
    /// Ready condition.
    pub ready: Readiness,
    /// Seconds since the Ready condition's last heartbeat.
    pub heartbeat_age_seconds: Option<i64>,
    /// status.addresses as published.
    pub addresses: Vec<NodeAddress>,
    /// What was dialled.
    pub endpoint: Option<Endpoint>,
    /// What it served.
    pub serving: Serving,
    /// Set for a NotReady node whose kubelet serves an expired or foreign certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callout: Option<Callout>,
}

/// A bootstrap token, judged at scan time.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRow {
    /// The token (never its secret).
    #[serde(flatten)]
    pub info: TokenInfo,
    /// It no longer authenticates because of its expiry.
    pub expired: bool,
}

/// Whether kubecert's exporters were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportersRead {
    /// Where they were looked for.
    pub namespace: String,
    /// Nodes whose exporter answered.
    pub nodes: usize,
    /// Why they could not be listed (e.g. no permission to list Pods there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A part of the scan that could not be done (the rest still is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionError {
    /// `csrs`, `tokens`, `rbac`, `clock`, `cluster-ca`.
    pub section: &'static str,
    /// Why.
    pub error: String,
}

/// Counts over the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Nodes.
    pub nodes: usize,
    /// Ready=True.
    pub ready: usize,
    /// Kubelets that served a certificate.
    pub answered: usize,
    /// Kubelets that did not answer (or had no endpoint).
    pub unreachable: usize,
    /// Served certificates past not-after.
    pub expired: usize,
    /// Served certificates expiring within the warning window.
    pub expiring_soon: usize,
    /// Signed by a cluster CA.
    pub cluster_signed: usize,
    /// Self-signed by the kubelet.
    pub self_signed: usize,
    /// Signed by an unknown CA.
    pub foreign: usize,
    /// Nodes called out with a repair.
    pub callouts: usize,
    /// Stuck CSRs.
    pub csrs: usize,
    /// Expired bootstrap tokens still present.
    pub expired_tokens: usize,
    /// Seconds the scan took.
    pub seconds: f64,
}

/// The whole scan.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// API server.
    pub server: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Counts.
    pub summary: Summary,
    /// One headline per problem found (empty: healthy).
    pub problems: Vec<String>,
    /// Nodes, by name.
    pub nodes: Vec<NodeReport>,
    /// CSRs not issued.
    pub csrs: Vec<CsrEntry>,
    /// Bootstrap tokens.
    pub tokens: Vec<TokenRow>,
    /// kubeadm's bootstrap RBAC objects.
    pub rbac: Vec<ObjectStatus>,
    /// API server clock.
    pub clock: Option<Clock>,
    /// Each node's certificate deadlines from its kubelet, and what blocks its renewals.
    pub deadlines: Vec<NodeDeadlines>,
    /// Nodes that will break, soonest first, with the reason and the command that prevents it.
    pub forecast: Vec<Forecast>,
    /// kubecert's exporters, when looked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exporters: Option<ExportersRead>,
    /// Parts that could not be scanned.
    pub errors: Vec<SectionError>,
}

/// The cluster CAs a serving certificate is judged against: the kubeconfig's CA and the
/// `kube-system/kube-root-ca.crt` ConfigMap (when readable).
pub(crate) async fn cluster_cas(admin: &AdminClient) -> (Vec<Certificate>, Option<String>) {
    let mut cas: Vec<Certificate> = admin.ca_der.iter().filter_map(|d| Certificate::from_der(d).ok()).collect();
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(admin.client.clone(), "kube-system");
    let mut err = None;
    match api.get("kube-root-ca.crt").await {
        Ok(cm) => {
            if let Some(pem) = cm.data.as_ref().and_then(|d| d.get("ca.crt")) {
                for c in load_certificates(pem.as_bytes()).unwrap_or_default() {
                    if !cas.iter().any(|k| k.der() == c.der()) {
                        cas.push(c);
                    }
                }
            }
        }
        Err(e) => err = Some(format!("get ConfigMap kube-system/kube-root-ca.crt: {}", crate::error::describe(&e))),
    }
    (cas, err)
}

/// Probes one node's kubelet.
async fn probe_node(row: NodeRow, prober: &Prober, cas: &[Certificate], opts: &ScanOptions, now: OffsetDateTime) -> NodeReport {
    let resolve = |h: &str| if opts.resolve_hostnames { address::system_resolve(h) } else { Vec::new() };
    let chosen = address::choose(&row.addresses, opts.default_address, resolve);
    let endpoint = chosen.filter(|_| row.port != 0).map(|(ip, source)| Endpoint { ip, port: row.port, source });
    let serving = match (&endpoint, opts.no_probe) {
        (_, true) => Serving::Skipped,
        (None, _) => Serving::NoEndpoint {
            reason: if row.port == 0 { "no daemonEndpoints.kubeletEndpoint.Port".into() } else { "no usable address (see --default-address)".into() },
        },
        (Some(ep), _) => match prober.chain(SocketAddr::new(ep.ip, ep.port)).await {
            Err(error) => Serving::Unreachable { error },
            Ok(chain) => match serving::judge(&chain, cas, now) {
                Ok(c) => Serving::Cert(c),
                Err(e) => Serving::Unparsable { error: e.to_string() },
            },
        },
    };
    let callout = callout_for(&row.name, row.ready, &serving);
    NodeReport {
        heartbeat_age_seconds: row.heartbeat.map(|t| (now - t).whole_seconds()),
        name: row.name,
        ready: row.ready,
        addresses: row.addresses,
        endpoint,
        serving,
        callout,
    }
}

/// The callout for a node that is not Ready and serves an expired or foreign certificate.
pub(crate) fn callout_for(node: &str, ready: Readiness, serving: &Serving) -> Option<Callout> {
    let Serving::Cert(c) = serving else { return None };
    if ready.is_ready() || !(c.expired || c.trust == Trust::Foreign) {
        return None;
    }
    let what = match (c.expired, c.trust == Trust::Foreign) {
        (true, true) => "an expired certificate from a foreign CA",
        (true, false) => "an expired certificate",
        _ => "a certificate from a foreign CA (not this cluster's, not its own)",
    };
    Some(Callout {
        problem: format!("{node} is {ready} and its kubelet serves {what} (issuer {})", c.issuer),
        repair: format!("on {node}: kubecert doctor && kubecert csr --node {node} --signer serving --approve --install"),
    })
}

/// Scans the cluster. `progress(done, total)` is called as kubelets answer (`total` is the API
/// server's count of Nodes, known from the first page of the list).
///
/// Everything that waits on the network overlaps: the Node list is read page by page on a task
/// of its own and each page's kubelets are probed as soon as it arrives, while the CSRs, tokens
/// and RBAC objects are read alongside the probes.
pub async fn scan(admin: &AdminClient, opts: &ScanOptions, mut progress: impl FnMut(usize, usize)) -> Result<Report, ScanError> {
    let start = std::time::Instant::now();
    let client = &admin.client;
    let now = OffsetDateTime::now_utc();
    let (pages, lister) = nodes::list_in_background(client);
    let (clock, (cas, ca_err)) = futures::join!(clock::measure(client), cluster_cas(admin));

    let prober = Prober::new(opts.timeout);
    let cas = std::sync::Arc::new(cas);
    let shared_opts = std::sync::Arc::new(opts.clone());
    let total = std::cell::Cell::new(0usize);
    let probes = async {
        // Each probe is a task of its own, so a multi-threaded runtime spreads the handshakes
        // over its workers; at most `concurrency` are in flight.
        let mut stream = pages
            .map(|page| {
                total.set(total.get().max(page.total_estimate));
                futures::stream::iter(page.rows)
            })
            .flatten()
            .map(|row| {
                let (prober, cas, opts) = (prober.clone(), std::sync::Arc::clone(&cas), std::sync::Arc::clone(&shared_opts));
                tokio::spawn(async move { probe_node(row, &prober, &cas, &opts, now).await })
            })
            .buffer_unordered(opts.concurrency.max(1));
        let mut reports = Vec::new();
        while let Some(r) = stream.next().await {
            reports.push(r.expect("a probe task panicked"));
            progress(reports.len(), total.get().max(reports.len()));
        }
        tracing::info!("scan: {} kubelets probed after {:?}", reports.len(), start.elapsed());
        reports
    };
    let others = async {
        let read = futures::join!(csrs::list_all(client), token::list(client), rbac::check(client), rbac::renewals_auto_approved(client));
        tracing::info!("scan: CSRs, tokens and RBAC read after {:?}", start.elapsed());
        read
    };
    let (mut reports, (all_csrs, tokens, rbac, auto_approval)) = futures::join!(probes, others);
    lister.await.expect("the Node list task panicked")?;
    reports.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<String> = reports.iter().map(|r| r.name.clone()).collect();
    let ttls = async {
        if opts.kubelet_metrics {
            // Unordered: in order, one silent kubelet (2 × timeout) held up the next 63 reads
            // (bench/scan.sh measured 38 nodes/s at 5,000 Nodes with 5 % silent).
            let mut read: Vec<(usize, kubelet_metrics::KubeletTtls)> = futures::stream::iter(names.iter().enumerate().map(|(i, n)| async move { (i, kubelet_metrics::read(client, n, opts.timeout.saturating_mul(2)).await) }))
                .buffer_unordered(opts.concurrency.clamp(1, 64))
                .collect()
                .await;
            read.sort_by_key(|(i, _)| *i);
            read.into_iter().map(|(_, t)| t).collect::<Vec<_>>()
        } else {
            names.iter().map(|_| kubelet_metrics::KubeletTtls::Unknown { reason: "not read (--no-kubelet-metrics)".into() }).collect()
        }
    };
    let exporters = async {
        let ns = opts.exporter_namespace.as_ref()?;
        let src = exporter_series::ExporterSource { namespace: ns.clone(), timeout: opts.timeout.saturating_mul(2), concurrency: opts.concurrency.clamp(1, 64) };
        Some((ns.clone(), exporter_series::read_all(client, &src).await))
    };
    let (ttls, exporters) = futures::join!(ttls, exporters);
    tracing::info!("scan: kubelet metrics read after {:?}", start.elapsed());

    let mut errors = Vec::new();
    let mut err = |section: &'static str, e: String| errors.push(SectionError { section, error: e });
    let clock = clock.map_err(|e| err("clock", e.to_string())).ok();
    if let Some(e) = ca_err {
        err("cluster-ca", e);
    }
    let all_csrs = all_csrs.map_err(|e| err("csrs", e.to_string())).unwrap_or_default();
    let csr_list = csrs::entries(&all_csrs, now);
    let token_infos: Option<Vec<TokenInfo>> = match tokens {
        Ok((good, bad)) => {
            for b in bad {
                err("tokens", b.to_string());
            }
            Some(good)
        }
        Err(e) => {
            err("tokens", e.to_string());
            None
        }
    };
    let (views, exporters) = match exporters {
        None => (exporter_series::ExporterViews::new(), None),
        Some((namespace, Ok(v))) => {
            let nodes = v.values().filter(|r| r.is_ok()).count();
            (v, Some(ExportersRead { namespace, nodes, error: None }))
        }
        Some((namespace, Err(e))) => (exporter_series::ExporterViews::new(), Some(ExportersRead { namespace, nodes: 0, error: Some(e.to_string()) })),
    };
    let facts = ClusterFacts { renewals_auto_approved: auto_approval.map_err(|e| err("rbac", e.to_string())).ok(), tokens: token_infos.as_deref() };
    let (deadlines, forecast) = forecast_all(&names, &ttls, &views, &all_csrs, facts, now);
    let tokens: Vec<TokenRow> = token_infos.unwrap_or_default().into_iter().map(|info| TokenRow { expired: info.is_expired(now), info }).collect();
    let rbac = rbac.map_err(|e| err("rbac", e.to_string())).unwrap_or_default();

    let mut report = Report { server: admin.server.clone(), time: now, summary: Summary::default(), problems: Vec::new(), nodes: reports, csrs: csr_list, tokens, rbac, clock, deadlines, forecast, exporters, errors };
    report.summary = summarize(&report, opts.warn_within);
    report.summary.seconds = start.elapsed().as_secs_f64();
    report.problems = problems(&report);
    Ok(report)
}

/// Every node's deadlines, and the forecast soonest first.
fn forecast_all(
    names: &[String],
    ttls: &[kubelet_metrics::KubeletTtls],
    exporters: &exporter_series::ExporterViews,
    csrs: &[k8s_openapi::api::certificates::v1::CertificateSigningRequest],
    facts: ClusterFacts,
    now: OffsetDateTime,
) -> (Vec<NodeDeadlines>, Vec<Forecast>) {
    let index = forecast::CsrIndex::new(csrs);
    let mut deadlines = Vec::with_capacity(names.len());
    let mut all = Vec::new();
    for (name, t) in names.iter().zip(ttls) {
        let input = forecast::NodeInputs { ttls: t, exporter: exporters.get(name) };
        let (d, f) = forecast::judge(name, input, &index, facts, now);
        deadlines.push(d);
        all.extend(f);
    }
    all.sort_by_key(|f| f.when);
    (deadlines, all)
}

/// Counts.
pub(crate) fn summarize(r: &Report, warn_within: time::Duration) -> Summary {
    let mut s = Summary { nodes: r.nodes.len(), csrs: r.csrs.len(), expired_tokens: r.tokens.iter().filter(|t| t.expired).count(), ..Default::default() };
    for n in &r.nodes {
        s.ready += usize::from(n.ready.is_ready());
        s.callouts += usize::from(n.callout.is_some());
        match &n.serving {
            Serving::Cert(c) => {
                s.answered += 1;
                s.expired += usize::from(c.expired);
                s.expiring_soon += usize::from(!c.expired && c.expires_in_seconds < warn_within.whole_seconds());
                match c.trust {
                    Trust::ClusterSigned => s.cluster_signed += 1,
                    Trust::SelfSigned => s.self_signed += 1,
                    Trust::Foreign => s.foreign += 1,
                }
            }
            Serving::Unreachable { .. } | Serving::NoEndpoint { .. } | Serving::Unparsable { .. } => s.unreachable += 1,
            Serving::Skipped => {}
        }
    }
    s
}

/// One headline per kind of problem.
pub fn problems(r: &Report) -> Vec<String> {
    let s = &r.summary;
    let mut out = Vec::new();
    let mut add = |n: usize, what: &str| {
        if n > 0 {
            out.push(format!("{n} {what}"));
        }
    };
    add(s.nodes - s.ready, "node(s) not Ready");
    add(s.callouts, "NotReady node(s) serving an expired or foreign certificate (repair commands listed)");
    add(s.expired, "kubelet serving certificate(s) expired");
    add(s.foreign, "kubelet serving certificate(s) from a foreign CA");
    add(s.unreachable, "kubelet(s) not answering over TLS");
    add(r.csrs.iter().filter(|c| matches!(c.state, Stuck::Failed | Stuck::ApprovedNotIssued)).count(), "CSR(s) failed or approved but not issued");
    add(r.csrs.iter().filter(|c| c.state == Stuck::Pending && crate::csr::is_stuck(c.age_seconds)).count(), "CSR(s) pending for more than 5 minutes");
    add(r.forecast.len(), "certificate(s) whose renewal will fail (see the forecast)");
    add(s.expired_tokens, "expired bootstrap token(s) still present");
    add(r.rbac.iter().filter(|o| o.state != rbac::State::Present).count(), "bootstrap RBAC object(s) missing or incomplete");
    add(r.errors.len(), "part(s) of the scan could not be done");
    if let Some(c) = r.clock.as_ref().filter(|c| c.skewed) {
        out.push(format!("API server clock is {}s off the local clock", c.skew_seconds));
    }
    out
}
