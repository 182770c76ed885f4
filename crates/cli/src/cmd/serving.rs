//! `kubecert serving enable|renew|status`: the kubelet's serving certificate (port 10250), from
//! self-signed to cluster-signed and rotating. `enable` and `renew` change one node through the
//! install engine (backup, atomic write, `kubecert rollback`); `status` reads the cluster.

use super::install_common::{check_can_restart_kubelet, finish, print_report, refuse, restart_kubelet, InstallArgs, Target};
use kubecert_node::install::InstallPlan;
use super::token::admin;
use crate::global::Global;
use crate::render;
use anyhow::Context as _;
use kubecert_cluster::approve::Policy;
use kubecert_cluster::scan::ScanOptions;
use kubecert_cluster::serving_status::{self, ServingStatus, Stage};
use kubecert_node::serving::{self as node_serving, ServingError};
use std::process::ExitCode;

/// The kubelet's serving certificate: enable cluster-signed rotation, renew a self-signed one, or show every node's.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Set serverTLSBootstrap: true in the KubeletConfiguration the kubelet reads (every other byte kept; backed up).
    Enable(EnableArgs),
    /// Move an expired or expiring self-signed kubelet.crt/.key aside so that the kubelet makes a new one at restart.
    Renew(RenewArgs),
    /// Every node: self-signed or cluster-signed, expiry, SANs against the Node's addresses, pending serving CSRs.
    Status(StatusArgs),
}

/// How a change is made on the node: which node, a dry run or not, and a kubelet restart after.
#[derive(Debug, clap::Args)]
struct Change {
    #[command(flatten)]
    target: InstallArgs,
    /// Show the change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Restart the kubelet afterwards (only with --root /).
    #[arg(long)]
    restart_kubelet: bool,
}

#[derive(Debug, clap::Args)]
struct EnableArgs {
    #[command(flatten)]
    change: Change,
    /// Then wait this long (e.g. 60s) for the restarted kubelet's kubelet-serving CSR, through
    /// --kubeconfig (the kubelet's own, /etc/kubernetes/kubelet.conf, may list CSRs).
    #[arg(long, value_name = "DURATION", value_parser = super::node_args::parse_timeout)]
    wait: Option<std::time::Duration>,
}

#[derive(Debug, clap::Args)]
struct RenewArgs {
    #[command(flatten)]
    change: Change,
    /// Renew a certificate that expires within this window (e.g. 30d, 12h).
    #[arg(long, default_value = "30d", value_parser = super::node_args::parse_duration)]
    within: time::Duration,
    /// Renew even though it is not expiring.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Kubelets probed at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Dial this IP for Nodes that publish no usable address.
    #[arg(long, value_name = "IP")]
    default_address: Option<std::net::IpAddr>,
}

/// Runs it.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    match args.command {
        Sub::Enable(a) => finish(enable(a, global)),
        Sub::Renew(a) => finish(renew(a, global)),
        Sub::Status(a) => status(a, global),
    }
}

/// A serving refusal is the operation's own "no" (exit 1), with the library's reason.
fn refused<T>(e: ServingError) -> anyhow::Result<T> {
    refuse(e.to_string())
}

impl Change {
    /// Opens the node; refuses a restart that cannot be done before anything is planned.
    fn open(&self) -> anyhow::Result<Target> {
        let target = self.target.open()?;
        if self.restart_kubelet && !self.dry_run {
            check_can_restart_kubelet(&target.root)?;
        }
        Ok(target)
    }

