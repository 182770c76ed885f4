//! `kubecert bootstrap-config --node NAME`: field report 000's repair in one command. Where an
//! admin kubeconfig is available it checks that the cluster can complete a TLS bootstrap, creates
//! a short-lived token, checks that the token authenticates, and writes kubeadm's bootstrap
//! kubeconfig (mode 0600) to `--out`, stdout, or — with `--install` — straight onto the node,
//! moving the unusable credentials aside (with a backup) so that the kubelet bootstraps again.

use super::node_args::NodeArgs;
use super::token::{admin, runtime, SpecArgs};
use crate::global::{Global, Output};
use crate::render;
use anyhow::{bail, Context as _};
use kubecert_cluster::bootstrap_config::{self as bc, BootstrapConfigError, Preflight};
use kubecert_config::Kubeconfig;
use super::install_common::{doctor_summary, finish, DoctorSummary, Target};
use kubecert_node::install::{apply, Applied, ApplyOptions, Contents, InstallPlan, PlannedChange};
use serde::Serialize;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Make a bootstrap kubeconfig for a node (new short-lived token, kubeadm's layout), after checking that the cluster can complete a TLS bootstrap.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node the file is for.
    #[arg(long, value_name = "NAME")]
    node: String,
    /// Write the file here (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "install")]
    out: Option<PathBuf>,
    /// The API server URL the kubelet should use (default: the admin kubeconfig's).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The cluster CA to embed (default: the admin kubeconfig's).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    #[command(flatten)]
    spec: SpecArgs,
    /// Check everything and validate the token server-side, but create and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write the file even if the preflight says the bootstrap cannot complete.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    install: InstallArgs,
}

/// Installing a bootstrap kubeconfig on a node (shared with `discover`).
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// Install the file where the node's kubelet --bootstrap-kubeconfig points, moving kubelet.conf and the kubelet-client-* certificates aside (backed up) so that the kubelet bootstraps again.
    #[arg(long)]
    pub install: bool,
    #[command(flatten)]
    pub node: NodeArgs,
    /// Where backups of replaced and moved files go (a node path).
    #[arg(long, value_name = "PATH", default_value = kubecert_node::install::DEFAULT_BACKUP_ROOT)]
    pub backup_dir: String,
    /// After --install, restart the kubelet through systemd (only with --root /).
    #[arg(long, requires = "install")]
    pub restart_kubelet: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    node: &'a str,
    token: String,
    #[serde(with = "time::serde::rfc3339::option")]
    expires: Option<time::OffsetDateTime>,
    server: &'a str,
    dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    written: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    installed: Option<&'a Installed>,
    preflight: &'a Preflight,
}

/// Runs it; a refused or failed install is exit 1.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(run_inner(args, global))
}

