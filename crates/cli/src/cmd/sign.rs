//! `kubecert sign`: offline repair where the cluster CA key is at hand (field report 004). Makes a
//! fresh key and a kubelet client certificate for exactly one node, shaped like the ones the
//! kube-controller-manager signer issues, and either writes a bundle to copy to the node or
//! installs it on the node under `--root`.

use super::install_common::{finish, print_report, refuse, run_install, Destination, InstallReport, Refused};
use crate::global::Global;
use crate::render;
use anyhow::Context;
use base64::Engine as _;
use kubecert_node::install::{plan_serving_install, InstallPlan, NewCredential};
use kubecert_pki::{
    node_common_name, parse_csr, sign_for_csr, sign_for_key, validate_node_name, verify_for_tls, verify_signed_by, CertInfo,
    CertificateAuthority, KeyType, LeafProfile, PrivateKey, SignedCertificate, TlsUsage, NODES_GROUP,
};
use serde::Serialize;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use time::OffsetDateTime;
use zeroize::Zeroizing;

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
    pub(super) node: Option<String>,
    /// The cluster CA certificate (PEM or DER), e.g. /etc/kubernetes/pki/ca.crt.
    #[arg(long, value_name = "FILE")]
    pub(super) ca_cert: PathBuf,
    /// The cluster CA private key.
    #[arg(long, value_name = "FILE")]
    pub(super) ca_key: PathBuf,
    /// Type of the new key: ecdsa-p256 (what the kubelet makes), ecdsa-p384, ed25519, rsa2048, rsa3072, rsa4096.
    #[arg(long, value_name = "TYPE", default_value = "ecdsa-p256", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<KeyType>()))]
    pub(super) key_type: KeyType,
    /// Lifetime (e.g. 365d, 90d, 1y); never beyond the CA's own expiry.
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = super::node_args::parse_positive_duration)]
    pub(super) valid_for: time::Duration,
    /// Also issue a kubelet serving certificate (EKU serverAuth) with the node's names as SANs.
    #[arg(long, conflicts_with = "csr")]
    pub(super) serving: bool,
    /// A SAN for the serving certificate: a DNS name or an IP address (repeat it). Default: the node name.
    #[arg(long = "san", value_name = "NAME|IP", requires = "serving")]
    pub(super) sans: Vec<String>,
    /// Sign this PEM CSR, made elsewhere (its subject must be a node identity), instead of making a key.
    #[arg(long, value_name = "FILE", conflicts_with = "install")]
    pub(super) csr: Option<PathBuf>,
    /// Install even a certificate that would not authenticate now (expired, not yet valid, not
    /// signed by the cluster CA the node trusts).
    #[arg(long, requires = "install")]
    pub(super) force: bool,
    #[command(flatten)]
    pub(super) dest: Destination,
}

/// What was issued.
#[derive(Debug, Serialize)]
struct Issued {
    node: String,
    client: CertInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    clamped_to_ca_expiry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serving: Option<CertInfo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bundle: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    install: Option<InstallReport>,
}

