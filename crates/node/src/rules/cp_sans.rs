//! Control plane: serving certificates whose SANs do not cover this node — the API server's
//! `--advertise-address`, etcd's `--listen-client-urls`/`--listen-peer-urls` hosts, the hostname.
//! The usual cause is a certificate copied from another control-plane node (kubernetes#118216).

use super::Settings;
use crate::finding::{Finding, Severity};
use crate::snapshot::Snapshot;
use kubecert_pki::Certificate;

fn covers(cert: &Certificate, host: &str) -> bool {
    let i = cert.info();
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => i.ip_addresses.contains(&ip),
        Err(_) => i.dns_names.iter().any(|d| d.eq_ignore_ascii_case(host)),
    }
}

/// `cp-cert-sans-mismatch`.
pub fn check(snap: &Snapshot, _: &Settings) -> Vec<Finding> {
    let Some(cp) = &snap.control_plane else { return Vec::new() };
    let n = &cp.names;
    let mut out = Vec::new();
    for leaf in &cp.leaves {
        let Ok(cert) = &leaf.cert else { continue };
        let mut wanted: Vec<(String, &str)> = Vec::new();
        match leaf.entry.name {
            "apiserver" => wanted.extend(n.advertise_address.iter().map(|a| (a.clone(), "kube-apiserver --advertise-address"))),
            "etcd-server" => wanted.extend(n.etcd_client_hosts.iter().map(|h| (h.clone(), "etcd --listen-client-urls"))),
            "etcd-peer" => wanted.extend(n.etcd_peer_hosts.iter().map(|h| (h.clone(), "etcd --listen-peer-urls"))),
            _ => continue,
        }
        if let Some(h) = &n.hostname {
            wanted.push((h.clone(), "/etc/hostname"));
        }
        let missing: Vec<String> = wanted.iter().filter(|(h, _)| !covers(cert, h)).map(|(h, from)| format!("{h} (from {from})")).collect();
        if missing.is_empty() {
            continue;
        }
        let i = cert.info();
        let sans: Vec<String> = i.dns_names.iter().cloned().chain(i.ip_addresses.iter().map(|a| a.to_string())).collect();
        let name = leaf.entry.name;
        out.push(
            Finding::new(crate::code!("cp-cert-sans-mismatch"), Severity::Error, format!("{name} does not cover this node: {}", missing.join(", ")))
                .evidence(format!("{}: SANs {}", leaf.entry.location.path(), sans.join(", ")))
                .evidence(format!("read from {}", n.sources.join(", ")))
                .fix(format!("Was it copied from another control-plane node? Make this node's own: move {} and its key aside, then `kubeadm init phase certs {name}` with this node's configuration (renewal keeps the old SANs, so `kubecert renew` does not fix this).", leaf.entry.location.path())),
        );
    }
    out
}
