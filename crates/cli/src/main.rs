//! The `kubecert` binary: parses arguments, calls the library crates, renders their results.
//! Nothing here decides anything about certificates; that lives in the libraries.
//!
//! Exit codes: 0 success (no error finding), 1 a finding of severity error (or the operation's
//! own "no" answer), 2 kubecert itself could not run (bad arguments, unreadable input).

mod cmd;
mod global;
mod plugin;
mod render;

use clap::{CommandFactory as _, FromArgMatches as _};
use std::process::ExitCode;

/// Finds out why a Kubernetes node's certificates are broken, and repairs them safely.
#[derive(Debug, clap::Parser)]
#[command(name = "kubecert", version = version_text(), about, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: global::Global,
    #[command(subcommand)]
    command: cmd::Command,
}

/// Parses argv; as `kubectl-kubecert`, help and usage say `kubectl kubecert`.
fn parse() -> Result<Cli, clap::Error> {
    let mut command = Cli::command();
    if let Some(name) = plugin::bin_name(std::env::args_os().next().as_deref()) {
        command = command.bin_name(name);
    }
    let matches = command.try_get_matches_from_mut(std::env::args_os())?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

const fn version_text() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), " (Kubernetes API: certificates.k8s.io/v1, core/v1, rbac.authorization.k8s.io/v1; tested against v1.37.2)")
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    global::init_tracing(cli.global.verbose);
    match cmd::run(cli.command, &cli.global) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kubecert: error: {}", render::error_text(&e));
            ExitCode::from(2)
        }
    }
}
