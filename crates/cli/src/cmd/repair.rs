//! `kubecert repair`: the front door on a node. Runs the doctor, and when the kubelet's client
//! credential is broken picks the least invasive repair the available credentials allow:
//!
//! 1. nothing, when the kubelet will renew the certificate by itself;
//! 2. the node's own bootstrap kubeconfig, when its token still works and the cluster will
//!    approve the bootstrap CSR: the broken credential is moved aside and the kubelet bootstraps;
//! 3. a CSR through the API, with cluster credentials that may get it approved (`kubecert csr`);
//! 4. offline signing with the cluster CA key (`kubecert sign`).
//!
//! It shows the plan, then applies it after confirmation (or `--yes`); `--dry-run` stops at the plan.
//! The decisions (what needs a repair, which path) and the issuing live in kubecert-workflows;
//! this file asks and renders.

use super::install_common::{check_can_restart_kubelet, finish, refuse, restart_kubelet};
use super::node_args::NodeArgs;
use crate::global::{Global, Output};
use crate::render;
use kubecert_cluster::client::ClientOptions;
use kubecert_node::install;
use kubecert_workflows::csr::CsrRequest;
use kubecert_workflows::repair::{self, Assessment, ClusterCredentials, RepairPath};
use kubecert_workflows::sign::{Destination, SignRequest};
use kubecert_workflows::{InstallOptions, Target};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Diagnose this node and repair its kubelet client credential the least invasive way available.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// The cluster CA certificate, for offline signing (default on control-plane nodes: /etc/kubernetes/pki/ca.crt in the root).
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The cluster CA key, for offline signing (default on control-plane nodes: /etc/kubernetes/pki/ca.key in the root).
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Show the diagnosis and the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// For the CSR path: how long to wait for the certificate.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = super::node_args::parse_positive_duration)]
    timeout: time::Duration,
    /// Where backups of replaced files go (a node path).
    #[arg(long, value_name = "PATH", default_value = install::DEFAULT_BACKUP_ROOT)]
    backup_dir: String,
    /// After a successful repair, restart the kubelet through systemd (only with --root /).
    #[arg(long, conflicts_with = "dry_run")]
    restart_kubelet: bool,
}

/// Runs it: 0 repaired or nothing to do, 1 refused / not confirmed / failed, 2 could not run.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(repair(args, global))
}

