//! `kubecert approve [--watch] [--dry-run]`: approves pending kubelet client and serving CSRs
//! that pass the policy (kubecert_cluster::approve) and says why it skipped the others. One shot
//! by default; `--watch` keeps going as a controller (one line per new decision) until SIGINT or
//! SIGTERM. Exit (one shot): 0 nothing skipped, 1 some CSR skipped or not approvable, 2 error.

use super::token::admin;
use crate::global::{Global, Output};
use crate::render;
use anyhow::Context as _;
use comfy_table::Table;
use kubecert_cluster::approve::{self, Decision, IpRange, Outcome, Policy, Verdict};
use kubecert_cluster::client::AdminClient;
use kubecert_cluster::lease::{Elector, LeaseConfig, Role};
use serde::Serialize;
use std::collections::HashMap;
use std::process::ExitCode;

/// Approve pending kubelet CSRs that pass the policy; say why the others were skipped.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these CSRs (names, as `kubectl certificate approve NAME...`); default: every pending kubelet CSR.
    names: Vec<String>,
    /// Keep running: review pending CSRs every --interval (a controller; stop with SIGINT/SIGTERM).
    #[arg(long)]
    watch: bool,
    /// Seconds between reviews with --watch.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    interval: u64,
    /// Print the decisions; approve nothing (the approval is sent as a server-side dry run).
    #[arg(long)]
    dry_run: bool,
    /// Serving CSRs: DNS SANs matching this regex are allowed besides the Node's addresses.
    #[arg(long, value_name = "REGEX")]
    allowed_dns: Option<String>,
    /// Serving CSRs: IP SANs in these ranges are allowed besides the Node's addresses (CIDR, comma-separated or repeated).
    #[arg(long, value_name = "CIDR", value_delimiter = ',')]
    allowed_ip_ranges: Vec<String>,
    /// Use the Pod's service account (the Deployment in deploy/approver.yaml) instead of a kubeconfig (takes precedence over --kubeconfig/$KUBECONFIG).
    #[arg(long)]
    in_cluster: bool,
    /// Serving CSRs: the longest expirationSeconds allowed, in days.
    #[arg(long, default_value_t = 367)]
    max_expiration_days: u32,
    /// With --watch: run only while holding a coordination.k8s.io Lease, so several replicas can run and one approves.
    #[arg(long)]
    leader_elect: bool,
    /// How long a leader's lease lasts unrenewed (a standby takes over after it); more than twice --interval.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = super::node_args::parse_duration)]
    leader_elect_lease_duration: time::Duration,
    /// The Lease's name.
    #[arg(long, default_value = "kubecert-approver")]
    leader_elect_resource_name: String,
    /// The Lease's namespace.
    #[arg(long, default_value = "kubecert-system")]
    leader_elect_resource_namespace: String,
    /// This replica's identity in the Lease (default: $POD_NAME, else $HOSTNAME, plus the process id).
    #[arg(long)]
    leader_elect_identity: Option<String>,
}

/// One line of output.
#[derive(Debug, Serialize)]
struct Line {
    #[serde(flatten)]
    decision: Decision,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<Outcome>,
}

/// Runs it.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let allowed_ips = args.allowed_ip_ranges.iter().map(|s| IpRange::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let policy = Policy { max_expiration_seconds: i64::from(args.max_expiration_days) * 86400, allowed_dns: args.allowed_dns.as_deref().map(approve::dns_pattern).transpose()?, allowed_ips };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the async runtime")?;
    rt.block_on(async {
        let admin = if args.in_cluster {
            let client = kubecert_cluster::exporter::in_cluster_client()?;
            AdminClient { client, server: "in-cluster".into(), ca_der: Vec::new(), source: "service account".into() }
        } else {
            admin(global).await?
        };
        if !args.watch {
            let lines = round(&admin, &policy, &args.names, args.dry_run).await?;
            if !render::structured(global.output, &lines)? {
                print_table(&lines, args.dry_run);
            }
            let all_ok = lines.iter().all(|l| matches!(l.outcome, Some(Outcome::Approved | Outcome::WouldApprove)));
            return Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        watch(&admin, &policy, &args, global).await
    })
}

/// One review: every pending kubelet CSR decided, approvable ones approved (or dry-run).
async fn round(client: &AdminClient, policy: &Policy, names: &[String], dry_run: bool) -> anyhow::Result<Vec<Line>> {
    let (decisions, objects) = approve::review(&client.client, policy).await?;
    let mut out = Vec::with_capacity(decisions.len());
    for (d, obj) in decisions.into_iter().zip(objects.iter()) {
        if !names.is_empty() && !names.contains(&d.name) {
            continue;
        }
        let outcome = match d.verdict {
            Verdict::Approve => Some(approve::approve(&client.client, obj, dry_run).await?),
            Verdict::Skip { .. } => None,
        };
        out.push(Line { decision: d, outcome });
    }
    Ok(out)
}

