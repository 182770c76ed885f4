//! `kubecert scan`: the cluster's certificate health from a cluster-admin kubeconfig (nodes,
//! their kubelets' serving certificates, stuck CSRs, bootstrap tokens, bootstrap RBAC, clock
//! skew). Table by default, with progress on stderr when it is a terminal; `-o wide|json|yaml`.
//! Exit 0: nothing wrong; 1: problems listed; 2: the scan could not run.

use super::token::admin;
use crate::global::{Global, Output};
use crate::render;
use anyhow::Context as _;
use comfy_table::Table;
use kubecert_cluster::scan::{self, Report, ScanOptions, Serving};
use std::io::{IsTerminal, Write};
use std::net::IpAddr;
use std::process::ExitCode;

/// Scan every node's kubelet certificate, stuck CSRs, bootstrap tokens, RBAC and clock skew.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubelets probed at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Per-node timeout for the TCP connect and for the TLS handshake (e.g. 3s, 500ms).
    #[arg(long, default_value = "3s", value_parser = super::node_args::parse_timeout)]
    timeout: std::time::Duration,
    /// Dial this IP for Nodes that publish no usable address (InternalIP, ExternalIP, Hostname are tried first), e.g. 127.0.0.1 for loopback kubelets.
    #[arg(long, value_name = "IP")]
    default_address: Option<IpAddr>,
    /// Do not resolve Hostname addresses through DNS.
    #[arg(long)]
    no_resolve: bool,
    /// Only read the API: do not connect to the kubelets.
    #[arg(long)]
    no_probe: bool,
    /// Do not read the kubelets' certificate TTLs through the API server's node proxy (no forecast).
    #[arg(long)]
    no_kubelet_metrics: bool,
    /// Namespace of kubecert's exporter Pods, read through the API server's pod proxy for rotation-off findings and as the fallback when the node proxy is refused.
    #[arg(long, value_name = "NAMESPACE", default_value = kubecert_cluster::scan::exporter_series::DEFAULT_NAMESPACE)]
    exporter_namespace: String,
    /// Do not read kubecert's exporters.
    #[arg(long)]
    no_exporter: bool,
    /// Keep running: scan every --every and serve the last forecast as Prometheus metrics on ADDR:PORT (/metrics, /healthz); see deploy/forecast.yaml.
    #[arg(long, value_name = "ADDR:PORT")]
    serve: Option<std::net::SocketAddr>,
    /// With --serve: time between scans (e.g. 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = super::node_args::parse_duration, requires = "serve")]
    every: time::Duration,
    /// With --serve: use the Pod's service account instead of a kubeconfig.
    #[arg(long, requires = "serve")]
    in_cluster: bool,
    /// Count serving certificates expiring within this many days as expiring soon.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    warn_days: u32,
}


