//! `kubecert csr`: the online repair, for when nobody has the CA key (managed control planes).
//! Makes the key here, files a `certificates.k8s.io/v1` CSR as the kubelet would, approves it
//! when asked and allowed, waits for the signer with a progress line, checks what came back
//! (subject, key, chain to the CA the API server trusts), and writes a bundle or installs it.

use super::install_common::{apply_plan, finish, print_report, refuse, run_install, verify_pair, Destination, InstallReport, Refused};
use super::node_args::parse_positive_duration;
use super::sign::{print_bundle, rfc3339, split_sans, write_bundle};
use super::token::{admin, runtime};
use crate::global::Global;
use crate::render;
use kubecert_cluster::csr::{self, Approval, CsrState, Signer, Waited};
use kubecert_node::install::{plan_serving_install, InstallPlan, NewCredential};
use kubecert_pki::{
    build_csr, load_certificates, node_common_name, validate_node_name, verify_for_tls, verify_signed_by, CertInfo, Certificate, KeyType,
    PrivateKey, RequestSubject, TlsUsage, NODES_GROUP,
};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use time::OffsetDateTime;

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
    pub(super) node: String,
    /// Which signer to ask.
    #[arg(long, value_enum, default_value = "client")]
    pub(super) signer: SignerArg,
    /// Approve the CSR with these credentials (needs `approve` on the signer); without it kubecert
    /// waits for the controller-manager or a person to approve it.
    #[arg(long)]
    pub(super) approve: bool,
    /// How long to wait for the certificate (e.g. 2m, 90s).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_positive_duration)]
    pub(super) timeout: time::Duration,
    /// Type of the new key.
    #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<KeyType>()))]
    pub(super) key_type: KeyType,
    /// Ask for this lifetime (CSR expirationSeconds; the signer may cap it, and ignores less than 10m).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub(super) valid_for: Option<time::Duration>,
    /// Serving certificate SANs: DNS names or IPs (repeat it). Default: the node name.
    #[arg(long = "san", value_name = "NAME|IP")]
    pub(super) sans: Vec<String>,
    /// Keep the CSR object when kubecert gives up (default: delete it).
    #[arg(long)]
    pub(super) keep_csr: bool,
    #[command(flatten)]
    pub(super) dest: Destination,
}

#[derive(Debug, Serialize)]
struct Report {
    node: String,
    signer: &'static str,
    usages: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    csr: Option<String>,
    permissions: csr::Permissions,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<Approval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<CertInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verified_against: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bundle: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    install: Option<InstallReport>,
}

/// Runs it: 0 issued (and installed), 1 refused/denied/timed out/failed install, 2 could not run.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(request(args, global))
}