fn describe(l: &Line) -> (String, String) {
    match (&l.decision.verdict, &l.outcome) {
        (Verdict::Skip { reasons }, _) => ("skipped".into(), reasons.join("; ")),
        (_, Some(Outcome::Approved)) => ("approved".into(), "passed every check".into()),
        (_, Some(Outcome::WouldApprove)) => ("would approve (dry run)".into(), "passed every check".into()),
        (_, Some(Outcome::Changed)) => ("left".into(), "it changed after the check; looked at again next round".into()),
        (_, Some(Outcome::Forbidden(m))) => ("not approved".into(), format!("these credentials may not approve it: {m}")),
        (_, None) => ("?".into(), String::new()),
    }
}

fn print_table(lines: &[Line], dry_run: bool) {
    if lines.is_empty() {
        println!("no pending kubelet CSRs{}", if dry_run { " (dry run)" } else { "" });
        return;
    }
    let mut t = Table::new();
    t.set_header(["CSR", "KIND", "REQUESTOR", "NODE", "DECISION", "WHY"]);
    for l in lines {
        let (what, why) = describe(l);
        let d = &l.decision;
        t.add_row([d.name.clone(), format!("{:?}", d.kind).to_lowercase(), d.requestor.clone(), d.node.clone().unwrap_or_default(), what, why]);
    }
    println!("{t}");
}

/// The Lease candidate `--leader-elect` asks for, checked against `--interval`.
fn elector(client: &AdminClient, args: &Args) -> anyhow::Result<Option<Elector>> {
    if !args.leader_elect {
        return Ok(None);
    }
    let duration = std::time::Duration::try_from(args.leader_elect_lease_duration).context("--leader-elect-lease-duration must be positive")?;
    anyhow::ensure!(duration.as_secs() >= args.interval.saturating_mul(2), "--leader-elect-lease-duration ({}s) must be at least twice --interval ({}s), or the leader loses the lease between renewals", duration.as_secs(), args.interval);
    let identity = args.leader_elect_identity.clone().unwrap_or_else(|| {
        let host = std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "kubecert".into());
        format!("{host}_{}", std::process::id())
    });
    let cfg = LeaseConfig { namespace: args.leader_elect_resource_namespace.clone(), name: args.leader_elect_resource_name.clone(), identity, duration };
    Ok(Some(Elector::new(client.client.clone(), cfg)))
}

/// With leader election: whether this replica may act this round (printing role changes).
async fn may_act(elector: &mut Option<Elector>, was: &mut Option<Role>) -> bool {
    let Some(e) = elector else { return true };
    let role = match e.tick().await {
        Ok(r) => r,
        Err(err) => {
            eprintln!("{} leader election: {err}", time_now());
            Role::Follower(None)
        }
    };
    if was.as_ref() != Some(&role) {
        match &role {
            Role::Leader => eprintln!("{} kubecert approve: leading (Lease acquired)", time_now()),
            Role::Follower(h) => eprintln!("{} kubecert approve: standing by (Lease held by {})", time_now(), h.as_deref().unwrap_or("nobody yet")),
        }
        *was = Some(role.clone());
    }
    role == Role::Leader && e.is_leader()
}

/// The controller loop: prints a line when a CSR's decision is new or changed.
async fn watch(client: &AdminClient, policy: &Policy, args: &Args, global: &Global) -> anyhow::Result<ExitCode> {
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("install the SIGTERM handler")?;
    let mut elector = elector(client, args)?;
    let mut role = None;
    eprintln!("kubecert approve: watching kubelet CSRs every {}s{}", args.interval, if args.dry_run { " (dry run)" } else { "" });
    loop {
        let result = if may_act(&mut elector, &mut role).await { Some(round(client, policy, &args.names, args.dry_run).await) } else { None };
        match result {
            None => {}
            Some(Ok(lines)) => {
                for l in &lines {
                    let (what, why) = describe(l);
                    let key = format!("{what}: {why}");
                    if seen.get(&l.decision.name) == Some(&key) {
                        continue;
                    }
                    seen.insert(l.decision.name.clone(), key);
                    match global.output {
                        Output::Json | Output::Yaml => println!("{}", serde_json::to_string(l)?),
                        _ => println!("{} {} ({:?}, requestor {}): {what}: {why}", time_now(), l.decision.name, l.decision.kind, l.decision.requestor),
                    }
                }
                let pending: std::collections::HashSet<&str> = lines.iter().map(|l| l.decision.name.as_str()).collect();
                seen.retain(|k, _| pending.contains(k.as_str()));
            }
            // A controller survives API hiccups: say so and try again.
            Some(Err(e)) => eprintln!("{} review failed: {e:#}", time_now()),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(args.interval)) => {}
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    if let Some(e) = elector.as_mut() {
        // A standby takes over at once instead of after the lease duration.
        if let Err(err) = e.release().await {
            eprintln!("{} leader election: {err}", time_now());
        }
    }
    eprintln!("kubecert approve: stopped");
    Ok(ExitCode::SUCCESS)
}

fn time_now() -> String {
    kubecert_cluster::token::rfc3339(time::OffsetDateTime::now_utc())
}
