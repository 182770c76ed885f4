//! Each live RBAC object compared with kubeadm's (`check`, read-only) and completed where it lacks
//! something (`ensure`): missing objects created, missing subjects and rules added, conflicts left alone.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use serde::Serialize;

use super::catalog::{kubeadm_objects, Expected, Object};
use crate::error::{status_code, ApiError, Context};

/// The state of one expected object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// There and as kubeadm makes it (or a superset).
    Present,
    /// Not there.
    Missing,
    /// There, but lacking subjects or rules that `ensure` can add.
    Incomplete {
        /// What is lacking.
        lacking: Vec<String>,
    },
    /// There with another roleRef (immutable): `ensure` will not touch it.
    Conflict {
        /// What differs.
        detail: String,
    },
}

/// One line of an RBAC report.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectStatus {
    /// `ClusterRoleBinding`, ...
    pub kind: &'static str,
    /// Namespace, for Roles and RoleBindings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// kubeadm's name.
    pub name: String,
    /// What it is for.
    pub purpose: &'static str,
    /// What was found.
    #[serde(flatten)]
    pub state: State,
}

fn subject_key(s: &Subject) -> (String, String, Option<String>) {
    (s.kind.clone(), s.name.clone(), s.namespace.clone().filter(|n| !n.is_empty()))
}

fn missing_subjects(want: &Option<Vec<Subject>>, have: &Option<Vec<Subject>>) -> Vec<Subject> {
    let have: Vec<_> = have.iter().flatten().map(subject_key).collect();
    want.iter().flatten().filter(|s| !have.contains(&subject_key(s))).cloned().collect()
}

fn rule_covers(have: &PolicyRule, want: &PolicyRule) -> bool {
    let has_all = |h: &Option<Vec<String>>, w: &Option<Vec<String>>| {
        let h: &[String] = h.as_deref().unwrap_or_default();
        h.iter().any(|x| x == "*") || w.iter().flatten().all(|x| h.contains(x))
    };
    let names_ok = have.resource_names.as_ref().is_none_or(|n| n.is_empty()) || has_all(&have.resource_names, &want.resource_names);
    has_all(&have.api_groups, &want.api_groups) && has_all(&have.resources, &want.resources) && has_all(&Some(have.verbs.clone()), &Some(want.verbs.clone())) && names_ok
}

fn missing_rules(want: &Option<Vec<PolicyRule>>, have: &Option<Vec<PolicyRule>>) -> Vec<PolicyRule> {
    want.iter().flatten().filter(|w| !have.iter().flatten().any(|h| rule_covers(h, w))).cloned().collect()
}

fn describe_subject(s: &Subject) -> String {
    format!("subject {} {}", s.kind, s.name)
}

fn describe_rule(r: &PolicyRule) -> String {
    format!(
        "rule {} {}{}",
        r.verbs.join(","),
        r.resources.as_deref().unwrap_or_default().join(","),
        r.resource_names.as_ref().map(|n| format!(" ({})", n.join(","))).unwrap_or_default()
    )
}

fn ref_text(r: &RoleRef) -> String {
    format!("{} {}", r.kind, r.name)
}

async fn get_opt<K>(api: &Api<K>, name: &str, what: &str) -> Result<Option<K>, ApiError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if status_code(&e) == Some(404) => Ok(None),
        Err(e) => Err(ApiError::new(format!("get {what}"), e)),
    }
}

/// A binding compared with the expected one: the state, and the subjects to write if lacking.
fn compare_binding(have_ref: &RoleRef, have: &Option<Vec<Subject>>, want_ref: &RoleRef, want: &Option<Vec<Subject>>) -> (State, Option<Vec<Subject>>) {
    if have_ref != want_ref {
        return (State::Conflict { detail: format!("it binds {}, not {}", ref_text(have_ref), ref_text(want_ref)) }, None);
    }
    completed(have, missing_subjects(want, have), describe_subject)
}

/// A role's rules compared with the expected ones: the state, and the rules to write if lacking.
fn compare_rules(have: &Option<Vec<PolicyRule>>, want: &Option<Vec<PolicyRule>>) -> (State, Option<Vec<PolicyRule>>) {
    completed(have, missing_rules(want, have), describe_rule)
}

