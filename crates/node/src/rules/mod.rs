//! The diagnosis rules. Each rule is a pure function of the [`Snapshot`] that returns findings; a
//! new rule is a new file and one line in [`RULES`].

mod agent;
mod bootstrap;
mod client_cert;
mod cp_ca;
mod cp_files;
mod cp_key;
mod cp_kubeconfig_ca;
mod cp_sans;
mod cp_trust;
mod cp_validity;
mod files;
mod kubeconfig;
mod kubeconfig_ca_empty;
mod kubelet_conf_embedded;
mod rotation;
mod sa_keys;
mod serving;
mod trust;
mod unit;
mod unused;

use crate::finding::Finding;
use crate::credential::{Step, Verdict};
use crate::snapshot::{CertSource, Snapshot};
use time::{Duration, OffsetDateTime};

/// Knobs of a diagnosis.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// "Now" (a parameter so that tests and `--at` can move it).
    pub now: OffsetDateTime,
    /// Certificates expiring within this window get a warning.
    pub warn_within: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { now: OffsetDateTime::now_utc(), warn_within: Duration::days(30) }
    }
}

/// A rule.
pub(crate) type Rule = fn(&Snapshot, &Settings) -> Vec<Finding>;

/// Every rule, in report order.
pub(crate) const RULES: &[Rule] = &[
    kubeconfig::check,
    kubeconfig_ca_empty::check,
    client_cert::check,
    trust::check,
    unused::check,
    rotation::check,
    bootstrap::check,
    serving::check,
    files::check,
    agent::check,
    unit::check,
    cp_files::check,
    cp_validity::check,
    cp_trust::check,
    cp_key::check,
    cp_sans::check,
    cp_kubeconfig_ca::check,
    sa_keys::check,
    cp_ca::check,
    kubelet_conf_embedded::check,
];

