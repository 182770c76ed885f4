//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it, so
//! that several replicas of a controller (the approver) run and only one acts. A candidate
//! creates the Lease or, when it holds it, renews `renewTime`; it takes over another holder's
//! Lease only once that Lease has not changed for `leaseDurationSeconds` as observed on this
//! candidate's own clock (no trust in other machines' clocks). Every write is an update at the
//! resourceVersion read, so two candidates can never both win the same round: the API server
//! refuses the second (409 Conflict). Releasing (on shutdown) empties the holder so a standby
//! takes over at once instead of after the lease duration.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;

use crate::error::{status_code, Context as _};
use crate::micro_time::micro_time;
use crate::ApiError;

/// Which Lease, who we are, and how long a lease lasts.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub name: String,
    /// This candidate's identity (the Pod's name).
    pub identity: String,
    /// How long a holder's lease lasts without renewal.
    pub duration: Duration,
}

/// The outcome of one election round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// This candidate holds the Lease (acquired or renewed just now).
    Leader,
    /// Someone else holds it (their identity, when known).
    Follower(Option<String>),
}

/// One candidate. Call [`Elector::tick`] more often than the lease duration (a third of it, as
/// client-go's retry period), and act only while it says [`Role::Leader`] and
/// [`Elector::is_leader`] holds.
#[derive(Debug)]
pub struct Elector {
    api: kube::Api<Lease>,
    cfg: LeaseConfig,
    /// The Lease's resourceVersion last seen and when it was first seen (this machine's clock).
    observed: Option<(String, Instant)>,
    /// When this candidate last acquired or renewed the Lease.
    renewed: Option<Instant>,
}

fn now_micro() -> MicroTime {
    micro_time(time::OffsetDateTime::now_utc())
}

impl Elector {
    /// A candidate for `cfg`'s Lease.
    pub fn new(client: kube::Client, cfg: LeaseConfig) -> Self {
        let api = kube::Api::namespaced(client, &cfg.namespace);
        Elector { api, cfg, observed: None, renewed: None }
    }

    /// True while this candidate renewed the Lease less than a lease duration ago.
    pub fn is_leader(&self) -> bool {
        self.renewed.is_some_and(|t| t.elapsed() < self.cfg.duration)
    }

    fn spec(&self, old: Option<&LeaseSpec>) -> LeaseSpec {
        let now = now_micro();
        let same_holder = old.and_then(|s| s.holder_identity.as_deref()) == Some(self.cfg.identity.as_str());
        let transitions = old.and_then(|s| s.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.cfg.duration.as_secs().max(1)).unwrap_or(i32::MAX)),
            acquire_time: if same_holder { old.and_then(|s| s.acquire_time.clone()) } else { Some(now.clone()) },
            renew_time: Some(now),
            lease_transitions: Some(if same_holder || old.is_none() { transitions } else { transitions.saturating_add(1) }),
            ..Default::default()
        }
    }

    /// One round: create the Lease, renew it, or take it over when it expired; else follow.
    pub async fn tick(&mut self) -> Result<Role, ApiError> {
        let name = self.cfg.name.clone();
        let what = || format!("Lease {}/{}", self.cfg.namespace, name);
        let Some(lease) = self.api.get_opt(&name).await.ctx(|| format!("get {}", what()))? else {
            let lease = Lease { metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() }, spec: Some(self.spec(None)) };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(self.won()),
                Err(e) if status_code(&e) == Some(409) => Ok(self.lost(None)),
                Err(e) => Err(ApiError::new(format!("create {}", what()), e)),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(v, _)| *v != version) {
            self.observed = Some((version, Instant::now()));
        }
        let mine = holder.as_deref() == Some(self.cfg.identity.as_str());
        let their_duration = Duration::from_secs(u64::try_from(spec.lease_duration_seconds.unwrap_or(0)).unwrap_or(0));
        let expired = self.observed.as_ref().is_some_and(|(_, seen)| seen.elapsed() >= their_duration);
        if !mine && holder.is_some() && !expired {
            return Ok(self.lost(holder));
        }
        let mut next = lease.clone();
        next.spec = Some(self.spec(Some(&spec)));
        match self.api.replace(&name, &PostParams::default(), &next).await {
            Ok(_) => Ok(self.won()),
            Err(e) if status_code(&e) == Some(409) => Ok(self.lost(holder)),
            Err(e) => Err(ApiError::new(format!("update {}", what()), e)),
        }
    }

    fn won(&mut self) -> Role {
        self.renewed = Some(Instant::now());
        Role::Leader
    }

    fn lost(&mut self, holder: Option<String>) -> Role {
        self.renewed = None;
        Role::Follower(holder)
    }

    /// Gives the Lease up if this candidate holds it (holder emptied, so a standby need not wait
    /// for it to expire). Errors are returned; the Lease then simply expires.
    pub async fn release(&mut self) -> Result<(), ApiError> {
        if !self.is_leader() {
            return Ok(());
        }
        self.renewed = None;
        let name = self.cfg.name.clone();
        let Some(mut lease) = self.api.get_opt(&name).await.ctx(|| format!("get Lease {}/{name}", self.cfg.namespace))? else { return Ok(()) };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now_micro());
        self.api.replace(&name, &PostParams::default(), &lease).await.ctx(|| format!("release Lease {}/{name}", self.cfg.namespace))?;
        Ok(())
    }
}
