//! The catalog of finding codes: the public contract. Each entry says what the code means, why it
//! happens and how to fix it; `kubecert explain CODE` prints it and the README lists every code.

use crate::finding::Severity;
use serde::Serialize;

/// One finding code with its documentation.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CodeDoc {
    /// The code.
    pub code: &'static str,
    /// The highest severity it is reported with.
    pub severity: Severity,
    /// One line.
    pub title: &'static str,
    /// The long explanation: what the kubelet does and why this breaks it.
    pub explanation: &'static str,
}

use Severity::{Error, Info, Warning};

/// A finding code that is in [`CODES`]: made only by [`code!`](crate::code), which checks the
/// literal against the catalog at compile time, so a misspelt code does not build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(&'static str);

impl Code {
    /// The code's text.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `code` as a [`Code`]; panics when the catalog does not have it. Meant for const evaluation
/// (through [`code!`](crate::code)), where that panic is a compile error.
pub const fn catalogued(code: &'static str) -> Code {
    let mut i = 0;
    while i < CODES.len() {
        if same(CODES[i].code, code) {
            return Code(code);
        }
        i += 1;
    }
    panic!("not a finding code in kubecert_node::codes::CODES")
}

/// A catalogued finding code, checked at compile time: `code!("client-cert-expired")`.
#[macro_export]
macro_rules! code {
    ($s:literal) => {{
        const C: $crate::codes::Code = $crate::codes::catalogued($s);
        C
    }};
}

/// Every code, in the order a report walks the node.
pub const CODES: &[CodeDoc] = &[
    CodeDoc { code: "kubeconfig-missing", severity: Error, title: "The kubelet's kubeconfig does not exist",
        explanation: "The kubelet reads its client credential from --kubeconfig (kubeadm: /etc/kubernetes/kubelet.conf). Without it the kubelet must TLS-bootstrap from --bootstrap-kubeconfig; if that is missing too, it exits with 'unable to load bootstrap kubeconfig'. Reported as info when a bootstrap kubeconfig is present (the kubelet will bootstrap)." },
    CodeDoc { code: "kubeconfig-invalid", severity: Error, title: "The kubelet's kubeconfig does not parse",
        explanation: "The file is not a valid kubeconfig (bad YAML, not UTF-8, a current-context that names nothing). The kubelet treats an unreadable kubeconfig as absent and falls back to bootstrap, or fails to start." },
    CodeDoc { code: "client-cert-missing", severity: Error, title: "The client certificate the kubeconfig names is missing",
        explanation: "kubelet.conf points at a certificate file that does not exist, often a dangling kubelet-client-current.pem symlink after someone deleted /var/lib/kubelet/pki (field report 004). The kubelet cannot authenticate." },
    CodeDoc { code: "client-cert-invalid", severity: Error, title: "The client certificate does not parse",
        explanation: "Truncated or corrupted PEM, a DER file named .pem, or an empty file. The kubelet cannot load it and fails TLS setup." },
    CodeDoc { code: "client-cert-expired", severity: Error, title: "The kubelet's client certificate has expired",
        explanation: "The kubelet rotates its client certificate at 70-90% of its life through a CSR; if rotation failed silently (CSR never approved, node powered off through the window), the certificate expires and the API server answers Unauthorized. On restart the kubelet sees the expired certificate and falls back to the bootstrap kubeconfig, which kubeadm deleted after join: 'unable to load bootstrap kubeconfig' (field report 000)." },
    CodeDoc { code: "client-cert-not-yet-valid", severity: Error, title: "The client certificate is not valid yet",
        explanation: "NotBefore is in the future: the node's clock is behind (or the signer's ahead). TLS fails with 'x509: certificate has expired or is not yet valid'. Fix the clock (NTP) before anything else." },
    CodeDoc { code: "client-cert-expiring-soon", severity: Warning, title: "The client certificate expires soon",
        explanation: "Within the warning window (--warn-within, default 30 days). With rotation working the kubelet renews it by itself; check that it does." },
    CodeDoc { code: "client-cert-rotation-stalled", severity: Warning, title: "The client certificate is past its rotation deadline",
        explanation: "The kubelet renews at 70-90% of the certificate's life. A certificate past 90% with rotation enabled means renewal is failing: usually a CSR that is never approved (missing selfnodeclient binding) or never signed. This is the silent failure behind field report 000." },
    CodeDoc { code: "client-cert-identity-mismatch", severity: Error, title: "The client certificate belongs to another node",
        explanation: "The CN is not system:node:<this node's name>. With the Node authorizer and NodeRestriction the API server refuses every write to this node ('node \"a\" is not allowed to modify node \"b\"', 'cannot read ... only its own Node object'), and since 1.31 the kubelet cannot even request a renewal for its own name. Typical after copying another node's files (field report 004) or a hostname change. The kubelet does not notice by itself: it only checks NotAfter." },
    CodeDoc { code: "client-cert-wrong-org", severity: Error, title: "The client certificate is not in group system:nodes",
        explanation: "The Node authorizer only handles users in group system:nodes (O=system:nodes). Without it the kubelet is an ordinary user with no rights on nodes and pods." },
    CodeDoc { code: "client-cert-untrusted", severity: Error, title: "The client certificate is not signed by the cluster CA",
        explanation: "The certificate does not verify against the cluster CA (real signature check): it was issued by an old CA (after a CA rotation) or another cluster. The API server answers Unauthorized ('x509: certificate signed by unknown authority' in its log)." },
    CodeDoc { code: "client-cert-v1", severity: Error, title: "The client certificate is X.509 v1",
        explanation: "v1 certificates (openssl x509 -req without extensions) carry no extensions; Go and rustls refuse them as client certificates." },
    CodeDoc { code: "client-key-missing", severity: Error, title: "The client key the kubeconfig names is missing",
        explanation: "kubelet.conf names a key file that does not exist or holds no private key." },
    CodeDoc { code: "client-key-invalid", severity: Error, title: "The client key cannot be used",
        explanation: "The key is corrupted, encrypted (kubelet keys never are) or of an unsupported type." },
    CodeDoc { code: "client-key-mismatch", severity: Error, title: "The client key does not belong to the certificate",
        explanation: "The private key's public half is not the certificate's: TLS fails ('private key does not match public key'). Usually a certificate and key copied from different places." },
    CodeDoc { code: "kubeconfig-embedded-cert-stale", severity: Warning, title: "kubelet.conf embeds a stale certificate the kubelet does not use",
        explanation: "kubelet.conf carries client-certificate-data that the kubelet does not present: with rotation on, the store's kubelet-client-current.pem comes first and the embedded pair is only a fallback. Without --bootstrap-kubeconfig that is harmless (a warning). With it, an expired embedded certificate makes the kubelet bootstrap at start although a valid certificate sits in the store, and exit if the bootstrap kubeconfig is gone (then doctor reports kubelet-will-not-start). Point kubelet.conf at kubelet-client-current.pem." },
    CodeDoc { code: "current-link-not-symlink", severity: Warning, title: "kubelet-client-current.pem is a regular file, not a symlink",
        explanation: "The kubelet's certificate store swaps the kubelet-client-current.pem symlink on rotation; when it is a plain file (copied by hand) rotation fails with 'expected ... to be a symlink but it is a file'." },
    CodeDoc { code: "bootstrap-kubeconfig-missing", severity: Error, title: "No bootstrap kubeconfig to fall back on",
        explanation: "kubeadm deletes /etc/kubernetes/bootstrap-kubelet.conf after join. That is fine while the client credential works (info), but when it does not the kubelet exits with 'unable to load bootstrap kubeconfig: stat ...: no such file or directory' (field report 000)." },
    CodeDoc { code: "bootstrap-kubeconfig-invalid", severity: Error, title: "The bootstrap kubeconfig cannot be used",
        explanation: "The bootstrap kubeconfig does not parse, has no token or client credential, has no CA, or its token is not in the bootstrap token format id.secret." },
    CodeDoc { code: "rotation-disabled", severity: Warning, title: "Client certificate rotation is off",
        explanation: "rotateCertificates is false or absent in the KubeletConfiguration (absent means false), so the client certificate will expire and the node will go NotReady a year after join. kubeadm sets rotateCertificates: true." },
    CodeDoc { code: "ca-missing", severity: Warning, title: "No cluster CA found",
        explanation: "Neither the kubeconfig nor the layout's CA file (kubeadm: /etc/kubernetes/pki/ca.crt) provides the cluster CA, so the client certificate's chain cannot be checked and the kubelet cannot verify the API server." },
    CodeDoc { code: "ca-expired", severity: Error, title: "The cluster CA has expired",
        explanation: "Every certificate it signed is now useless; the whole cluster needs a CA rotation (kubeadm: manual CA rotation procedure). Not a node-local repair." },
    CodeDoc { code: "ca-mismatch", severity: Warning, title: "The kubeconfig's CA and the kubelet's client CA differ",
        explanation: "kubelet.conf trusts one CA while the kubelet's clientCAFile (or /etc/kubernetes/pki/ca.crt) is another. After a CA rotation one was not updated: either the kubelet cannot verify the API server or the API server cannot call the kubelet (logs, exec)." },
    CodeDoc { code: "serving-cert-expired", severity: Error, title: "The kubelet's serving certificate has expired",
        explanation: "The certificate on port 10250 has expired: kubectl logs/exec and metrics-server fail. The self-signed kubelet.crt is never renewed; delete kubelet.crt/kubelet.key and restart the kubelet to get a new one, or use serverTLSBootstrap with an approver." },
    CodeDoc { code: "serving-cert-expiring-soon", severity: Warning, title: "The kubelet's serving certificate expires soon",
        explanation: "Within the warning window. The self-signed kubelet.crt is never renewed by the kubelet." },
    CodeDoc { code: "key-permissions-too-open", severity: Warning, title: "A private key is readable by group or others",
        explanation: "Private keys must be 0600. The kubelet writes its own with 0600; a wider mode means someone copied them by hand." },
    CodeDoc { code: "foreign-credential-on-disk", severity: Warning, title: "Another node's key and certificate are on this node",
        explanation: "A kubelet-client-*.pem in the cert dir names another node: left over from copying that node's files (field report 004), even after this node got its own credential. Whoever reads this disk can act as that node. Delete it once this node works." },
    CodeDoc { code: "stale-bootstrap-key", severity: Info, title: "A bootstrap that never finished left kubelet-client.key.tmp",
        explanation: "The kubelet keeps the key of a pending bootstrap CSR in kubelet-client.key.tmp and reuses it after a restart; it deletes it on success. Its presence means a TLS bootstrap started and did not complete (CSR not approved or not signed)." },
    CodeDoc { code: "node-name-unknown", severity: Warning, title: "The node's name could not be determined",
        explanation: "No --node-name, no --hostname-override in the kubelet's flags and no /etc/hostname under the root: identity checks are skipped. Pass --node-name." },
    CodeDoc { code: "kubelet-config-invalid", severity: Error, title: "The KubeletConfiguration file cannot be read",
        explanation: "The kubelet refuses to start with an unreadable --config file." },
    CodeDoc { code: "agent-managed-certs", severity: Info, title: "The distribution's agent manages these certificates",
        explanation: "On k3s and rke2 the agent fetches the kubelet's certificates from the server at start and renews them on restart when they are close to expiry; restart the agent service rather than signing by hand." },
    CodeDoc { code: "kubelet-unit-expansion-too-large", severity: Error, title: "The kubelet unit's command line expands beyond the kernel's limit",
        explanation: "systemd expands $VAR and ${VAR} in ExecStart= from Environment= and EnvironmentFile= values; the kernel refuses to start a program whose arguments exceed ARG_MAX (2 MiB with the default stack) or one argument beyond MAX_ARG_STRLEN (128 KiB), so the kubelet does not start. kubecert stops expanding at the same limits and reports the unit." },
    CodeDoc { code: "kubelet-will-not-start", severity: Error, title: "The kubelet will refuse to start",
        explanation: "kubelet v1.37 exits at start when its --config file does not load, its authentication.x509.clientCAFile is missing, empty or holds no certificate, its kubeconfig does not load with no bootstrap to replace it, a bootstrap is needed and the bootstrap kubeconfig does not load, or (rotation on) the first client pair its store finds does not load (e.g. a key that does not match). The evidence names the step (docs/kubelet-credential-precedence.md)." },
    CodeDoc { code: "kubelet-will-bootstrap", severity: Info, title: "The kubelet will TLS-bootstrap a new client certificate",
        explanation: "The kubeconfig's certificate is missing, unloadable or past its NotAfter and a bootstrap kubeconfig is present: the kubelet files a CSR with the bootstrap token at start. This works when the token is valid and the cluster approves node CSRs (kubecert rbac check)." },
    CodeDoc { code: "unused-client-cert-stale", severity: Warning, title: "A client certificate the kubelet does not use is stale",
        explanation: "A client credential on the node that the kubelet's precedence does not pick (a kubeconfig's files, kubelet-client.crt/.key, the store) has expired or does not load. It does not affect the kubelet, but people and tools take it for the kubelet's credential." },
    // Control-plane nodes (issue 15).
    CodeDoc { code: "cp-cert-missing", severity: Warning, title: "A control-plane certificate kubeadm makes is missing",
        explanation: "kubeadm puts every certificate of its list on each control-plane node (apiserver, etcd, front-proxy, the kubeconfigs). A missing one means the component that needs it cannot start on this node, unless it is deliberately absent (external etcd)." },
    CodeDoc { code: "cp-cert-invalid", severity: Error, title: "A control-plane certificate cannot be read",
        explanation: "The file is there but is not a certificate (truncated, emptied, a kubeconfig without an embedded client certificate). The component that loads it fails at start." },
    CodeDoc { code: "cp-cert-expired", severity: Error, title: "A control-plane certificate or kubeconfig has expired",
        explanation: "kubeadm issues them for one year and renews them only on `kubeadm upgrade`; a cluster not upgraded for a year loses them together on its first birthday: the API server cannot reach etcd, components and admins get Unauthorized. `kubecert renew` re-issues them with the same shapes, backup first; the components must then restart." },
    CodeDoc { code: "cp-cert-expiring-soon", severity: Warning, title: "A control-plane certificate or kubeconfig expires soon",
        explanation: "Within the warning window (--warn-within). Nothing rotates these automatically; renew them before the date (`kubecert renew --within 30d`) and restart the components." },
    CodeDoc { code: "cp-cert-not-yet-valid", severity: Error, title: "A control-plane certificate is not valid yet",
        explanation: "NotBefore is in the future: this node's clock is behind the machine that issued it. TLS peers reject it until then. Fix the clock first." },
    CodeDoc { code: "apiserver-kubelet-client-expired", severity: Error, title: "The API server's client certificate for kubelets has expired",
        explanation: "The API server presents apiserver-kubelet-client.crt to kubelets for logs, exec, attach and port-forward. When it expires nodes stay Ready (the kubelets still reach the API server) but those commands fail with 'x509: certificate has expired' or Unauthorized from the kubelet. Renew it and restart kube-apiserver." },
    CodeDoc { code: "cp-cert-untrusted", severity: Error, title: "A control-plane certificate is not signed by its CA",
        explanation: "Each certificate must verify against its CA (ca.crt, etcd/ca.crt or front-proxy-ca.crt). One that does not was copied from another cluster or survived a CA rotation; its peers reject it with 'x509: certificate signed by unknown authority'." },
    CodeDoc { code: "cp-key-mismatch", severity: Error, title: "A control-plane certificate's key does not match it",
        explanation: "The .key beside the .crt (or a kubeconfig's client-key-data) is not the certificate's private key, often after copying only one of the pair. The component fails at start with 'tls: private key does not match public key'." },
    CodeDoc { code: "cp-cert-sans-mismatch", severity: Error, title: "A serving certificate does not cover this node's addresses",
        explanation: "The apiserver, etcd-server and etcd-peer certificates must name the addresses the static pod manifests use (--advertise-address, etcd --listen-client-urls/--listen-peer-urls) and the node's hostname. A certificate copied from another control-plane node names that node instead (kubernetes#118216): clients fail with 'x509: certificate is valid for A, not B'. Renewal keeps SANs, so the fix is a new certificate made for this node." },
    CodeDoc { code: "cp-kubeconfig-ca-stale", severity: Error, title: "A kubeconfig embeds a CA that is not the current ca.crt",
        explanation: "admin.conf, controller-manager.conf, scheduler.conf and super-admin.conf embed the cluster CA to verify the API server. After a CA rotation an old one makes every request fail with 'x509: certificate signed by unknown authority' (kubeadm#2027). `kubecert renew` writes the current CA into each kubeconfig it renews." },
    CodeDoc { code: "sa-key-mismatch", severity: Error, title: "sa.key and sa.pub are not a pair",
        explanation: "kube-controller-manager signs service-account tokens with sa.key; kube-apiserver verifies them with sa.pub. If they are not one pair (or one is missing or unreadable) every service-account token is rejected: controllers and in-cluster clients get Unauthorized." },
    CodeDoc { code: "cp-ca-expired", severity: Error, title: "A control-plane CA has expired",
        explanation: "ca, etcd-ca or front-proxy-ca is past its NotAfter (kubeadm makes them for ten years). Everything it signed is rejected and renewing leaves cannot help: the CA must be rotated." },
    CodeDoc { code: "cp-ca-expiring", severity: Warning, title: "A control-plane CA expires before the certificates it signs",
        explanation: "The CA expires within a renewal's lifetime (one year) or before a leaf it signed. Leaves are only valid while their CA is: plan a CA rotation. `kubecert renew` refuses to issue past the CA unless --clamp-to-ca." },
    CodeDoc { code: "kubelet-conf-embedded-cert", severity: Warning, title: "kubelet.conf embeds a client certificate that rotation will not replace",
        explanation: "On the first control-plane node of older kubeadm clusters, kubelet.conf carries client-certificate-data instead of pointing at /var/lib/kubelet/pki/kubelet-client-current.pem. The kubelet rotates the .pem file but keeps using the embedded certificate, and fails when it expires (kubeadm#2054). `kubeadm init phase kubelet-finalize enable-client-cert-rotation` fixes the file." },
    CodeDoc { code: "kubeconfig-ca-empty", severity: Error, title: "The kubelet's kubeconfig holds an empty CA",
        explanation: "certificate-authority-data is \"\" or certificate-authority names an empty file. client-go does not refuse this: the kubelet starts and presents its certificate, but it verifies the API server against the system's trust store (empty data) or against nothing (an empty file, client-go's ClientsAllowCARotation, on by default since 1.36). With a cluster-signed API server certificate every request fails with 'x509: certificate signed by unknown authority' and the node goes NotReady. Put the cluster CA back into the kubeconfig." },
];

/// The documentation of `code`.
pub fn lookup(code: &str) -> Option<&'static CodeDoc> {
    CODES.iter().find(|c| c.code == code)
}

