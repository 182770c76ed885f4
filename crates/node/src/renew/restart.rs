//! `renew --restart`: the static pods that load renewed files are restarted the way kubeadm's
//! documentation says — the manifest moved out of the kubelet's staticPodPath until the kubelet has
//! removed the pod, moved back, then the new pod waited for — one component at a time, etcd last.
//! If a component does not come back healthy, the renewal is rolled back (the install engine puts
//! the old files back) and that component is restarted again on the old files.
//!
//! The manifest is unchanged by a renewal, so its `kubernetes.io/config.hash` stays the same (kubeadm's
//! upgrade compares hashes only when the manifest changed): a new pod is a mirror pod re-created with
//! a new UID, or one whose containers started after the manifest was moved out. Every move is an
//! install-engine plan (root-confined, no symlink followed, backed up) into kubecert's own state dir.

use super::{RenewError, RenewOptions, RenewOutcome, RenewRequest};
use crate::controlplane::catalog::Component;
use crate::controlplane::snapshot::flag;
use crate::install::{self, ApplyOptions, Contents, InstallPlan};
use crate::root::NodeRoot;
use serde::Serialize;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// kubeadm's staticPodPath.
pub const STATIC_POD_PATH: &str = "/etc/kubernetes/manifests";
/// Where manifests wait while their pod is removed.
pub const ASIDE_DIR: &str = "/var/lib/kubecert/restart-manifests";
/// The backups of the manifest moves (apart from the renewal's, so `kubecert rollback` finds the renewal).
pub const MOVE_BACKUPS: &str = "/var/lib/kubecert/restart-backups";

/// A mirror pod as the API server shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorPod {
    /// metadata.uid (the API server's; new for a re-created mirror pod).
    pub uid: String,
    /// The `kubernetes.io/config.hash` annotation.
    pub config_hash: Option<String>,
    /// The Ready condition is True.
    pub ready: bool,
    /// The latest `state.running.startedAt` of its containers.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started: Option<OffsetDateTime>,
}

/// What a TLS endpoint answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// Its leaf certificate (DER).
    Certificate(Vec<u8>),
    /// Nothing listens (the process is gone).
    Refused,
    /// Anything else (timeout, handshake failure).
    Error(String),
}

/// Why the API server could not say what a mirror pod looks like (during a restart that is
/// expected for a while: the API server may be the component being restarted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorPodError {
    /// No answer in time.
    #[error("{server}: no answer within {after:?}")]
    Timeout {
        /// The API server asked.
        server: String,
        /// How long it was given.
        after: Duration,
    },
    /// The request failed (refused connection, TLS, an error status).
    #[error("{server}: {detail}")]
    Request {
        /// The API server asked.
        server: String,
        /// The client's error with its causes, on one line.
        detail: String,
    },
}

/// The cluster side of a restart: the mirror pods and the components' endpoints. A trait so that
/// kubecert-node stays free of the Kubernetes client (kubecert-cluster implements it).
pub trait StaticPodHost {
    /// The mirror pod `name` in kube-system; `Ok(None)` when it does not exist, `Err` when the API
    /// cannot say (it may be the component being restarted).
    fn mirror_pod(&self, name: &str) -> Result<Option<MirrorPod>, MirrorPodError>;
    /// The certificate served at `host:port`.
    fn served(&self, addr: &str) -> Served;
}

/// How to restart.
#[derive(Debug, Clone)]
pub struct RestartOptions {
    /// The kubelet's node name (mirror pods are `<component>-<node>`).
    pub node_name: String,
    /// How long each wait may take (kubeadm: 5 minutes).
    pub timeout: Duration,
    /// Time between two looks.
    pub poll: Duration,
}

/// One component's restart, planned.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedRestart {
    /// The component.
    pub component: Component,
    /// Its manifest (node path).
    pub manifest: String,
    /// Where it waits while the pod is removed.
    pub aside: String,
    /// The mirror pod watched.
    pub mirror_pod: String,
    /// The endpoint whose served certificate must be the one on disk afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// That certificate (node path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving_cert: Option<String>,
}

/// One component restarted.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Restarted {
    /// The component.
    pub component: Component,
    /// The mirror pod before.
    pub before: Option<MirrorPod>,
    /// The mirror pod after (Ready).
    pub after: MirrorPod,
    /// How the removal was seen (`mirror pod deleted`, `endpoint down`).
    pub removal: String,
    /// Milliseconds until the kubelet had removed the pod.
    pub removed_ms: u64,
    /// Milliseconds from the move back until healthy.
    pub healthy_ms: u64,
    /// What was checked.
    pub checks: Vec<String>,
}

