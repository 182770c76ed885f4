//! A kubeadm control-plane node tree made by the real kubeadm, offline (`--rootfs`, which chroots):
//! `init phase certs all`, `init phase kubeconfig all` and the static pod manifests
//! (`init phase control-plane all`, `init phase etcd local`), for renewal and doctor tests that
//! compare kubecert with kubeadm itself.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The node's name and the address kubeadm advertises (both end up in the SANs).
pub const NODE: &str = "cp1";
/// kube-apiserver `--advertise-address`, etcd's listen URLs.
pub const ADVERTISE: &str = "10.250.0.5";

/// Makes a control-plane tree at `root` (created) with `kubeadm`; returns `root`.
pub fn kubeadm_control_plane(kubeadm: &Path, root: &Path) -> PathBuf {
    make(kubeadm, root, &config())
}

fn make(kubeadm: &Path, root: &Path, config: &str) -> PathBuf {
    std::fs::create_dir_all(root.join("etc/kubernetes/pki")).expect("mkdir pki");
    std::fs::write(root.join("etc/hostname"), format!("{NODE}\n")).expect("hostname");
    std::fs::write(root.join("kubeadm.yaml"), config).expect("kubeadm config");
    for phase in [&["certs", "all"][..], &["kubeconfig", "all"], &["control-plane", "all"], &["etcd", "local"]] {
        kubeadm_run(kubeadm, root, &[&["init", "phase"][..], phase, &["--config", "/kubeadm.yaml"]].concat());
    }
    root.to_path_buf()
}

/// The kubeadm configuration the tree is made with (also what `kubeadm certs renew --config` needs).
pub fn config() -> String {
    format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: {ADVERTISE}\n  bindPort: 6443\nnodeRegistration:\n  name: {NODE}\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.37.2\ncertificatesDir: /etc/kubernetes/pki\nclusterName: kubernetes\ncontrolPlaneEndpoint: {ADVERTISE}:6443\n"
    )
}

