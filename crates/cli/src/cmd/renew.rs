//! `kubecert renew [all|NAME...]`: parses the options, calls `kubecert_node::renew::renew`, renders
//! the outcome. Exit 0 renewed (or nothing due), 1 refused or failed (nothing changed) or a
//! certificate could not be read (the others renewed), 2 bad input.

use super::install_common::{finish, refuse};
use super::node_args::{parse_duration, NodeArgs};
use crate::global::Global;
use crate::render;
use kubecert_node::install;
use kubecert_cluster::client::ClientOptions;
use kubecert_cluster::static_pods::StaticPodApi;
use kubecert_node::renew::{self, RenewError, RenewOptions, RenewOutcome, RenewRequest, RestartOptions, RestartReport};
use std::process::ExitCode;

/// Renew a kubeadm control plane's certificates and kubeconfigs (kubeadm's shapes), only those due.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `all` (the default), or names as `kubeadm certs renew` takes them: apiserver, admin.conf, etcd-server, ...; and `kubelet.conf` (only by name, as kubeadm's `all` leaves it alone): pointed at the kubelet's rotating certificate when that is valid for this node, else re-issued
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
    /// Then restart the static pods that load the renewed files (manifest moved out until the kubelet removed the pod, moved back, new pod waited for; etcd last); if one does not come back healthy, roll the renewal back and restart it on the old files. Needs the API (--kubeconfig, else the node's /etc/kubernetes/admin.conf); mirror pods are <component>-<node name> (--node-name, else kubelet.conf's system:node:NAME, else /etc/hostname).
    #[arg(long)]
    restart: bool,
    /// How long each wait of --restart may take (the kubelet removing the pod; the new pod healthy).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration, requires = "restart")]
    restart_timeout: time::Duration,
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
    let result = if args.restart {
        let node_name = match args.node.node_name.clone().or_else(|| renew::node_name(&root)) {
            Some(n) => n,
            None => anyhow::bail!("--restart: cannot tell the node's name (no kubelet.conf client certificate, no /etc/hostname); pass --node-name"),
        };
        let timeout = std::time::Duration::try_from(args.restart_timeout).map_err(|_| anyhow::anyhow!("--restart-timeout must be positive"))?;
        let ro = RestartOptions { node_name, timeout, poll: std::time::Duration::from_millis(500) };
        let api = match &global.kubeconfig {
            Some(k) => StaticPodApi::connect(&ClientOptions { kubeconfig: Some(k.clone()), context: global.context.clone() })?,
            // the node's own admin.conf: read inside the root, bounded, embedded data only
            None => {
                let admin = kubecert_node::layout::Layout::Kubeadm.admin_kubeconfig().unwrap_or("/etc/kubernetes/admin.conf");
                let f = root.read(admin).map_err(|e| anyhow::anyhow!("--restart needs the API: {admin}: {e} (pass --kubeconfig)"))?;
                StaticPodApi::connect_node(admin, &f.bytes, global.context.clone())?
            }
        };
        renew::renew_and_restart(&root, &req, &opts, &ro, &api)
    } else {
        renew::renew(&root, &req, &opts)
    };
    let out = match result {
        Ok(o) => o,
        Err(e @ (RenewError::Refused { .. } | RenewError::NotControlPlane { .. })) => return refuse(e.to_string()),
        Err(RenewError::UnknownName { name, known }) => anyhow::bail!("{name:?} is not a certificate kubeadm renews; one of: all, {known}"),
        Err(RenewError::Install(e)) => return Err(e.into()),
        Err(e) => return refuse(e.to_string()),
    };
    if !render::structured(global.output, &out)? {
        print_text(&out, &args);
    }
    // A certificate that needed renewing and could not be read, or a restart that failed, is not a success.
    let failed = out.restarts.as_ref().is_some_and(|r| r.failure.is_some());
    Ok(if failed || out.skipped.iter().any(|s| s.problem) { ExitCode::from(1) } else { ExitCode::SUCCESS })
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
    if o.renewed.iter().any(|r| r.name == "kubelet.conf") {
        println!("the kubelet reads kubelet.conf at start: {} the kubelet (systemctl restart kubelet)", if o.dry_run { "then restart" } else { "now restart" });
    }
    if let Some(b) = &o.applied {
        println!("backup {} in {} (undo with `kubecert rollback --to {}`)", b.backup_id, b.backup_dir, b.backup_id);
    }
    if let Some(r) = &o.restarts {
        print_restarts(r, o.dry_run);
    } else if !o.restart.is_empty() {
        let names: Vec<&str> = o.restart.iter().map(|c| c.name()).collect();
        println!(
            "{} {} must restart to load the new files (static pods: move each manifest out of /etc/kubernetes/manifests until its pod is gone, then back)",
            if o.dry_run { "then" } else { "now" },
            names.join(", ")
        );
    }
}

fn print_restarts(r: &RestartReport, dry_run: bool) {
    if dry_run {
        println!("then restart, one at a time (node {}):", r.node_name);
        for p in &r.plan {
            let cert = match (&p.endpoint, &p.serving_cert) {
                (Some(e), Some(c)) => format!(", {e} serving {c}"),
                _ => String::new(),
            };
            println!("  {:<24} move {} to {}, wait until the kubelet removed the pod, move it back, wait for mirror pod kube-system/{} re-created and Ready{cert}", p.component.name(), p.manifest, p.aside, p.mirror_pod);
        }
    }
    for s in &r.skipped {
        println!("  not restarted {:<24} {}", s.component.name(), s.reason);
    }
    for d in &r.restarted {
        let uid = |m: Option<&renew::MirrorPod>| m.map(|m| m.uid.clone()).unwrap_or_else(|| "-".into());
        println!("restarted {:<24} ({}: {:.1}s; healthy {:.1}s later) uid {} -> {}", d.component.name(), d.removal, d.removed_ms as f64 / 1000.0, d.healthy_ms as f64 / 1000.0, uid(d.before.as_ref()), d.after.uid);
        for c in &d.checks {
            println!("  {c}");
        }
    }
    if let Some(f) = &r.failure {
        println!("FAILED: {} did not come back healthy: {}", f.component.name(), f.reason);
        match (&f.rolled_back_by, &f.rollback_error) {
            (Some(id), _) => println!("the renewal was rolled back (backup {id}): the old files are back"),
            (None, Some(e)) => println!("the rollback FAILED: {e}; run `kubecert rollback`"),
            _ => {}
        }
        match (&f.restarted_on_old_files, &f.old_files_error) {
            (Some(d), _) => println!("{} restarted again on the old files and healthy (mirror pod uid {})", d.component.name(), d.after.uid),
            (None, Some(e)) => println!("restarting {} on the old files failed too: {e}", f.component.name()),
            _ => {}
        }
        if !f.already_restarted.is_empty() {
            let names: Vec<&str> = f.already_restarted.iter().map(|c| c.name()).collect();
            println!("{} restarted before the failure and keep the new certificates in memory until their next restart", names.join(", "));
        }
    }
}

fn date(t: time::OffsetDateTime) -> String {
    t.format(&time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).unwrap_or_default()
}
