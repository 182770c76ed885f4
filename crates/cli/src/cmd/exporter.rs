//! `kubecert exporter`: serves Prometheus metrics for the node it runs on (`/metrics`: the doctor
//! findings as gauges, a count per finding code, each certificate's not-after) and `/healthz`.
//! Every scrape reads the node's files afresh (read-only). With `--in-cluster` (a DaemonSet Pod's
//! service account) or `--kubeconfig`, it also reports the Node's Ready condition as the API
//! server has it. See deploy/ for the DaemonSet.

use super::node_args::{parse_duration, NodeArgs};
use super::token::admin;
use crate::global::Global;
use anyhow::Context as _;
use kubecert_cluster::exporter::metrics::{self, CertSample, FindingSample, NodeSample};
use kubecert_cluster::exporter::{self as exp, events};
use kubecert_node::{codes, expiration, rules, snapshot, Settings};
use std::process::ExitCode;
use std::sync::Arc;

/// Serve Prometheus metrics (/metrics) and /healthz for this node's certificates.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "0.0.0.0:9654")]
    listen: std::net::SocketAddr,
    /// Use the Pod's service account (KUBERNETES_SERVICE_HOST/PORT, token and CA files) to read this Node's Ready condition.
    #[arg(long)]
    in_cluster: bool,
    /// Count certificates expiring within this window as warnings (e.g. 30d).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration)]
    warn_within: time::Duration,
    /// Also post Kubernetes Events on this Node (KubecertCertificateExpiring/-Expired/-Unreadable, KubecertDoctorError) for `kubectl describe node`; needs --in-cluster or --kubeconfig.
    #[arg(long)]
    events: bool,
    /// How often to check for events to post; each event is posted at most once per interval (repeats raise its count).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    events_interval: time::Duration,
}

/// What one scrape reads from the node's files.
fn collect_files(args: &NodeArgs, warn_within: time::Duration) -> anyhow::Result<(Option<String>, Vec<FindingSample>, Vec<CertSample>)> {
    let (root, ov) = args.open()?;
    let now = time::OffsetDateTime::now_utc();
    let snap = snapshot::take(&root, &ov);
    let settings = Settings { warn_within, now };
    let findings = rules::diagnose(&snap, &settings).into_iter().map(|f| FindingSample { code: f.code.to_string(), severity: f.severity.to_string() }).collect();
    let report = expiration::report(&root, &snap, now);
    let certs = report
        .certificates
        .iter()
        .chain(report.certificate_authorities.iter())
        .map(|c| CertSample { name: c.name.clone(), path: c.path.clone(), not_after: c.expiration_date, missing: c.missing, unreadable: c.error.is_some() })
        .collect();
    Ok((snap.setup.node_name.clone(), findings, certs))
}

/// Runs it until SIGINT/SIGTERM.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    // Fail at start, not at the first scrape, when the root is unusable.
    args.node.open()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the async runtime")?;
    rt.block_on(async move {
        let client = if args.in_cluster {
            Some(exp::in_cluster_client()?)
        } else if global.kubeconfig.is_some() {
            Some(admin(global).await?.client)
        } else {
            None
        };
        if args.events {
            let Some(client) = client.clone() else { anyhow::bail!("--events needs API access: --in-cluster or --kubeconfig") };
            let interval = std::time::Duration::try_from(args.events_interval).ok().filter(|d| !d.is_zero()).context("--events-interval must be positive")?;
            let (node_args, warn) = (Arc::new(args.node.clone()), args.warn_within);
            let look = move || {
                let a = Arc::clone(&node_args);
                async move {
                    match tokio::task::spawn_blocking(move || collect_files(&a, warn)).await {
                        Ok(Ok((Some(node), findings, certs))) => Some((node, findings, certs)),
                        Ok(Ok((None, _, _))) => {
                            tracing::warn!("events: the node's name is unknown (--node-name)");
                            None
                        }
                        Ok(Err(e)) => {
                            tracing::warn!("events: {e:#}");
                            None
                        }
                        Err(e) => {
                            tracing::warn!("events: {e}");
                            None
                        }
                    }
                }
            };
            tokio::spawn(events::run(client, interval, warn, look));
        }
        let listener = tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listen on {}", args.listen))?;
        eprintln!("kubecert exporter: listening on http://{}/metrics", listener.local_addr()?);
        let known: Vec<(String, String)> = codes::CODES.iter().map(|c| (c.code.to_string(), c.severity.to_string())).collect();
        let node_args = Arc::new(args.node);
        let warn = args.warn_within;
        let collect = move || {
            let (node_args, client, known) = (Arc::clone(&node_args), client.clone(), known.clone());
            async move {
                let start = std::time::Instant::now();
                let files = tokio::task::spawn_blocking(move || collect_files(&node_args, warn)).await;
                let (node, findings, certs) = match files {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => {
                        tracing::warn!("collect: {e:#}");
                        (None, Vec::new(), Vec::new())
                    }
                    Err(e) => {
                        tracing::warn!("collect: {e}");
                        (None, Vec::new(), Vec::new())
                    }
                };
                let node = node.unwrap_or_default();
                let api = match &client {
                    Some(c) if !node.is_empty() => Some(exp::node_readiness(c, &node).await),
                    _ => None,
                };
                let sample = NodeSample { node, findings, known_codes: known, certs, api, collect_seconds: start.elapsed().as_secs_f64() };
                metrics::render(&sample, time::OffsetDateTime::now_utc())
            }
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("install the SIGTERM handler")?;
        tokio::select! {
            _ = exp::serve(listener, collect) => {}
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("kubecert exporter: stopped");
        Ok(ExitCode::SUCCESS)
    })
}
