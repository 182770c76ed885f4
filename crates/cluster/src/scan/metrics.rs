//! The scan's forecast as Prometheus metrics (`kubecert scan --serve`): one Deployment reads the
//! cluster-wide facts a forecast needs (every Node, CSR and bootstrap token, the RBAC, each
//! kubelet's gauges) every interval and serves the result, so that the PrometheusRule can alert
//! "node will go NotReady within 14 days". Values are timestamps, not "seconds from now", so a
//! series stays right between two scans; label values are escaped as the exporter's are.

use std::fmt::Write as _;

use super::Report;
use crate::exporter::metrics::escape;

/// Every family [`render`] writes (the alerts in deploy/ may use only these and the exporter's).
pub const FAMILIES: &[&str] = &[
    "kubecert_scan_success",
    "kubecert_scan_timestamp_seconds",
    "kubecert_scan_duration_seconds",
    "kubecert_scan_nodes",
    "kubecert_forecast_timestamp_seconds",
    "kubecert_forecast_reason",
    "kubecert_kubelet_cert_not_after_seconds",
    "kubecert_kubelet_cert_unknown",
];

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
}

/// What the serving loop knows: the last good scan, and how the last attempt went.
#[derive(Debug, Clone, Default)]
pub struct ScanState {
    /// The last scan that ran.
    pub last: Option<Report>,
    /// The last attempt failed (the Nodes could not be listed), with why.
    pub failed: Option<String>,
}

/// Renders the exposition.
pub fn render(state: &ScanState) -> String {
    let mut o = String::new();
    family(&mut o, "kubecert_scan_success", "1 when the last cluster scan ran (the Nodes could be listed), 0 when it failed.");
    let _ = writeln!(o, "kubecert_scan_success {}", u8::from(state.failed.is_none() && state.last.is_some()));
    let Some(r) = &state.last else { return o };
    family(&mut o, "kubecert_scan_timestamp_seconds", "When the last successful scan started (Unix time).");
    let _ = writeln!(o, "kubecert_scan_timestamp_seconds {}", r.time.unix_timestamp());
    family(&mut o, "kubecert_scan_duration_seconds", "How long the last successful scan took.");
    let _ = writeln!(o, "kubecert_scan_duration_seconds {:.3}", r.summary.seconds);
    family(&mut o, "kubecert_scan_nodes", "Nodes the last scan saw.");
    let _ = writeln!(o, "kubecert_scan_nodes {}", r.summary.nodes);

    family(
        &mut o,
        "kubecert_forecast_timestamp_seconds",
        "When a kubelet certificate whose renewal will fail expires (Unix time): certificate=\"client\" means the node goes NotReady then, \"serving\" that logs/exec/metrics break. reason is the deciding reason's code.",
    );
    for f in &r.forecast {
        let reason = f.reasons.first().map(|x| x.reason.code()).unwrap_or("unknown");
        let _ = writeln!(o, "kubecert_forecast_timestamp_seconds{{node=\"{}\",certificate=\"{}\",reason=\"{reason}\"}} {}", escape(&f.node), f.certificate.as_str(), f.when.unix_timestamp());
    }
    family(&mut o, "kubecert_forecast_reason", "Every reason a forecast renewal will fail (1 per reason; see scan -o json for the fix).");
    for f in &r.forecast {
        for x in &f.reasons {
            let _ = writeln!(o, "kubecert_forecast_reason{{node=\"{}\",certificate=\"{}\",reason=\"{}\"}} 1", escape(&f.node), f.certificate.as_str(), x.reason.code());
        }
    }
    family(&mut o, "kubecert_kubelet_cert_not_after_seconds", "NotAfter of a kubelet's client or serving certificate as the cluster sees it (Unix time); source: kubelet, exporter or issuing-csr.");
    for d in &r.deadlines {
        for (which, dl) in [("client", &d.client), ("serving", &d.serving)] {
            if let Some(dl) = dl {
                let source = serde_json::to_value(dl.source).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
                let _ = writeln!(o, "kubecert_kubelet_cert_not_after_seconds{{node=\"{}\",certificate=\"{which}\",source=\"{source}\"}} {}", escape(&d.node), dl.expires.unix_timestamp());
            }
        }
    }
    family(&mut o, "kubecert_kubelet_cert_unknown", "1 for a node whose client certificate's expiry the scan could not learn (node proxy refused and no exporter).");
    for d in r.deadlines.iter().filter(|d| d.client.is_none()) {
        let _ = writeln!(o, "kubecert_kubelet_cert_unknown{{node=\"{}\"}} 1", escape(&d.node));
    }
    o
}