fn run_inner(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let structured = matches!(global.output, Output::Json | Output::Yaml);
    if structured && args.out.is_none() && !args.install.install && !args.dry_run {
        bail!("with -o json/yaml the report goes to stdout: give --out FILE or --install for the kubeconfig");
    }
    let ca_pem = args
        .ca_file
        .as_ref()
        .map(|p| {
            kubecert_node::hostfs::read_argument(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .with_context(|| format!("read --ca-file {}", p.display()))
        })
        .transpose()?;
    // Open the node before touching the cluster: a bad --root must not leave a token behind.
    let target = if args.install.install { Some(InstallTarget::open(&args.install)?) } else { None };
    if let Some(n) = target.as_ref().and_then(|t| t.node_name()).filter(|n| *n != args.node) {
        eprintln!("kubecert: warning: the kubelet under {} runs as {n:?}, not {:?}; it will request a certificate for {n:?}", args.install.node.root.display(), args.node);
    }
    let mut spec = args.spec.spec();
    if spec.description.is_none() {
        spec.description = Some(format!("kubecert bootstrap-config for node {}", args.node));
    }
    let req = bc::Request { node: args.node.clone(), server: args.server.clone(), ca_pem, spec, dry_run: args.dry_run, force: args.force };
    let rt = runtime()?;
    let admin = rt.block_on(admin(global))?;
    let made = rt.block_on(bc::make(&admin, &req));
    let made = match made {
        Ok(m) => m,
        Err(BootstrapConfigError::Preflight(p)) => {
            if !render::structured(global.output, &serde_json::json!({ "node": args.node, "written": null, "preflight": p }))? {
                eprintln!("kubecert: {}", BootstrapConfigError::Preflight(p));
            }
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    for w in &made.preflight.warnings {
        eprintln!("kubecert: warning: {w}");
    }
    let yaml = made.kubeconfig.to_yaml()?;
    let mut written = None;
    let mut installed = None;
    if args.dry_run {
        eprintln!("dry run: the preflight passed and the API server accepted the token Secret; nothing was created or written");
        if let Some(t) = &target {
            installed = Some(t.describe(&made.kubeconfig, "bootstrap-config")?);
        }
    } else if let Some(t) = &target {
        let i = match t.install(&made.kubeconfig, &format!("bootstrap-config --node {}", args.node)) {
            Ok(i) => i,
            Err(e) => {
                // Nothing was installed: the token must not outlive the failed repair.
                let _ = rt.block_on(kubecert_cluster::token::delete(&admin.client, made.token.id()));
                return Err(e);
            }
        };
        if args.install.restart_kubelet {
            // open() already refused a root that is not this machine's.
            super::install_common::restart_kubelet()?;
        }
        installed = Some(i);
    } else if let Some(p) = &args.out {
        write_private(p, yaml.as_bytes())?;
        written = Some(p.display().to_string());
    } else if !structured {
        print!("{yaml}");
    }
    let report = Report {
        node: &args.node,
        token: made.token.to_string(),
        expires: made.info.as_ref().and_then(|i| i.expires),
        server: &made.server,
        dry_run: args.dry_run,
        written,
        installed: installed.as_ref(),
        preflight: &made.preflight,
    };
    if !render::structured(global.output, &report)? {
        let expiry = report.expires.map(kubecert_cluster::token::rfc3339).unwrap_or_else(|| "never".into());
        if !args.dry_run {
            eprintln!("bootstrap token {} created for node {} (expires {expiry}); server {}", report.token, args.node, made.server);
        }
        if let Some(w) = &report.written {
            eprintln!("wrote {w} (mode 0600)");
        }
        if let Some(i) = &installed {
            i.print_to_stderr();
            if !args.install.restart_kubelet {
                eprintln!("next: restart the kubelet (systemctl restart kubelet); it will file a CSR and, once approved, write a new kubelet.conf");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to `path` with mode 0600 (created so; an existing file is truncated and chmodded).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600)).with_context(|| format!("chmod 0600 {}", path.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).with_context(|| format!("write {}", path.display()))
}

/// What `--install` did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct Installed {
    /// Where the bootstrap kubeconfig goes (node path).
    pub bootstrap_kubeconfig: String,
    /// The root it was installed under.
    pub root: String,
    /// Each change.
    pub changes: Vec<PlannedChange>,
    /// The backup holding every file that was replaced or moved aside (absent for a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<Applied>,
    /// The doctor afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor: Option<DoctorSummary>,
}

impl Installed {
    /// Prints what was done, on stderr (stdout may carry a report).
    pub fn print_to_stderr(&self) {
        let root = if self.root == "/" { String::new() } else { format!(" under {}", self.root) };
        eprintln!("{}{root}:", if self.backup.is_some() { "installed" } else { "dry run: nothing changed; --install would" });
        for c in &self.changes {
            eprintln!("  {c}");
        }
        if let Some(b) = &self.backup {
            eprintln!("backup {} in {} (manifest.json lists every file; undo with `kubecert rollback --to {}`)", b.backup_id, b.backup_dir, b.backup_id);
        }
        if let Some(d) = &self.doctor {
            eprintln!("doctor afterwards: {} error(s), {} warning(s)", d.errors, d.warnings);
            for f in &d.findings {
                eprintln!("  {f}");
            }
        }
    }
}

/// A node whose kubelet will bootstrap again.
pub struct InstallTarget {
    target: Target,
    backup_dir: String,
}

impl InstallTarget {
    /// Opens the node under `--root` and finds its kubelet's files.
    pub fn open(args: &InstallArgs) -> anyhow::Result<Self> {
        let (root, overrides) = args.node.open()?;
        if args.restart_kubelet {
            super::install_common::check_can_restart_kubelet(&root)?;
        }
        Ok(InstallTarget { target: Target::discover(root, overrides), backup_dir: args.backup_dir.clone() })
    }

    /// The node name the kubelet uses, if the node's files say.
    pub fn node_name(&self) -> Option<&str> {
        self.target.setup.node_name.as_deref()
    }

    /// The plan: `kubeconfig` where `--bootstrap-kubeconfig` points, then what would stop the
    /// kubelet from using it moved aside (kubecert-workflows' one bootstrap-again plan).
    fn plan(&self, kubeconfig: &Kubeconfig, label: &str) -> anyhow::Result<(String, InstallPlan)> {
        let setup = &self.target.setup;
        let bootstrap = setup.bootstrap_kubeconfig.clone().unwrap_or_else(|| bc::DEFAULT_PATH.to_string());
        let plan = InstallPlan::new(label).write(&bootstrap, Contents::secret(kubeconfig.to_yaml()?.into_bytes()), 0o600);
        Ok((bootstrap, kubecert_workflows::bootstrap::bootstrap_again(&self.target.root, setup, plan)))
    }

    /// What [`Self::install`] would do, touching nothing.
    pub fn describe(&self, kubeconfig: &Kubeconfig, label: &str) -> anyhow::Result<Installed> {
        let (bootstrap, plan) = self.plan(kubeconfig, label)?;
        Ok(Installed { bootstrap_kubeconfig: bootstrap, root: self.target.root.dir().display().to_string(), changes: plan.describe(&self.target.root), backup: None, doctor: None })
    }

    /// Installs, all or nothing, backing up every file it replaces or moves; then runs the doctor.
    pub fn install(&self, kubeconfig: &Kubeconfig, label: &str) -> anyhow::Result<Installed> {
        let (bootstrap, plan) = self.plan(kubeconfig, label)?;
        let opts = ApplyOptions { backup_root: self.backup_dir.clone(), verify: None, rollback_of: None };
        let applied = apply(&self.target.root, &plan, &opts).with_context(|| format!("install under {}", self.target.root.dir().display()))?;
        Ok(Installed {
            bootstrap_kubeconfig: bootstrap,
            root: self.target.root.dir().display().to_string(),
            changes: applied.changes.clone(),
            backup: Some(applied),
            doctor: Some(doctor_summary(&self.target)),
        })
    }

}
