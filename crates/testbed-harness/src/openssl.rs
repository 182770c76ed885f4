//! openssl, the independent tool the tests check kubecert against and make altered certificates
//! with: one runner and the checks several tests share.

use crate::run::sh;
use std::path::Path;
use std::process::Command;

/// `openssl ARGS` in `dir`; panics with stderr on failure; returns stdout.
#[track_caller]
pub fn openssl(args: &[&str], dir: &Path) -> String {
    let o = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    assert!(o.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `openssl ARGS` that may fail: (success, stdout+stderr).
pub fn try_openssl(args: &[&str]) -> (bool, String) {
    sh("openssl", args)
}

/// `openssl verify -CAfile ca cert` → (success, output).
pub fn openssl_verify(ca: &Path, cert: &Path) -> (bool, String) {
    try_openssl(&["verify", "-CAfile", &ca.display().to_string(), &cert.display().to_string()])
}

/// openssl's `YYYYMMDDHHMMSSZ` for now + `days` (negative: in the past).
pub fn openssl_date(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.format(&time::macros::format_description!("[year][month][day][hour][minute][second]Z")).expect("format a date")
}

/// Signs a certificate with `openssl ca` for `key` (created as RSA 2048 when absent) by the CA
/// `ca_base` (`.crt`/`.key`), with subject `subj` (`/O=x/CN=y`), the extensions in `ext` (openssl
/// extension lines) and an exact window from `start` to `end` (openssl dates); writes `out`.
pub fn openssl_sign(ca_base: &Path, key: &Path, subj: &str, ext: &str, start: &str, end: &str, out: &Path) {
    let work = tempfile::tempdir().unwrap();
    let w = |n: &str| work.path().join(n).display().to_string();
    let s = |p: &Path| p.display().to_string();
    if !key.exists() {
        assert!(sh("openssl", &["genrsa", "-out", &s(key), "2048"]).0);
    }
    std::fs::write(work.path().join("index.txt"), "").unwrap();
    std::fs::write(work.path().join("serial"), "1000\n").unwrap();
    std::fs::write(work.path().join("ext"), ext).unwrap();
    std::fs::write(
        work.path().join("ca.cnf"),
        format!(
            "[ca]\ndefault_ca = c\n[c]\ndir = {d}\ndatabase = {d}/index.txt\nnew_certs_dir = {d}\nserial = {d}/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\norganizationName = optional\ncommonName = supplied\n",
            d = work.path().display()
        ),
    )
    .unwrap();
    let (ok, o) = sh("openssl", &["req", "-new", "-key", &s(key), "-subj", subj, "-out", &w("req.csr")]);
    assert!(ok, "{o}");
    let crt = ca_base.with_extension("crt");
    let cakey = ca_base.with_extension("key");
    let (ok, o) = sh(
        "openssl",
        &["ca", "-batch", "-config", &w("ca.cnf"), "-cert", &s(&crt), "-keyfile", &s(&cakey), "-in", &w("req.csr"), "-extfile", &w("ext"), "-startdate", start, "-enddate", end, "-notext", "-out", &s(out)],
    );
    assert!(ok, "{o}");
}

/// The serial of a certificate file (openssl).
pub fn file_serial(p: &Path) -> String {
    let (ok, out) = sh("openssl", &["x509", "-in", &p.display().to_string(), "-noout", "-serial"]);
    assert!(ok, "{out}");
    out.trim().to_string()
}

/// The serial of the certificate served on 127.0.0.1:port (client certificate optional), by openssl s_client.
pub fn served_serial(port: u16, client: Option<(&Path, &Path)>) -> String {
    let auth = client.map(|(c, k)| format!("-cert '{}' -key '{}'", c.display(), k.display())).unwrap_or_default();
    let (ok, out) = sh("sh", &["-c", &format!("openssl s_client -connect 127.0.0.1:{port} {auth} </dev/null 2>/dev/null | openssl x509 -noout -serial")]);
    assert!(ok, "s_client on {port}: {out}");
    out.trim().to_string()
}
