//! `kubecert explain` for log text: maps kubelet and API server log messages to their cause and fix.
//!
//! Input is whatever operators paste: `journalctl -u kubelet` text, `journalctl -o json`, `kubectl
//! logs`, klog text and structured lines, or the kubelet's JSON logging format. Each line is reduced
//! to its *message* (klog's `"msg" key="value"` pairs unquoted, or the JSON `msg`/`MESSAGE` plus its
//! string fields); continuation lines of multi-line values (the kubelet's config dump) are not
//! messages. Needles match case-insensitively at word boundaries, so `Unauthorized` does not match
//! inside `cacheUnauthorizedTTL`. A pattern may require context: an earlier message saying what the
//! kubelet was doing (a timeout after a bootstrap started means the CSR was never approved).
//! Matching is plain substring search, linear in the input; nothing can make it backtrack.

use serde::Serialize;

/// A known log message.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LogPattern {
    /// Stable id of the pattern.
    pub id: &'static str,
    /// Words and phrases that must all appear in the message.
    pub needles: &'static [&'static str],
    /// When not empty, an earlier message must contain one of these.
    pub after: &'static [&'static str],
    /// The finding code `kubecert doctor` reports for the same cause, if any.
    pub code: Option<&'static str>,
    /// The cause, in plain words.
    pub cause: &'static str,
    /// What to do.
    pub fix: &'static str,
}

const NEW_CERT: &str = "Give the node its own certificate: `kubecert sign --node NAME ... --install` or `kubecert csr --node NAME --approve --install`.";
const SERVING_FIX: &str = "On each node: `kubecert serving enable --restart-kubelet` (a cluster-signed serving certificate with the node's addresses, rotated by the kubelet), with an approver running (`kubecert approve --watch`, deploy/approver.yaml); `kubecert serving status` shows progress. Not --kubelet-insecure-tls.";
const SERVING_APPROVE: &str = "`kubecert serving status` names the pending CSR and whether the policy approves it; `kubecert approve` approves it, and deploy/approver.yaml keeps approving renewals.";
/// Messages that say the kubelet is TLS-bootstrapping (a timeout after them is the CSR's).
/// ("Client rotation is on, will bootstrap in background" is printed by every rotating kubelet: not one.)
const BOOTSTRAPPING: &[&str] = &["Using bootstrap kubeconfig", "existing bootstrap client certificate", "existing bootstrap client config", "No valid private key and/or certificate found"];