/// Runs it: exit 0 issued (and installed), 1 refused or the install failed (nothing changed), 2 could not run.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    finish(sign(args, global))
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    kubecert_node::hostfs::read_argument(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

pub(super) fn sign(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let now = OffsetDateTime::now_utc();
    if args.csr.is_none() && args.dest.out_dir.is_none() && !args.dest.install {
        return refuse("say where the new key goes: --out-dir DIR (a bundle to copy to the node) or --install (on the node under --root)");
    }
    let ca_pem = read(&args.ca_cert, "CA certificate")?;
    let ca_key = Zeroizing::new(read(&args.ca_key, "CA key")?);
    let ca = CertificateAuthority::load(&ca_pem, &ca_key, now).map_err(pki_refusal)?;

    let csr = match &args.csr {
        Some(p) => Some(parse_csr(&read(p, "CSR")?).map_err(pki_refusal)?),
        None => None,
    };
    let node = match (&args.node, &csr) {
        (Some(n), Some(c)) => {
            let from = c.node_name().map_err(pki_refusal)?;
            if from != n {
                return refuse(format!("the CSR asks for node {from:?}, not {n:?}"));
            }
            n.clone()
        }
        (None, Some(c)) => c.node_name().map_err(pki_refusal)?.to_string(),
        (Some(n), None) => n.clone(),
        (None, None) => return refuse("--node NAME is required (the node the certificate is for)"),
    };
    validate_node_name(&node).map_err(Refused)?;

    let target = if args.dest.install { Some(args.dest.target.open()?) } else { None };
    let mut notes = Vec::new();
    if let Some(t) = &target
        && let Some(n) = t.check_node_name(&node, args.dest.target.allow_name_mismatch)?
    {
        notes.push(n);
    }

    let profile = LeafProfile {
        common_name: node_common_name(&node),
        organization: Some(NODES_GROUP.to_string()),
        client_auth: true,
        server_auth: false,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
        valid_for: args.valid_for,
    };
    let (key, signed) = match &csr {
        Some(c) => (None, sign_for_csr(&ca, c, &profile, now)?),
        None => {
            let key = PrivateKey::generate(args.key_type)?;
            let signed = sign_for_key(&ca, &key, &profile, now)?;
            (Some(key), signed)
        }
    };
    check_issued(&signed, &ca, TlsUsage::ClientAuth, now)?;

    let serving = if args.serving {
        let (dns, ips) = split_sans(&node, &args.sans)?;
        let key = PrivateKey::generate(args.key_type)?;
        let p = LeafProfile { client_auth: false, server_auth: true, dns_names: dns, ip_addresses: ips, ..profile.clone() };
        let s = sign_for_key(&ca, &key, &p, now)?;
        check_issued(&s, &ca, TlsUsage::ServerAuth, now)?;
        Some((key, s))
    } else {
        None
    };

    let ca_cert_pem = ca.certificate().to_pem();
    let mut issued = Issued {
        node: node.clone(),
        client: signed.certificate.info().clone(),
        clamped_to_ca_expiry: signed.clamped_to_ca_expiry.map(rfc3339),
        serving: serving.as_ref().map(|(_, s)| s.certificate.info().clone()),
        bundle: Vec::new(),
        install: None,
    };

    if let Some(dir) = &args.dest.out_dir {
        let serving = serving.as_ref().map(|(k, s)| (k, &s.certificate));
        issued.bundle = write_bundle(dir, &node, &signed.certificate, key.as_ref(), serving, &ca_cert_pem, args.dest.target.server.as_deref(), args.dest.dry_run)?;
    } else if let Some(t) = &target {
        let key = key.as_ref().expect("--install never comes with --csr");
        let cred = NewCredential {
            cert_pem: signed.certificate.to_pem(),
            key_pem: key.to_pem(),
            ca_pem: Some(ca_cert_pem.clone()),
            server: args.dest.target.server.clone(),
        };
        // Never make the node worse: a certificate the API server would refuse now is not installed.
        if !args.force
            && let Err(why) = kubecert_node::install::check_would_authenticate(&t.root, &t.overrides, signed.certificate.der(), OffsetDateTime::now_utc())
        {
            return refuse(format!("{why}; nothing was changed (pass --force to install it anyway)"));
        }
        let label = format!("sign --node {node}{}", if serving.is_some() { " --serving" } else { "" });
        let mut ci = t.plan_client(&cred, &label)?;
        ci.notes.append(&mut notes);
        let extra = match &serving {
            Some((k, s)) => plan_serving_install(&t.root, &t.setup, &s.certificate.to_pem(), &k.to_pem(), now, InstallPlan::new(""))?.0,
            None => InstallPlan::new(""),
        };
        issued.install = Some(run_install(t, &args.dest.target, ci, extra, signed.certificate.der(), args.dest.dry_run)?);
    } else {
        // --csr without --out-dir: the certificate alone goes to stdout.
        if !render::structured(global.output, &issued)? {
            print!("{}", signed.certificate.to_pem());
        }
        return Ok(ExitCode::SUCCESS);
    }

    if !render::structured(global.output, &issued)? {
        print_text(&issued, args.dest.dry_run, global);
    }
    let doctor_errors = issued.install.as_ref().and_then(|i| i.doctor.as_ref()).map_or(0, |d| d.errors);
    Ok(if doctor_errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Checks what was just signed, as the API server will: chain to the CA and the TLS usage.
fn check_issued(s: &SignedCertificate, ca: &CertificateAuthority, usage: TlsUsage, now: OffsetDateTime) -> anyhow::Result<()> {
    verify_signed_by(&s.certificate, ca.certificate()).context("the new certificate does not verify against the CA")?;
    verify_for_tls(&s.certificate, ca.certificate(), usage, now).context("the new certificate would not pass TLS verification")?;
    Ok(())
}

pub(super) fn split_sans(node: &str, sans: &[String]) -> anyhow::Result<(Vec<String>, Vec<IpAddr>)> {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if sans.is_empty() {
        dns.push(node.to_string());
    }
    for s in sans {
        match s.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => {
                validate_node_name(s).map_err(|_| Refused(format!("--san {s:?} is neither an IP address nor a valid DNS name")))?;
                dns.push(s.clone());
            }
        }
    }
    Ok((dns, ips))
}

/// Writes the bundle (certificate, key 0600, the kubelet's pair file, CA, and with `server` a
/// kubelet kubeconfig embedding the pair); refuses to overwrite anything.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_bundle(
    dir: &Path,
    node: &str,
    cert: &kubecert_pki::Certificate,
    key: Option<&PrivateKey>,
    serving: Option<(&PrivateKey, &kubecert_pki::Certificate)>,
    ca_pem: &str,
    server: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<Vec<String>> {
    let mut files: Vec<(String, Zeroizing<String>, u32)> = vec![
        (format!("{node}.crt"), Zeroizing::new(cert.to_pem()), 0o644),
        ("ca.crt".into(), Zeroizing::new(ca_pem.to_string()), 0o644),
    ];
    if let Some(k) = key {
        let cert = cert.to_pem();
        files.push((format!("{node}.key"), k.to_pem(), 0o600));
        // The kubelet's own pair format: install as /var/lib/kubelet/pki/kubelet-client-<stamp>.pem.
        files.push(("kubelet-client.pem".into(), Zeroizing::new(format!("{cert}{}", k.to_pem().as_str())), 0o600));
        if let Some(server) = server {
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
            let cluster = kubecert_config::Cluster { certificate_authority_data: Some(b64(ca_pem)), ..Default::default() };
            let mut kc = kubecert_config::Kubeconfig::kubelet(server, cluster, "");
            kc.users[0].user.client_certificate = None;
            kc.users[0].user.client_key = None;
            kc.users[0].user.client_certificate_data = Some(b64(&cert));
            kc.users[0].user.client_key_data = Some(kubecert_config::Secret::new(b64(&k.to_pem())));
            files.push(("kubelet.conf".into(), Zeroizing::new(kc.to_yaml()?), 0o600));
        }
    }
    if let Some((k, s)) = serving {
        files.push((format!("{node}-serving.crt"), Zeroizing::new(s.to_pem()), 0o644));
        files.push((format!("{node}-serving.key"), k.to_pem(), 0o600));
    }
    // An empty or new folder only: nothing of the operator's is overwritten or, on failure, removed.
    if let Ok(mut rd) = std::fs::read_dir(dir)
        && rd.next().is_some()
    {
        return refuse(format!("{} is not empty; kubecert writes a bundle only into an empty or new --out-dir", dir.display()));
    }
    let names: Vec<String> = files.iter().map(|(n, _, m)| format!("{} ({m:04o})", dir.join(n).display())).collect();
    if dry_run {
        return Ok(names);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, body, mode) in &files {
        let path = dir.join(name);
        // create_new: never through a symlink, never over anything already there.
        let r = std::fs::OpenOptions::new().write(true).create_new(true).mode(*mode).open(&path).map(|f| (f, path.clone()));
        let r = r.and_then(|(mut f, p)| {
            // From here the file is ours: removed below if writing it fails.
            written.push(p);
            f.write_all(body.as_bytes())?;
            f.sync_all()
        });
        if let Err(e) = r {
            // Leave no half bundle behind; only files this run created.
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(anyhow::anyhow!("cannot write {}: {e}", path.display()));
        }
    }
    Ok(names)
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

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// A PKI refusal as the command's own (without saying "refused" twice).
fn pki_refusal(e: kubecert_pki::PkiError) -> Refused {
    match e {
        kubecert_pki::PkiError::Refused(m) => Refused(m),
        e => Refused(e.to_string()),
    }
}
