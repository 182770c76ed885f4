//! `kubecert csr`: the online repair, for when nobody has the CA key (managed control planes).
//! Makes the key here, files a `certificates.k8s.io/v1` CSR as the kubelet would, approves it
//! when asked and allowed, waits for the signer with a progress line, checks what came back
//! (subject, key, chain to the CA the API server trusts), and writes a bundle or installs it.

use super::install_common::{finish, print_report, Destination};
use super::node_args::parse_positive_duration;
use super::sign::print_bundle;
use super::token::runtime;
use crate::global::Global;
use crate::render;
use kubecert_cluster::client::ClientOptions;
use kubecert_cluster::csr::{Approval, Signer};
use kubecert_pki::KeyType;
use kubecert_workflows::csr::{CsrReport, CsrRequest, Event};
use kubecert_workflows::sign;
use kubecert_workflows::sign::rfc3339;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Which signer (`--signer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SignerArg {
    /// kubernetes.io/kube-apiserver-client-kubelet: the kubelet's client certificate.
    Client,
    /// kubernetes.io/kubelet-serving: the kubelet's serving certificate (always needs an approval).
    Serving,
}

/// Get a new kubelet certificate for one node through a CertificateSigningRequest (online).
///
/// Uses the cluster credentials of --kubeconfig/--context (kubectl's rules). The key is made here
/// and never leaves this machine; the CSR asks for CN=system:node:NAME, O=system:nodes.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("dest").args(["out_dir", "install"]).required(true)))]
pub struct Args {
    /// The node the certificate is for.
    #[arg(long, value_name = "NAME")]
    node: String,
    /// Which signer to ask.
    #[arg(long, value_enum, default_value = "client")]
    signer: SignerArg,
    /// Approve the CSR with these credentials (needs `approve` on the signer); without it kubecert
    /// waits for the controller-manager or a person to approve it.
    #[arg(long)]
    approve: bool,
    /// How long to wait for the certificate (e.g. 2m, 90s).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_positive_duration)]
    timeout: time::Duration,
    /// Type of the new key.
    #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<KeyType>()))]
    key_type: KeyType,
    /// Ask for this lifetime (CSR expirationSeconds; the signer may cap it, and ignores less than 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    valid_for: Option<time::Duration>,
    /// Serving certificate SANs: DNS names or IPs (repeat it). Default: the node name.
    #[arg(long = "san", value_name = "NAME|IP")]
    sans: Vec<String>,
    /// Keep the CSR object when kubecert gives up (default: delete it).
    #[arg(long)]
    keep_csr: bool,
    #[command(flatten)]
    dest: Destination,
}

/// Runs it: 0 issued (and installed), 1 refused/denied/timed out/failed install, 2 could not run.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(request(args, global))
}

fn request(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let req = CsrRequest {
        node: args.node,
        signer: match args.signer {
            SignerArg::Client => Signer::KubeletClient,
            SignerArg::Serving => Signer::KubeletServing,
        },
        approve: args.approve,
        timeout: std_duration(args.timeout),
        key_type: args.key_type,
        valid_for: args.valid_for.map(std_duration),
        sans: args.sans,
        keep_csr: args.keep_csr,
    };
    let target = if args.dest.install { Some(args.dest.target.open()?) } else { None };
    let options = args.dest.target.options();
    let dest = args.dest.of(target.as_ref(), &options);
    let cluster = ClientOptions { kubeconfig: global.kubeconfig.clone(), context: global.context.clone() };
    let report = follow(&req, dest, args.dest.dry_run, &cluster, global)?;
    render(&report, args.dest.dry_run, global)
}

fn std_duration(d: time::Duration) -> Duration {
    Duration::from_secs(d.whole_seconds().max(0) as u64)
}

/// Runs the request with a progress display on stderr (a spinner on a terminal, a line per
/// change otherwise; nothing for -o json|yaml).
pub(super) fn follow(req: &CsrRequest, dest: sign::Destination<'_>, dry_run: bool, cluster: &ClientOptions, global: &Global) -> anyhow::Result<CsrReport> {
    let text = !matches!(global.output, crate::global::Output::Json | crate::global::Output::Yaml);
    let tty = std::io::stderr().is_terminal() && text;
    let timeout = req.timeout;
    let (mut user, mut cn, mut how, mut signer) = (String::new(), String::new(), String::new(), req.signer);
    let mut last = String::new();
    let mut spun = false;
    let mut on = |e: Event<'_>| match e {
        Event::Planned { user: u, common_name, signer: s, usages, how: h, dry_run } => {
            (user, cn, how, signer) = (u.to_string(), common_name.to_string(), h.to_string(), s);
            if dry_run && text {
                println!("{} nothing will be created or changed.", render::paint(render::colour(), "1;33", "dry run:"));
                println!("would create a CSR for {cn} (signer {}, usages {}) as {user}", signer.name(), usages.join(", "));
                println!("approval: {how}");
            }
        }
        Event::Created { name } if text => {
            eprintln!("created CSR {name} for {cn} (signer {}) as {user}", signer.name());
            eprintln!("approval: {how}");
        }
        Event::Approved { name, approval } if text => match approval {
            Approval::Approved => eprintln!("approved CSR {name}"),
            Approval::AlreadyApproved { reason } => eprintln!("CSR {name} was already approved ({reason})"),
            Approval::TooLate { state } => eprintln!("CSR {name} could not be approved: {state}"),
            Approval::Forbidden { message } => {
                eprintln!("{user} may NOT approve CSRs for {} ({message}); waiting for someone who may: kubectl certificate approve {name}", signer.name())
            }
        },
        Event::Waiting { name, state, waited } => {
            let line = format!("CSR {name}: {state}");
            if tty {
                let spin = ['|', '/', '-', '\\'][(waited.as_millis() / 250 % 4) as usize];
                eprint!("\r\x1b[K{spin} {line} ({}s of {}s)", waited.as_secs(), timeout.as_secs());
                let _ = std::io::stderr().flush();
                spun = true;
            } else if text && line != last {
                eprintln!("{line} (after {:.1}s)", waited.as_secs_f64());
            }
            last = line;
        }
        _ => {}
    };
    let r = runtime()?.block_on(kubecert_workflows::csr::request(req, dest, dry_run, cluster, &mut on));
    if spun {
        eprintln!();
    }
    Ok(r?)
}

/// Renders a request's outcome; exit 1 when the doctor still finds errors after an install.
pub(super) fn render(report: &CsrReport, dry_run: bool, global: &Global) -> anyhow::Result<ExitCode> {
    if dry_run {
        if !render::structured(global.output, report)?
            && let Some(r) = &report.install
        {
            print_report(r, global);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !render::structured(global.output, report)?
        && let Some(info) = &report.certificate
    {
        println!(
            "issued {} certificate for node {}: {} ({}), valid until {}; chains to {}",
            if report.signer == Signer::KubeletClient.name() { "client" } else { "serving" },
            report.node,
            info.subject,
            info.key,
            rfc3339(info.not_after),
            report.verified_against.as_deref().unwrap_or("?")
        );
        print_bundle(&report.bundle, false);
        if let Some(r) = &report.install {
            print_report(r, global);
        }
    }
    let doctor_errors = report.install.as_ref().map_or(0, |i| i.doctor_errors());
    Ok(if doctor_errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