/// A component left alone, and why.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotRestarted {
    /// The component.
    pub component: Component,
    /// Why.
    pub reason: String,
}

/// A restart that failed, and what was done about it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartFailure {
    /// The component that did not come back healthy.
    pub component: Component,
    /// Why.
    pub reason: String,
    /// The rollback's backup id when the renewal was rolled back.
    pub rolled_back_by: Option<String>,
    /// Why the rollback failed.
    pub rollback_error: Option<String>,
    /// The component restarted again on the old files.
    pub restarted_on_old_files: Option<Restarted>,
    /// Why that restart failed.
    pub old_files_error: Option<String>,
    /// Components already restarted on the new files (they keep the new certificates in memory until their next restart).
    pub already_restarted: Vec<Component>,
}

/// The restart part of `renew --restart`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartReport {
    /// The node.
    pub node_name: String,
    /// In order (etcd last).
    pub plan: Vec<PlannedRestart>,
    /// Components not restarted.
    pub skipped: Vec<NotRestarted>,
    /// Done, in order.
    pub restarted: Vec<Restarted>,
    /// Set when a component did not come back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<RestartFailure>,
}

fn plan(root: &NodeRoot, components: &[Component], node: &str) -> (Vec<PlannedRestart>, Vec<NotRestarted>) {
    let mut order: Vec<Component> = components.to_vec();
    // etcd last: everything else is back and checked before the store they all need restarts.
    order.sort_by_key(|c| (*c == Component::Etcd, *c));
    order.dedup();
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    for c in order {
        let manifest = format!("{STATIC_POD_PATH}/{}.yaml", c.name());
        // The last component is looked at, not followed (a link out of the root reads as absent).
        let is_link = root.confine(&manifest).ok().and_then(|h| std::fs::symlink_metadata(h).ok()).is_some_and(|m| m.file_type().is_symlink());
        let text = match root.read(&manifest) {
            _ if is_link => {
                skipped.push(NotRestarted { component: c, reason: format!("{manifest} is a symlink; kubecert moves only regular files") });
                continue;
            }
            Ok(f) if f.is_symlink => {
                skipped.push(NotRestarted { component: c, reason: format!("{manifest} is a symlink; kubecert moves only regular files") });
                continue;
            }
            Ok(f) => String::from_utf8_lossy(&f.bytes).into_owned(),
            Err(crate::root::ReadError::NotFound { .. }) => {
                skipped.push(NotRestarted { component: c, reason: format!("no static pod manifest {manifest}: restart it the way it runs here") });
                continue;
            }
            Err(e) => {
                skipped.push(NotRestarted { component: c, reason: format!("{manifest}: {e}") });
                continue;
            }
        };
        let (endpoint, serving_cert) = match c {
            Component::KubeApiserver => (Some(format!("127.0.0.1:{}", flag(&text, "secure-port").unwrap_or_else(|| "6443".into()))), Some("/etc/kubernetes/pki/apiserver.crt")),
            Component::Etcd => (etcd_endpoint(&text), Some("/etc/kubernetes/pki/etcd/server.crt")),
            _ => (None, None),
        };
        planned.push(PlannedRestart {
            component: c,
            manifest,
            aside: format!("{ASIDE_DIR}/{}.yaml", c.name()),
            mirror_pod: format!("{}-{node}", c.name()),
            serving_cert: endpoint.as_ref().and(serving_cert.map(String::from)),
            endpoint,
        });
    }
    (planned, skipped)
}

/// etcd's loopback client URL (kubeadm always listens on https://127.0.0.1:2379), else its first.
fn etcd_endpoint(manifest: &str) -> Option<String> {
    let urls = flag(manifest, "listen-client-urls")?;
    let hostport = |u: &str| u.trim().split("://").nth(1).map(|r| r.split('/').next().unwrap_or(r).to_string());
    urls.split(',').find(|u| u.contains("://127.0.0.1:")).or_else(|| urls.split(',').next()).and_then(hostport)
}

