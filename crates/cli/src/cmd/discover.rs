//! `kubecert discover`: kubeadm-compatible token discovery on a node that has no credentials — the
//! cluster-info signature, the CA pin, a second fetch that trusts only the pinned CA — and then the
//! bootstrap kubeconfig, to `--out`, stdout, or installed with `--install` (field report 000's
//! Go program, without kubeadm).

use super::bootstrap_config::{write_private, InstallArgs, InstallTarget};
use super::token::block_on;
use crate::global::{Global, Output};
use crate::render;
use anyhow::bail;
use kubecert_cluster::bootstrap_config::kubeconfig;
use kubecert_cluster::discovery::{discover, Options};
use kubecert_cluster::token::Token;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Discover the cluster with a bootstrap token (verifying cluster-info's signature and the CA pin) and make the node's bootstrap kubeconfig.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bootstrap token (abcdef.0123456789abcdef); also KUBECERT_TOKEN.
    #[arg(long, env = "KUBECERT_TOKEN", hide_env_values = true)]
    token: String,
    /// The API server, HOST:PORT (as kubeadm join takes it).
    #[arg(long, value_name = "HOST:PORT")]
    server: String,
    /// Pin of the cluster CA's public key, sha256:<hex>; repeatable (any match passes).
    #[arg(long = "ca-cert-hash", value_name = "sha256:HEX")]
    ca_cert_hash: Vec<String>,
    /// Trust whatever CA cluster-info names (only the token's signature protects you then).
    #[arg(long)]
    unsafe_skip_ca_verification: bool,
    /// How long to wait for the token's signature to appear in cluster-info.
    #[arg(long, default_value = "15s", value_parser = super::node_args::parse_timeout)]
    timeout: Duration,
    /// Write the file here (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "install")]
    out: Option<PathBuf>,
    #[command(flatten)]
    install: InstallArgs,
}


/// Runs it; a refused or failed install is exit 1.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    super::install_common::finish(run_inner(args, global))
}

fn run_inner(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let structured = matches!(global.output, Output::Json | Output::Yaml);
    if structured && args.out.is_none() && !args.install.install {
        bail!("with -o json/yaml the report goes to stdout: give --out FILE or --install for the kubeconfig");
    }
    let token = Token::parse(&args.token)?;
    let target = if args.install.install { Some(InstallTarget::open(&args.install)?) } else { None };
    let opts = Options { endpoint: args.server.clone(), token: token.clone(), pins: args.ca_cert_hash.clone(), unsafe_skip_ca_verification: args.unsafe_skip_ca_verification, timeout: args.timeout };
    let found = block_on(discover(&opts))??;
    if !found.pinned {
        eprintln!("kubecert: warning: the CA was not checked against a pin (--unsafe-skip-ca-verification); it is {}", found.ca_pin);
    }
    let kc = kubeconfig(&found.server, &found.ca_pem, &token);
    let mut written = None;
    let mut installed = None;
    if let Some(t) = &target {
        let i = t.install(&kc, &format!("discover --server {}", args.server))?;
        if args.install.restart_kubelet {
            // InstallTarget::open already refused a root that is not this machine's.
            super::install_common::restart_kubelet()?;
        }
        installed = Some(i);
    } else if let Some(p) = &args.out {
        write_private(p, kc.to_yaml()?.as_bytes())?;
        written = Some(p.display().to_string());
    } else if !structured {
        print!("{}", kc.to_yaml()?);
    }
    let report = serde_json::json!({
        "server": found.server,
        "caPin": found.ca_pin,
        "pinned": found.pinned,
        "token": token.to_string(),
        "written": written,
        "installed": installed,
    });
    if !render::structured(global.output, &report)? {
        eprintln!("cluster-info verified: signed with token {token}, CA {} {}, server {}", found.ca_pin, if found.pinned { "matches the pin" } else { "NOT pinned" }, found.server);
        if let Some(w) = &written {
            eprintln!("wrote {w} (mode 0600)");
        }
        if let Some(i) = &installed {
            i.print_to_stderr();
        }
    }
    Ok(ExitCode::SUCCESS)
}