/// Every known message, most specific first.
pub(crate) const PATTERNS: &[LogPattern] = &[
    LogPattern { id: "bootstrap-kubeconfig-missing", needles: &["unable to load bootstrap kubeconfig"], after: &[], code: Some("bootstrap-kubeconfig-missing"),
        cause: "The kubelet's client certificate is missing, unloadable or expired, so it tried to TLS-bootstrap, and the bootstrap kubeconfig is gone (kubeadm deletes it after join).",
        fix: "Run `kubecert doctor` on the node, then `kubecert repair` (or `kubecert bootstrap-config --node NAME` where admin credentials are, and install the file)." },
    LogPattern { id: "client-ca-file-invalid", needles: &["missing content for CA bundle", "client-ca-bundle::"], after: &[], code: Some("kubelet-will-not-start"),
        cause: "The KubeletConfiguration's authentication.x509.clientCAFile is empty; the kubelet loads it at start and exits.",
        fix: "Put the cluster CA there (control plane: /etc/kubernetes/pki/ca.crt), then restart the kubelet." },
    LogPattern { id: "client-ca-file-invalid", needles: &["error loading CA bundle", "client-ca-bundle::"], after: &[], code: Some("kubelet-will-not-start"),
        cause: "The KubeletConfiguration's authentication.x509.clientCAFile holds no certificate; the kubelet loads it at start and exits.",
        fix: "Put the cluster CA there (control plane: /etc/kubernetes/pki/ca.crt), then restart the kubelet." },
    LogPattern { id: "kubelet-config-invalid", needles: &["failed to load kubelet config file"], after: &[], code: Some("kubelet-config-invalid"),
        cause: "The kubelet's --config file does not load; the kubelet exits before it looks at any certificate.",
        fix: "Restore it (kubeadm: `kubectl get cm -n kube-system kubelet-config -o jsonpath='{.data.kubelet}'`)." },
    LogPattern { id: "start-file-missing", needles: &["failed to run Kubelet: open", "no such file or directory"], after: &[], code: Some("kubelet-will-not-start"),
        cause: "A file the kubelet opens at start is missing — in v1.37 this is the KubeletConfiguration's clientCAFile (the path is in the line).",
        fix: "Restore the file (the cluster CA for clientCAFile), then restart the kubelet; `kubecert doctor` names it." },
    LogPattern { id: "kubeconfig-both-set", needles: &["are both specified"], after: &[], code: Some("kubeconfig-invalid"),
        cause: "The kubelet's kubeconfig sets both a file and the `-data` field for the same thing; client-go refuses it (\"... will override\" is an error).",
        fix: "Keep one of client-certificate / client-certificate-data (and of client-key / client-key-data) in kubelet.conf." },
    LogPattern { id: "kubeconfig-invalid", needles: &["unable to load kubeconfig"], after: &[], code: Some("kubeconfig-invalid"),
        cause: "The kubelet's kubeconfig does not load and there is no bootstrap kubeconfig to replace it; the kubelet exits.",
        fix: "`kubecert doctor` names what is wrong; `kubecert repair` gives the node a working kubeconfig." },
    LogPattern { id: "client-key-mismatch", needles: &["failed to initialize client certificate manager", "private key does not match public key"], after: &[], code: Some("client-key-mismatch"),
        cause: "The client pair the kubelet's store loads first (kubelet-client-current.pem) holds a key that is not the certificate's; the kubelet exits.",
        fix: "Install a matching pair (`kubecert repair`), or remove the broken pair so the kubelet bootstraps." },
    LogPattern { id: "client-pair-unloadable", needles: &["failed to initialize client certificate manager"], after: &[], code: Some("kubelet-will-not-start"),
        cause: "The client pair the kubelet's store loads first does not load; the kubelet exits.",
        fix: "`kubecert doctor` names the file; `kubecert repair` replaces it." },
    LogPattern { id: "bootstrap-cert-expired", needles: &["part of the existing bootstrap client certificate", "is expired"], after: &[], code: Some("client-cert-expired"),
        cause: "The certificate kubelet.conf names or embeds is past its NotAfter, so the kubelet bootstraps with its bootstrap kubeconfig (with rotation on it still presents a valid kubelet-client-current.pem if there is one).",
        fix: "Nothing if the kubelet then comes up; otherwise the lines after this one say why the bootstrap failed, or `kubecert repair`." },
    LogPattern { id: "bootstrap-config-unreadable", needles: &["unable to read existing bootstrap client config"], after: &[], code: Some("client-cert-missing"),
        cause: "The certificate or key kubelet.conf names cannot be read (deleted, dangling kubelet-client-current.pem link), so the kubelet bootstraps.",
        fix: "If the bootstrap kubeconfig is gone too, `kubecert repair`." },
    LogPattern { id: "csr-forbidden-for-token", needles: &["cannot create certificate signing request", "cannot create resource \"certificatesigningrequests\""], after: &[], code: None,
        cause: "The bootstrap token authenticates, but its group may not create CSRs: it is not bound to ClusterRole system:node-bootstrapper (kubeadm binds system:bootstrappers:kubeadm:default-node-token).",
        fix: "`kubecert rbac check` then `kubecert rbac ensure`; or make a token in the bound group: `kubecert token create`." },
    LogPattern { id: "csr-cn-restricted", needles: &["can only create a node CSR with CN=system:node:"], after: &[], code: Some("client-cert-identity-mismatch"),
        cause: "Since 1.31 a node may only request certificates for its own name; this kubelet holds another node's identity and cannot rotate out of it.",
        fix: "Install a certificate for this node's name (`kubecert sign` or `kubecert csr`), or bootstrap afresh (`kubecert repair`)." },
    LogPattern { id: "csr-unauthorized", needles: &["cannot create certificate signing request: Unauthorized"], after: &[], code: None,
        cause: "The API server rejected the credential the kubelet requests a certificate with: during a bootstrap, a bootstrap token that is unknown, expired or deleted (the API server logs \"invalid bearer token\"); otherwise the kubelet's own certificate (expired, foreign CA; the API server's \"Unable to authenticate\" line says which).",
        fix: "`kubecert doctor` says whether the kubelet bootstraps; a new token and bootstrap kubeconfig: `kubecert bootstrap-config --node NAME` or `kubecert token create` + `kubecert discover`; otherwise `kubecert repair`." },
    LogPattern { id: "csr-never-approved", needles: &["timed out waiting for the condition"], after: BOOTSTRAPPING, code: None,
        cause: "The kubelet was TLS-bootstrapping and gave up waiting for its certificate: the CSR it filed was never approved (or approved and never signed).",
        fix: "`kubectl get csr`: Pending → nothing auto-approves bootstrap CSRs (`kubecert rbac check`; kubeadm:node-autoapprove-bootstrap), Approved without a certificate → the controller-manager's signer is not running." },
    LogPattern { id: "bootstrap-waiting-anonymous", needles: &["User \"system:anonymous\" cannot"], after: BOOTSTRAPPING, code: None,
        cause: "The kubelet is TLS-bootstrapping in the background and has no client certificate yet, so its requests go out as system:anonymous. If it stays like this, the CSR is not being approved or the token is refused (see the other lines).",
        fix: "`kubectl get csr` for the node's CSR (Pending → `kubecert rbac check`); the API server's log says whether the token is refused." },
    LogPattern { id: "no-client-cert-anonymous", needles: &["User \"system:anonymous\" cannot"], after: &[], code: Some("client-cert-expired"),
        cause: "The kubelet presents no client certificate (its only pair expired and nothing replaced it), so the API server sees system:anonymous.",
        fix: "`kubecert doctor` names the expired pair; `kubecert repair`." },
    LogPattern { id: "current-cert-expired", needles: &["The currently active client certificate has expired"], after: &[], code: Some("client-cert-expired"),
        cause: "The kubelet's client certificate expired while it ran: rotation did not happen in time (CSR not approved or signed, or the node was down through the rotation window).",
        fix: "`kubecert doctor` then `kubecert repair`; afterwards `kubecert rbac check` to see why rotation failed." },
    LogPattern { id: "no-valid-cert-5m", needles: &["since a valid client cert was found"], after: &[], code: Some("client-cert-expired"),
        cause: "The kubelet has had no valid client certificate for 5 minutes. If the line says the server is not responsive the kubelet may loop forever instead of exiting.",
        fix: "Restart the kubelet; if it then fails to bootstrap, `kubecert repair`." },
    LogPattern { id: "apiserver-invalid-bearer-token", needles: &["Unable to authenticate the request", "invalid bearer token"], after: &[], code: None,
        cause: "API server: a request carried a token it does not know — for a kubelet, a bootstrap token that expired (kubeadm's default TTL is 24 h), was deleted by the token cleaner, or never existed.",
        fix: "A new token and bootstrap kubeconfig: `kubecert bootstrap-config --node NAME` or `kubecert token create` + `kubecert discover`." },
    LogPattern { id: "x509-not-yet-valid", needles: &["x509: certificate has expired or is not yet valid", "is before"], after: &[], code: Some("client-cert-not-yet-valid"),
        cause: "\"current time X is before Y\": the certificate is NOT YET valid — the node's or the API server's clock is behind, or the certificate was issued with a future start date. It is not an expiry.",
        fix: "Compare `date` on both sides (`kubecert scan` shows the API server's skew); fix NTP, or reissue the certificate with a correct start." },
    LogPattern { id: "x509-expired", needles: &["x509: certificate has expired or is not yet valid", "is after"], after: &[], code: Some("client-cert-expired"),
        cause: "\"current time X is after Y\": the certificate has expired.",
        fix: "`kubecert check-expiration` on the node names it; `kubecert repair` replaces a kubelet client certificate." },
    LogPattern { id: "x509-expired-or-not-yet-valid", needles: &["x509: certificate has expired or is not yet valid"], after: &[], code: Some("client-cert-expired"),
        cause: "A certificate in this TLS connection is outside its validity window: expired, or the clock of one side is wrong (the full line says \"is after\" for expired, \"is before\" for not yet valid).",
        fix: "`kubecert check-expiration` on the node; compare `date` with the API server's clock (`kubecert scan` shows skew)." },
    // The serving side (port 10250), as metrics-server, Prometheus and the API server's proxy see it.
    LogPattern { id: "serving-cert-no-ip-sans", needles: &["cannot validate certificate for", "doesn't contain any IP SANs"], after: &[], code: None,
        cause: "The kubelet serves its self-signed certificate, which names only its host name, and the client (metrics-server, Prometheus) dials the node's IP.",
        fix: SERVING_FIX },
    LogPattern { id: "scrape-unknown-authority", needles: &["Failed to scrape node", "certificate signed by unknown authority"], after: &[], code: None,
        cause: "metrics-server verifies kubelet serving certificates against the cluster CA, and this kubelet serves its own self-signed one.",
        fix: SERVING_FIX },
    LogPattern { id: "serving-csr-pending", needles: &["no serving certificate available for the kubelet"], after: &[], code: None,
        cause: "The kubelet has serverTLSBootstrap on and no serving certificate yet: its kubernetes.io/kubelet-serving CSR is not approved (the controller-manager never approves those), so it aborts every TLS handshake on its port.",
        fix: SERVING_APPROVE },
    LogPattern { id: "serving-tls-internal-error", needles: &["remote error: tls: internal error"], after: &[], code: None,
        cause: "The kubelet aborted the TLS handshake: with serverTLSBootstrap on it has no serving certificate until its kubelet-serving CSR is approved (clients see `remote error: tls: internal error`).",
        fix: SERVING_APPROVE },
    LogPattern { id: "x509-unknown-authority", needles: &["certificate signed by unknown authority"], after: &[], code: Some("client-cert-untrusted"),
        cause: "One side does not trust the other's CA: after a CA rotation, a certificate from another cluster, or the kubelet's self-signed serving certificate seen by metrics-server.",
        fix: "`kubecert doctor` (client-cert-untrusted, ca-mismatch) names which certificate and which CA." },
    // Older releases (field report 004, kubelet 1.8/1.9 era): NodeRestriction's admitNode said
    // `fmt.Errorf("node %q cannot modify node %q", nodeName, requestedName)` in
    // plugin/pkg/admission/noderestriction/admission.go (kubernetes/kubernetes, the version importing
    // k8s.io/kubernetes/pkg/api); v1.37.2 says `node %q is not allowed to modify node %q` (admission.go:554).
    LogPattern { id: "node-modify-other", needles: &["cannot modify node"], after: &[], code: Some("client-cert-identity-mismatch"),
        cause: "The kubelet authenticates as another node (a certificate copied from another machine, or a hostname change), and NodeRestriction refuses it (wording of releases before 1.10).",
        fix: NEW_CERT },
    LogPattern { id: "node-not-allowed-modify", needles: &["is not allowed to modify node"], after: &[], code: Some("client-cert-identity-mismatch"),
        cause: "NodeRestriction refuses a write to a Node object that is not the credential's own node: this node uses another node's certificate.",
        fix: NEW_CERT },
    LogPattern { id: "node-only-own-object", needles: &["only its own Node object"], after: &[], code: Some("client-cert-identity-mismatch"),
        cause: "The Node authorizer lets a node read only its own Node object: this kubelet's certificate names another node.",
        fix: NEW_CERT },
    LogPattern { id: "expected-symlink", needles: &["to be a symlink"], after: &[], code: Some("current-link-not-symlink"),
        cause: "kubelet-client-current.pem is a regular file, so the certificate store cannot swap it on rotation.",
        fix: "Make it an absolute symlink to a kubelet-client-<date>.pem file (`kubecert repair` does it with a backup)." },
    LogPattern { id: "csr-not-approved", needles: &["certificate request was not signed"], after: &[], code: None,
        cause: "The kubelet's CSR was denied or never signed.",
        fix: "`kubectl get csr` and `kubecert rbac check`; make sure the controller-manager signs with the cluster CA." },
    LogPattern { id: "backoff-limit", needles: &["Reached backoff limit, still unable to rotate certs"], after: &[], code: Some("client-cert-rotation-stalled"),
        cause: "Rotation keeps failing; the kubelet is retrying every 32 s.",
        fix: "`kubecert rbac check` and `kubectl get csr`." },
    LogPattern { id: "rotation-failed", needles: &["Failed while requesting a signed certificate from the control plane"], after: &[], code: Some("client-cert-rotation-stalled"),
        cause: "A CSR could not be created or was not answered; the rest of the line says why.",
        fix: "`kubecert rbac check` (selfnodeclient binding) and `kubectl get csr`." },
    LogPattern { id: "token-invalid", needles: &["is invalid for this cluster or it has expired"], after: &[], code: None,
        cause: "The bootstrap token is unknown to the cluster or has expired (kubeadm's default TTL is 24 h).",
        fix: "`kubecert token create` where admin credentials are, then `kubecert discover --token ...` on the node." },
    LogPattern { id: "unauthorized", needles: &["Unauthorized"], after: &[], code: Some("client-cert-untrusted"),
        cause: "The API server rejected the kubelet's client certificate: expired, not yet valid, signed by a CA it does not trust. The API server's log says which (\"Unable to authenticate the request\").",
        fix: "`kubecert doctor` names the credential the kubelet presents and what is wrong with it." },
    LogPattern { id: "cgroup-v1", needles: &["kubelet is configured to not run on a host using cgroup v1"], after: &[], code: None,
        cause: "Not a certificate problem: kubelet 1.35+ refuses cgroup v1 hosts unless failCgroupV1: false.",
        fix: "Set failCgroupV1: false in the KubeletConfiguration, or move the host to cgroup v2." },
];