    /// Applies `plan` (or shows it), renders the report, restarts the kubelet when asked.
    fn apply(&self, target: &Target, plan: InstallPlan, notes: Vec<String>, global: &Global) -> anyhow::Result<ExitCode> {
        let report = kubecert_workflows::install::apply_plan(target, &self.target.options(), plan, None, None, notes, &|_| Ok(()), self.dry_run)?;
        if !render::structured(global.output, &report)? {
            print_report(&report, global);
        }
        if self.restart_kubelet && !self.dry_run {
            restart_kubelet()?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn enable(a: EnableArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let target = a.change.open()?;
    let plan = match node_serving::plan_enable(&target.root, &target.overrides) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let Some(install) = plan.install else {
        println!("serverTLSBootstrap is already true in {}; nothing to change", plan.config_path);
        return Ok(ExitCode::SUCCESS);
    };
    let mut notes = plan.notes;
    notes.push(match &plan.node_name {
        Some(n) => format!("after a restart the kubelet files a kubernetes.io/kubelet-serving CSR as system:node:{n}; nothing approves it by default: `kubecert approve` or deploy/approver.yaml"),
        None => "after a restart the kubelet files a kubernetes.io/kubelet-serving CSR; nothing approves it by default: `kubecert approve` or deploy/approver.yaml".into(),
    });
    if a.wait.is_some() && plan.node_name.is_none() {
        return refuse("--wait needs the node's name (--node-name): no --hostname-override and no /etc/hostname");
    }
    let since = time::OffsetDateTime::now_utc();
    let code = a.change.apply(&target, install, notes, global)?;
    match (a.wait, plan.node_name, a.change.dry_run) {
        (Some(wait), Some(node), false) => wait_for_csr(&node, since, wait, global),
        _ => Ok(code),
    }
}

/// Waits for the kubelet's serving CSR and says what to do with it; exit 1 when none came.
fn wait_for_csr(node: &str, since: time::OffsetDateTime, wait: std::time::Duration, global: &Global) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("start the async runtime")?;
    let found = rt.block_on(async {
        let client = admin(global).await?;
        anyhow::Ok(serving_status::wait_for_csr(&client.client, node, since, wait).await?)
    })?;
    match found {
        Some(csr) => {
            println!("the kubelet filed serving CSR {csr}: approve it with `kubecert approve {csr}` (or let the approver do it); `kubecert serving status` shows progress");
            Ok(ExitCode::SUCCESS)
        }
        None => refuse(format!("no kubelet-serving CSR from system:node:{node} within {wait:?}: is the kubelet running with the new configuration? (`kubecert serving status`, `journalctl -u kubelet | kubecert explain`)")),
    }
}

fn renew(a: RenewArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let target = a.change.open()?;
    let plan = match node_serving::plan_renew(&target.root, &target.overrides, time::OffsetDateTime::now_utc(), a.within, a.force) {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let mut notes = vec![format!("{} ({:?}, not after {}): the kubelet makes a new self-signed pair at its next start", plan.cert_path, plan.reason, plan.not_after.date())];
    notes.extend(plan.notes);
    a.change.apply(&target, plan.install, notes, global)
}

fn status(a: StatusArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let opts = ScanOptions { concurrency: usize::from(a.concurrency), default_address: a.default_address, ..ScanOptions::default() };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("start the async runtime")?;
    let st = rt.block_on(async {
        let admin = admin(global).await?;
        anyhow::Ok(serving_status::status(&admin, &opts, &Policy::default()).await?)
    })?;
    if !render::structured(global.output, &st)? {
        print_status(&st);
    }
    Ok(if st.summary.done == st.summary.nodes { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_status(st: &ServingStatus) {
    let mut t = comfy_table::Table::new();
    t.set_header(["NODE", "STAGE", "ISSUER", "EXPIRES", "NOT IN SANS", "PENDING CSR"]);
    for n in &st.nodes {
        let (issuer, expires) = match &n.certificate {
            Some(c) => (c.issuer.clone(), c.not_after.date().to_string()),
            None => (n.probe_error.clone().unwrap_or_default(), "-".into()),
        };
        let pending = n.pending_csrs.iter().map(|p| format!("{}{}", p.name, if p.would_approve { "" } else { " (policy: no)" })).collect::<Vec<_>>().join(", ");
        t.add_row([n.name.clone(), stage_word(n.stage).into(), issuer, expires, n.uncovered_addresses.join(","), pending]);
    }
    println!("{t}");
    for n in st.nodes.iter().filter(|n| n.stage != Stage::Done) {
        println!("{}: {}", n.name, n.next_step);
    }
    let s = &st.summary;
    println!("{} node(s): {} cluster-signed and complete, {} self-signed, {} awaiting approval, {} other", s.nodes, s.done, s.self_signed, s.awaiting_approval, s.other);
}

fn stage_word(s: Stage) -> &'static str {
    match s {
        Stage::Done => "cluster-signed",
        Stage::ClusterSignedWithProblems => "cluster-signed (problems)",
        Stage::SelfSigned => "self-signed",
        Stage::AwaitingApproval => "awaiting approval",
        Stage::NoCertificate => "no certificate",
        Stage::Foreign => "foreign",
        Stage::Unknown => "unknown",
    }
}