/// Present when nothing is lacking; otherwise Incomplete (naming what lacks) with `have` plus `lack` to write.
fn completed<T: Clone>(have: &Option<Vec<T>>, lack: Vec<T>, describe: impl Fn(&T) -> String) -> (State, Option<Vec<T>>) {
    if lack.is_empty() {
        return (State::Present, None);
    }
    let lacking = lack.iter().map(describe).collect();
    let mut all = have.clone().unwrap_or_default();
    all.extend(lack);
    (State::Incomplete { lacking }, Some(all))
}

/// The live object compared with the expected one; also returns what `ensure` would write.
async fn compare(client: &kube::Client, want: &Object) -> Result<(State, Option<Object>), ApiError> {
    let label = want.label();
    let ns = |m: &ObjectMeta| m.namespace.clone().unwrap_or_default();
    Ok(match want {
        Object::ClusterRoleBinding(w) => match get_opt(&Api::<ClusterRoleBinding>::all(client.clone()), want.name(), &label).await? {
            None => (State::Missing, None),
            Some(mut h) => {
                let (state, subjects) = compare_binding(&h.role_ref, &h.subjects, &w.role_ref, &w.subjects);
                (state, subjects.map(|s| Object::ClusterRoleBinding({ h.subjects = Some(s); h })))
            }
        },
        Object::RoleBinding(w) => match get_opt(&Api::<RoleBinding>::namespaced(client.clone(), &ns(&w.metadata)), want.name(), &label).await? {
            None => (State::Missing, None),
            Some(mut h) => {
                let (state, subjects) = compare_binding(&h.role_ref, &h.subjects, &w.role_ref, &w.subjects);
                (state, subjects.map(|s| Object::RoleBinding({ h.subjects = Some(s); h })))
            }
        },
        Object::ClusterRole(w) => match get_opt(&Api::<ClusterRole>::all(client.clone()), want.name(), &label).await? {
            None => (State::Missing, None),
            Some(mut h) => {
                let (state, rules) = compare_rules(&h.rules, &w.rules);
                (state, rules.map(|r| Object::ClusterRole({ h.rules = Some(r); h })))
            }
        },
        Object::Role(w) => match get_opt(&Api::<Role>::namespaced(client.clone(), &ns(&w.metadata)), want.name(), &label).await? {
            None => (State::Missing, None),
            Some(mut h) => {
                let (state, rules) = compare_rules(&h.rules, &w.rules);
                (state, rules.map(|r| Object::Role({ h.rules = Some(r); h })))
            }
        },
    })
}

fn status_of(e: &Expected, state: State) -> ObjectStatus {
    let m = e.object.meta();
    ObjectStatus { kind: e.object.kind(), namespace: m.namespace.clone(), name: e.object.name().to_string(), purpose: e.purpose, state }
}

/// Checks every kubeadm object; reads only.
pub async fn check(client: &kube::Client) -> Result<Vec<ObjectStatus>, ApiError> {
    let expected = kubeadm_objects();
    let mut out = Vec::with_capacity(expected.len());
    for e in &expected {
        let (state, _) = compare(client, &e.object).await?;
        out.push(status_of(e, state));
    }
    Ok(out)
}

/// What `ensure` did (or, with dry-run, would do) to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Already right: left alone.
    Unchanged,
    /// Created.
    Created,
    /// Subjects or rules added.
    Updated,
    /// Not touched: its roleRef differs (roleRef is immutable; delete it by hand if it is wrong).
    Conflict,
}

/// One line of `ensure`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct Ensured {
    /// The object and what was found before.
    #[serde(flatten)]
    pub before: ObjectStatus,
    /// What was done.
    pub action: Action,
    /// True when nothing was written (dry-run: the server validated and admitted the change).
    pub dry_run: bool,
}