/// One explained message.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// 1-based line number in the input.
    pub line: usize,
    /// The line (trimmed to 300 characters).
    pub text: String,
    /// The pattern it matched.
    pub pattern: &'static LogPattern,
}

/// Explains every message of `text` that matches a known pattern (first matching pattern wins).
pub fn explain_lines(text: &str) -> Vec<Explained> {
    let messages: Vec<(usize, &str, String)> = text.lines().enumerate().filter_map(|(n, l)| message(l).map(|m| (n + 1, l, m))).collect();
    // For each pattern with context, the first message that gives it.
    let first_with = |phrase: &str| messages.iter().position(|(_, _, m)| contains_words(m, phrase));
    let context: Vec<Option<usize>> = PATTERNS.iter().map(|p| p.after.iter().filter_map(|a| first_with(a)).min()).collect();
    let mut out = Vec::new();
    for (i, (line, raw, m)) in messages.iter().enumerate() {
        let hit = PATTERNS
            .iter()
            .zip(&context)
            .find(|(p, ctx)| p.needles.iter().all(|n| contains_words(m, n)) && (p.after.is_empty() || ctx.is_some_and(|at| at < i)))
            .map(|(p, _)| p);
        if let Some(p) = hit {
            let raw = raw.trim();
            let mut t: String = raw.chars().take(300).collect();
            if t.len() < raw.len() {
                t.push('…');
            }
            out.push(Explained { line: *line, text: t, pattern: p });
        }
    }
    out
}

