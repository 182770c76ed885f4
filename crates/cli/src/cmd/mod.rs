//! One module per subcommand. Each has `Args` (clap) and `run(args, global) -> Result<ExitCode>`.

mod approve;
mod backups;
mod bootstrap_config;
mod check_expiration;
mod completions;
mod csr;
mod discover;
mod doctor;
mod explain;
mod exporter;
mod install_common;
pub(crate) mod node_args;
mod rbac;
mod renew;
mod repair;
mod rollback;
mod scan;
mod serving;
mod sign;
mod token;

use crate::global::Global;
use clap::Subcommand;
use std::process::ExitCode;

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Diagnose this node's kubelet certificates (offline): names the cause and the fix.
    Doctor(doctor::Args),
    /// Explain a finding code, or the known lines of kubelet logs read from stdin.
    Explain(explain::Args),
    /// List every certificate on the node with its expiry (kubeadm's list plus the kubelet's own).
    CheckExpiration(check_expiration::Args),
    /// Create, list and delete bootstrap tokens (kubeadm-compatible).
    Token(token::Args),
    /// Make a node's bootstrap kubeconfig after checking that the cluster can complete a TLS bootstrap; --install puts it on the node.
    BootstrapConfig(bootstrap_config::Args),
    /// Check or create the RBAC a kubelet TLS bootstrap needs (kubeadm's bindings).
    Rbac(rbac::Args),
    /// On a node: discover the cluster with a token (signature + CA pin) and make or install its bootstrap kubeconfig.
    Discover(discover::Args),
    /// Sign a new kubelet client certificate for one node with the cluster CA (offline); --install puts it on the node.
    Sign(sign::Args),
    /// List the backups kubecert made on this node, one per install or rollback.
    Backups(backups::Args),
    /// Restore the files an install replaced, byte for byte, from its backup.
    Rollback(rollback::Args),
    /// Get a new kubelet certificate for one node through a CertificateSigningRequest (online); --install puts it on the node.
    Csr(csr::Args),
    /// On a node: diagnose, then repair the kubelet's client credential the least invasive way the credentials at hand allow.
    Repair(repair::Args),
    /// Renew a kubeadm control plane's certificates and kubeconfigs (kubeadm's shapes), only those due; backed up, undo with rollback.
    Renew(renew::Args),
    /// Scan the cluster: every kubelet's serving certificate, stuck CSRs, bootstrap tokens, RBAC and clock skew.
    Scan(scan::Args),
    /// The kubelet's serving certificate: enable cluster-signed rotation (serverTLSBootstrap), renew a self-signed one, or show every node's.
    Serving(serving::Args),
    /// Approve pending kubelet CSRs that pass the policy (client and serving); --watch runs as a controller.
    Approve(approve::Args),
    /// Serve Prometheus metrics (/metrics, /healthz) for this node's certificates; runs as a DaemonSet (deploy/).
    Exporter(exporter::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print kubecert's man page (roff), or write one page per command with --out-dir.
    Man(completions::ManArgs),
}

/// Runs one subcommand.
pub fn run(command: Command, global: &Global) -> anyhow::Result<ExitCode> {
    match command {
        Command::Doctor(a) => doctor::run(a, global),
        Command::Explain(a) => explain::run(a, global),
        Command::CheckExpiration(a) => check_expiration::run(a, global),
        Command::Token(a) => token::run(a, global),
        Command::BootstrapConfig(a) => bootstrap_config::run(a, global),
        Command::Rbac(a) => rbac::run(a, global),
        Command::Discover(a) => discover::run(a, global),
        Command::Sign(a) => sign::run(a, global),
        Command::Backups(a) => backups::run(a, global),
        Command::Rollback(a) => rollback::run(a, global),
        Command::Csr(a) => csr::run(a, global),
        Command::Repair(a) => repair::run(a, global),
        Command::Renew(a) => renew::run(a, global),
        Command::Scan(a) => scan::run(a, global),
        Command::Serving(a) => serving::run(a, global),
        Command::Approve(a) => approve::run(a, global),
        Command::Exporter(a) => exporter::run(a, global),
        Command::Completions(a) => completions::run_completions(a, global),
        Command::Man(a) => completions::run_man(a, global),
    }
}