/// Runs it.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let opts = ScanOptions {
        concurrency: usize::from(args.concurrency),
        timeout: args.timeout,
        default_address: args.default_address,
        resolve_hostnames: !args.no_resolve,
        warn_within: time::Duration::days(i64::from(args.warn_days)),
        no_probe: args.no_probe,
        kubelet_metrics: !args.no_kubelet_metrics,
        exporter_namespace: (!args.no_exporter).then_some(args.exporter_namespace),
    };
    // Handshakes are CPU work: use the cores.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    if let Some(listen) = args.serve {
        let every = std::time::Duration::try_from(args.every).ok().filter(|d| !d.is_zero()).context("--every must be positive")?;
        return rt.block_on(async move {
            let admin = if args.in_cluster {
                let client = kubecert_cluster::exporter::in_cluster_client()?;
                kubecert_cluster::client::AdminClient { client, server: "in-cluster".into(), ca_der: Vec::new(), source: "service account".into() }
            } else {
                admin(global).await?
            };
            let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listen on {listen}"))?;
            eprintln!("kubecert scan: serving the forecast on http://{}/metrics, a scan every {}", listener.local_addr()?, render::human_duration(args.every));
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("install the SIGTERM handler")?;
            tokio::select! {
                _ = scan::metrics::serve(admin, opts, listener, every) => {}
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("kubecert scan: stopped");
            Ok(ExitCode::SUCCESS)
        });
    }
    let report = rt.block_on(async {
        let admin = admin(global).await?;
        let bar = std::io::stderr().is_terminal() && !matches!(global.output, Output::Json | Output::Yaml) || std::env::var_os("KUBECERT_PROGRESS").is_some();
        let mut last = std::time::Instant::now();
        let progress = move |done: usize, total: usize| {
            if bar && (done == total || last.elapsed().as_millis() >= 100) {
                last = std::time::Instant::now();
                let width = 30;
                let filled = (done * width).checked_div(total).unwrap_or(width);
                eprint!("\rscanning kubelets [{}{}] {done}/{total}", "#".repeat(filled), "-".repeat(width - filled));
                if done == total {
                    eprint!("\r{}\r", " ".repeat(60));
                }
                let _ = std::io::stderr().flush();
            }
        };
        anyhow::Ok(scan::scan(&admin, &opts, progress).await?)
    })?;
    if !render::structured(global.output, &report)? {
        print_text(&report, global.output == Output::Wide);
    }
    Ok(if report.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn age(secs: Option<i64>) -> String {
    secs.map(|s| render::human_duration(time::Duration::seconds(s))).unwrap_or_else(|| "-".into())
}

fn print_text(r: &Report, wide: bool) {
    let on = render::colour();
    let mut t = Table::new();
    let mut header = vec!["NODE", "STATUS", "HEARTBEAT", "SERVING CERT", "EXPIRES IN"];
    if wide {
        header.extend(["ENDPOINT", "ISSUER", "SANS"]);
    }
    t.set_header(header);
    for n in &r.nodes {
        let status = if n.ready.is_ready() { n.ready.to_string() } else { render::paint(on, "31", &n.ready.to_string()) };
        let (cert, expires, issuer, sans) = match &n.serving {
            Serving::Cert(c) => {
                let exp = render::human_duration(time::Duration::seconds(c.expires_in_seconds));
                let exp = if c.expired { render::paint(on, "31", &format!("EXPIRED {exp}")) } else { exp };
                let trust = c.trust.to_string();
                let trust = if c.trust == scan::serving::Trust::Foreign { render::paint(on, "31", &trust) } else { trust };
                let sans: Vec<String> = c.dns_names.iter().cloned().chain(c.ip_addresses.iter().map(|i| i.to_string())).collect();
                (trust, exp, c.issuer.clone(), sans.join(","))
            }
            Serving::Unreachable { error } => (render::paint(on, "33", &format!("no answer: {error}")), "-".into(), "-".into(), "-".into()),
            Serving::Unparsable { error } => (render::paint(on, "33", error), "-".into(), "-".into(), "-".into()),
            Serving::NoEndpoint { reason } => (render::paint(on, "33", reason), "-".into(), "-".into(), "-".into()),
            Serving::Skipped => ("(not probed)".into(), "-".into(), "-".into(), "-".into()),
        };
        let mut row = vec![n.name.clone(), status, age(n.heartbeat_age_seconds), cert, expires];
        if wide {
            let ep = n.endpoint.as_ref().map(|e| format!("{}:{} ({:?})", e.ip, e.port, e.source)).unwrap_or_else(|| "-".into());
            row.extend([ep, issuer, sans]);
        }
        t.add_row(row);
    }
    println!("{t}");

    if !r.csrs.is_empty() {
        let mut t = Table::new();
        t.set_header(["CSR", "CONDITION", "AGE", "SIGNER", "REQUESTOR"]);
        for c in &r.csrs {
            t.add_row([c.name.clone(), c.state.to_string(), age(Some(c.age_seconds)), c.signer.clone(), c.requestor.clone()]);
        }
        println!("\n{t}");
    }
    if !r.tokens.is_empty() {
        let mut t = Table::new();
        t.set_header(["TOKEN", "EXPIRES", "USAGES", "GROUPS"]);
        for tok in &r.tokens {
            let exp = match tok.info.expires {
                Some(e) if tok.expired => render::paint(on, "31", &format!("EXPIRED {}", kubecert_cluster::token::rfc3339(e))),
                Some(e) => kubecert_cluster::token::rfc3339(e),
                None if tok.expired => render::paint(on, "31", "EXPIRED (unparsable expiration)"),
                None => "<forever>".into(),
            };
            t.add_row([format!("{}{}", tok.info.id, if tok.info.being_deleted { " (being deleted)" } else { "" }), exp, tok.info.usages.join(","), tok.info.groups.join(",")]);
        }
        println!("\n{t}");
    }
    let rbac_bad: Vec<_> = r.rbac.iter().filter(|o| o.state != kubecert_cluster::rbac::State::Present).collect();
    if r.rbac.is_empty() {
        println!("\nbootstrap RBAC: not checked");
    } else if rbac_bad.is_empty() {
        println!("\nbootstrap RBAC: all {} kubeadm objects present", r.rbac.len());
    } else {
        println!("\nbootstrap RBAC: {} of {} kubeadm objects missing or incomplete (kubecert rbac check; kubecert rbac ensure)", rbac_bad.len(), r.rbac.len());
        for o in rbac_bad {
            println!("  {} {}: {:?}", o.kind, o.name, o.state);
        }
    }
    match &r.clock {
        Some(c) => println!("clock: API server {} local ({}s skew)", if c.skewed { "DIFFERS FROM" } else { "agrees with" }, c.skew_seconds),
        None => println!("clock: not measured"),
    }
    for e in &r.errors {
        println!("could not scan {}: {}", e.section, e.error);
    }
    let s = &r.summary;
    println!(
        "\n{} nodes ({} Ready) in {:.2}s: {} answered ({} cluster-signed, {} self-signed, {} foreign; {} expired, {} expiring soon), {} unreachable",
        s.nodes, s.ready, s.seconds, s.answered, s.cluster_signed, s.self_signed, s.foreign, s.expired, s.expiring_soon, s.unreachable
    );
    let unread: Vec<_> = r.deadlines.iter().filter(|d| d.unknown.is_some()).collect();
    if !unread.is_empty() {
        let fallback = unread.iter().filter(|d| d.client.as_ref().is_some_and(|c| c.source == scan::forecast::Source::Exporter)).count();
        println!(
            "kubelet metrics not readable through the node proxy for {} node(s): {fallback} dated from kubecert's exporter instead, {} unknown{}",
            unread.len(),
            unread.len() - fallback,
            if wide { "" } else { " (-o wide says why)" }
        );
        if wide {
            for d in &unread {
                println!("  {}: {}{}", d.node, d.unknown.as_deref().unwrap_or_default(), d.exporter_error.as_ref().map(|e| format!("; exporter: {e}")).unwrap_or_default());
            }
        }
    }
    match &r.exporters {
        Some(e) if e.error.is_some() => println!("kubecert exporters in {}: not read ({})", e.namespace, e.error.as_deref().unwrap_or_default()),
        Some(e) if e.nodes > 0 => println!("kubecert exporters in {}: read on {} node(s)", e.namespace, e.nodes),
        _ => {}
    }
    for d in r.deadlines.iter().filter(|d| d.client.is_none() && !d.client_blockers.is_empty()) {
        println!("{}: {} (client certificate's expiry unknown)", d.node, d.client_blockers.iter().map(|b| b.message.as_str()).collect::<Vec<_>>().join("; "));
    }
    if !r.forecast.is_empty() {
        println!("\n{}", render::paint(on, "1;31", "forecast: these nodes will break, soonest first"));
        for f in &r.forecast {
            let when = kubecert_cluster::token::rfc3339(f.when);
            println!("  {when}  {} ({:?} certificate) {}", f.node, f.certificate, f.consequence);
            for why in &f.reasons {
                println!("      because {}", why.message);
            }
            println!("      prevent: {}", f.prevent);
        }
    }
    for n in r.nodes.iter().filter_map(|n| n.callout.as_ref()) {
        println!("{} {}\n    repair: {}", render::paint(on, "31", "!"), n.problem, n.repair);
    }
    if r.problems.is_empty() {
        println!("no problems found");
    } else {
        println!("problems: {}", r.problems.join("; "));
    }
}