/// What a repair of the kubelet's client credential (`kubecert repair`) does about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RepairClass {
    /// A new client credential (or a fresh bootstrap) fixes it.
    ClientCredential,
    /// A new client credential cannot help until this is fixed; repair refuses.
    Blocker,
    /// Not the client credential's business.
    Other,
}

impl CodeDoc {
    /// This code's repair class. Codes appended to the catalog default to [`RepairClass::Other`];
    /// the test below fails when a name here is not in the catalog (a typo does not slip by).
    pub fn repair_class(&self) -> RepairClass {
        match self.code {
            "kubeconfig-missing" | "kubeconfig-invalid" | "client-cert-missing" | "client-cert-invalid" | "client-cert-expired"
            | "client-cert-identity-mismatch" | "client-cert-wrong-org" | "client-cert-untrusted" | "client-cert-v1" | "client-key-missing"
            | "client-key-invalid" | "client-key-mismatch" | "bootstrap-kubeconfig-missing" | "bootstrap-kubeconfig-invalid" => {
                RepairClass::ClientCredential
            }
            "client-cert-not-yet-valid" | "ca-expired" | "kubelet-config-invalid" => RepairClass::Blocker,
            _ => RepairClass::Other,
        }
    }
}

/// The repair class of `code` ([`RepairClass::Other`] for a code not in the catalog).
pub fn repair_class(code: &str) -> RepairClass {
    lookup(code).map_or(RepairClass::Other, CodeDoc::repair_class)
}

#[cfg(test)]
mod repair_class_tests {
    use super::*;

    #[test]
    fn every_classified_code_is_in_the_catalog() {
        // The classes above name 17 codes; each must resolve to its catalog entry.
        let classified: Vec<&str> = CODES.iter().filter(|c| c.repair_class() != RepairClass::Other).map(|c| c.code).collect();
        assert_eq!(classified.len(), 17, "a code in repair_class() is misspelt or missing from CODES: {classified:?}");
        assert_eq!(repair_class("client-cert-expired"), RepairClass::ClientCredential);
        assert_eq!(repair_class("ca-expired"), RepairClass::Blocker);
        assert_eq!(repair_class("rotation-disabled"), RepairClass::Other);
        assert_eq!(repair_class("no-such-code"), RepairClass::Other);
    }
}