/// Renews, then restarts what loads the renewed files (see the module). With `dry_run`, only the plan.
pub fn renew_and_restart(root: &NodeRoot, req: &RenewRequest, opts: &RenewOptions, ro: &RestartOptions, host: &dyn StaticPodHost) -> Result<RenewOutcome, RenewError> {
    let prepared = super::prepare(root, req)?;
    let (planned, skipped) = plan(root, &prepared.restart, &ro.node_name);
    let report = RestartReport { node_name: ro.node_name.clone(), plan: planned, skipped, restarted: Vec::new(), failure: None };
    if !opts.dry_run {
        precheck(root, host, &report.plan)?;
    }
    let mut out = super::finish(root, prepared, opts)?;
    out.restarts = Some(report);
    let Some(applied) = out.applied.clone() else { return Ok(out) };
    let report = out.restarts.as_mut().expect("set above");
    for p in report.plan.clone() {
        match restart_one(root, host, ro, &p) {
            Ok(r) => report.restarted.push(r),
            Err(reason) => {
                let mut f = RestartFailure {
                    component: p.component,
                    reason: reason.to_string(),
                    rolled_back_by: None,
                    rollback_error: None,
                    restarted_on_old_files: None,
                    old_files_error: None,
                    already_restarted: report.restarted.iter().map(|r| r.component).collect(),
                };
                match install::rollback(root, &opts.backup_root, Some(&applied.backup_id), false) {
                    Ok((_, undo)) => {
                        f.rolled_back_by = Some(undo.backup_id);
                        match restart_one(root, host, ro, &p) {
                            Ok(r) => f.restarted_on_old_files = Some(r),
                            Err(e) => f.old_files_error = Some(e.to_string()),
                        }
                    }
                    Err(e) => f.rollback_error = Some(e.to_string()),
                }
                report.failure = Some(f);
                break;
            }
        }
    }
    Ok(out)
}