fn repair(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let (root, overrides) = args.node.open()?;
    if args.restart_kubelet {
        check_can_restart_kubelet(&root)?;
    }
    let target = Target::discover(root, overrides);
    let d = kubecert_node::diagnose(&target.root, &target.overrides, &kubecert_node::Settings::default());
    let structured = matches!(global.output, Output::Json | Output::Yaml);
    if structured {
        return refuse("repair talks to a person (plan, confirmation); use `kubecert doctor -o json` for the diagnosis");
    }
    print!("{}", super::doctor::text(&d, global));
    println!();

    let assessment = repair::assess(&d);
    let node = match &assessment {
        Assessment::Blocked { blockers } => {
            return refuse(format!("a new certificate would not help until {} is fixed (see the fix above)", blockers.join(", ")));
        }
        Assessment::AgentManaged => {
            println!("repair: this node's agent (k3s/rke2) issues the kubelet's certificates itself; restart the agent instead. Nothing done.");
            return Ok(ExitCode::SUCCESS);
        }
        Assessment::NothingToDo { expiring_soon } => {
            if *expiring_soon {
                println!("repair: nothing to do — the client certificate expires soon, but rotation is on: the kubelet renews it by itself.");
            } else {
                println!("repair: nothing to do — the kubelet's client credential is usable.");
            }
            return Ok(ExitCode::from(if d.has_errors() { 1 } else { 0 }));
        }
        Assessment::NoNodeName => return refuse("cannot tell this node's name (no --hostname-override, no /etc/hostname): give --node-name"),
        Assessment::Needed { node, .. } => node.clone(),
    };
    let why = assessment.why().unwrap_or_default();

    // The least invasive path the credentials at hand allow.
    let client = ClientOptions { kubeconfig: global.kubeconfig.clone(), context: global.context.clone() };
    let creds = ClusterCredentials::from_environment(client, args.ca_cert.clone().zip(args.ca_key.clone()));
    let choice = super::token::runtime()?.block_on(repair::choose(&target, &creds));
    println!("repair: {why}.");
    for s in &choice.skipped {
        println!("  not possible: {s}");
    }
    let Some(path) = choice.path else {
        return refuse(
            "no way to get a new credential with what is available here: give cluster credentials (--kubeconfig) that may \
             create and approve CSRs, the cluster CA (--ca-cert/--ca-key), or a bootstrap kubeconfig (`kubecert bootstrap-config`, `kubecert discover`)",
        );
    };
    let options = InstallOptions { backup_dir: args.backup_dir.clone(), server: None, allow_name_mismatch: false };
    match path {
        RepairPath::Bootstrap { file, user } => {
            println!("chosen: the node's bootstrap kubeconfig {file} still works ({user}, and the cluster approves its CSRs):");
            println!("the broken credential is moved aside (backed up) so that the kubelet bootstraps a new one at its next start.\n");
            let plan = repair::bootstrap_plan(&target, &node);
            for ch in plan.describe(&target.root) {
                println!("  {ch}");
            }
            if !confirm(&args)? {
                return not_applied(&args);
            }
            let applied = repair::apply_bootstrap(&target, &plan, &args.backup_dir)?;
            println!("backup {} in {} (undo with `kubecert rollback --to {}`)", applied.backup_id, applied.backup_dir, applied.backup_id);
            if args.restart_kubelet {
                restart_kubelet()?;
                println!("the kubelet bootstraps with {file} and gets a certificate for {node}");
            } else {
                println!("now restart the kubelet (systemctl restart kubelet, or run repair with --restart-kubelet): it bootstraps with {file} and gets a certificate for {node}");
            }
            Ok(ExitCode::SUCCESS)
        }
        RepairPath::Csr { kubeconfig, user, how } => {
            println!("chosen: a CSR through the API as {user} ({how}).\n");
            let cluster = ClientOptions { kubeconfig: kubeconfig.or_else(|| global.kubeconfig.clone()), context: global.context.clone() };
            let req = CsrRequest::client(&node, std::time::Duration::from_secs(args.timeout.whole_seconds().max(0) as u64));
            let dest = || Destination::Install { target: &target, options: &options };
            super::csr::render(&super::csr::follow(&req, dest(), true, &cluster, global)?, true, global)?;
            if !confirm(&args)? {
                return not_applied(&args);
            }
            let report = super::csr::follow(&req, dest(), false, &cluster, global)?;
            restart_after(&args, super::csr::render(&report, false, global)?)
        }
        RepairPath::Sign { ca_cert, ca_key } => {
            println!("chosen: offline signing with the cluster CA {}.\n", ca_cert.display());
            let req = SignRequest::client(&node, ca_cert, ca_key);
            let dest = || Destination::Install { target: &target, options: &options };
            super::sign::render(&kubecert_workflows::sign::sign(&req, dest(), true)?, true, false, global)?;
            if !confirm(&args)? {
                return not_applied(&args);
            }
            let issued = kubecert_workflows::sign::sign(&req, dest(), false)?;
            restart_after(&args, super::sign::render(&issued, false, false, global)?)
        }
    }
}

/// With `--restart-kubelet`, restarts the kubelet once the new credential is installed.
fn restart_after(args: &Args, installed: ExitCode) -> anyhow::Result<ExitCode> {
    if args.restart_kubelet && installed == ExitCode::SUCCESS {
        restart_kubelet()?;
    }
    Ok(installed)
}

/// Asks on a terminal unless `--yes` or `--dry-run`.
fn confirm(args: &Args) -> anyhow::Result<bool> {
    if args.dry_run {
        return Ok(false);
    }
    if args.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("\napply this repair? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn not_applied(args: &Args) -> anyhow::Result<ExitCode> {
    if args.dry_run {
        println!("\n{} nothing was changed", render::paint(render::colour(), "1;33", "dry run:"));
        return Ok(ExitCode::SUCCESS);
    }
    refuse(if std::io::stdin().is_terminal() { "not applied" } else { "not applied: nobody to confirm on a terminal; pass --yes to apply" })
}