async fn write(client: &kube::Client, obj: &Object, create: bool, dry_run: bool) -> Result<(), kube::Error> {
    let pp = PostParams { dry_run, field_manager: Some("kubecert".into()) };
    macro_rules! go {
        ($api:expr, $o:expr) => {
            if create { $api.create(&pp, $o).await.map(|_| ()) } else { $api.replace(obj.name(), &pp, $o).await.map(|_| ()) }
        };
    }
    match obj {
        Object::ClusterRole(o) => go!(Api::<ClusterRole>::all(client.clone()), o),
        Object::ClusterRoleBinding(o) => go!(Api::<ClusterRoleBinding>::all(client.clone()), o),
        Object::Role(o) => go!(Api::<Role>::namespaced(client.clone(), o.metadata.namespace.as_deref().unwrap_or_default()), o),
        Object::RoleBinding(o) => go!(Api::<RoleBinding>::namespaced(client.clone(), o.metadata.namespace.as_deref().unwrap_or_default()), o),
    }
}

/// Creates what is missing and adds what is lacking; leaves conflicts alone. Idempotent. With
/// `dry_run` every write is sent with `dryRun=All`: validated and admitted by the server, stored nowhere.
pub async fn ensure(client: &kube::Client, dry_run: bool) -> Result<Vec<Ensured>, ApiError> {
    let mut out = Vec::new();
    for e in kubeadm_objects() {
        let (state, update) = compare(client, &e.object).await?;
        let action = match (&state, update) {
            (State::Present, _) => Action::Unchanged,
            (State::Conflict { .. }, _) => Action::Conflict,
            (State::Missing, _) => {
                write(client, &e.object, true, dry_run).await.ctx(|| format!("create {}", e.object.label()))?;
                Action::Created
            }
            (State::Incomplete { .. }, Some(obj)) => {
                write(client, &obj, false, dry_run).await.ctx(|| format!("update {}", e.object.label()))?;
                Action::Updated
            }
            (State::Incomplete { .. }, None) => Action::Unchanged,
        };
        out.push(Ensured { before: status_of(&e, state), action, dry_run });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::super::catalog::{group, role_ref};
    use super::super::NODE_CLIENT_ROLE;
    use crate::token::DEFAULT_GROUP;

    #[test]
    fn rules_cover_wildcards_and_unrestricted_names() {
        let want = PolicyRule { api_groups: Some(vec![String::new()]), resources: Some(vec!["configmaps".into()]), resource_names: Some(vec!["cluster-info".into()]), verbs: vec!["get".into()], ..Default::default() };
        let star = PolicyRule { api_groups: Some(vec!["*".into()]), resources: Some(vec!["*".into()]), verbs: vec!["*".into()], ..Default::default() };
        assert!(rule_covers(&star, &want));
        let narrow = PolicyRule { resource_names: Some(vec!["other".into()]), ..want.clone() };
        assert!(!rule_covers(&narrow, &want));
        let list_only = PolicyRule { verbs: vec!["list".into()], ..want.clone() };
        assert!(!rule_covers(&list_only, &want));
        assert!(rule_covers(&want, &want));
    }

    #[test]
    fn bindings_lacking_subjects_are_completed_and_other_role_refs_are_conflicts() {
        let want = Some(vec![group(DEFAULT_GROUP)]);
        let r = role_ref("ClusterRole", NODE_CLIENT_ROLE);
        assert_eq!(compare_binding(&r, &want, &r, &want), (State::Present, None));
        let other = Some(vec![group("someone-else")]);
        let (state, subjects) = compare_binding(&r, &other, &r, &want);
        assert_eq!(state, State::Incomplete { lacking: vec![format!("subject Group {DEFAULT_GROUP}")] });
        assert_eq!(subjects.unwrap().iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["someone-else", DEFAULT_GROUP]);
        let (state, subjects) = compare_binding(&role_ref("ClusterRole", "cluster-admin"), &want, &r, &want);
        assert!(matches!(state, State::Conflict { .. }) && subjects.is_none());
        let Object::Role(role) = &kubeadm_objects()[5].object else { panic!() };
        assert_eq!(compare_rules(&role.rules, &role.rules), (State::Present, None));
        let (state, rules) = compare_rules(&None, &role.rules);
        assert!(matches!(state, State::Incomplete { .. }) && rules.unwrap().len() == 1);
    }
}
