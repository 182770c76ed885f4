//! On a cluster without kubeadm's bootstrap RBAC (`testbed up --no-bootstrap-rbac`, as on a
//! cluster not made by kubeadm): `bootstrap-config` names what is missing and writes nothing,
//! `rbac ensure --dry-run` changes nothing, `rbac ensure` fixes it and is idempotent; and token
//! discovery says clearly when cluster-info is missing.


use kubecert_testbed_harness::Cluster;
use kubecert_testbed_harness::bootstrap::*;

const BINDINGS: [&str; 4] = ["kubeadm:kubelet-bootstrap", "kubeadm:node-autoapprove-bootstrap", "kubeadm:node-autoapprove-certificate-rotation", "kubeadm:get-nodes"];

fn binding_exists(c: &Cluster, name: &str) -> bool {
    c.kubectl(&["get", "clusterrolebinding", name]).0
}

#[test]
fn missing_bootstrap_rbac_is_named_then_fixed_idempotently() {
    let c = Cluster::start(&["--no-bootstrap-rbac"]);

    // check: names each missing object and the permissions a token lacks; exit 1.
    let r = kubecert(&c, &["rbac", "check"]).expect(1, "rbac check on a bare cluster");
    for name in BINDINGS {
        assert!(r.stdout.lines().any(|l| l.contains(&format!("ClusterRoleBinding {name} ")) && l.contains("MISSING")), "{name} not reported missing:\n{}", r.stdout);
    }
    assert!(r.stdout.lines().any(|l| l.contains("Role kube-public/kubeadm:bootstrap-signer-clusterinfo") && l.contains("present")), "{}", r.stdout);
    assert!(r.stdout.contains("NO (required)"), "{}", r.stdout);

    // bootstrap-config: refuses, names the missing bindings, writes nothing, creates no token.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bootstrap-kubelet.conf");
    let r = kubecert(&c, &["bootstrap-config", "--node", "n9", "--out", f.to_str().unwrap()]).expect(1, "bootstrap-config without RBAC");
    for name in ["kubeadm:kubelet-bootstrap", "kubeadm:node-autoapprove-bootstrap"] {
        assert!(r.stderr.contains(name), "{name} not named:\n{}", r.stderr);
    }
    assert!(r.stderr.contains("may not create certificatesigningrequests/nodeclient"), "{}", r.stderr);
    assert!(r.stderr.contains("kubecert rbac ensure"), "{}", r.stderr);
    assert!(!f.exists(), "a file that cannot work was written");
    assert!(token_secret_ids(&c).is_empty(), "a token was created: {:?}", token_secret_ids(&c));
    // The same as JSON.
    let r = kubecert(&c, &["bootstrap-config", "--node", "n9", "--out", f.to_str().unwrap(), "-o", "json"]).expect(1, "json");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["written"], serde_json::Value::Null);
    assert!(v["preflight"]["blocking"].as_array().unwrap().len() >= 2, "{v}");

    // ensure --dry-run: says what it would create, creates nothing.
    let r = kubecert(&c, &["rbac", "ensure", "--dry-run"]).expect(0, "ensure --dry-run");
    for name in BINDINGS {
        assert!(r.stdout.contains(&format!("ClusterRoleBinding {name}: would create")), "{name}:\n{}", r.stdout);
        assert!(!binding_exists(&c, name), "dry run created {name}");
    }
    assert!(!c.kubectl(&["get", "clusterrole", "kubeadm:get-nodes"]).0, "dry run created the ClusterRole");

    // ensure: creates them; check passes; a second ensure changes nothing.
    let r = kubecert(&c, &["rbac", "ensure"]).expect(0, "ensure");
    for name in BINDINGS {
        assert!(r.stdout.contains(&format!("ClusterRoleBinding {name}: created")), "{name}:\n{}", r.stdout);
        assert!(binding_exists(&c, name), "{name} not created");
    }
    let subj = c.kubectl_ok(&["get", "clusterrolebinding", "kubeadm:node-autoapprove-bootstrap", "-o", "jsonpath={.roleRef.name} {.subjects[0].kind} {.subjects[0].name}"]);
    assert_eq!(subj, "system:certificates.k8s.io:certificatesigningrequests:nodeclient Group system:bootstrappers:kubeadm:default-node-token");
    let rv = |c: &Cluster| c.kubectl_ok(&["get", "clusterrolebindings", "-o", "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion} {end}"]);
    let before = rv(&c);
    let r = kubecert(&c, &["rbac", "ensure"]).expect(0, "ensure again");
    assert_eq!(r.stdout.lines().filter(|l| l.ends_with(": unchanged")).count(), 7, "{}", r.stdout);
    assert_eq!(rv(&c), before, "a second ensure wrote something");
    kubecert(&c, &["rbac", "check"]).expect(0, "check after ensure");

    // A binding that lost its subject is repaired by adding it back.
    c.kubectl_ok(&["patch", "clusterrolebinding", "kubeadm:kubelet-bootstrap", "--type", "json", "-p", r#"[{"op":"replace","path":"/subjects","value":[{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"someone-else"}]}]"#]);
    let r = kubecert(&c, &["rbac", "check"]).expect(1, "check with a broken binding");
    assert!(r.stdout.contains("INCOMPLETE: lacks subject Group system:bootstrappers:kubeadm:default-node-token"), "{}", r.stdout);
    kubecert(&c, &["rbac", "ensure"]).expect(0, "ensure repairs it");
    let subjects = c.kubectl_ok(&["get", "clusterrolebinding", "kubeadm:kubelet-bootstrap", "-o", "jsonpath={.subjects[*].name}"]);
    assert_eq!(subjects, "someone-else system:bootstrappers:kubeadm:default-node-token");

    // Now bootstrap-config works.
    kubecert(&c, &["bootstrap-config", "--node", "n9", "--out", f.to_str().unwrap()]).expect(0, "bootstrap-config after ensure");
    assert_bootstrap_kubeconfig(&c, &f);

    // Token discovery on a cluster without cluster-info says so.
    c.kubectl_ok(&["delete", "configmap", "-n", "kube-public", "cluster-info"]);
    let token = kubecert(&c, &["token", "create"]).expect(0, "token").stdout.trim().to_string();
    let r = kubecert(&c, &["discover", "--server", &hostport(&c), "--token", &token, "--ca-cert-hash", &c.ca_pin()]).expect(2, "no cluster-info");
    assert!(r.stderr.contains("the cluster has no kube-public/cluster-info ConfigMap"), "{}", r.stderr);
}