/// Runs `kubeadm ARGS --rootfs ROOT`; returns stdout, panics with the output on failure.
pub fn kubeadm_run(kubeadm: &Path, root: &Path, args: &[&str]) -> String {
    let out = Command::new(kubeadm).args(args).arg("--rootfs").arg(root).output().expect("run kubeadm");
    assert!(
        out.status.success(),
        "kubeadm {args:?} --rootfs {} failed:\n{}\n{}",
        root.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tree whose API server can run here: kubeadm refuses a loopback advertise address, so the
/// certificate gets `127.0.0.1` through `apiServer.certSANs` and the kubeconfigs point at
/// `https://127.0.0.1:<api_port>` through `controlPlaneEndpoint`.
pub fn kubeadm_control_plane_local(kubeadm: &Path, root: &Path, api_port: u16) -> PathBuf {
    let cfg = config()
        .replace("bindPort: 6443", &format!("bindPort: {api_port}"))
        .replace(&format!("controlPlaneEndpoint: {ADVERTISE}:6443"), &format!("controlPlaneEndpoint: 127.0.0.1:{api_port}\napiServer:\n  certSANs:\n  - 127.0.0.1"));
    make(kubeadm, root, &cfg)
}

/// One of the three components, started from the tree's files as its static pod would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// etcd with TLS for clients (server.crt, client certificates checked against etcd/ca.crt).
    Etcd,
    /// kube-apiserver with every kubeadm certificate flag.
    Apiserver,
    /// kube-controller-manager with controller-manager.conf.
    ControllerManager,
}

/// etcd, kube-apiserver and kube-controller-manager running from a kubeadm tree's files.
pub struct RunningControlPlane {
    bin: PathBuf,
    root: PathBuf,
    logs: PathBuf,
    /// etcd's client port (TLS).
    pub etcd_port: u16,
    peer_port: u16,
    /// The API server's port.
    pub api_port: u16,
    /// The controller-manager's secure port.
    pub kcm_port: u16,
    /// etcd's metrics listener (plain HTTP: /livez, /readyz, as kubeadm's probes use it).
    pub etcd_metrics_port: u16,
    children: Vec<(Component, std::process::Child)>,
}

impl RunningControlPlane {
    /// Starts all three from `root` (made by [`kubeadm_control_plane_local`] with `api_port`),
    /// waits until the API server answers `/readyz` through admin.conf's credentials.
    pub fn start(bin: &Path, root: &Path, api_port: u16, logs: &Path) -> RunningControlPlane {
        let p = crate::ports::free_ports(4);
        let mut cp = RunningControlPlane {
            bin: bin.to_path_buf(),
            root: root.to_path_buf(),
            logs: logs.to_path_buf(),
            etcd_port: p[0],
            peer_port: p[1],
            api_port,
            kcm_port: p[2],
            etcd_metrics_port: p[3],
            children: Vec::new(),
        };
        std::fs::create_dir_all(logs).expect("logs dir");
        for c in [Component::Etcd, Component::Apiserver, Component::ControllerManager] {
            cp.spawn(c);
        }
        cp
    }

    fn pki(&self, f: &str) -> String {
        self.root.join("etc/kubernetes/pki").join(f).display().to_string()
    }

    fn spawn(&mut self, c: Component) {
        let (name, args): (&str, Vec<String>) = match c {
            Component::Etcd => (
                "etcd",
                vec![
                    "--name=cp1".into(),
                    format!("--data-dir={}", self.root.join("var/lib/etcd").display()),
                    format!("--listen-client-urls=https://127.0.0.1:{}", self.etcd_port),
                    format!("--advertise-client-urls=https://127.0.0.1:{}", self.etcd_port),
                    format!("--listen-peer-urls=http://127.0.0.1:{}", self.peer_port),
                    format!("--initial-advertise-peer-urls=http://127.0.0.1:{}", self.peer_port),
                    format!("--initial-cluster=cp1=http://127.0.0.1:{}", self.peer_port),
                    format!("--cert-file={}", self.pki("etcd/server.crt")),
                    format!("--key-file={}", self.pki("etcd/server.key")),
                    format!("--trusted-ca-file={}", self.pki("etcd/ca.crt")),
                    "--client-cert-auth=true".into(),
                    format!("--listen-metrics-urls=http://127.0.0.1:{}", self.etcd_metrics_port),
                    "--unsafe-no-fsync".into(),
                ],
            ),
            Component::Apiserver => (
                "kube-apiserver",
                vec![
                    format!("--etcd-servers=https://127.0.0.1:{}", self.etcd_port),
                    format!("--etcd-cafile={}", self.pki("etcd/ca.crt")),
                    format!("--etcd-certfile={}", self.pki("apiserver-etcd-client.crt")),
                    format!("--etcd-keyfile={}", self.pki("apiserver-etcd-client.key")),
                    "--bind-address=127.0.0.1".into(),
                    format!("--advertise-address={ADVERTISE}"),
                    "--endpoint-reconciler-type=none".into(),
                    format!("--secure-port={}", self.api_port),
                    format!("--tls-cert-file={}", self.pki("apiserver.crt")),
                    format!("--tls-private-key-file={}", self.pki("apiserver.key")),
                    format!("--client-ca-file={}", self.pki("ca.crt")),
                    format!("--kubelet-client-certificate={}", self.pki("apiserver-kubelet-client.crt")),
                    format!("--kubelet-client-key={}", self.pki("apiserver-kubelet-client.key")),
                    format!("--proxy-client-cert-file={}", self.pki("front-proxy-client.crt")),
                    format!("--proxy-client-key-file={}", self.pki("front-proxy-client.key")),
                    format!("--requestheader-client-ca-file={}", self.pki("front-proxy-ca.crt")),
                    "--requestheader-allowed-names=front-proxy-client".into(),
                    "--requestheader-username-headers=X-Remote-User".into(),
                    "--requestheader-group-headers=X-Remote-Group".into(),
                    "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
                    format!("--service-account-key-file={}", self.pki("sa.pub")),
                    format!("--service-account-signing-key-file={}", self.pki("sa.key")),
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                    "--service-cluster-ip-range=10.96.0.0/12".into(),
                    "--authorization-mode=Node,RBAC".into(),
                ],
            ),
            Component::ControllerManager => {
                let kc = self.root.join("etc/kubernetes/controller-manager.conf").display().to_string();
                (
                    "kube-controller-manager",
                    vec![
                        // kubeadm points controller-manager.conf at the node's own advertise address
                        // (not reachable here); --master overrides only the URL, the credentials
                        // and the CA still come from the file.
                        format!("--kubeconfig={kc}"),
                        format!("--master=https://127.0.0.1:{}", self.api_port),
                        "--bind-address=127.0.0.1".into(),
                        format!("--secure-port={}", self.kcm_port),
                        "--leader-elect=false".into(),
                        "--use-service-account-credentials=true".into(),
                        format!("--cluster-signing-cert-file={}", self.pki("ca.crt")),
                        format!("--cluster-signing-key-file={}", self.pki("ca.key")),
                        format!("--root-ca-file={}", self.pki("ca.crt")),
                        format!("--service-account-private-key-file={}", self.pki("sa.key")),
                        "--controllers=*,bootstrapsigner,tokencleaner".into(),
                    ],
                )
            }
        };
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.logs.join(format!("{name}.log"))).expect("log file");
        let child = Command::new(self.bin.join(name))
            .args(&args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        self.children.push((c, child));
        if c == Component::Apiserver {
            self.wait_ready();
        }
    }

    /// Stops one component (SIGKILL of the pid it started, as a static pod's container is killed)
    /// and starts it again from the same files.
    pub fn restart(&mut self, c: Component) {
        if let Some(i) = self.children.iter().position(|(x, _)| *x == c) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
        self.spawn(c);
    }

    /// Stops one component (SIGKILL) without starting it again: a crashed static pod's process.
    pub fn stop(&mut self, c: Component) {
        if let Some(i) = self.children.iter().position(|(x, _)| *x == c) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a stopped component from the tree's files.
    pub fn start_component(&mut self, c: Component) {
        self.stop(c);
        self.spawn(c);
    }

    /// Rewrites the tree's static pod manifests so that a real kubelet running them (on the fake
    /// CRI, which runs no process) probes the processes this harness runs: the API server's probes
    /// on 127.0.0.1 instead of the advertise address, etcd's client and metrics ports, the
    /// controller-manager's port; hostPath volumes lose their `*OrCreate` types (a kubelet would
    /// otherwise make /var/lib/etcd and friends on the host). kube-scheduler.yaml is removed: the
    /// harness runs no scheduler.
    pub fn manifests_for_kubelet(&self) {
        let dir = self.root.join("etc/kubernetes/manifests");
        let edit = |file: &str, pairs: &[(String, String)]| {
            let p = dir.join(file);
            let mut s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            for (from, to) in pairs {
                assert!(s.contains(from.as_str()), "{file} lacks {from:?}");
                s = s.replace(from.as_str(), to);
            }
            s = s.replace("type: DirectoryOrCreate", "type: \"\"").replace("type: FileOrCreate", "type: \"\"");
            std::fs::write(&p, s).expect("write manifest");
        };
        let pair = |a: &str, b: String| (a.to_string(), b);
        edit("kube-apiserver.yaml", &[pair(&format!("host: {ADVERTISE}"), "host: 127.0.0.1".into())]);
        edit(
            "etcd.yaml",
            &[
                pair("https://127.0.0.1:2379", format!("https://127.0.0.1:{}", self.etcd_port)),
                pair("http://127.0.0.1:2381", format!("http://127.0.0.1:{}", self.etcd_metrics_port)),
                pair("containerPort: 2381", format!("containerPort: {}", self.etcd_metrics_port)),
            ],
        );
        edit("kube-controller-manager.yaml", &[pair("containerPort: 10257", format!("containerPort: {}", self.kcm_port))]);
        let _ = std::fs::remove_file(dir.join("kube-scheduler.yaml"));
    }

    /// `kubectl --kubeconfig <tree>/etc/kubernetes/<conf> ARGS`: (success, stdout+stderr).
    pub fn kubectl(&self, conf: &str, args: &[&str]) -> (bool, String) {
        let out = Command::new(self.bin.join("kubectl"))
            .arg("--kubeconfig")
            .arg(self.root.join("etc/kubernetes").join(conf))
            .args(args)
            .output()
            .expect("run kubectl");
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }

    fn wait_ready(&mut self) {
        for _ in 0..600 {
            if self.kubectl("super-admin.conf", &["get", "--raw", "/readyz"]).0 {
                return;
            }
            // The controller-manager may exit while the API server is away (a kubelet would restart it).
            for (c, child) in self.children.iter_mut().filter(|(c, _)| *c != Component::ControllerManager) {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!("{c:?} exited ({st}); logs in {}", self.logs.display());
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("kube-apiserver not ready after 60 s; logs in {}", self.logs.display());
    }
}

impl Drop for RunningControlPlane {
    fn drop(&mut self) {
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
