//! The real kubelet is the oracle for `doctor` (issue 19). For each state: join a node on the
//! testbed, stop its kubelet, change its files with openssl and sh (never kubecert), run
//! `kubecert doctor --root`, start the real kubelet v1.37.2 and watch for Ready with a fresh
//! heartbeat within a bound. doctor's exit code must agree with the kubelet (0 ⇔ Ready), its
//! verdict "refuses to start" with the kubelet process exiting, and the credential it names with
//! the pair the kubelet's log says it loaded (or, for the embedded fallback, the pair the kubelet
//! wrote into its store). The outcomes are also checked against the table in
//! docs/kubelet-credential-precedence.md, so a broken testbed cannot pass for agreement.
//! With `KUBECERT_LOG_CORPUS=DIR` the kubelet's log of each state is saved to `DIR/<state>/kubelet.log`.

use kubecert_testbed_harness::run::shell;
use kubecert_testbed_harness::{unique_name, Cluster};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds a working kubelet gets to report Ready (they take 1–10 s here).
const READY_BOUND: &str = "40";
/// States run at once (each is one node with its own kubelet).
const PARALLEL: usize = 6;

/// What the kubelet did: Ready with a fresh heartbeat, exited, or ran without becoming Ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kubelet {
    Ready,
    Exited,
    NotReady,
}

struct State {
    name: &'static str,
    /// What the real kubelet did in this state when the table was made.
    expect: Kubelet,
    /// sh run on the stopped node (vars: T tree, N node, W scratch dir, CA_CRT, CA_KEY, SERVER,
    /// BIN the testbed's binaries, ADMIN its admin kubeconfig).
    setup: &'static str,
    /// The cause is in the cluster (the bootstrap token, RBAC, CSR approval): doctor works offline
    /// and can only say that the kubelet will bootstrap; its exit code is not compared.
    cluster_side: bool,
}