/// The message of one input line: klog's message and field values, a JSON log's `msg`/`MESSAGE`
/// and string fields; `None` for continuation lines of multi-line values and empty lines.
pub fn message(line: &str) -> Option<String> {
    let line = line.trim_end();
    if line.trim().is_empty() {
        return None;
    }
    if line.trim_start().starts_with('{') {
        return json_message(line.trim());
    }
    let rest = strip_journal_prefix(line);
    // Indented lines continue a multi-line value (`config=<` dumps): not messages.
    if rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = strip_klog_header(rest);
    Some(if rest.starts_with('"') { structured(rest) } else { rest.to_string() })
}

/// `journalctl -o json` (`MESSAGE`, a string or an array of bytes) and the kubelet's JSON logging
/// (`msg`, `err` and other string fields).
fn json_message(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let o = v.as_object()?;
    if let Some(m) = o.get("MESSAGE") {
        let text = match m {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => String::from_utf8_lossy(&a.iter().filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok())).collect::<Vec<u8>>()).into_owned(),
            _ => return None,
        };
        return text.lines().next().and_then(message);
    }
    let msg = o.get("msg")?.as_str()?;
    let mut out = msg.to_string();
    for (k, val) in o {
        if let (false, Some(s)) = (matches!(k.as_str(), "msg" | "ts" | "caller" | "v"), val.as_str()) {
            out.push(' ');
            out.push_str(s);
        }
    }
    Some(out)
}

