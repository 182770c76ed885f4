//! Shared by the ecosystem tests (image, Prometheus, dashboard, kubectl plugin): processes killed
//! on drop, plain HTTP/1.0 GETs, openssl-made node trees, and a real Prometheus on loopback.

use crate::repo_root;
use crate::ports::free_port;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing running.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Fails the test, saying how to install it, when a tool is not on PATH (never a skip).
pub fn require(tool: &str, package: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(found, "{tool} is not installed: apt-get install {package} (.ci/run installs it)");
}

/// Starts a `kubecert exporter --listen 127.0.0.1:0 ...` command and reads its port from stderr.
pub fn start_exporter(mut cmd: Command) -> (Proc, u16) {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start the exporter");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let port = loop {
        let Some(Ok(line)) = lines.next() else { panic!("the exporter exited before listening: {seen}") };
        seen.push_str(&line);
        if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
            break rest.trim_end_matches("/metrics").parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), port)
}

/// `GET path` over HTTP/1.0 on loopback (no chunking, the server closes): (status line, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(String, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    Ok((head.lines().next().unwrap_or("").to_string(), body.to_string()))
}

/// Polls `GET path` until it answers 200, for at most `limit`.
pub fn wait_ok(port: u16, path: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        match http_get(port, path) {
            Ok((status, body)) if status.contains(" 200 ") => return body,
            other if start.elapsed() > limit => panic!("GET 127.0.0.1:{port}{path} not 200 within {limit:?}: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The PrometheusRule's `spec` (its `groups`) from deploy/monitoring.yaml, as a Prometheus rule
/// file (JSON is YAML), written to `dir/kubecert-rules.yaml`.
pub fn extract_rules(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("deploy/monitoring.yaml")).unwrap();
    let spec = text
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<serde_json::Value>(doc).unwrap())
        .find(|v| v["kind"] == "PrometheusRule")
        .expect("a PrometheusRule in deploy/monitoring.yaml")["spec"]
        .clone();
    assert!(spec["groups"].as_array().is_some_and(|g| !g.is_empty()), "no rule groups: {spec}");
    let path = dir.join("kubecert-rules.yaml");
    std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();
    path
}

/// Percent-encodes a query parameter value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// A real Prometheus (Debian's package) on loopback with its own storage, stopped on drop.
pub struct Prometheus {
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts it with `config` (prometheus.yml text; `rule_files` may name files in `dir`).
    pub fn start(config: &str, files: &[(&str, &Path)]) -> Prometheus {
        require("prometheus", "prometheus");
        let dir = tempfile::tempdir().unwrap();
        for (name, from) in files {
            std::fs::copy(from, dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .current_dir(dir.path())
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { port, _proc: Proc(child), _dir: dir };
        wait_ok(port, "/-/ready", Duration::from_secs(60));
        p
    }

    /// Prometheus' log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query's result vector.
    pub fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        let (status, body) = http_get(self.port, &format!("/api/v1/query?query={}", url_encode(expr))).unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: {e}: {body}"));
        assert_eq!(v["status"], "success", "query {expr}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Polls `expr` until `ok(result)`, for at most `limit`; the last result.
    pub fn query_until(&self, expr: &str, limit: Duration, ok: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let r = self.query(expr);
            if ok(&r) {
                return r;
            }
            assert!(start.elapsed() < limit, "{expr} did not give the expected result within {limit:?}: {r:#?}\nprometheus log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
