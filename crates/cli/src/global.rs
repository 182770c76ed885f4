//! Options every command shares, following kubectl's conventions.

use clap::{Args, ValueEnum};

/// How to print results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// Human-readable text (colour on a terminal).
    #[default]
    Text,
    /// Text with extra columns.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Options shared by all commands.
#[derive(Debug, Args)]
pub struct Global {
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t)]
    pub output: Output,
    /// Path to the kubeconfig file for commands that talk to a cluster (else $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Logs go to stderr; stdout is only for results.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}
