//! `kubecert rollback [--to ID]`: restore what an install replaced, byte for byte, from its
//! backup. By default the interrupted install if there is one, else the newest install not yet
//! undone. A rollback is itself backed up, so `kubecert rollback --to <its id>` redoes the install.

use super::install_common::{doctor_summary, finish, refuse, DoctorSummary, Target};
use super::node_args::NodeArgs;
use crate::global::Global;
use crate::render;
use kubecert_node::install::{self, Applied, BackupInfo, PlannedChange};
use serde::Serialize;
use std::process::ExitCode;

/// Restore the files an install replaced, from its backup (see `kubecert backups`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// The backup to restore (an id from `kubecert backups`). Default: an interrupted install, else the newest install not yet undone.
    #[arg(long, value_name = "ID")]
    to: Option<String>,
    /// Roll back even though the files changed since the install (e.g. the kubelet rotated its certificate).
    #[arg(long)]
    force: bool,
    /// Show what would be restored; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where backups are kept (a node path).
    #[arg(long, value_name = "PATH", default_value = install::DEFAULT_BACKUP_ROOT)]
    backup_dir: String,
}

#[derive(Debug, Serialize)]
struct Report {
    dry_run: bool,
    restored: BackupInfo,
    changes: Vec<PlannedChange>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changed_since: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<Applied>,
    #[serde(skip_serializing_if = "Option::is_none")]
    doctor: Option<DoctorSummary>,
}

/// Restores; exit 1 when refused (nothing to roll back, files changed since) or when it failed.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(rollback(args, global))
}

fn rollback(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let (root, overrides) = args.node.open()?;
    let report = if args.dry_run {
        let rp = install::plan_rollback(&root, &args.backup_dir, args.to.as_deref())?;
        if !rp.drift.is_empty() && !args.force {
            eprintln!("kubecert: warning: files changed since that install: {} (a real rollback needs --force)", render::safe_line(&rp.drift.join(", ")));
        }
        Report { dry_run: true, changes: rp.plan.describe(&root), restored: rp.backup, changed_since: rp.drift, backup: None, doctor: None }
    } else {
        let (restored, applied) = match install::rollback(&root, &args.backup_dir, args.to.as_deref(), args.force) {
            Ok(r) => r,
            Err(install::InstallError::NoBackup(m)) => return refuse(m),
            Err(e) => return Err(e.into()),
        };
        let target = Target::discover(root, overrides);
        let doctor = doctor_summary(&target);
        Report { dry_run: false, changes: applied.changes.clone(), restored, changed_since: Vec::new(), backup: Some(applied), doctor: Some(doctor) }
    };
    if !render::structured(global.output, &report)? {
        let c = render::colour();
        let b = &report.restored;
        if report.dry_run {
            println!("{} would restore backup {} ({}, {}):", render::paint(c, "1;33", "dry run:"), render::safe_line(&b.id), render::safe_line(&b.label), render::safe_line(&b.created));
        } else {
            println!("restored backup {} ({}, {}):", render::safe_line(&b.id), render::safe_line(&b.label), render::safe_line(&b.created));
        }
        for ch in &report.changes {
            println!("  {}", render::safe_line(&ch.line(!report.dry_run)));
        }
        if let Some(a) = &report.backup {
            println!("the files it replaced are in backup {} (undo this rollback with `kubecert rollback --to {}`)", a.backup_id, a.backup_id);
        }
        if let Some(d) = &report.doctor {
            println!("doctor afterwards: {} error(s), {} warning(s)", d.errors, d.warnings);
            for f in &d.findings {
                println!("  {}", render::safe_line(f));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
