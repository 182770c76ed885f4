//! The `kubecert` binary: parses arguments, calls the library crates, renders their results.
//! Nothing here decides anything about certificates; that lives in the libraries.
//!
//! Exit codes: 0 success (no error finding), 1 a finding of severity error (or the operation's
//! own "no" answer), 2 kubecert itself could not run (bad arguments, unreadable input).

mod cmd;
mod global;
mod render;

use clap::Parser;
use std::process::ExitCode;

/// Finds out why a Kubernetes node's certificates are broken, and repairs them safely.
#[derive(Debug, Parser)]
#[command(name = "kubecert", version = version_text(), about, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: global::Global,
    #[command(subcommand)]
    command: cmd::Command,
}

const fn version_text() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), " (Kubernetes API: certificates.k8s.io/v1, core/v1, rbac.authorization.k8s.io/v1; tested against v1.37.2)")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
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
