//! `kubecert repair`: the front door on a node. Runs the doctor, and when the kubelet's client
//! credential is broken picks the least invasive repair the available credentials allow:
//!
//! 1. nothing, when the kubelet will renew the certificate by itself;
//! 2. the node's own bootstrap kubeconfig, when its token still works and the cluster will
//!    approve the bootstrap CSR: the broken credential is moved aside and the kubelet bootstraps;
//! 3. a CSR through the API, with cluster credentials that may get it approved (`kubecert csr`);
//! 4. offline signing with the cluster CA key (`kubecert sign`).
//!
//! It shows the plan, then applies it after confirmation (or `--yes`); `--dry-run` stops at the plan.

use super::install_common::{check_can_restart_kubelet, finish, refuse, restart_kubelet, Destination, InstallArgs, Target};
use super::node_args::NodeArgs;
use crate::global::{Global, Output};
use crate::render;
use kubecert_cluster::csr::{self as apicsr, Signer};
use kubecert_node::install::{self, ApplyOptions, InstallPlan};
use kubecert_node::Severity;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Findings a new client credential repairs.
const CLIENT_CODES: &[&str] = &[
    "kubeconfig-missing",
    "kubeconfig-invalid",
    "client-cert-missing",
    "client-cert-invalid",
    "client-cert-expired",
    "client-cert-identity-mismatch",
    "client-cert-wrong-org",
    "client-cert-untrusted",
    "client-cert-v1",
    "client-key-missing",
    "client-key-invalid",
    "client-key-mismatch",
    "bootstrap-kubeconfig-missing",
    "bootstrap-kubeconfig-invalid",
];
/// Findings a new client certificate cannot fix; they must be fixed first.
const BLOCKERS: &[&str] = &["client-cert-not-yet-valid", "ca-expired", "kubelet-config-invalid"];

/// Diagnose this node and repair its kubelet client credential the least invasive way available.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    node: NodeArgs,
    /// The cluster CA certificate, for offline signing (default on control-plane nodes: /etc/kubernetes/pki/ca.crt in the root).
    #[arg(long, value_name = "FILE", requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The cluster CA key, for offline signing (default on control-plane nodes: /etc/kubernetes/pki/ca.key in the root).
    #[arg(long, value_name = "FILE", requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Show the diagnosis and the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// For the CSR path: how long to wait for the certificate.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = super::node_args::parse_positive_duration)]
    timeout: time::Duration,
    /// Where backups of replaced files go (a node path).
    #[arg(long, value_name = "PATH", default_value = install::DEFAULT_BACKUP_ROOT)]
    backup_dir: String,
    /// After a successful repair, restart the kubelet through systemd (only with --root /).
    #[arg(long, conflicts_with = "dry_run")]
    restart_kubelet: bool,
}

/// A way to repair, or why it is not available.
enum Path {
    Bootstrap { file: String, user: String },
    Csr { kubeconfig: Option<PathBuf>, user: String, how: String },
    Sign { ca_cert: PathBuf, ca_key: PathBuf },
}

/// Runs it: 0 repaired or nothing to do, 1 refused / not confirmed / failed, 2 could not run.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(repair(args, global))
}

