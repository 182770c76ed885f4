//! `kubecert rbac check|ensure`: the RBAC objects a TLS bootstrap needs, with kubeadm's names.
//! `check` reads (objects, then the authorizer's answers); `ensure` creates what is missing,
//! is idempotent, and with `--dry-run` sends every write as a server-side dry run.

use super::token::{admin, block_on};
use crate::global::Global;
use crate::render;
use comfy_table::Table;
use kubecert_cluster::client::AdminClient;
use kubecert_cluster::rbac::{self, Action, ObjectStatus, State};
use kubecert_cluster::token::{Token, DEFAULT_GROUP};
use std::process::ExitCode;

/// Check or create the RBAC a kubelet TLS bootstrap needs (kubeadm's bindings).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Report each object and whether a bootstrap token may do what a bootstrap needs; exit 1 if something required is missing.
    Check,
    /// Create the missing objects (and add missing subjects/rules); idempotent.
    Ensure {
        /// Show what would change; the server validates each write but stores nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs it.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    block_on(async move {
        let admin = admin(global).await?;
        match args.command {
            Sub::Check => check(&admin, global).await,
            Sub::Ensure { dry_run } => ensure(&admin, dry_run, global).await,
        }
    })?
}

fn state_text(s: &State) -> String {
    match s {
        State::Present => "present".into(),
        State::Missing => "MISSING".into(),
        State::Incomplete { lacking } => format!("INCOMPLETE: lacks {}", lacking.join(", ")),
        State::Conflict { detail } => format!("CONFLICT: {detail}"),
    }
}

fn object_name(o: &ObjectStatus) -> String {
    match &o.namespace {
        Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

async fn check(admin: &AdminClient, global: &Global) -> anyhow::Result<ExitCode> {
    let objects = rbac::check(&admin.client).await?;
    // The authorizer's view, for a token of kubeadm's default group (sees grants under other names too).
    let probe = Token::generate();
    let caps = rbac::bootstrap_capabilities(&admin.client, &probe.user(), &[DEFAULT_GROUP.to_string()], "kubecert-rbac-check").await?;
    let required_denied = caps.iter().any(|c| c.required && !c.allowed);
    let code = ExitCode::from(if required_denied { 1 } else { 0 });
    if render::structured(global.output, &serde_json::json!({ "objects": objects, "capabilities": caps }))? {
        return Ok(code);
    }
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["OBJECT", "STATE", "PURPOSE"]);
    for o in &objects {
        t.add_row([object_name(o), state_text(&o.state), o.purpose.to_string()]);
    }
    println!("{t}\n");
    let mut t = Table::new();
    t.load_style(comfy_table::presets::NOTHING);
    t.set_header(["WHO", "MAY", "ALLOWED", "NEEDED FOR", "GRANTED BY (kubeadm)"]);
    for c in &caps {
        let who = if kubecert_cluster::names::is_bootstrap_user(&c.user) { format!("token in {DEFAULT_GROUP}") } else { c.user.clone() };
        let allowed = match (c.allowed, c.required) {
            (true, _) => "yes",
            (false, true) => "NO (required)",
            (false, false) => "no",
        };
        t.add_row([who, c.request.clone(), allowed.to_string(), c.purpose.to_string(), c.granted_by.to_string()]);
    }
    println!("{t}");
    if required_denied {
        println!("\nA kubelet cannot complete a TLS bootstrap on this cluster; `kubecert rbac ensure` creates kubeadm's bindings.");
    }
    Ok(code)
}

async fn ensure(admin: &AdminClient, dry_run: bool, global: &Global) -> anyhow::Result<ExitCode> {
    let done = rbac::ensure(&admin.client, dry_run).await?;
    let conflict = done.iter().any(|d| d.action == Action::Conflict);
    let code = ExitCode::from(if conflict { 1 } else { 0 });
    if render::structured(global.output, &done)? {
        return Ok(code);
    }
    for d in &done {
        let verb = match (&d.action, dry_run) {
            (Action::Unchanged, _) => "unchanged".to_string(),
            (Action::Created, false) => "created".into(),
            (Action::Created, true) => "would create (dry run)".into(),
            (Action::Updated, false) => format!("updated ({})", state_text(&d.before.state)),
            (Action::Updated, true) => format!("would update (dry run; {})", state_text(&d.before.state)),
            (Action::Conflict, _) => format!("left alone: {} — delete it by hand if it is wrong", state_text(&d.before.state)),
        };
        println!("{}: {verb}", object_name(&d.before));
    }
    Ok(code)
}
