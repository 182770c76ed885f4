//! Builds real node trees for tests: real certificates (made by kubecert-pki or by openssl), the
//! kubelet's real file layout (absolute `kubelet-client-current.pem` link, kubeadm's drop-in and
//! flags file, a KubeletConfiguration) under a temporary root.


use kubecert_pki::*;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A cluster CA for fixtures.
pub struct TestCa {
    pub ca: CertificateAuthority,
    pub cert_pem: String,
}

impl TestCa {
    pub fn new(cn: &str) -> TestCa {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let cert = self_signed_ca(&key, cn, now() - Duration::days(30), now() + Duration::days(3650)).unwrap();
        let cert_pem = cert.to_pem();
        TestCa { ca: CertificateAuthority::new(cert, key, now()).unwrap(), cert_pem }
    }

    /// A kubelet-style PEM (certificate then key) for `cn`/`org`, valid in the given window.
    pub fn client_pem(&self, cn: &str, org: Option<&str>, not_before: OffsetDateTime, not_after: OffsetDateTime) -> (String, String) {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let p = LeafProfile {
            common_name: cn.into(),
            organization: org.map(String::from),
            client_auth: true,
            server_auth: false,
            dns_names: vec![],
            ip_addresses: vec![],
            valid_for: Duration::days(1),
        };
        let cert = sign_with_dates(&self.ca, &key, &p, not_before, not_after).unwrap();
        (cert.to_pem(), key.to_pem().to_string())
    }
}

/// A kubeadm-shaped node tree.
pub struct NodeTree {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub ca: TestCa,
}

pub const DROPIN: &str = "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\nExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n";

