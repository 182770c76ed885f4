//! Two `kubecert approve --watch --leader-elect` replicas on the real test cluster, each run as
//! deploy/approver.yaml runs it (in-cluster, the approver ServiceAccount and its Lease Role): one
//! leads and approves, the other stands by; when the leader stops the standby takes the Lease
//! and approves what comes next; no CSR is approved by both.


use kubecert_testbed_harness::ecosystem::Proc;
use kubecert_testbed_harness::fleet::*;
use kubecert_testbed_harness::{repo_root, unique_name, Cluster};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SERVING: &str = "kubernetes.io/kubelet-serving";

/// A running replica: its process and its output lines (stdout JSON and stderr) as they come.
struct Replica {
    proc: Proc,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Replica {
    /// `csrs`: the only CSRs it may approve (this test's own: other tests on the shared cluster
    /// leave kubelet serving CSRs pending, which an unrestricted approver would approve too).
    fn start(c: &Cluster, identity: &str, lease: &str, csrs: &[&str]) -> (Replica, tempfile::TempDir) {
        let mut args = vec!["approve", "--watch", "--in-cluster", "--interval", "1", "--leader-elect", "--leader-elect-lease-duration", "4s", "--leader-elect-resource-name", lease, "--leader-elect-identity", identity, "-o", "json"];
        args.extend_from_slice(csrs);
        let (mut cmd, keep) = in_cluster_command(c, "kubecert-system/kubecert-approver", &args);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start the approver");
        let (tx, rx) = mpsc::channel();
        for stream in [Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        (Replica { proc: Proc(child), lines: rx, seen: Vec::new() }, keep)
    }

    /// Collects what it printed so far.
    fn drain(&mut self) -> &[String] {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        &self.seen
    }

    /// The CSRs it says it approved.
    fn approved(&mut self) -> Vec<String> {
        self.drain().iter().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter(|v| v["outcome"] == "approved").map(|v| v["name"].as_str().unwrap().to_string()).collect()
    }
}

fn holder(c: &Cluster, lease: &str) -> String {
    c.kubectl(&["get", "lease", lease, "-n", "kubecert-system", "-o", "jsonpath={.spec.holderIdentity}"]).1
}

fn wait(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn two_approvers_one_leads_the_other_takes_over_and_no_csr_is_approved_twice() {
    let c = Cluster::shared();
    let deploy = repo_root().join("deploy");
    c.kubectl_ok(&["apply", "-f", &deploy.join("namespace.yaml").display().to_string()]);
    // The approver's RBAC as deploy/ has it (not the Deployment: the testbed schedules no Pods).
    let rbac = std::fs::read_to_string(deploy.join("approver.yaml")).unwrap().split("\n---\n").filter(|d| !d.contains("kind: Deployment")).collect::<Vec<_>>().join("\n---\n");
    let (ok, out) = c.kubectl_stdin(None, &["apply"], &rbac);
    assert!(ok, "{out}");
    // A Lease of this test's own (tests run in parallel); deploy/'s Role names kubecert-approver,
    // so this one is granted to the same ServiceAccount by an extra Role.
    let lease = unique_name("approver-lease");
    let role = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: {lease}, namespace: kubecert-system}}\nrules:\n- {{apiGroups: [coordination.k8s.io], resources: [leases], resourceNames: [{lease}], verbs: [get, update]}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: {lease}, namespace: kubecert-system}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {lease}}}\nsubjects:\n- {{kind: ServiceAccount, name: kubecert-approver, namespace: kubecert-system}}\n"
    );
    let (ok, out) = c.kubectl_stdin(None, &["apply"], &role);
    assert!(ok, "{out}");
    let sa = "system:serviceaccount:kubecert-system:kubecert-approver";
    assert_eq!(c.kubectl(&["auth", "can-i", "update", "leases/kubecert-approver", "-n", "kubecert-system", "--as", sa]).1.trim(), "yes");
    assert_eq!(c.kubectl(&["auth", "can-i", "update", "leases/other", "-n", "kubecert-system", "--as", sa]).1.trim(), "no");

    let n = unique_name("leader");
    make_node(c, &n, &[("InternalIP", "127.0.0.1"), ("Hostname", &n)], 10250, "True");
    let me = node_identity(c, &n);
    let file = |name: &str| file_csr(c, Some(&me.kubeconfig), name, SERVING, &format!("system:node:{n}"), &[&n], &["127.0.0.1"], &["digital signature", "server auth"]);

    let first = unique_name("leader-csr1");
    let second = unique_name("leader-csr2");
    let ours = [first.as_str(), second.as_str()];
    let (mut a, _ka) = Replica::start(c, "replica-a", &lease, &ours);
    wait(Duration::from_secs(30), "replica-a to take the Lease", || holder(c, &lease) == "replica-a");
    let (mut b, _kb) = Replica::start(c, "replica-b", &lease, &ours);
    wait(Duration::from_secs(30), "replica-b to stand by", || b.drain().iter().any(|l| l.contains("standing by (Lease held by replica-a)")));

    file(&first);
    wait(Duration::from_secs(30), "the leader to approve the first CSR", || csr_state(c, &first).0.contains(&"Approved".to_string()));
    std::thread::sleep(Duration::from_secs(3)); // a few rounds of the standby
    assert_eq!(a.approved(), std::slice::from_ref(&first));
    assert!(b.approved().is_empty(), "the standby approved: {:?}", b.seen);
    assert_eq!(holder(c, &lease), "replica-a");

    // The leader stops (SIGTERM, as Kubernetes stops a Pod): it releases the Lease, b takes over.
    let pid = a.proc.0.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let stopped = Instant::now();
    let _ = a.proc.0.wait();
    wait(Duration::from_secs(30), "replica-b to take the Lease", || holder(c, &lease) == "replica-b");
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(4), "the takeover after a clean stop took {took:?} (the lease was not released)");
    file(&second);
    wait(Duration::from_secs(30), "the new leader to approve the second CSR", || csr_state(c, &second).0.contains(&"Approved".to_string()));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(b.approved(), std::slice::from_ref(&second), "{:?}", b.seen);
    assert_eq!(a.approved(), std::slice::from_ref(&first), "{:?}", a.seen);
    assert!(b.drain().iter().any(|l| l.contains("leading (Lease acquired)")), "{:?}", b.seen);

    // A leader that dies without releasing (SIGKILL): a new replica waits for the lease to expire.
    let (mut c2, _kc) = Replica::start(c, "replica-c", &lease, &ours);
    wait(Duration::from_secs(30), "replica-c to stand by", || c2.drain().iter().any(|l| l.contains("standing by (Lease held by replica-b)")));
    b.proc.0.kill().unwrap();
    let killed = Instant::now();
    let _ = b.proc.0.wait();
    wait(Duration::from_secs(30), "replica-c to take the expired Lease", || holder(c, &lease) == "replica-c");
    let took = killed.elapsed();
    assert!(took >= Duration::from_secs(3), "replica-c took a live lease after {took:?}");
    let lease_json: serde_json::Value = serde_json::from_str(&c.kubectl(&["get", "lease", &lease, "-n", "kubecert-system", "-o", "json"]).1).unwrap();
    assert_eq!(lease_json["spec"]["leaseTransitions"], 2, "{lease_json:#}");
    // Each CSR carries one approval.
    for csr in [&first, &second] {
        let v: serde_json::Value = serde_json::from_str(&c.kubectl_ok(&["get", "csr", csr, "-o", "json"])).unwrap();
        let approvals = v["status"]["conditions"].as_array().unwrap().iter().filter(|c| c["type"] == "Approved").count();
        assert_eq!(approvals, 1, "{v:#}");
    }
    assert!(c2.approved().is_empty());
}