/// Runs every rule; errors first, then warnings, then info (stable within a severity).
pub fn diagnose(snap: &Snapshot, settings: &Settings) -> Vec<Finding> {
    let mut out: Vec<Finding> = RULES.iter().flat_map(|r| r(snap, settings)).collect();
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

/// The client certificate the kubelet will present (see [`crate::credential::precedence`]), when it loaded.
pub(crate) fn client_cert(snap: &Snapshot) -> Option<&CertSource> {
    snap.presented()?.cert.as_ref().ok()
}

/// The cluster CA: the kubeconfig's own CA, else the layout's CA file.
pub(crate) fn cluster_ca(snap: &Snapshot) -> Option<&kubecert_pki::Certificate> {
    let from_kubeconfig = snap
        .kubeconfig
        .outcome
        .as_ref()
        .ok()
        .and_then(|k| k.ca.as_ref())
        .and_then(|c| c.as_ref().ok())
        .map(|c| c.leaf());
    from_kubeconfig.or(snap.cluster_ca.outcome.as_ref().ok())
}

/// The CA the API server checks client certificates against (`--client-ca-file`), per layout:
/// k3s/rke2 keep it apart from the server CA the kubeconfig trusts (`client-ca.crt` vs
/// `server-ca.crt`); kubeadm uses one CA for both.
pub(crate) fn client_signer_ca(snap: &Snapshot) -> Option<&kubecert_pki::Certificate> {
    if snap.setup.layout.agent_managed() {
        return snap.cluster_ca.outcome.as_ref().ok().or_else(|| cluster_ca(snap));
    }
    cluster_ca(snap)
}

/// Can the kubelet authenticate with the credential it will present? (it presents one, in its
/// validity window, key matching, this node's name in group system:nodes, trusted by the cluster CA
/// when known; or a token).
pub(crate) fn client_usable(snap: &Snapshot, s: &Settings) -> bool {
    match snap.choice.verdict {
        Verdict::Token => return true,
        // The kubelet stops before it looks at credentials: nothing to say about them here.
        Verdict::RefusesToStart(_) if matches!(snap.choice.step, Step::KubeletConfigInvalid | Step::ClientCaFileInvalid) => return true,
        Verdict::Presents => {}
        _ => return false,
    }
    let Some(cred) = snap.presented() else { return false };
    let (Ok(cert), Ok((_, key))) = (&cred.cert, &cred.key) else { return false };
    let leaf = cert.leaf();
    let name_ok = match &snap.setup.node_name {
        Some(n) => leaf.info().common_names.first().map(String::as_str) == Some(&kubecert_pki::node_common_name(n)),
        None => true,
    };
    let trusted = client_signer_ca(snap).is_none_or(|ca| kubecert_pki::verify_signed_by(leaf, ca).is_ok());
    let org_ok = leaf.info().organizations == [kubecert_pki::NODES_GROUP];
    leaf.is_valid_at(s.now) && key.matches(leaf) && name_ok && org_ok && trusted
}

/// How to get a kubelet that refuses to start going, by the step that stops it.
pub(crate) fn start_fix(snap: &Snapshot) -> Vec<String> {
    match snap.choice.step {
        Step::KubeletConfigInvalid => vec!["Restore the KubeletConfiguration (kubeadm: `kubectl get cm -n kube-system kubelet-config -o jsonpath='{.data.kubelet}'`).".into()],
        Step::ClientCaFileInvalid => vec!["Put the cluster CA at the KubeletConfiguration's authentication.x509.clientCAFile (control plane: /etc/kubernetes/pki/ca.crt), or `kubecert discover`, which fetches and pins it.".into()],
        _ => new_credential_fix(snap),
    }
}

/// The commands that get a node a new client credential, best first, with real values filled in
/// where the snapshot knows them.
pub(crate) fn new_credential_fix(snap: &Snapshot) -> Vec<String> {
    let layout = snap.setup.layout;
    if layout.agent_managed() {
        // The agent fetches its certificates from the server at start: kubeadm's repairs do not apply.
        let node = snap.setup.node_name.clone().unwrap_or_else(|| "<node-name>".into());
        return vec![
            format!("Restart the agent: `systemctl restart {layout}-agent`; it renews the kubelet's certificates near expiry at start (on a server node: `{layout} certificate rotate`, then restart {layout})."),
            format!("If the agent cannot reach the server or its token is gone, re-register it with the server's token ({layout} agent --token ... or the config file), then restart it."),
            format!("Last resort, where the client CA key is: `kubecert sign --node {node} --ca-cert client-ca.crt --ca-key client-ca.key --install --root <node root>`."),
        ];
    }
    let node = snap.setup.node_name.clone().unwrap_or_else(|| "<node-name>".into());
    let server = snap
        .kubeconfig
        .outcome
        .as_ref()
        .ok()
        .and_then(|k| k.server.clone())
        .or_else(|| snap.bootstrap.as_ref().and_then(|b| b.outcome.as_ref().ok()).and_then(|b| b.server.clone()))
        .map(|s| s.trim_start_matches("https://").to_string())
        .unwrap_or_else(|| "<api-server-host:port>".into());
    let pin = cluster_ca(snap).map(|c| c.info().public_key_pin.clone()).unwrap_or_else(|| "sha256:<cluster CA pin>".into());
    vec![
        format!("On the node: `kubecert repair --node-name {node}` picks the least invasive repair the available credentials allow."),
        format!("With a bootstrap token (make one where admin credentials are: `kubecert token create`): `kubecert discover --token <id.secret> --server {server} --ca-cert-hash {pin} --install`, then `systemctl restart kubelet`."),
        format!("Where a cluster-admin kubeconfig is: `kubecert bootstrap-config --node {node} --out bootstrap-kubelet.conf`, copy it to the node, `kubecert bootstrap-config --install` moves the old credential aside with a backup."),
        format!("Where the cluster CA key is: `kubecert sign --node {node} --ca-cert ca.crt --ca-key ca.key --install --root <node root>`."),
    ]
}

/// RFC 3339 for evidence lines.
pub(crate) fn date(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// "in 3 days" / "5 hours ago".
pub(crate) fn relative(t: OffsetDateTime, now: OffsetDateTime) -> String {
    let d = t - now;
    let abs = d.abs();
    let text = if abs >= Duration::days(2) {
        format!("{} days", abs.whole_days())
    } else if abs >= Duration::hours(2) {
        format!("{} hours", abs.whole_hours())
    } else {
        format!("{} minutes", abs.whole_minutes())
    };
    if d.is_negative() { format!("{text} ago") } else { format!("in {text}") }
}
