//! `kubecert-scan-bench`: times `kubecert scan` over N simulated kubelets (real TLS servers on
//! 127.0.0.1 in this process, distinct certificates: cluster-signed, self-signed, expired,
//! refused, silent) with real Node objects in the test cluster pointing at them, beside a plain
//! `openssl s_client` loop over a sample of the same endpoints, and checks that the scan's counts
//! match what was served. Run by `bench/scan.sh` (which starts and stops a private test cluster).
//!
//!   kubecert-scan-bench KUBECERT_BIN N...    (env: KUBECONFIG, TESTBED_CA_CERT, TESTBED_CA_KEY, TESTBED_DIR)

mod endpoints;
mod nodes;
mod settle;

use anyhow::Context as _;
use endpoints::Kind;
use std::process::Command;
use std::time::Instant;

/// One scan measured.
struct Run {
    seconds: f64,
    cpu_seconds: f64,
    max_rss_kb: u64,
    summary: serde_json::Value,
    /// Nodes whose client certificate TTL the scan read from the kubelet (through the node proxy).
    ttls_read: u64,
}

/// Timed scans per N (the median is reported, with the range): other processes share the cores.
fn runs_per_size() -> usize {
    std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(3)
}

fn scan(bin: &str, kubeconfig: &str, metrics: bool) -> anyhow::Result<Run> {
    let start = Instant::now();
    let address = endpoints::address().to_string();
    let mut args = vec!["-v", bin, "scan", "--kubeconfig", kubeconfig, "--default-address", &address, "--timeout", "1s", "-o", "json", "--no-exporter"];
    if !metrics {
        args.push("--no-kubelet-metrics");
    }
    let out = Command::new("/usr/bin/time")
        .args(&args)
        .output()
        .context("run kubecert scan under /usr/bin/time -v")?;
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| stderr.lines().find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()));
    let max_rss_kb = field("Maximum resident set size (kbytes): ").and_then(|v| v.parse().ok()).unwrap_or(0);
    let secs = |name: &str| field(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu_seconds = secs("User time (seconds): ") + secs("System time (seconds): ");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).with_context(|| format!("scan output is not JSON: {stderr}"))?;
    let ttls_read = v["deadlines"].as_array().map(|d| d.iter().filter(|d| d["client"]["source"] == "kubelet").count() as u64).unwrap_or(0);
    Ok(Run { seconds, cpu_seconds, max_rss_kb, summary: v["summary"].clone(), ttls_read })
}

