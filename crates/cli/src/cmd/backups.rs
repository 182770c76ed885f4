//! `kubecert backups`: the backups kubecert made on this node, one per install or rollback, with
//! how far each got (an interrupted one must be rolled back before the next install).

use super::install_common::finish;
use super::node_args::NodeArgs;
use crate::global::{Global, Output};
use crate::render;
use comfy_table::Table;
use kubecert_node::install::{self, BackupState};
use std::process::ExitCode;

/// List the backups kubecert made on this node (newest last).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// Where backups are kept (a node path).
    #[arg(long, value_name = "PATH", default_value = install::DEFAULT_BACKUP_ROOT)]
    backup_dir: String,
}

/// Lists them; exit 1 when an install was interrupted (the node needs `kubecert rollback`).
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(list(args, global))
}

fn list(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let (root, _) = args.node.open()?;
    let (backups, bad) = install::list_backups(&root, &args.backup_dir)?;
    let interrupted = backups.iter().any(|b| b.state == BackupState::Committing);
    if !render::structured(global.output, &backups)? {
        if backups.is_empty() {
            println!("no backups in {}", args.backup_dir);
        } else {
            let mut t = Table::new();
            t.load_style(comfy_table::presets::NOTHING);
            let mut header = vec!["ID", "CREATED", "STATE", "WHAT"];
            if global.output == Output::Wide {
                header.push("PATHS");
            }
            t.set_header(header);
            let c = render::colour();
            for b in &backups {
                let state = match b.state {
                    BackupState::Committing => render::paint(c, "1;31", &b.state.to_string()),
                    BackupState::Complete => render::paint(c, "32", &b.state.to_string()),
                    _ => b.state.to_string(),
                };
                let what = match (&b.rolled_back_by, &b.error) {
                    (Some(by), _) => format!("{} (undone by {by})", b.label),
                    (None, Some(e)) => format!("{} ({e})", b.label),
                    _ => b.label.clone(),
                };
                // Manifests are node data: escaped for the terminal.
                let created = b.created.chars().take(19).collect::<String>().replace('T', " ");
                let mut row = vec![render::safe_line(&b.id), render::safe_line(&created), state, render::safe_line(&what)];
                if global.output == Output::Wide {
                    row.push(render::safe_line(&b.paths.join(", ")));
                }
                t.add_row(row);
            }
            println!("{t}");
            if interrupted {
                println!("\nan install was interrupted: run `kubecert rollback` to restore the node before anything else");
            }
        }
    }
    for e in &bad {
        eprintln!("kubecert: warning: {}", render::safe(&e.to_string()));
    }
    Ok(if interrupted { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
