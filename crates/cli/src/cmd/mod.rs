//! One module per subcommand. Each has `Args` (clap) and `run(args, global) -> Result<ExitCode>`.

use crate::global::Global;
use clap::Subcommand;
use std::process::ExitCode;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
}

/// Runs one subcommand.
pub fn run(command: Command, global: &Global) -> anyhow::Result<ExitCode> {
    let _ = global;
    match command {
    }
}
