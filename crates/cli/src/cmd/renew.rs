//! `kubecert renew [all|NAME...]`: parses the options, calls `kubecert_node::renew::renew`, renders
//! the outcome. Exit 0 renewed (or nothing due), 1 refused or failed (nothing changed) or a
//! certificate could not be read (the others renewed), 2 bad input.

use super::install_common::{finish, refuse};
use super::node_args::{parse_duration, NodeArgs};
use crate::global::Global;
use crate::render;
use kubecert_node::install;
use kubecert_node::renew::{self, RenewError, RenewOptions, RenewOutcome, RenewRequest};
use std::process::ExitCode;

/// Renew a kubeadm control plane's certificates and kubeconfigs (kubeadm's shapes), only those due.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `all` (the default), or names as `kubeadm certs renew` takes them: apiserver, admin.conf, etcd-server, ...
    #[arg(value_name = "all|NAME")]
    names: Vec<String>,
    /// Renew only what expires within this window (30d, 12h, 1y).
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration)]
    within: time::Duration,
    /// Renew every selected certificate whatever its expiry, as `kubeadm certs renew` does.
    #[arg(long)]
    force: bool,
    /// Lifetime of the new certificates (kubeadm's default: one year).
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_duration)]
    validity: time::Duration,
    /// When a CA expires before a new certificate would, cut the certificate to the CA's expiry instead of refusing.
    #[arg(long)]
    clamp_to_ca: bool,
    /// Show what would be renewed and every file change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where backups of replaced files go (a node path).
    #[arg(long, value_name = "PATH", default_value = install::DEFAULT_BACKUP_ROOT)]
    backup_dir: String,
    #[command(flatten)]
    node: NodeArgs,
}

/// Runs it.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(run_inner(args, global))
}

fn run_inner(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let (root, _) = args.node.open()?;
    if args.validity <= time::Duration::ZERO {
        anyhow::bail!("--validity must be positive");
    }
    let req = RenewRequest {
        names: args.names.clone(),
        within: (!args.force).then_some(args.within),
        validity: args.validity,
        clamp_to_ca: args.clamp_to_ca,
        now: time::OffsetDateTime::now_utc(),
    };
    let opts = RenewOptions { dry_run: args.dry_run, backup_root: args.backup_dir.clone() };
    let out = match renew::renew(&root, &req, &opts) {
        Ok(o) => o,
        Err(e @ (RenewError::Refused { .. } | RenewError::NotControlPlane { .. })) => return refuse(e.to_string()),
        Err(RenewError::UnknownName { name, known }) => anyhow::bail!("{name:?} is not a certificate kubeadm renews; one of: all, {known}"),
        Err(RenewError::Install(e)) => return Err(e.into()),
        Err(e) => return refuse(e.to_string()),
    };
    if !render::structured(global.output, &out)? {
        print_text(&out, &args);
    }
    // A certificate that needed renewing and could not be read is not a success.
    Ok(if out.skipped.iter().any(|s| s.problem) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn print_text(o: &RenewOutcome, args: &Args) {
    let c = render::colour();
    let due = if args.force { String::new() } else { format!(" (due: expiring within {})", render::human_duration(args.within)) };
    if o.renewed.is_empty() {
        println!("nothing to renew{due}");
    } else {
        println!("{}{due}:", if o.dry_run { "would renew" } else { "renewed" });
        for r in &o.renewed {
            let clamp = if r.clamped_to_ca { " (cut to the CA's expiry)" } else { "" };
            println!("  {:<26} {}  ->  {}{clamp}   [{}, new {} key]", r.name, date(r.old_expiration), date(r.new_expiration), r.ca_name, r.key_type);
        }
    }
    for s in &o.skipped {
        println!("  skipped {:<18} {}", s.name, s.reason);
    }
    if o.dry_run && !o.plan.is_empty() {
        println!("{} nothing will be changed. The install would:", render::paint(c, "1;33", "dry run:"));
    }
    if !o.plan.is_empty() {
        for ch in &o.plan {
            println!("  {}", ch.line(!o.dry_run));
        }
    }
    if let Some(b) = &o.applied {
        println!("backup {} in {} (undo with `kubecert rollback --to {}`)", b.backup_id, b.backup_dir, b.backup_id);
    }
    if !o.restart.is_empty() {
        let names: Vec<&str> = o.restart.iter().map(|c| c.name()).collect();
        println!(
            "{} {} must restart to load the new files (static pods: move each manifest out of /etc/kubernetes/manifests until its pod is gone, then back)",
            if o.dry_run { "then" } else { "now" },
            names.join(", ")
        );
    }
}

fn date(t: time::OffsetDateTime) -> String {
    t.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default()
}