pub(super) fn request(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    validate_node_name(&args.node).map_err(Refused)?;
    let signer = match args.signer {
        SignerArg::Client => Signer::KubeletClient,
        SignerArg::Serving => Signer::KubeletServing,
    };
    if signer == Signer::KubeletClient && !args.sans.is_empty() {
        return refuse("--san is for --signer serving: the client signer refuses certificates with names");
    }
    let target = if args.dest.install { Some(args.dest.target.open()?) } else { None };
    let mut notes = Vec::new();
    if let Some(t) = &target
        && let Some(n) = t.check_node_name(&args.node, args.dest.target.allow_name_mismatch)?
    {
        notes.push(n);
    }

    let key = PrivateKey::generate(args.key_type)?;
    let (dns, ips) = if signer == Signer::KubeletServing { split_sans(&args.node, &args.sans)? } else { (Vec::new(), Vec::new()) };
    let subject = RequestSubject { common_name: node_common_name(&args.node), organization: Some(NODES_GROUP.into()), dns_names: dns, ip_addresses: ips };
    let csr_pem = build_csr(&key, &subject)?;

    let rt = runtime()?;
    let admin = rt.block_on(admin(global))?;
    let (user, _) = rt.block_on(kubecert_cluster::client::whoami(&admin.client)).unwrap_or_else(|_| ("<unknown user>".into(), Vec::new()));
    let perms = rt.block_on(csr::permissions(&admin.client, signer))?;
    if !perms.can_create {
        return refuse(format!("{user} (from {}) may not create CertificateSigningRequests; use credentials that may", admin.source));
    }
    let mut report = Report {
        node: args.node.clone(),
        signer: signer.name(),
        usages: signer.usages(key.is_rsa()),
        csr: None,
        permissions: perms.clone(),
        approval: None,
        certificate: None,
        verified_against: None,
        bundle: Vec::new(),
        install: None,
    };
    let how = approval_plan(&perms, args.approve, &user, signer);
    let text = !matches!(global.output, crate::global::Output::Json | crate::global::Output::Yaml);

    if args.dest.dry_run {
        if text {
            println!("{} nothing will be created or changed.", render::paint(render::colour(), "1;33", "dry run:"));
            println!("would create a CSR for {} (signer {}, usages {}) as {user}", subject.common_name, signer.name(), report.usages.join(", "));
            println!("approval: {how}");
        }
        if let Some(t) = &target {
            let placeholder = "-----BEGIN CERTIFICATE-----\n(the certificate the cluster issues)\n-----END CERTIFICATE-----\n";
            report.install = Some(install_issued(t, &args, signer, placeholder, &key, &admin, notes, b"", true)?);
        }
        if !render::structured(global.output, &report)?
            && let Some(r) = &report.install
        {
            print_report(r, global);
        }
        return Ok(ExitCode::SUCCESS);
    }

    let expiration = args.valid_for.map(|d| Duration::from_secs(d.whole_seconds().max(0) as u64));
    let name = rt.block_on(csr::create(&admin.client, &args.node, signer, &csr_pem, key.is_rsa(), expiration))?;
    report.csr = Some(name.clone());
    if text {
        eprintln!("created CSR {name} for {} (signer {}) as {user}", subject.common_name, signer.name());
        eprintln!("approval: {how}");
    }
    let give_up = |why: String| -> anyhow::Result<ExitCode> {
        if !args.keep_csr {
            let _ = rt.block_on(csr::delete(&admin.client, &name));
        }
        let kept = if args.keep_csr { format!(" (CSR {name} kept)") } else { format!(" (CSR {name} deleted)") };
        refuse(format!("{why}{kept}"))
    };
    if args.approve {
        let a = rt.block_on(csr::approve(&admin.client, &name))?;
        if text {
            match &a {
                Approval::Approved => eprintln!("approved CSR {name}"),
                Approval::AlreadyApproved { reason } => eprintln!("CSR {name} was already approved ({reason})"),
                Approval::TooLate { state } => eprintln!("CSR {name} could not be approved: {state}"),
                Approval::Forbidden { message } => eprintln!(
                    "{user} may NOT approve CSRs for {} ({message}); waiting for someone who may: kubectl certificate approve {name}",
                    signer.name()
                ),
            }
        }
        report.approval = Some(a);
    }

    let timeout = Duration::from_secs(args.timeout.whole_seconds().max(0) as u64);
    let tty = std::io::stderr().is_terminal() && text;
    let mut last = String::new();
    let waited = rt.block_on(csr::wait(&admin.client, &name, timeout, |s, waited| {
        let line = format!("CSR {name}: {s}");
        if tty {
            let spin = ['|', '/', '-', '\\'][(waited.as_millis() / 250 % 4) as usize];
            eprint!("\r\x1b[K{spin} {line} ({}s of {}s)", waited.as_secs(), timeout.as_secs());
            let _ = std::io::stderr().flush();
        } else if text && line != last {
            eprintln!("{line} (after {:.1}s)", waited.as_secs_f64());
        }
        last = line;
    }))?;
    if tty {
        eprintln!();
    }
    let pem = match waited {
        Waited::Issued(pem) => pem,
        Waited::Refused(s) => return give_up(format!("CSR {name} was not issued: {s}")),
        Waited::TimedOut(s) => {
            let hint = match s {
                CsrState::Pending => format!(
                    "nobody approved it; someone allowed to must run `kubectl certificate approve {name}` (or rerun with --approve and credentials that may approve {})",
                    signer.name()
                ),
                _ => "the signer did not issue it (is the kube-controller-manager's csrsigning controller running?)".into(),
            };
            return give_up(format!("CSR {name} was still {s} after {}s: {hint}", timeout.as_secs()));
        }
    };

    // Check what came back before anything is written.
    let cert = match load_certificates(pem.as_bytes()).ok().and_then(|c| c.into_iter().next()) {
        Some(c) => c,
        None => return give_up(format!("CSR {name} was issued something that is not a certificate")),
    };
    let now = OffsetDateTime::now_utc();
    let info = cert.info();
    if info.common_names != [subject.common_name.clone()] || info.organizations != [NODES_GROUP.to_string()] {
        return refuse(format!("the issued certificate's subject {:?} is not the one requested", info.subject));
    }
    if !key.matches(&cert) {
        return refuse("the issued certificate is not for the key made here".to_string());
    }
    let (cas, source) = match (signer, rt.block_on(csr::apiserver_client_ca(&admin.client))) {
        (Signer::KubeletClient, Some(bundle)) => (load_certificates(bundle.as_bytes()).unwrap_or_default(), "the API server's client CA bundle, kube-system/extension-apiserver-authentication"),
        _ => (admin.ca_der.iter().filter_map(|d| Certificate::from_der(d).ok()).collect(), "the cluster CA in your kubeconfig"),
    };
    let usage = if signer == Signer::KubeletClient { TlsUsage::ClientAuth } else { TlsUsage::ServerAuth };
    let chained = cas.iter().find(|ca| verify_signed_by(&cert, ca).is_ok() && verify_for_tls(&cert, ca, usage, now).is_ok());
    let Some(ca) = chained else {
        return refuse(format!("the issued certificate does not chain to {source}; not installing it"));
    };
    report.verified_against = Some(format!("{} ({source})", ca.info().subject));
    report.certificate = Some(info.clone());

    let ca_pem = ca.to_pem();
    if let Some(dir) = &args.dest.out_dir {
        let (client, serving) = if signer == Signer::KubeletClient { (Some(&key), None) } else { (None, Some((&key, &cert))) };
        let server = args.dest.target.server.clone().or_else(|| Some(admin.server.clone()));
        report.bundle = write_bundle(dir, &args.node, &cert, client, serving, &ca_pem, server.as_deref(), false)?;
    } else if let Some(t) = &target {
        report.install = Some(install_issued(t, &args, signer, &pem, &key, &admin, notes, cert.der(), false)?);
    }
    if !render::structured(global.output, &report)? {
        println!(
            "issued {} certificate for node {}: {} ({}), valid until {}; chains to {}",
            if signer == Signer::KubeletClient { "client" } else { "serving" },
            args.node,
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
    let doctor_errors = report.install.as_ref().and_then(|i| i.doctor.as_ref()).map_or(0, |d| d.errors);
    Ok(if doctor_errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Says who will approve the CSR.
fn approval_plan(p: &csr::Permissions, approve: bool, user: &str, signer: Signer) -> String {
    match (approve, p.can_approve, p.auto_approved) {
        (_, _, true) => format!("the kube-controller-manager approves it by itself ({user} may create certificatesigningrequests/nodeclient)"),
        (true, true, _) => format!("kubecert approves it ({user} may approve {})", signer.name()),
        (true, false, _) => format!(
            "{user} may NOT approve it (missing: {}); someone who may must run `kubectl certificate approve <csr>` before the timeout",
            p.approve_missing.join(", ")
        ),
        (false, true, _) => format!("nobody approves it automatically; pass --approve ({user} may approve {}) or approve it by hand", signer.name()),
        (false, false, _) => format!(
            "nobody approves it automatically and {user} may not (missing: {}); someone who may must run `kubectl certificate approve <csr>`",
            p.approve_missing.join(", ")
        ),
    }
}

/// Installs the issued pair (or, with `dry_run`, describes the install).
#[allow(clippy::too_many_arguments)]
fn install_issued(
    t: &super::install_common::Target,
    args: &Args,
    signer: Signer,
    cert_pem: &str,
    key: &PrivateKey,
    admin: &kubecert_cluster::client::AdminClient,
    notes: Vec<String>,
    expected_der: &[u8],
    dry_run: bool,
) -> anyhow::Result<InstallReport> {
    let label = format!("csr --node {} --signer {}", args.node, if signer == Signer::KubeletClient { "client" } else { "serving" });
    let ca_pem = admin.ca_der.first().and_then(|d| Certificate::from_der(d).ok()).map(|c| c.to_pem());
    match signer {
        Signer::KubeletClient => {
            let cred = NewCredential {
                cert_pem: cert_pem.to_string(),
                key_pem: key.to_pem(),
                ca_pem,
                server: args.dest.target.server.clone().or_else(|| Some(admin.server.clone())),
            };
            let mut ci = t.plan_client(&cred, &label)?;
            ci.notes.extend(notes);
            run_install(t, &args.dest.target, ci, InstallPlan::new(""), expected_der, dry_run)
        }
        Signer::KubeletServing => {
            let now = OffsetDateTime::now_utc();
            let (plan, style) = plan_serving_install(&t.root, &t.setup, cert_pem, &key.to_pem(), now, InstallPlan::new(label))?;
            let st = style.clone();
            let verify = move |root: &kubecert_node::NodeRoot| verify_pair(root, &st, expected_der);
            apply_plan(t, &args.dest.target, plan, Some(style), None, notes, &verify, dry_run)
        }
    }
}