/// `Nov 29 18:48:52 host kubelet[123]: ` or `2026-11-29T18:48:52+0000 host kubelet[123]: `.
fn strip_journal_prefix(line: &str) -> &str {
    // The first 160 bytes, cut back to a character boundary (a log line is any text).
    let mut end = line.len().min(160);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let head = &line[..end];
    match head.find("]: ") {
        Some(i) if head[..i].rfind('[').is_some_and(|b| head[b + 1..i].bytes().all(|c| c.is_ascii_digit()) && i > b + 1) => &line[i + 3..],
        _ => line,
    }
}

/// `E1129 18:48:52.353856   13634 bootstrap.go:267] ` (klog's header).
fn strip_klog_header(s: &str) -> &str {
    let b = s.as_bytes();
    let klog = b.len() > 22 && matches!(b[0], b'I' | b'W' | b'E' | b'F') && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b' ';
    if !klog {
        return s;
    }
    match s.find("] ") {
        Some(i) if s[..i].contains(".go:") => &s[i + 2..],
        _ => s,
    }
}

/// klog's structured form: `"msg" key="value" key2=bare key3=<multi-line>`: the message and the values.
fn structured(s: &str) -> String {
    let (msg, mut rest) = quoted(s);
    let mut out = msg;
    while let Some(eq) = rest.find('=') {
        let after = &rest[eq + 1..];
        let (value, next) = if after.starts_with('"') {
            quoted(after)
        } else if after.starts_with('<') {
            (String::new(), "")
        } else {
            let end = after.find(' ').unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        if !value.is_empty() {
            out.push(' ');
            out.push_str(&value);
        }
        rest = next;
    }
    out
}

/// A Go-quoted string at the start of `s` (`\"`, `\\`, `\n`, `\t` unescaped), and what follows it.
fn quoted(s: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &s[i + 1..]),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, e)) => out.push(e),
                None => break,
            },
            c => out.push(c),
        }
    }
    (out, "")
}