/// A plain sequential `openssl s_client` loop over `ports`, as a person would write it; seconds.
fn openssl_loop(ports: &[u16]) -> anyhow::Result<f64> {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let script = format!(
        "for p in {}; do timeout 1 openssl s_client -connect {}:$p </dev/null 2>/dev/null | openssl x509 -noout -enddate -issuer >/dev/null 2>&1; done",
        list.join(" "),
        endpoints::address()
    );
    let start = Instant::now();
    Command::new("sh").args(["-c", &script]).status()?;
    Ok(start.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = args.first().context("usage: kubecert-scan-bench KUBECERT_BIN N...")?.clone();
    let sizes: Vec<usize> = args[1..].iter().map(|s| s.parse()).collect::<Result<_, _>>().context("N must be numbers")?;
    let max = sizes.iter().copied().max().unwrap_or(0);
    let kubeconfig = std::env::var("KUBECONFIG").context("KUBECONFIG (the test cluster's admin.conf)")?;
    let ca_cert = std::fs::read(std::env::var("TESTBED_CA_CERT").context("TESTBED_CA_CERT")?)?;
    let ca_key = std::fs::read(std::env::var("TESTBED_CA_KEY").context("TESTBED_CA_KEY")?)?;
    let testbed_dir = std::env::var("TESTBED_DIR").context("TESTBED_DIR")?;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let ca = kubecert_pki::CertificateAuthority::load(&ca_cert, &ca_key, time::OffsetDateTime::now_utc())?;
        let t = Instant::now();
        let eps = endpoints::start(max, "bench", &ca).await?;
        eprintln!("bench: {max} endpoints serving on 127.0.0.1 in {:.1}s", t.elapsed().as_secs_f64());
        let config = kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions::default()).await?;
        let client = kube::Client::try_from(config)?;
        let _ = nodes::delete_all(&client).await;

        let repeat = runs_per_size();
        println!("| N nodes | kubecert scan (median of {repeat}) | range | nodes/s | scan CPU | peak RSS | kubelet TTLs read | without the metrics read (median) | openssl s_client loop (sample) | openssl nodes/s | openssl for N (extrapolated) | counts match |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        let mut made = 0;
        for &n in &sizes {
            let t = Instant::now();
            nodes::create(&client, &eps[made..n], 64).await?;
            eprintln!("bench: Nodes {made}..{n} created in {:.1}s", t.elapsed().as_secs_f64());
            made = n;
            let (waited, load) = settle::wait(std::path::Path::new(&testbed_dir), std::time::Duration::from_secs(120)).await?;
            eprintln!("bench: control plane settled after {:.0}s (load {load:.2} cores)", waited.as_secs_f64());
            // The scan runs as its own process; this one keeps serving the endpoints meanwhile.
            let (b, kc) = (bin.clone(), kubeconfig.clone());
            let _warm = tokio::task::spawn_blocking(move || scan(&b, &kc, true)).await??; // warm the API server's caches
            let mut runs = Vec::with_capacity(repeat);
            let mut bare = Vec::with_capacity(repeat);
            for _ in 0..repeat {
                let (b, kc) = (bin.clone(), kubeconfig.clone());
                runs.push(tokio::task::spawn_blocking(move || scan(&b, &kc, true)).await??);
                let (b, kc) = (bin.clone(), kubeconfig.clone());
                bare.push(tokio::task::spawn_blocking(move || scan(&b, &kc, false)).await??.seconds);
            }
            bare.sort_by(f64::total_cmp);
            let bare_median = bare[bare.len() / 2];
            runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
            let (fastest, slowest) = (runs[0].seconds, runs[runs.len() - 1].seconds);
            let max_rss_kb = runs.iter().map(|r| r.max_rss_kb).max().unwrap_or(0);
            let run = runs.swap_remove(runs.len() / 2);
            let sample: Vec<u16> = eps[..n.min(200)].iter().map(|e| e.port).collect();
            let sample_len = sample.len();
            let ossl = tokio::task::spawn_blocking(move || openssl_loop(&sample)).await??;
            let count = |k: Kind| eps[..n].iter().filter(|e| e.kind == k).count() as u64;
            let s = &run.summary;
            let matches = s["nodes"].as_u64() == Some(n as u64)
                && s["cluster_signed"].as_u64() == Some(count(Kind::ClusterSigned) + count(Kind::Expired))
                && s["self_signed"].as_u64() == Some(count(Kind::SelfSigned))
                && s["expired"].as_u64() == Some(count(Kind::Expired))
                && s["unreachable"].as_u64() == Some(count(Kind::Refused) + count(Kind::Silent))
                && run.ttls_read == count(Kind::ClusterSigned) + count(Kind::SelfSigned) + count(Kind::Expired);
            let ossl_rate = sample_len as f64 / ossl;
            println!(
                "| {n} | {:.2} s | {fastest:.2}–{slowest:.2} s | {:.0} | {:.2} s | {:.1} MB | {} | {bare_median:.2} s | {:.1} s for {sample_len} | {:.0} | {:.0} s | {} |",
                run.seconds,
                n as f64 / run.seconds,
                run.cpu_seconds,
                max_rss_kb as f64 / 1024.0,
                run.ttls_read,
                ossl,
                ossl_rate,
                n as f64 / ossl_rate,
                if matches { "yes".to_string() } else { format!("NO: {s}, TTLs read {}", run.ttls_read) }
            );
        }
        if std::env::var_os("BENCH_HOLD").is_some() {
            // For profiling by hand: keep serving (and the Nodes) until interrupted.
            eprintln!("bench: holding the endpoints and Nodes; Ctrl-C to clean up");
            tokio::signal::ctrl_c().await?;
        }
        // The cluster is torn down by bench/scan.sh anyway: a failed clean-up is only reported.
        if let Err(e) = nodes::delete_all(&client).await {
            eprintln!("bench: deleting the Nodes failed: {e}");
        }
        anyhow::Ok(())
    })
}
