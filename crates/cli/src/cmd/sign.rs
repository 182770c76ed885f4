//! `kubecert sign`: offline repair where the cluster CA key is at hand (field report 004). Makes a
//! fresh key and a kubelet client certificate for exactly one node, shaped like the ones the
//! kube-controller-manager signer issues, and either writes a bundle to copy to the node or
//! installs it on the node under `--root`.

use super::install_common::{finish, print_report};
use crate::global::Global;
use crate::render;
use kubecert_pki::KeyType;
use kubecert_workflows::sign::{rfc3339, Destination, Issued, SignRequest};
use std::path::PathBuf;
use std::process::ExitCode;
use time::OffsetDateTime;

/// Sign a new kubelet client certificate for one node with the cluster CA (offline).
///
/// Generates a fresh key (or signs `--csr`), issues `CN=system:node:NAME, O=system:nodes`, EKU
/// clientAuth, and writes a bundle (`--out-dir`) or installs it on the node (`--install`, with
/// backups; `--dry-run` shows the plan).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("dest").args(["out_dir", "install"])))]
pub struct Args {
    /// The node the certificate is for. With --csr it defaults to the CSR's node.
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    /// The cluster CA certificate (PEM or DER), e.g. /etc/kubernetes/pki/ca.crt.
    #[arg(long, value_name = "FILE")]
    ca_cert: PathBuf,
    /// The cluster CA private key.
    #[arg(long, value_name = "FILE")]
    ca_key: PathBuf,
    /// Type of the new key: ecdsa-p256 (what the kubelet makes), ecdsa-p384, ed25519, rsa2048, rsa3072, rsa4096.
    #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<KeyType>()))]
    key_type: KeyType,
    /// Lifetime (e.g. 365d, 90d, 1y); never beyond the CA's own expiry.
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = super::node_args::parse_positive_duration)]
    valid_for: time::Duration,
    /// Also issue a kubelet serving certificate (EKU serverAuth) with the node's names as SANs.
    #[arg(long, conflicts_with = "csr")]
    serving: bool,
    /// A SAN for the serving certificate: a DNS name or an IP address (repeat it). Default: the node name.
    #[arg(long = "san", value_name = "NAME|IP", requires = "serving")]
    sans: Vec<String>,
    /// Sign this PEM CSR, made elsewhere (its subject must be a node identity), instead of making a key.
    #[arg(long, value_name = "FILE", conflicts_with = "install")]
    csr: Option<PathBuf>,
    /// Install even a certificate that would not authenticate now (expired, not yet valid, not
    /// signed by the cluster CA the node trusts).
    #[arg(long, requires = "install")]
    force: bool,
    #[command(flatten)]
    dest: super::install_common::Destination,
}

/// Runs it: exit 0 issued (and installed), 1 refused or the install failed (nothing changed), 2 could not run.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(sign(args, global))
}

fn sign(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let req = SignRequest {
        node: args.node,
        ca_cert: args.ca_cert,
        ca_key: args.ca_key,
        key_type: args.key_type,
        valid_for: args.valid_for,
        serving: args.serving,
        sans: args.sans,
        csr: args.csr,
        force: args.force,
    };
    let target = if args.dest.install { Some(args.dest.target.open()?) } else { None };
    let options = args.dest.target.options();
    let dest = args.dest.of(target.as_ref(), &options);
    let returned = matches!(dest, Destination::Return);
    let issued = kubecert_workflows::sign::sign(&req, dest, args.dest.dry_run)?;
    render(&issued, args.dest.dry_run, returned, global)
}

/// Renders what `sign` issued (`returned`: the certificate alone goes to stdout); exit 1 when
/// the doctor still finds errors after an install.
pub(super) fn render(issued: &Issued, dry_run: bool, returned: bool, global: &Global) -> anyhow::Result<ExitCode> {
    if returned {
        // --csr without --out-dir: the certificate alone goes to stdout.
        if !render::structured(global.output, issued)? {
            print!("{}", issued.cert_pem);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !render::structured(global.output, issued)? {
        print_text(issued, dry_run, global);
    }
    let doctor_errors = issued.install.as_ref().map_or(0, |i| i.doctor_errors());
    Ok(if doctor_errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub(super) fn print_bundle(bundle: &[String], dry_run: bool) {
    if bundle.is_empty() {
        return;
    }
    println!("{}", if dry_run { "would write:" } else { "wrote:" });
    for b in bundle {
        println!("  {b}");
    }
    if !dry_run {
        println!("on the node: kubelet.conf (when written) embeds the new pair and can replace the kubelet's kubeconfig; or copy the");
        println!("bundle there and run `kubecert sign ... --install`, which keeps the node's own layout and makes a backup first");
    }
}

fn print_text(i: &Issued, dry_run: bool, global: &Global) {
    let c = render::colour();
    let left = i.client.not_after - OffsetDateTime::now_utc();
    println!(
        "{} client certificate for node {}: {} ({}), valid until {} ({})",
        if dry_run { "would issue" } else { "issued" },
        render::paint(c, "1", &i.node),
        i.client.subject,
        i.client.key,
        rfc3339(i.client.not_after),
        render::human_duration(left)
    );
    if let Some(t) = &i.clamped_to_ca_expiry {
        println!("  note: the requested lifetime went past the CA's own expiry; it was cut to the CA's NotAfter, {t}");
    }
    if let Some(s) = &i.serving {
        let names: Vec<String> = s.dns_names.iter().cloned().chain(s.ip_addresses.iter().map(|ip| ip.to_string())).collect();
        println!("{} serving certificate: {} SANs {}", if dry_run { "would issue" } else { "issued" }, s.subject, names.join(", "));
    }
    print_bundle(&i.bundle, dry_run);
    if let Some(r) = &i.install {
        print_report(r, global);
    }
}