/// Before anything is written: each manifest can be moved (nothing left aside by an earlier run)
/// and each mirror pod is there and Ready (else a restart could not be judged).
fn precheck(root: &NodeRoot, host: &dyn StaticPodHost, plan: &[PlannedRestart]) -> Result<(), RenewError> {
    let mut problems = Vec::new();
    for p in plan {
        if !matches!(root.read(&p.aside), Err(crate::root::ReadError::NotFound { .. })) {
            problems.push(format!("{} is there (an earlier restart did not finish): move it back to {} first", p.aside, p.manifest));
        }
        match host.mirror_pod(&p.mirror_pod) {
            Ok(Some(m)) if m.ready => {}
            Ok(Some(_)) => problems.push(format!("the mirror pod kube-system/{} is not Ready now: a restart could not be judged; fix it first", p.mirror_pod)),
            Ok(None) => problems.push(format!("no mirror pod kube-system/{} (is --node-name right, and does the kubelet run {}?)", p.mirror_pod, p.manifest)),
            Err(e) => problems.push(format!("cannot read the mirror pod kube-system/{}: {e}", p.mirror_pod)),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(RenewError::Refused { problems }) }
}

/// Why one component's restart failed (its text becomes [`RestartFailure::reason`]).
#[derive(Debug, thiserror::Error)]
enum RestartError {
    /// The manifest could not be read.
    #[error("{path}: {source}")]
    Read { path: String, source: crate::root::ReadError },
    /// The manifest turned into a symlink between the plan and the move.
    #[error("{path} became a symlink; not followed")]
    Symlink { path: String },
    /// The install engine refused or failed the move.
    #[error(transparent)]
    Move(#[from] install::InstallError),
    /// The pod was still there when the timeout passed.
    #[error("the kubelet did not remove {component}'s pod within {timeout:?} of its manifest leaving {STATIC_POD_PATH} (manifest moved back)")]
    NotRemoved { component: &'static str, timeout: Duration },
    /// The new pod did not become Ready (or did not serve the new certificate) in time.
    #[error("{component} did not come back healthy within {timeout:?}: {last}")]
    NotHealthy { component: &'static str, timeout: Duration, last: String },
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Moves `from` to `to` through the install engine (copy written, original moved aside).
fn move_file(root: &NodeRoot, from: &str, to: &str, what: &str) -> Result<(), RestartError> {
    let f = root.read(from).map_err(|source| RestartError::Read { path: from.to_string(), source })?;
    if f.is_symlink {
        return Err(RestartError::Symlink { path: from.to_string() });
    }
    let plan = InstallPlan::new(format!("restart: {what}")).write(to, Contents::public(f.bytes), f.mode & 0o7777).move_aside(from);
    install::apply(root, &plan, &ApplyOptions { backup_root: MOVE_BACKUPS.into(), verify: None, rollback_of: None }).map(|_| ())?;
    Ok(())
}

fn restart_one(root: &NodeRoot, host: &dyn StaticPodHost, ro: &RestartOptions, p: &PlannedRestart) -> Result<Restarted, RestartError> {
    let name = p.component.name();
    let before = host.mirror_pod(&p.mirror_pod).ok().flatten();
    let aside_at = OffsetDateTime::now_utc();
    let t0 = Instant::now();
    move_file(root, &p.manifest, &p.aside, &format!("move {name}'s manifest out"))?;
    let removal = wait(ro, || {
        match host.mirror_pod(&p.mirror_pod) {
            Ok(None) => return Some("mirror pod deleted".to_string()),
            Ok(Some(m)) if before.as_ref().is_some_and(|b| b.uid != m.uid) => return Some("mirror pod replaced".into()),
            _ => {}
        }
        let down = p.endpoint.as_ref().is_some_and(|e| host.served(e) == Served::Refused);
        down.then(|| format!("{} refuses connections", p.endpoint.as_deref().unwrap_or_default()))
    });
    let removed_ms = ms(t0.elapsed());
    // The manifest goes back whatever happened: it must not stay out of the kubelet's sight.
    move_file(root, &p.aside, &p.manifest, &format!("move {name}'s manifest back"))?;
    let Some(removal) = removal else {
        return Err(RestartError::NotRemoved { component: name, timeout: ro.timeout });
    };
    let t1 = Instant::now();
    let mut last = String::from("no look yet");
    let mut checks = Vec::new();
    let after = wait(ro, || {
        let m = match host.mirror_pod(&p.mirror_pod) {
            Ok(Some(m)) => m,
            Ok(None) => {
                last = format!("no mirror pod {}", p.mirror_pod);
                return None;
            }
            Err(e) => {
                last = format!("mirror pod {}: {e}", p.mirror_pod);
                return None;
            }
        };
        let new_uid = before.as_ref().is_none_or(|b| b.uid != m.uid);
        let new_start = m.started.is_some_and(|s| s.unix_timestamp() >= aside_at.unix_timestamp());
        if !(new_uid || new_start) {
            last = format!("mirror pod {} is still the old one (uid {})", p.mirror_pod, m.uid);
            return None;
        }
        if !m.ready {
            last = format!("mirror pod {} (uid {}) is not Ready", p.mirror_pod, m.uid);
            return None;
        }
        checks.clear();
        checks.push(format!("mirror pod {} {} and Ready", p.mirror_pod, if new_uid { format!("re-created (uid {})", m.uid) } else { "restarted".into() }));
        if let (Some(e), Some(cert)) = (&p.endpoint, &p.serving_cert) {
            let want = match crate::controlplane::load_cert(root, cert) {
                Ok(c) => c,
                Err(err) => {
                    last = err.to_string();
                    return None;
                }
            };
            match host.served(e) {
                Served::Certificate(der) if der == want.der() => checks.push(format!("{e} serves {cert} (serial {})", want.info().serial)),
                Served::Certificate(_) => {
                    last = format!("{e} does not serve the certificate in {cert}");
                    return None;
                }
                Served::Refused => {
                    last = format!("{e} refuses connections");
                    return None;
                }
                Served::Error(err) => {
                    last = format!("{e}: {err}");
                    return None;
                }
            }
        }
        Some(m)
    });
    let Some(after) = after else {
        return Err(RestartError::NotHealthy { component: name, timeout: ro.timeout, last });
    };
    Ok(Restarted { component: p.component, before, after, removal, removed_ms, healthy_ms: ms(t1.elapsed()), checks })
}

/// Polls `f` until it answers or the timeout passes.
fn wait<T>(ro: &RestartOptions, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + ro.timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(ro.poll);
    }
}

/// The kubelet's node name: kubelet.conf's `system:node:NAME`, else `/etc/hostname`.
pub fn node_name(root: &NodeRoot) -> Option<String> {
    let from_conf = crate::controlplane::load_embedded_kubeconfig(root, "/etc/kubernetes/kubelet.conf")
        .ok()
        .and_then(|k| k.cert.info().common_names.iter().find_map(|cn| cn.strip_prefix("system:node:").map(String::from)));
    from_conf.or_else(|| crate::controlplane::hostname(root))
}

#[cfg(test)]
mod tests {
    use super::etcd_endpoint;

    #[test]
    fn etcd_endpoint_prefers_loopback() {
        let m = "    - --listen-client-urls=https://127.0.0.1:2379,https://10.0.0.5:2379\n";
        assert_eq!(etcd_endpoint(m).as_deref(), Some("127.0.0.1:2379"));
        assert_eq!(etcd_endpoint("    - --listen-client-urls=https://10.0.0.5:2379\n").as_deref(), Some("10.0.0.5:2379"));
        assert_eq!(etcd_endpoint("x"), None);
    }
}