/// `needle` occurs in `hay`, ignoring ASCII case, not glued to a letter or digit on an edge where the
/// needle itself starts or ends with one.
pub(crate) fn contains_words(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let (n_first, n_last) = (n.chars().next(), n.chars().last());
    let mut from = 0;
    while let Some(off) = h[from..].find(&n) {
        let at = from + off;
        let end = at + n.len();
        let before_ok = !word(n_first) || !word(h[..at].chars().last());
        let after_ok = !word(n_last) || !word(h[end..].chars().next());
        if before_ok && after_ok {
            return true;
        }
        from = at + h[at..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Reads `r` to the end and keeps only its last `max` bytes, from a line start (the decisive line of a
/// journal is usually near its end); the second value says whether the front was dropped.
pub fn read_tail(mut r: impl std::io::Read, max: usize) -> std::io::Result<(Vec<u8>, bool)> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut dropped = false;
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        // Trim in large steps so a huge input costs linear time.
        if buf.len() > max.saturating_mul(2) {
            buf.drain(..buf.len() - max);
            dropped = true;
        }
    }
    if buf.len() > max {
        buf.drain(..buf.len() - max);
        dropped = true;
    }
    if dropped && let Some(nl) = buf.iter().position(|&b| b == b'\n') {
        buf.drain(..=nl);
    }
    Ok((buf, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(log: &str) -> Vec<&'static str> {
        explain_lines(log).iter().map(|x| x.pattern.id).collect()
    }

    #[test]
    fn field_report_lines_are_explained() {
        let log = r#"E1125 kubelet[1]: "command failed" err="failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory"
W1125 reflector.go:535] failed to list *v1.Node: nodes "n2" is forbidden: node "n1" cannot modify node "n2"
E1125 kubelet_node_status.go: "Unable to register node with API server" err="nodes \"n2\" is forbidden: node \"n1\" is not allowed to modify node \"n2\""
E1125 reflector: nodes "n2" is forbidden: User "system:node:n1" cannot get resource "nodes": node 'n1' cannot read 'n2', only its own Node object
I1125 an unrelated line"#;
        let e = explain_lines(log);
        assert_eq!(ids(log), ["bootstrap-kubeconfig-missing", "node-modify-other", "node-not-allowed-modify", "node-only-own-object"]);
        assert_eq!(e[1].line, 2);
    }

    #[test]
    fn field_report_004_journal_line() {
        let l = r#"Mar 14 10:26:57 server2277z.prod.jp.local kubelet-wrapper[18698]: E0314 01:26:57.428143   18698 kubelet_node_status.go:106] Unable to register node "server2277z.prod.jp.local" with API server: nodes "server2277z.prod.jp.local" is forbidden: node "server2267z.prod.jp.local" cannot modify node "server2277z.prod.jp.local""#;
        assert_eq!(ids(l), ["node-modify-other"]);
    }

    #[test]
    fn the_config_dump_and_word_boundaries() {
        let log = "I1129 18:48:52.348170   13634 server.go:257] \"Effective KubeletConfiguration\" config=<\n\t    cacheUnauthorizedTTL: 30s\n\t >\nI1129 x.go:1] \"cacheUnauthorizedTTL is 30s\"\n";
        assert!(ids(log).is_empty(), "{:?}", ids(log));
        assert_eq!(ids("E1129 18:54:29.421412   25518 controller.go:208] \"Failed to ensure lease exists, will retry\" err=\"Unauthorized\" interval=\"1.6s\""), ["unauthorized"]);
        assert!(contains_words("err=UNAUTHORIZED", "unauthorized"));
        assert!(!contains_words("cacheUnauthorizedTTL", "Unauthorized"));
    }

    #[test]
    fn the_serving_side_as_metrics_server_and_the_kubelet_say_it() {
        let ms = r#"E1129 10:00:00.000000       1 scraper.go:149] "Failed to scrape node" err="Get \"https://10.0.0.5:10250/metrics/resource\": x509: cannot validate certificate for 10.0.0.5 because it doesn't contain any IP SANs" node="n1""#;
        assert_eq!(ids(ms), ["serving-cert-no-ip-sans"]);
        let ms = r#"E1129 10:00:00.000000       1 scraper.go:149] "Failed to scrape node" err="Get \"https://10.0.0.5:10250/metrics/resource\": tls: failed to verify certificate: x509: certificate signed by unknown authority" node="n1""#;
        assert_eq!(ids(ms), ["scrape-unknown-authority"]);
        let proxy = "Error from server (ServiceUnavailable): error trying to reach service: remote error: tls: internal error";
        assert_eq!(ids(proxy), ["serving-tls-internal-error"]);
        let kubelet = r#"I1129 10:00:00.000000    4242 log.go:245] http: TLS handshake error from 10.250.0.1:51234: no serving certificate available for the kubelet"#;
        assert_eq!(ids(kubelet), ["serving-csr-pending"]);
        for l in [ms, proxy, kubelet] {
            assert!(explain_lines(l)[0].pattern.fix.contains("kubecert"), "{l}");
        }
    }

    #[test]
    fn not_yet_valid_is_not_expired() {
        let l = r#"E1129 18:53:57.526509     716 authentication.go:76] "Unable to authenticate the request" err="verifying certificate SN=1, SKID=A, AKID=B failed: x509: certificate has expired or is not yet valid: current time 2026-11-29T18:53:57Z is before 2026-11-30T18:53:40Z""#;
        assert_eq!(ids(l), ["x509-not-yet-valid"]);
        assert_eq!(ids(&l.replace("is before", "is after")), ["x509-expired"]);
    }

    #[test]
    fn a_timeout_means_an_unapproved_csr_only_after_a_bootstrap_started() {
        let timeout = r#"E1129 run.go:72] "command failed" err="failed to run Kubelet: timed out waiting for the condition""#;
        assert!(ids(timeout).is_empty());
        let log = format!("E1129 18:56:27.160313    3343 bootstrap.go:267] \"Unhandled Error\" err=\"part of the existing bootstrap client certificate in /etc/kubernetes/kubelet.conf is expired: 2026-11-28 18:56:25 +0000 UTC\"\n{timeout}\n");
        assert_eq!(ids(&log), ["bootstrap-cert-expired", "csr-never-approved"]);
    }

    #[test]
    fn large_input_keeps_its_last_lines() {
        let mut text = "I1 x.go:1] \"noise\"\n".repeat(10_000);
        text.push_str("E1 run.go:72] \"command failed\" err=\"failed to run Kubelet: unable to load bootstrap kubeconfig: x\"\n");
        let (tail, dropped) = read_tail(text.as_bytes(), 1000).unwrap();
        assert!(dropped && tail.len() <= 1000);
        let tail = String::from_utf8(tail).unwrap();
        assert!(tail.starts_with("I1 "), "starts at a line: {:?}", &tail[..20]);
        assert_eq!(ids(&tail), ["bootstrap-kubeconfig-missing"]);
    }

    #[test]
    fn a_multibyte_character_at_the_journal_prefix_cut_is_no_panic() {
        // found by the fuzz smoke run: byte 160 fell inside a character
        let line = format!("{}{}", "a".repeat(159), "é]: x");
        assert!(explain_lines(&line).is_empty());
    }

    #[test]
    fn journal_json_and_kubelet_json() {
        let j = r#"{"__REALTIME_TIMESTAMP":"1","_SYSTEMD_UNIT":"kubelet.service","MESSAGE":"E1129 18:53:59.941479   21922 run.go:72] \"command failed\" err=\"failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory\""}"#;
        assert_eq!(ids(j), ["bootstrap-kubeconfig-missing"]);
        let bytes: Vec<String> = "E1 x.go:1] \"command failed\" err=\"failed to run Kubelet: unable to load bootstrap kubeconfig: x\"".bytes().map(|b| b.to_string()).collect();
        assert_eq!(ids(&format!("{{\"MESSAGE\":[{}]}}", bytes.join(","))), ["bootstrap-kubeconfig-missing"]);
        let k = r#"{"ts":1732900000.1,"caller":"app/run.go:72","msg":"command failed","err":"failed to run Kubelet: unable to load bootstrap kubeconfig: stat /etc/kubernetes/bootstrap-kubelet.conf: no such file or directory"}"#;
        assert_eq!(ids(k), ["bootstrap-kubeconfig-missing"]);
    }
}