/// Runs a scan every `every` and serves the last result on `listener` (`/metrics`, `/healthz`)
/// until the future is dropped.
pub async fn serve(admin: crate::client::AdminClient, opts: super::ScanOptions, listener: tokio::net::TcpListener, every: std::time::Duration) {
    let state = std::sync::Arc::new(std::sync::Mutex::new(ScanState::default()));
    let shown = std::sync::Arc::clone(&state);
    let server = crate::exporter::serve(listener, move || {
        let text = render(&shown.lock().unwrap_or_else(|p| p.into_inner()));
        async move { text }
    });
    let scans = async {
        loop {
            let result = super::scan(&admin, &opts, |_, _| {}).await;
            {
                let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
                match result {
                    Ok(r) => {
                        tracing::info!("scan: {} nodes, {} forecast", r.summary.nodes, r.forecast.len());
                        *s = ScanState { last: Some(r), failed: None };
                    }
                    Err(e) => {
                        tracing::warn!("scan: {e}");
                        s.failed = Some(e.to_string());
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    };
    futures::join!(server, scans);
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;
    use crate::scan::forecast::{Deadline, Explained, Forecast, NodeDeadlines, Reason, RotationEvidence, Source, Which};

    #[test]
    fn forecast_series_carry_the_expiry_and_the_deciding_reason() {
        let when = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let reasons: Vec<Explained> = [Reason::RotationOff { evidence: RotationEvidence::KubeletMetrics }, Reason::NoBootstrapToken]
            .into_iter()
            .map(|r| Explained { message: r.message(), fix: r.fix("n\"1", Which::Client), reason: r })
            .collect();
        let f = Forecast { node: "n\"1".into(), certificate: Which::Client, when, consequence: String::new(), prevent: reasons[0].fix.clone(), reasons };
        let d = NodeDeadlines {
            node: "n\"1".into(),
            client: Some(Deadline { expires: when, source: Source::IssuingCsr, rotation_window: None, past_rotation_deadline: None }),
            serving: None,
            unknown: None,
            exporter_error: None,
            client_blockers: vec![],
            serving_blockers: vec![],
        };
        let unknown = NodeDeadlines { node: "n2".into(), client: None, ..d.clone() };
        let report = Report {
            server: String::new(),
            time: when,
            summary: Default::default(),
            problems: vec![],
            nodes: vec![],
            csrs: vec![],
            tokens: vec![],
            rbac: vec![],
            clock: None,
            deadlines: vec![d, unknown],
            forecast: vec![f],
            exporters: None,
            errors: vec![],
        };
        let t = render(&ScanState { last: Some(report), failed: None });
        assert!(t.contains("kubecert_scan_success 1\n"), "{t}");
        assert!(t.contains("kubecert_forecast_timestamp_seconds{node=\"n\\\"1\",certificate=\"client\",reason=\"rotation-off\"} 1800000000\n"), "{t}");
        assert!(t.contains("kubecert_forecast_reason{node=\"n\\\"1\",certificate=\"client\",reason=\"no-bootstrap-token\"} 1\n"), "{t}");
        assert!(t.contains("kubecert_kubelet_cert_not_after_seconds{node=\"n\\\"1\",certificate=\"client\",source=\"issuing-csr\"} 1800000000\n"), "{t}");
        assert!(t.contains("kubecert_kubelet_cert_unknown{node=\"n2\"} 1\n"), "{t}");
        assert_eq!(render(&ScanState::default()).trim_end().lines().last(), Some("kubecert_scan_success 0"));
        let written: Vec<&str> = t.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
        assert_eq!(written, FAMILIES, "FAMILIES must list what render writes");
    }
}