fn repair(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let (root, overrides) = args.node.open()?;
    if args.restart_kubelet {
        check_can_restart_kubelet(&root)?;
    }
    let setup = kubecert_node::discover::discover(&root, &overrides);
    let target = Target { root, overrides, setup };
    let d = kubecert_node::diagnose(&target.root, &target.overrides, &kubecert_node::Settings::default());
    let structured = matches!(global.output, Output::Json | Output::Yaml);
    if structured {
        return refuse("repair talks to a person (plan, confirmation); use `kubecert doctor -o json` for the diagnosis");
    }
    print!("{}", super::doctor::text(&d, global));
    println!();

    let has = |code: &str| d.findings.iter().any(|f| f.code == code);
    let broken: Vec<&str> = d.findings.iter().filter(|f| f.severity == Severity::Error && CLIENT_CODES.contains(&f.code)).map(|f| f.code).collect();
    let blockers: Vec<&str> = d.findings.iter().filter(|f| BLOCKERS.contains(&f.code)).map(|f| f.code).collect();
    if !blockers.is_empty() {
        return refuse(format!("a new certificate would not help until {} is fixed (see the fix above)", blockers.join(", ")));
    }
    if has("agent-managed-certs") {
        println!("repair: this node's agent (k3s/rke2) issues the kubelet's certificates itself; restart the agent instead. Nothing done.");
        return Ok(ExitCode::SUCCESS);
    }
    let renew = has("client-cert-rotation-stalled") || (has("client-cert-expiring-soon") && has("rotation-disabled"));
    if broken.is_empty() && !renew {
        if has("client-cert-expiring-soon") {
            println!("repair: nothing to do — the client certificate expires soon, but rotation is on: the kubelet renews it by itself.");
        } else {
            println!("repair: nothing to do — the kubelet's client credential is usable.");
        }
        return Ok(ExitCode::from(if d.has_errors() { 1 } else { 0 }));
    }
    let Some(node) = target.setup.node_name.clone() else {
        return refuse("cannot tell this node's name (no --hostname-override, no /etc/hostname): give --node-name");
    };
    let why = if broken.is_empty() { "the client certificate must be renewed now".to_string() } else { format!("the client credential is broken ({})", broken.join(", ")) };

    // The least invasive path the credentials at hand allow.
    let mut skipped = Vec::new();
    let path = choose(&args, global, &target, &node, &mut skipped)?;
    println!("repair: {why}.");
    for s in &skipped {
        println!("  not possible: {s}");
    }
    let Some(path) = path else {
        return refuse(
            "no way to get a new credential with what is available here: give cluster credentials (--kubeconfig) that may \
             create and approve CSRs, the cluster CA (--ca-cert/--ca-key), or a bootstrap kubeconfig (`kubecert bootstrap-config`, `kubecert discover`)",
        );
    };
    let install_args = InstallArgs { node: args.node.clone(), backup_dir: args.backup_dir.clone(), server: None, allow_name_mismatch: false };
    match &path {
        Path::Bootstrap { file, user } => {
            println!("chosen: the node's bootstrap kubeconfig {file} still works ({user}, and the cluster approves its CSRs):");
            println!("the broken credential is moved aside (backed up) so that the kubelet bootstraps a new one at its next start.\n");
            let plan = bootstrap_plan(&target, &node);
            for ch in plan.describe(&target.root) {
                println!("  {ch}");
            }
            if !confirm(&args)? {
                return not_applied(&args);
            }
            let opts = ApplyOptions { backup_root: args.backup_dir.clone(), verify: None, rollback_of: None };
            let applied = install::apply(&target.root, &plan, &opts)?;
            println!("backup {} in {} (undo with `kubecert rollback --to {}`)", applied.backup_id, applied.backup_dir, applied.backup_id);
            if args.restart_kubelet {
                restart_kubelet()?;
                println!("the kubelet bootstraps with {file} and gets a certificate for {node}");
            } else {
                println!("now restart the kubelet (systemctl restart kubelet, or run repair with --restart-kubelet): it bootstraps with {file} and gets a certificate for {node}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Path::Csr { kubeconfig, user, how } => {
            println!("chosen: a CSR through the API as {user} ({how}).\n");
            let g = Global { output: global.output, kubeconfig: kubeconfig.clone().or_else(|| global.kubeconfig.clone()), context: global.context.clone(), verbose: global.verbose };
            let mk = |dry_run| super::csr::Args {
                node: node.clone(),
                signer: super::csr::SignerArg::Client,
                approve: true,
                timeout: args.timeout,
                key_type: kubecert_pki::KeyType::EcdsaP256,
                valid_for: None,
                sans: Vec::new(),
                keep_csr: false,
                dest: Destination::install_on(install_args.clone(), dry_run),
            };
            super::csr::request(mk(true), &g)?;
            if !confirm(&args)? {
                return not_applied(&args);
            }
            restart_after(&args, super::csr::request(mk(false), &g)?)
        }
        Path::Sign { ca_cert, ca_key } => {
            println!("chosen: offline signing with the cluster CA {}.\n", ca_cert.display());
            let mk = |dry_run| super::sign::Args {
                node: Some(node.clone()),
                ca_cert: ca_cert.clone(),
                ca_key: ca_key.clone(),
                key_type: kubecert_pki::KeyType::EcdsaP256,
                valid_for: time::Duration::days(365),
                serving: false,
                sans: Vec::new(),
                csr: None,
                force: false,
                dest: Destination::install_on(install_args.clone(), dry_run),
            };
            super::sign::sign(mk(true), global)?;
            if !confirm(&args)? {
                return not_applied(&args);
            }
            restart_after(&args, super::sign::sign(mk(false), global)?)
        }
    }
}

/// With `--restart-kubelet`, restarts the kubelet once the new credential is installed.
fn restart_after(args: &Args, installed: ExitCode) -> anyhow::Result<ExitCode> {
    if args.restart_kubelet && installed == ExitCode::SUCCESS {
        restart_kubelet()?;
    }
    Ok(installed)
}

/// Tries the paths in order; records why each unavailable one was skipped.
fn choose(args: &Args, global: &Global, t: &Target, node: &str, skipped: &mut Vec<String>) -> anyhow::Result<Option<Path>> {
    let rt = super::token::runtime()?;
    // 2. The node's own bootstrap kubeconfig.
    match t.setup.bootstrap_kubeconfig.as_deref() {
        Some(file) => match rt.block_on(probe_bootstrap(t, file)) {
            Ok(user) => return Ok(Some(Path::Bootstrap { file: file.to_string(), user })),
            Err(why) => skipped.push(format!("bootstrap kubeconfig {file}: {why}")),
        },
        None => skipped.push("bootstrap kubeconfig: the kubelet has none configured".into()),
    }
    // 3. A CSR with cluster credentials: --kubeconfig/$KUBECONFIG/~/.kube/config, else the node's admin.conf.
    let node_admin = t.root.host_path("/etc/kubernetes/admin.conf");
    let candidates: Vec<Option<PathBuf>> = if global.kubeconfig.is_some() || std::env::var_os("KUBECONFIG").is_some() || home_kubeconfig() {
        vec![None]
    } else if node_admin.is_file() {
        vec![Some(node_admin)]
    } else {
        Vec::new()
    };
    if candidates.is_empty() {
        skipped.push("CSR through the API: no cluster credentials (--kubeconfig, $KUBECONFIG, ~/.kube/config or the node's /etc/kubernetes/admin.conf)".into());
    }
    for kc in candidates {
        let g = Global { output: global.output, kubeconfig: kc.clone().or_else(|| global.kubeconfig.clone()), context: global.context.clone(), verbose: 0 };
        let probe = rt.block_on(async {
            let admin = super::token::admin(&g).await?;
            let (user, _) = kubecert_cluster::client::whoami(&admin.client).await?;
            let p = apicsr::permissions(&admin.client, Signer::KubeletClient).await?;
            anyhow::Ok((user, p, admin.source))
        });
        match probe {
            Ok((user, p, _)) if p.can_create && (p.auto_approved || p.can_approve) => {
                let how = if p.auto_approved { "the controller-manager approves its CSRs" } else { "it may approve the CSR" };
                return Ok(Some(Path::Csr { kubeconfig: kc, user, how: how.into() }));
            }
            Ok((user, p, source)) => skipped.push(format!(
                "CSR through the API: {user} (from {source}) {}",
                if !p.can_create { "may not create CSRs".to_string() } else { format!("may not get one approved (missing: {})", p.approve_missing.join(", ")) }
            )),
            Err(e) => skipped.push(format!("CSR through the API: {e:#}")),
        }
    }
    // 4. The cluster CA key.
    let (ca_cert, ca_key) = match (&args.ca_cert, &args.ca_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        // The node's own CA files: resolved inside the root (a symlink there must not lead out).
        _ => {
            // Unresolvable (a dangling link): an empty path, which is no file.
            let inside = |p: &str| t.root.resolve(p).map(|r| t.root.host_path(&r)).unwrap_or_default();
            (inside("/etc/kubernetes/pki/ca.crt"), inside("/etc/kubernetes/pki/ca.key"))
        }
    };
    if ca_key.is_file() {
        let read = kubecert_node::hostfs::read_argument;
        let loaded = read(&ca_cert)
            .and_then(|c| read(&ca_key).map(|k| (c, k)))
            .map_err(|e| e.to_string())
            .and_then(|(c, k)| kubecert_pki::CertificateAuthority::load(&c, &k, time::OffsetDateTime::now_utc()).map(|_| ()).map_err(|e| e.to_string()));
        match loaded {
            Ok(()) => return Ok(Some(Path::Sign { ca_cert, ca_key })),
            Err(e) => skipped.push(format!("offline signing with {}: {e}", ca_cert.display())),
        }
    } else {
        skipped.push(format!("offline signing: no CA key (give --ca-cert and --ca-key; {} does not exist)", ca_key.display()));
    }
    let _ = node;
    Ok(None)
}

fn home_kubeconfig() -> bool {
    std::env::var_os("HOME").is_some_and(|h| PathBuf::from(h).join(".kube/config").is_file())
}

/// Does the node's bootstrap kubeconfig still authenticate, and will the cluster approve its CSR?
async fn probe_bootstrap(t: &Target, file: &str) -> Result<String, String> {
    use base64::Engine as _;
    let f = t.root.read(file).map_err(|e| e.to_string())?;
    let kc = kubecert_config::Kubeconfig::parse(&f.bytes).map_err(|e| e.to_string())?;
    let r = kc.resolve(None).map_err(|e| e.to_string())?;
    let token = r.user.token.as_ref().ok_or("it holds no token")?;
    let server = r.cluster.server.clone().ok_or("it names no server")?;
    let ca_pem = match (&r.cluster.certificate_authority_data, &r.cluster.certificate_authority) {
        (Some(d), _) => base64::engine::general_purpose::STANDARD.decode(d.trim()).map_err(|e| format!("certificate-authority-data: {e}"))?,
        (None, Some(p)) => t.root.read(&kubecert_node::root::relative_to(file, p)).map_err(|e| format!("{p}: {e}"))?.bytes,
        (None, None) => return Err("it names no CA".into()),
    };
    let ca_der: Vec<Vec<u8>> = kubecert_pki::load_certificates(&ca_pem).map_err(|e| e.to_string())?.iter().map(|c| c.der().to_vec()).collect();
    let client = kubecert_cluster::client::token_client(&server, &ca_der, Some(token.expose()), false).map_err(|e| e.to_string())?;
    let (user, _) = kubecert_cluster::client::whoami(&client).await.map_err(|e| format!("its token does not authenticate: {e}"))?;
    if !user.starts_with("system:bootstrap:") {
        return Err(format!("it authenticates as {user}, not as a bootstrap token"));
    }
    let p = apicsr::permissions(&client, Signer::KubeletClient).await.map_err(|e| e.to_string())?;
    if !p.can_create || !p.auto_approved {
        return Err(format!("{user} may not {} (the kubeadm bootstrap RBAC is missing: `kubecert rbac ensure`)", if !p.can_create { "create CSRs" } else { "get its CSR auto-approved" }));
    }
    Ok(user)
}

/// The kubelet bootstraps only when kubelet.conf is gone or unusable: move it and the client pairs aside.
fn bootstrap_plan(t: &Target, node: &str) -> InstallPlan {
    let mut plan = InstallPlan::new(format!("repair --node-name {node} (bootstrap again)"));
    let dir = t.setup.cert_dir.trim_end_matches('/');
    for name in t.root.list_dir(dir) {
        if name.starts_with("kubelet-client") {
            plan = plan.move_aside(format!("{dir}/{name}"));
        }
    }
    plan.move_aside(t.setup.kubeconfig.clone())
}

/// Asks on a terminal unless `--yes` or `--dry-run`.
fn confirm(args: &Args) -> anyhow::Result<bool> {
    if args.dry_run {
        return Ok(false);
    }
    if args.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    print!("\napply this repair? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

fn not_applied(args: &Args) -> anyhow::Result<ExitCode> {
    if args.dry_run {
        println!("\n{} nothing was changed", render::paint(render::colour(), "1;33", "dry run:"));
        return Ok(ExitCode::SUCCESS);
    }
    refuse(if std::io::stdin().is_terminal() { "not applied" } else { "not applied: nobody to confirm on a terminal; pass --yes to apply" })
}