/// Helpers for the states' scripts: openssl-made certificates and the kubelet's own file layout.
const PRELUDE: &str = r#"
set -eu
P=$T/var/lib/kubelet/pki
d() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
# sign NAME CN START END [CACRT CAKEY]: $W/NAME.crt + $W/NAME.key (RSA 2048, clientAuth) via `openssl ca`
sign() {
  name=$1 cn=$2 sd=$3 ed=$4 cacrt=${5:-$CA_CRT} cakey=${6:-$CA_KEY} w=$W/ca-$1
  mkdir -p "$w/new"; : >"$w/index"; openssl rand -hex 8 >"$w/serial"
  printf '[ca]\ndefault_ca=x\n[x]\ndatabase=%s/index\nnew_certs_dir=%s/new\nserial=%s/serial\ncertificate=%s\nprivate_key=%s\ndefault_md=sha256\npolicy=p\nunique_subject=no\nx509_extensions=e\n[p]\norganizationName=optional\ncommonName=supplied\n[e]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
    "$w" "$w" "$w" "$cacrt" "$cakey" >"$w/ca.cnf"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$W/$name.key" -subj "/O=system:nodes/CN=$cn" -out "$w/csr" 2>/dev/null
  openssl ca -batch -config "$w/ca.cnf" -in "$w/csr" -out "$W/$name.crt" -notext -startdate "$(d "$sd")" -enddate "$(d "$ed")" >"$w/log" 2>&1 || { cat "$w/log"; exit 1; }
}
foreign_ca() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/fca.key" -out "$W/fca.crt" -subj "/CN=foreign-ca" -days 30 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
# store NAME: $W/NAME.crt+key as a new kubelet-client-<stamp>.pem, current link moved to it (absolute)
store() {
  f=kubelet-client-2020-01-01-00-00-0$(ls "$P" | grep -c '^kubelet-client-2020' || true).pem
  cat "$W/$1.crt" "$W/$1.key" >"$P/$f"; chmod 600 "$P/$f"
  ln -sfn "/var/lib/kubelet/pki/$f" "$P/kubelet-client-current.pem"
}
no_bootstrap_flag() { sed -i 's| *--bootstrap-kubeconfig=[^ "]*||' "$T/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"; }
no_bootstrap_file() { rm -f "$T/etc/kubernetes/bootstrap-kubelet.conf"; }
rotation_off() { sed -i 's|^rotateCertificates: true|rotateCertificates: false|' "$T/var/lib/kubelet/config.yaml"; grep -q 'rotateCertificates: false' "$T/var/lib/kubelet/config.yaml"; }
b64() { base64 -w0 "$1"; }
# bootstrap_token TOKEN: the bootstrap kubeconfig's token replaced
bootstrap_token() { sed -i "s|token: .*|token: $1|" "$T/etc/kubernetes/bootstrap-kubelet.conf"; grep -q "token: $1" "$T/etc/kubernetes/bootstrap-kubelet.conf"; }
# group_token GROUP: a real bootstrap token (kubeadm) in GROUP instead of kubeadm's default group
group_token() { "$BIN/kubeadm" token create --kubeconfig "$ADMIN" --ttl 30m --groups "$1" 2>/dev/null; }
# kubeconfig USER-LINES: kubelet.conf with the cluster CA embedded and the given user fields
kubeconfig() {
  cat >"$T/etc/kubernetes/kubelet.conf" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: default-cluster
  cluster:
    server: $SERVER
    certificate-authority-data: $(b64 "$CA_CRT")
contexts:
- name: default-context
  context: {cluster: default-cluster, user: default-auth}
current-context: default-context
users:
- name: default-auth
  user:
$1
EOF
}
embed() { kubeconfig "    client-certificate-data: $(b64 "$W/$1.crt")
    client-key-data: $(b64 "$W/$1.key")"; }
files() { kubeconfig "    client-certificate: $1
    client-key: $2"; }
"#;

fn states() -> Vec<State> {
    use Kubelet::*;
    vec![
        State { name: "healthy", expect: Ready, setup: "true", cluster_side: false },
        State { name: "healthy-rotation-off", expect: Ready, setup: "rotation_off", cluster_side: false },
        // The issue's example: no bootstrap flag, rotation on, expired embedded pair, valid store.
        State { name: "no-flag-embedded-expired-store-valid", expect: Ready, setup: "no_bootstrap_flag; sign old system:node:$N '-2 days' '-1 day'; embed old", cluster_side: false },
        State { name: "flag-embedded-expired-store-valid", expect: Ready, setup: "sign old system:node:$N '-2 days' '-1 day'; embed old", cluster_side: false },
        State { name: "flag-embedded-expired-store-valid-no-bootstrap-file", expect: Exited, setup: "sign old system:node:$N '-2 days' '-1 day'; embed old; no_bootstrap_file", cluster_side: false },
        State { name: "rotation-off-no-flag-embedded-expired-store-valid", expect: NotReady, setup: "rotation_off; no_bootstrap_flag; sign old system:node:$N '-2 days' '-1 day'; embed old", cluster_side: false },
        State { name: "no-flag-embedded-valid-no-store", expect: Ready, setup: "no_bootstrap_flag; sign e system:node:$N '-1 hour' '+30 days'; embed e; rm -f $P/kubelet-client-*", cluster_side: false },
        State { name: "no-flag-embedded-foreign-ca-no-store", expect: NotReady, setup: "no_bootstrap_flag; foreign_ca; sign e system:node:$N '-1 hour' '+30 days' $W/fca.crt $W/fca.key; embed e; rm -f $P/kubelet-client-*", cluster_side: false },
        State { name: "no-flag-kubeconfig-files-valid-no-store", expect: Ready, setup: "no_bootstrap_flag; sign f system:node:$N '-1 hour' '+30 days'; cp $W/f.crt $P/client.crt; cp $W/f.key $P/client.key; chmod 600 $P/client.key; files /var/lib/kubelet/pki/client.crt /var/lib/kubelet/pki/client.key; rm -f $P/kubelet-client-*", cluster_side: false },
        State { name: "no-flag-kubeconfig-files-expired-no-store", expect: NotReady, setup: "no_bootstrap_flag; sign f system:node:$N '-2 days' '-1 day'; cp $W/f.crt $P/client.crt; cp $W/f.key $P/client.key; files /var/lib/kubelet/pki/client.crt /var/lib/kubelet/pki/client.key; rm -f $P/kubelet-client-*", cluster_side: false },
        State { name: "store-expired-bootstrap-file", expect: Ready, setup: "sign old system:node:$N '-2 days' '-1 day'; store old", cluster_side: false },
        State { name: "store-expired-no-bootstrap-file", expect: Exited, setup: "sign old system:node:$N '-2 days' '-1 day'; store old; no_bootstrap_file", cluster_side: false },
        State { name: "store-not-yet-valid", expect: NotReady, setup: "sign future system:node:$N '+1 day' '+30 days'; store future", cluster_side: false },
        State { name: "store-foreign-ca", expect: NotReady, setup: "foreign_ca; sign x system:node:$N '-1 hour' '+30 days' $W/fca.crt $W/fca.key; store x", cluster_side: false },
        State { name: "store-other-node", expect: NotReady, setup: "sign other system:node:other-$N '-1 hour' '+30 days'; store other", cluster_side: false },
        State { name: "store-key-mismatch", expect: Exited, setup: "sign a system:node:$N '-1 hour' '+30 days'; sign b system:node:$N '-1 hour' '+30 days'; cp $W/b.key $W/a.key; store a", cluster_side: false },
        State { name: "store-dangling-link", expect: Ready, setup: "rm -f $P/kubelet-client-2*; test -L $P/kubelet-client-current.pem", cluster_side: false },
        State { name: "client-ca-file-missing", expect: Exited, setup: "rm $T/etc/kubernetes/pki/ca.crt", cluster_side: false },
        State { name: "client-ca-file-empty", expect: Exited, setup: ": >$T/etc/kubernetes/pki/ca.crt", cluster_side: false },
        State { name: "client-ca-file-corrupt", expect: Exited, setup: "echo 'not a certificate' >$T/etc/kubernetes/pki/ca.crt", cluster_side: false },
        // client-go takes an empty CA as none (data: the system's roots; a zero-byte file: no roots
        // at all): the kubelet starts with its store's pair and cannot verify the API server.
        State { name: "kubeconfig-ca-data-empty", expect: NotReady, setup: "files /var/lib/kubelet/pki/kubelet-client-current.pem /var/lib/kubelet/pki/kubelet-client-current.pem; sed -i 's|certificate-authority-data: .*|certificate-authority-data: \"\"|' $T/etc/kubernetes/kubelet.conf; grep -q 'certificate-authority-data: \"\"' $T/etc/kubernetes/kubelet.conf", cluster_side: false },
        State { name: "kubeconfig-ca-file-empty", expect: NotReady, setup: "files /var/lib/kubelet/pki/kubelet-client-current.pem /var/lib/kubelet/pki/kubelet-client-current.pem; : >$T/etc/kubernetes/pki/empty-ca.crt; sed -i 's|certificate-authority-data: .*|certificate-authority: /etc/kubernetes/pki/empty-ca.crt|' $T/etc/kubernetes/kubelet.conf; grep -q 'certificate-authority: /etc/kubernetes/pki/empty-ca.crt' $T/etc/kubernetes/kubelet.conf", cluster_side: false },
        State { name: "kubelet-config-unparsable", expect: Exited, setup: "echo '{{{ not yaml' >$T/var/lib/kubelet/config.yaml", cluster_side: false },
        State { name: "no-flag-both-cert-file-and-data", expect: Exited, setup: "no_bootstrap_flag; sign e system:node:$N '-1 hour' '+30 days'; kubeconfig \"    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-key: /var/lib/kubelet/pki/kubelet-client-current.pem\n    client-certificate-data: $(b64 $W/e.crt)\n    client-key-data: $(b64 $W/e.key)\"", cluster_side: false },
        // Field report 000: pki wiped, no bootstrap file.
        State { name: "report-000", expect: Exited, setup: "rm -f $P/*; no_bootstrap_file", cluster_side: false },
        // Field report 004: another node's pki and kubelet.conf copied over.
        State { name: "report-004", expect: NotReady, setup: "sign other system:node:other-$N '-1 hour' '+300 days'; rm -f $P/kubelet-client-*; store other", cluster_side: false },
        // The cluster side of a bootstrap: a token the API server does not know, a token whose group
        // may not create CSRs (no system:node-bootstrapper), a CSR that nothing approves.
        State { name: "bootstrap-token-unknown", expect: NotReady, setup: "sign old system:node:$N '-2 days' '-1 day'; store old; bootstrap_token abcdef.0123456789abcdef", cluster_side: true },
        State { name: "bootstrap-token-without-node-bootstrapper", expect: NotReady, setup: "sign old system:node:$N '-2 days' '-1 day'; store old; bootstrap_token $(group_token system:bootstrappers:oracle-unbound)", cluster_side: true },
        State { name: "bootstrap-csr-never-approved", expect: NotReady, setup: "\"$BIN/kubectl\" --kubeconfig \"$ADMIN\" create clusterrolebinding oracle-csr-only --clusterrole system:node-bootstrapper --group system:bootstrappers:oracle-csr-only >/dev/null 2>&1 || true; sign old system:node:$N '-2 days' '-1 day'; store old; bootstrap_token $(group_token system:bootstrappers:oracle-csr-only)", cluster_side: true },
    ]
}

struct Row {
    name: &'static str,
    cluster_side: bool,
    expect: Kubelet,
    kubelet: Kubelet,
    doctor_exit: i32,
    verdict: String,
    step: String,
    credential: String,
    loaded: String,
    credential_agrees: Result<(), String>,
    findings: String,
}

/// The pair the kubelet's file store says it loaded (client-go certificate_store.go:147,160,175).
fn loaded_pair(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("Loading cert/key pair"))?;
    let field = |k: &str| line.split(&format!("{k}=\"")).nth(1).and_then(|r| r.split('"').next()).map(String::from);
    field("filePath").or_else(|| field("certFile"))
}

/// The API server's lines about this state's requests: those naming the serial of a certificate the
/// state made (`verifying certificate SN=<decimal>`), and bearer-token failures (only the token states
/// use bad tokens: `extra`).
fn apiserver_lines(c: &Cluster, env: &[(&str, String)], extra: &[&str]) -> String {
    let (_, serials) = shell("for f in \"$W\"/*.crt; do openssl x509 -noout -serial -in \"$f\"; done 2>/dev/null; true", env);
    let sns: Vec<String> = serials.lines().filter_map(|l| l.strip_prefix("serial=")).filter_map(|h| u128::from_str_radix(h.trim(), 16).ok()).map(|d| format!("SN={d},")).collect();
    let log = std::fs::read_to_string(std::path::Path::new(c.var("TESTBED_DIR")).join("logs/kube-apiserver.log")).unwrap_or_default();
    log.lines().filter(|l| sns.iter().any(|sn| l.contains(sn.as_str())) || extra.iter().any(|x| l.contains(x))).map(|l| format!("{l}\n")).collect()
}

fn run_state(c: &Cluster, s: &State) -> Row {
    let n = unique_name("o");
    let tree = c.node_root(&n);
    c.testbed(&["node", "join", &n]);
    c.testbed(&["node", "stop", &n]);
    let w = tempfile::tempdir().unwrap();
    let env = [
        ("T", tree.display().to_string()),
        ("N", n.clone()),
        ("W", w.path().display().to_string()),
        ("CA_CRT", c.ca_cert().display().to_string()),
        ("CA_KEY", c.ca_key().display().to_string()),
        ("SERVER", c.server().to_string()),
        ("BIN", c.var("TESTBED_BIN").to_string()),
        ("ADMIN", c.kubeconfig().display().to_string()),
    ];
    let (ok, out) = shell(&format!("{PRELUDE}\n{}", s.setup), &env);
    assert!(ok, "state {}: setup failed:\n{out}", s.name);
    let doctor = Command::new(env!("CARGO_BIN_EXE_kubecert")).args(["doctor", "--root"]).arg(&tree).args(["-o", "json"]).output().unwrap();
    let doctor_exit = doctor.status.code().unwrap_or(-1);
    let json: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap_or_else(|e| panic!("state {}: doctor -o json: {e}\n{}", s.name, String::from_utf8_lossy(&doctor.stderr)));
    let cc = &json["client_credential"];
    let verdict = cc["verdict"]["verdict"].as_str().unwrap_or("?").to_string();
    let step = cc["step"].as_str().unwrap_or("?").to_string();
    let cred = &cc["credential"];
    let credential = match cred["kind"].as_str() {
        Some("store") => cred["current"].as_str().unwrap_or("").to_string(),
        Some("file-pair") => cred["cert"].as_str().unwrap_or("").to_string(),
        Some("combined") => cred["path"].as_str().unwrap_or("").to_string(),
        Some("embedded") => format!("{}#embedded", cred["kubeconfig"].as_str().unwrap_or("")),
        _ => "-".into(),
    };
    let findings = json["findings"].as_array().map(|a| a.iter().map(|f| format!("{}:{}", f["severity"].as_str().unwrap_or(""), f["code"].as_str().unwrap_or(""))).collect::<Vec<_>>().join(" ")).unwrap_or_default();

    let started = Instant::now();
    c.testbed(&["node", "start", &n]);
    let (ready, _) = c.try_testbed(&["node", "wait-ready", &n, "--timeout", READY_BOUND]);
    let (running, _) = c.try_testbed(&["node", "status", &n]);
    let kubelet = if ready {
        Kubelet::Ready
    } else if running {
        Kubelet::NotReady
    } else {
        Kubelet::Exited
    };
    let (_, log) = c.try_testbed(&["node", "logs", &n, "--last"]);
    // Only this state uses a token the API server does not know.
    let extra: &[&str] = if s.name == "bootstrap-token-unknown" { &["invalid bearer token"] } else { &[] };
    let apiserver = apiserver_lines(c, &env, extra);
    let _ = c.try_testbed(&["node", "stop", &n]);
    if let Ok(dir) = std::env::var("KUBECERT_LOG_CORPUS") {
        let d = std::path::Path::new(&dir).join(s.name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("kubelet.log"), &log).unwrap();
        std::fs::write(d.join("apiserver.log"), &apiserver).unwrap();
    }
    let loaded = loaded_pair(&log).unwrap_or_else(|| "-".into());
    let (_, csrs, _) = c.kubectl(&["get", "csr", "-o", "jsonpath={range .items[*]}{.spec.username}{\"\\n\"}{end}"]);
    let csr_by_node = csrs.lines().any(|u| u == format!("system:node:{n}"));
    // The credential doctor names is the one the kubelet used.
    let credential_agrees = match step.as_str() {
        "store-current" | "kubeconfig-files" | "cert-dir-pair" if loaded != credential => Err(format!("doctor names {credential}, the kubelet loaded {loaded}")),
        // The store found no pair on disk (no "Loading cert/key pair" line), so the certificate it
        // presented can only be the embedded one; when Ready, the node's own user filed the rotation
        // CSR that the fallback forces (certificate_manager.go:550), i.e. it authenticated with it.
        "embedded-fallback" if loaded != "-" => Err(format!("doctor says the embedded pair, the kubelet loaded {loaded}")),
        "embedded-fallback" if kubelet == Kubelet::Ready && !csr_by_node => Err("doctor says the embedded pair, but no CSR by the node's own user".into()),
        _ => Ok(()),
    };
    eprintln!("state {} done in {:.0?}: kubelet {kubelet:?}, doctor exit {doctor_exit} {verdict}/{step}", s.name, started.elapsed());
    Row { name: s.name, cluster_side: s.cluster_side, expect: s.expect, kubelet, doctor_exit, verdict, step, credential, loaded, credential_agrees, findings }
}

#[test]
fn doctor_agrees_with_the_real_kubelet() {
    let c = Cluster::shared();
    let states = states();
    assert!(states.len() >= 15);
    let queue = Mutex::new(states.iter().collect::<Vec<_>>());
    let rows = Mutex::new(Vec::new());
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| loop {
                let Some(s) = queue.lock().unwrap().pop() else { break };
                let row = run_state(c, s);
                rows.lock().unwrap().push(row);
            });
        }
    });
    let mut rows = rows.into_inner().unwrap();
    rows.sort_by_key(|r| r.name);
    eprintln!("{} states in {:.0?}", rows.len(), t0.elapsed());
    eprintln!("| state | kubelet | doctor exit | verdict / step | credential (doctor) | pair loaded (kubelet log) | findings |");
    eprintln!("|---|---|---|---|---|---|---|");
    for r in &rows {
        eprintln!("| {} | {:?} | {} | {} / {} | {} | {} | {} |", r.name, r.kubelet, r.doctor_exit, r.verdict, r.step, r.credential, r.loaded, r.findings);
    }
    let mut bad = Vec::new();
    for r in &rows {
        if r.kubelet != r.expect {
            bad.push(format!("{}: the kubelet was {:?}, the table says {:?}", r.name, r.kubelet, r.expect));
        }
        if r.cluster_side {
            if r.verdict != "bootstraps" {
                bad.push(format!("{}: the kubelet must bootstrap here, doctor's verdict is {}", r.name, r.verdict));
            }
            continue;
        }
        let want_exit = if r.kubelet == Kubelet::Ready { 0 } else { 1 };
        if r.doctor_exit != want_exit {
            bad.push(format!("{}: kubelet {:?} but doctor exit {} ({})", r.name, r.kubelet, r.doctor_exit, r.findings));
        }
        if (r.kubelet == Kubelet::Exited) != (r.verdict == "refuses-to-start") {
            bad.push(format!("{}: kubelet {:?} but doctor's verdict is {}", r.name, r.kubelet, r.verdict));
        }
        if let Err(e) = &r.credential_agrees {
            bad.push(format!("{}: {e}", r.name));
        }
    }
    assert!(bad.is_empty(), "doctor disagrees with the kubelet:\n{}", bad.join("\n"));
    // Not a timing test; the bound keeps an eye on the suite's wall time.
    assert!(t0.elapsed() < Duration::from_secs(600));
}