impl NodeTree {
    /// A healthy kubeadm worker `name`: client cert valid for a year (issued 10 days ago), rotation on.
    pub fn kubeadm(name: &str) -> NodeTree {
        let t = NodeTree { dir: tempfile::tempdir().unwrap(), name: name.into(), ca: TestCa::new("kubernetes") };
        t.write("/etc/hostname", &format!("{name}\n"), 0o644);
        t.write("/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", DROPIN, 0o644);
        t.write("/var/lib/kubelet/kubeadm-flags.env", "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock\"\n", 0o644);
        t.write("/var/lib/kubelet/config.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nrotateCertificates: true\nauthentication:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\n", 0o644);
        t.write("/etc/kubernetes/pki/ca.crt", &t.ca.cert_pem, 0o644);
        let (c, k) = t.ca.client_pem(&node_common_name(name), Some(NODES_GROUP), now() - Duration::days(10), now() + Duration::days(355));
        t.install_client(&c, &k, "2026-11-15-10-00-00");
        t.write_kubelet_conf_pointing_at_link();
        t.write_serving(now() - Duration::days(10), now() + Duration::days(355));
        t
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn host(&self, node_path: &str) -> PathBuf {
        self.dir.path().join(node_path.trim_start_matches('/'))
    }

    pub fn write(&self, node_path: &str, content: &str, mode: u32) {
        self.write_bytes(node_path, content.as_bytes(), mode);
    }

    pub fn write_bytes(&self, node_path: &str, content: &[u8], mode: u32) {
        let p = self.host(node_path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn remove(&self, node_path: &str) {
        let p = self.host(node_path);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            std::fs::remove_dir_all(p).unwrap();
        } else {
            let _ = std::fs::remove_file(p);
        }
    }

    /// Installs a cert+key the way the kubelet does: stamped file + absolute current link.
    pub fn install_client(&self, cert_pem: &str, key_pem: &str, stamp: &str) {
        let file = format!("/var/lib/kubelet/pki/kubelet-client-{stamp}.pem");
        self.write(&file, &format!("{cert_pem}{key_pem}"), 0o600);
        let link = self.host("/var/lib/kubelet/pki/kubelet-client-current.pem");
        let _ = std::fs::remove_file(&link);
        symlink(&file, link).unwrap();
    }

    pub fn write_kubelet_conf_pointing_at_link(&self) {
        let ca = base64(&self.ca.cert_pem);
        self.write(
            "/etc/kubernetes/kubelet.conf",
            &format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: https://10.0.0.1:6443\n  name: default-cluster\ncontexts:\n- context:\n    cluster: default-cluster\n    namespace: default\n    user: default-auth\n  name: default-context\ncurrent-context: default-context\nusers:\n- name: default-auth\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n"),
            0o600,
        );
    }

    #[allow(dead_code, reason = "shared by doctor, layouts and malformed; not every binary uses it")]
    /// kubelet.conf with the client certificate and key embedded (pre-1.17 control planes).
    pub fn write_kubelet_conf_embedded(&self, cert_pem: &str, key_pem: &str) {
        let ca = base64(&self.ca.cert_pem);
        self.write(
            "/etc/kubernetes/kubelet.conf",
            &format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: https://10.0.0.1:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: system:node:{n}\n  name: system:node:{n}@kubernetes\ncurrent-context: system:node:{n}@kubernetes\nusers:\n- name: system:node:{n}\n  user:\n    client-certificate-data: {c}\n    client-key-data: {k}\n", n = self.name, c = base64(cert_pem), k = base64(key_pem)),
            0o600,
        );
    }

    #[allow(dead_code, reason = "shared by doctor, layouts and malformed; not every binary uses it")]
    pub fn write_bootstrap(&self, token: &str) {
        let ca = base64(&self.ca.cert_pem);
        self.write(
            "/etc/kubernetes/bootstrap-kubelet.conf",
            &format!("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: https://10.0.0.1:6443\n  name: kubernetes\ncontexts:\n- context:\n    cluster: kubernetes\n    user: tls-bootstrap-token-user\n  name: tls-bootstrap-token-user@kubernetes\ncurrent-context: tls-bootstrap-token-user@kubernetes\nusers:\n- name: tls-bootstrap-token-user\n  user:\n    token: {token}\n"),
            0o600,
        );
    }

    /// The kubelet's self-signed serving certificate.
    pub fn write_serving(&self, not_before: OffsetDateTime, not_after: OffsetDateTime) {
        let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
        let cert = self_signed_ca(&key, &format!("{}-ca@1700000000", self.name), not_before, not_after).unwrap();
        self.write("/var/lib/kubelet/pki/kubelet.crt", &cert.to_pem(), 0o644);
        self.write("/var/lib/kubelet/pki/kubelet.key", &key.to_pem(), 0o600);
    }

    /// Diagnoses the tree; returns the codes of errors and warnings (sorted).
    pub fn codes(&self) -> Vec<&'static str> {
        self.codes_with(&kubecert_node::Overrides::default())
    }

    pub fn codes_with(&self, ov: &kubecert_node::Overrides) -> Vec<&'static str> {
        self.codes_at_least(ov, kubecert_node::Severity::Warning)
    }

    #[allow(dead_code, reason = "shared by doctor, layouts and malformed; not every binary uses it")]
    /// Every code, info included.
    pub fn all_codes(&self) -> Vec<&'static str> {
        self.codes_at_least(&Default::default(), kubecert_node::Severity::Info)
    }

    fn codes_at_least(&self, ov: &kubecert_node::Overrides, min: kubecert_node::Severity) -> Vec<&'static str> {
        let root = kubecert_node::NodeRoot::new(self.root()).unwrap();
        let d = kubecert_node::diagnose(&root, ov, &kubecert_node::Settings::default());
        let mut c: Vec<_> = d.findings.iter().filter(|f| f.severity >= min).map(|f| f.code).collect();
        c.sort();
        c
    }

    #[allow(dead_code, reason = "shared by doctor, layouts and malformed; not every binary uses it")]
    pub fn severity_of(&self, code: &str) -> Option<kubecert_node::Severity> {
        let root = kubecert_node::NodeRoot::new(self.root()).unwrap();
        let d = kubecert_node::diagnose(&root, &Default::default(), &kubecert_node::Settings::default());
        d.findings.iter().find(|f| f.code == code).map(|f| f.severity)
    }
}

pub fn base64(s: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

