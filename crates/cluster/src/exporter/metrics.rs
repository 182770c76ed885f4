//! The Prometheus text exposition (format 0.0.4) of one node's certificate health: the doctor
//! findings as gauges, a count per finding code (every known code, so alerts see zeros), each
//! certificate's not-after, and, when the exporter can reach the API server, the Node's Ready
//! condition. Label values are escaped as the format requires (`\\`, `\"`, `\n`).

use std::fmt::Write as _;

use time::OffsetDateTime;

/// One doctor finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingSample {
    /// Finding code (`client-cert-expired`).
    pub code: String,
    /// `error`, `warning`, `info`.
    pub severity: String,
}

/// One certificate on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSample {
    /// Its catalog name (`kubelet-client`, `apiserver`, ...).
    pub name: String,
    /// Where it was read (node path).
    pub path: String,
    /// Not-after, when it was read.
    pub not_after: Option<OffsetDateTime>,
    /// Not on disk.
    pub missing: bool,
    /// Present but unreadable.
    pub unreadable: bool,
}

/// What the API server said about this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSample {
    /// The API server answered.
    pub up: bool,
    /// The Node's Ready condition is True (None: no Node or no condition).
    pub ready: Option<bool>,
}

/// Everything one scrape reports.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSample {
    /// The node's name (label `node`).
    pub node: String,
    /// The findings.
    pub findings: Vec<FindingSample>,
    /// Every known code with its severity (for the per-code counts).
    pub known_codes: Vec<(String, String)>,
    /// The certificates.
    pub certs: Vec<CertSample>,
    /// The API's view, when the exporter has API access.
    pub api: Option<ApiSample>,
    /// How long collecting took.
    pub collect_seconds: f64,
}

/// Escapes a label value.
pub(crate) fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// Renders the exposition at `now`.
pub fn render(s: &NodeSample, now: OffsetDateTime) -> String {
    let mut o = String::new();
    let node = escape(&s.node);

    family(&mut o, "kubecert_finding", "A finding of kubecert doctor on this node (1 per finding present).");
    for f in &s.findings {
        let _ = writeln!(o, "kubecert_finding{{node=\"{node}\",code=\"{}\",severity=\"{}\"}} 1", escape(&f.code), escape(&f.severity));
    }

    family(&mut o, "kubecert_findings", "Findings per code on this node (every known code, 0 when absent).");
    let mut codes = s.known_codes.clone();
    for f in &s.findings {
        if !codes.iter().any(|(c, _)| c == &f.code) {
            codes.push((f.code.clone(), f.severity.clone()));
        }
    }
    for (code, sev) in &codes {
        let n = s.findings.iter().filter(|f| &f.code == code).count();
        let _ = writeln!(o, "kubecert_findings{{node=\"{node}\",code=\"{}\",severity=\"{}\"}} {n}", escape(code), escape(sev));
    }

    family(&mut o, "kubecert_findings_by_severity", "Findings on this node per severity.");
    for sev in ["error", "warning", "info"] {
        let n = s.findings.iter().filter(|f| f.severity == sev).count();
        let _ = writeln!(o, "kubecert_findings_by_severity{{node=\"{node}\",severity=\"{sev}\"}} {n}");
    }

    family(&mut o, "kubecert_cert_not_after_seconds", "NotAfter of a certificate on this node (Unix time).");
    for c in s.certs.iter().filter(|c| c.not_after.is_some()) {
        let _ = writeln!(o, "kubecert_cert_not_after_seconds{{node=\"{node}\",name=\"{}\",path=\"{}\"}} {}", escape(&c.name), escape(&c.path), c.not_after.map(|t| t.unix_timestamp()).unwrap_or(0));
    }
    family(&mut o, "kubecert_cert_expires_in_seconds", "Seconds until a certificate on this node expires (negative once expired).");
    for c in s.certs.iter().filter(|c| c.not_after.is_some()) {
        let _ = writeln!(o, "kubecert_cert_expires_in_seconds{{node=\"{node}\",name=\"{}\",path=\"{}\"}} {}", escape(&c.name), escape(&c.path), c.not_after.map(|t| (t - now).whole_seconds()).unwrap_or(0));
    }
    family(&mut o, "kubecert_cert_error", "1 when a certificate kubecert expects on this node is missing or unreadable.");
    for c in s.certs.iter().filter(|c| c.missing || c.unreadable) {
        let why = if c.missing { "missing" } else { "unreadable" };
        let _ = writeln!(o, "kubecert_cert_error{{node=\"{node}\",name=\"{}\",path=\"{}\",reason=\"{why}\"}} 1", escape(&c.name), escape(&c.path));
    }

    if let Some(api) = &s.api {
        family(&mut o, "kubecert_apiserver_up", "1 when the exporter reached the API server with its credentials.");
        let _ = writeln!(o, "kubecert_apiserver_up{{node=\"{node}\"}} {}", u8::from(api.up));
        if let Some(r) = api.ready {
            family(&mut o, "kubecert_node_ready", "The Node's Ready condition as the API server has it (1 True, 0 otherwise).");
            let _ = writeln!(o, "kubecert_node_ready{{node=\"{node}\"}} {}", u8::from(r));
        }
    }
    family(&mut o, "kubecert_collect_duration_seconds", "Time the last collection took.");
    let _ = writeln!(o, "kubecert_collect_duration_seconds{{node=\"{node}\"}} {:.6}", s.collect_seconds);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_and_counts_every_code() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let s = NodeSample {
            node: "n\"1".into(),
            findings: vec![FindingSample { code: "client-cert-expired".into(), severity: "error".into() }],
            known_codes: vec![("client-cert-expired".into(), "error".into()), ("kubeconfig-missing".into(), "error".into())],
            certs: vec![
                CertSample { name: "kubelet-client".into(), path: "/var/lib/kubelet/pki/kubelet-client-current.pem".into(), not_after: Some(now - time::Duration::days(1)), missing: false, unreadable: false },
                CertSample { name: "kubelet-serving".into(), path: "/var/lib/kubelet/pki/kubelet.crt".into(), not_after: None, missing: true, unreadable: false },
            ],
            api: Some(ApiSample { up: true, ready: Some(false) }),
            collect_seconds: 0.01,
        };
        let t = render(&s, now);
        assert!(t.contains("kubecert_finding{node=\"n\\\"1\",code=\"client-cert-expired\",severity=\"error\"} 1\n"), "{t}");
        assert!(t.contains("kubecert_findings{node=\"n\\\"1\",code=\"kubeconfig-missing\",severity=\"error\"} 0\n"));
        assert!(t.contains(&format!("name=\"kubelet-client\",path=\"/var/lib/kubelet/pki/kubelet-client-current.pem\"}} {}\n", 1_800_000_000 - 86400)));
        assert!(t.contains("kubecert_cert_expires_in_seconds{node=\"n\\\"1\",name=\"kubelet-client\",path=\"/var/lib/kubelet/pki/kubelet-client-current.pem\"} -86400\n"));
        assert!(t.contains("reason=\"missing\"} 1"));
        assert!(t.contains("kubecert_node_ready{node=\"n\\\"1\"} 0"));
        assert_eq!(escape("a\\b\nc"), "a\\\\b\\nc");
    }
}
