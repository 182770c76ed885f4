//! The bundle `sign` and `csr` write for an operator to copy to a node: certificate, key 0600,
//! the kubelet's own pair file, the CA, and (with a server URL) a kubelet kubeconfig embedding
//! the pair. Written only into an empty or new directory; a failure removes only what it wrote.

use crate::error::{Result, WorkflowError};
use base64::Engine as _;
use kubecert_pki::{Certificate, PrivateKey};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use zeroize::Zeroizing;

/// What goes into a bundle.
pub(crate) struct Bundle<'a> {
    /// The node the credential is for (file names).
    pub node: &'a str,
    /// The client certificate (or, with no `key`, the certificate alone).
    pub cert: &'a Certificate,
    /// The client key, when it was made here.
    pub key: Option<&'a PrivateKey>,
    /// A serving pair.
    pub serving: Option<(&'a PrivateKey, &'a Certificate)>,
    /// The CA PEM.
    pub ca_pem: &'a str,
    /// The API server URL for a kubelet kubeconfig (none: no kubeconfig).
    pub server: Option<&'a str>,
}

/// Writes `b` into `dir` (or with `dry_run` only lists it); returns `path (mode)` per file.
pub(crate) fn write_bundle(dir: &Path, b: &Bundle<'_>, dry_run: bool) -> Result<Vec<String>> {
    let node = b.node;
    let mut files: Vec<(String, Zeroizing<String>, u32)> = vec![
        (format!("{node}.crt"), Zeroizing::new(b.cert.to_pem()), 0o644),
        ("ca.crt".into(), Zeroizing::new(b.ca_pem.to_string()), 0o644),
    ];
    if let Some(k) = b.key {
        let cert = b.cert.to_pem();
        files.push((format!("{node}.key"), k.to_pem(), 0o600));
        // The kubelet's own pair format: install as /var/lib/kubelet/pki/kubelet-client-<stamp>.pem.
        files.push(("kubelet-client.pem".into(), Zeroizing::new(format!("{cert}{}", k.to_pem().as_str())), 0o600));
        if let Some(server) = b.server {
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
            let cluster = kubecert_config::Cluster { certificate_authority_data: Some(b64(b.ca_pem)), ..Default::default() };
            let mut kc = kubecert_config::Kubeconfig::kubelet(server, cluster, "");
            kc.users[0].user.client_certificate = None;
            kc.users[0].user.client_key = None;
            kc.users[0].user.client_certificate_data = Some(b64(&cert));
            kc.users[0].user.client_key_data = Some(kubecert_config::Secret::new(b64(&k.to_pem())));
            files.push(("kubelet.conf".into(), Zeroizing::new(kc.to_yaml()?), 0o600));
        }
    }
    if let Some((k, s)) = b.serving {
        files.push((format!("{node}-serving.crt"), Zeroizing::new(s.to_pem()), 0o644));
        files.push((format!("{node}-serving.key"), k.to_pem(), 0o600));
    }
    // An empty or new folder only: nothing of the operator's is overwritten or, on failure, removed.
    if let Ok(mut rd) = std::fs::read_dir(dir)
        && rd.next().is_some()
    {
        return Err(WorkflowError::refused(format!("{} is not empty; kubecert writes a bundle only into an empty or new --out-dir", dir.display())));
    }
    let names: Vec<String> = files.iter().map(|(n, _, m)| format!("{} ({m:04o})", dir.join(n).display())).collect();
    if dry_run {
        return Ok(names);
    }
    std::fs::create_dir_all(dir).map_err(|source| WorkflowError::Write { path: dir.to_path_buf(), source })?;
    let mut written = Vec::new();
    for (name, body, mode) in &files {
        let path = dir.join(name);
        // create_new: never through a symlink, never over anything already there.
        let r = std::fs::OpenOptions::new().write(true).create_new(true).mode(*mode).open(&path).map(|f| (f, path.clone()));
        let r = r.and_then(|(mut f, p)| {
            // From here the file is ours: removed below if writing it fails.
            written.push(p);
            f.write_all(body.as_bytes())?;
            f.sync_all()
        });
        if let Err(source) = r {
            // Leave no half bundle behind; only files this run created.
            for p in &written {
                let _ = std::fs::remove_file(p);
            }
            return Err(WorkflowError::Write { path, source });
        }
    }
    Ok(names)
}
