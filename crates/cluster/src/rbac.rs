//! The RBAC a TLS bootstrap needs, with kubeadm's names (`phases/bootstraptoken/node/tlsbootstrap.go`
//! and `clusterinfo.go`): checked object by object, checked as capabilities (SubjectAccessReviews,
//! which also see grants made under other names or by other authorizers), and created when asked.

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ObjectMeta, PostParams};
use serde::Serialize;

use crate::error::{status_code, ApiError, Context};
use crate::token::{ALL_BOOTSTRAPPERS_GROUP, DEFAULT_GROUP};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const CSR_GROUP: &str = "certificates.k8s.io";
pub use crate::names::{NODES_GROUP, NODE_BOOTSTRAPPER_ROLE, NODE_CLIENT_ROLE, SELF_NODE_CLIENT_ROLE};

/// kubeadm's object names.
pub use crate::names::kubeadm_rbac as names;

/// One of kubeadm's objects, as kubeadm creates it.
#[derive(Debug, Clone)]
pub enum Object {
    /// A ClusterRole.
    ClusterRole(ClusterRole),
    /// A ClusterRoleBinding.
    ClusterRoleBinding(ClusterRoleBinding),
    /// A Role.
    Role(Role),
    /// A RoleBinding.
    RoleBinding(RoleBinding),
}

impl Object {
    /// `ClusterRoleBinding` etc.
    pub fn kind(&self) -> &'static str {
        match self {
            Object::ClusterRole(_) => "ClusterRole",
            Object::ClusterRoleBinding(_) => "ClusterRoleBinding",
            Object::Role(_) => "Role",
            Object::RoleBinding(_) => "RoleBinding",
        }
    }

    fn meta(&self) -> &ObjectMeta {
        match self {
            Object::ClusterRole(o) => &o.metadata,
            Object::ClusterRoleBinding(o) => &o.metadata,
            Object::Role(o) => &o.metadata,
            Object::RoleBinding(o) => &o.metadata,
        }
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// `kind namespace/name` or `kind name`.
    pub fn label(&self) -> String {
        match &self.meta().namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }
}

/// An expected object and why it matters.
#[derive(Debug, Clone)]
pub struct Expected {
    /// The object as kubeadm makes it.
    pub object: Object,
    /// What breaks without it.
    pub purpose: &'static str,
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: namespace.map(String::from), ..Default::default() }
}

fn group(name: &str) -> Subject {
    Subject { api_group: Some(RBAC_GROUP.into()), kind: "Group".into(), name: name.into(), namespace: None }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef { api_group: Some(RBAC_GROUP.into()), kind: kind.into(), name: name.into() }
}

fn crb(name: &str, role: &str, subject: Subject) -> Object {
    Object::ClusterRoleBinding(ClusterRoleBinding { metadata: meta(name, None), role_ref: role_ref("ClusterRole", role), subjects: Some(vec![subject]) })
}

/// kubeadm's node-bootstrap objects, in the order kubeadm creates them.
pub fn kubeadm_objects() -> Vec<Expected> {
    vec![
        Expected {
            object: crb(names::KUBELET_BOOTSTRAP, NODE_BOOTSTRAPPER_ROLE, group(DEFAULT_GROUP)),
            purpose: "bootstrap tokens may create and watch CSRs",
        },
        Expected {
            object: crb(names::NODE_AUTOAPPROVE_BOOTSTRAP, NODE_CLIENT_ROLE, group(DEFAULT_GROUP)),
            purpose: "the controller-manager auto-approves a bootstrapping kubelet's CSR",
        },
        Expected {
            object: crb(names::NODE_AUTOAPPROVE_ROTATION, SELF_NODE_CLIENT_ROLE, group(NODES_GROUP)),
            purpose: "the controller-manager auto-approves a kubelet's renewal CSR (certificate rotation)",
        },
        Expected {
            object: Object::ClusterRole(ClusterRole {
                metadata: meta(names::GET_NODES, None),
                rules: Some(vec![PolicyRule { api_groups: Some(vec![String::new()]), resources: Some(vec!["nodes".into()]), verbs: vec!["get".into()], ..Default::default() }]),
                ..Default::default()
            }),
            purpose: "bootstrap tokens may read Nodes (kubeadm join's existing-node check)",
        },
        Expected { object: crb(names::GET_NODES, names::GET_NODES, group(DEFAULT_GROUP)), purpose: "binds kubeadm:get-nodes to the bootstrap group" },
        Expected {
            object: Object::Role(Role {
                metadata: meta(names::CLUSTER_INFO, Some("kube-public")),
                rules: Some(vec![PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["configmaps".into()]),
                    resource_names: Some(vec!["cluster-info".into()]),
                    verbs: vec!["get".into()],
                    ..Default::default()
                }]),
            }),
            purpose: "anyone may read kube-public/cluster-info (token discovery)",
        },
        Expected {
            object: Object::RoleBinding(RoleBinding {
                metadata: meta(names::CLUSTER_INFO, Some("kube-public")),
                role_ref: role_ref("Role", names::CLUSTER_INFO),
                subjects: Some(vec![Subject { api_group: Some(RBAC_GROUP.into()), kind: "User".into(), name: "system:anonymous".into(), namespace: None }]),
            }),
            purpose: "binds the cluster-info Role to system:anonymous",
        },
    ]
}

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

/// One permission a TLS bootstrap relies on, asked of the API server's authorizer.
#[derive(Debug, Clone, Serialize)]
pub struct Capability {
    /// Who asks.
    pub user: String,
    /// The request, e.g. `create certificatesigningrequests/nodeclient`.
    pub request: String,
    /// What it is for.
    pub purpose: &'static str,
    /// The authorizer's answer.
    pub allowed: bool,
    /// The authorizer's reason or error, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The kubeadm object that grants it (what `kubecert rbac ensure` creates).
    pub granted_by: &'static str,
    /// False for what a repair can do without (renewals, discovery).
    pub required: bool,
}

struct Ask {
    user: String,
    groups: Vec<String>,
    verb: &'static str,
    group: &'static str,
    resource: &'static str,
    subresource: Option<&'static str>,
    namespace: Option<&'static str>,
    name: Option<&'static str>,
    purpose: &'static str,
    granted_by: &'static str,
    required: bool,
}

async fn ask(client: &kube::Client, a: Ask) -> Result<Capability, ApiError> {
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(a.user.clone()),
            groups: Some(a.groups.clone()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(a.verb.into()),
                group: Some(a.group.into()),
                resource: Some(a.resource.into()),
                subresource: a.subresource.map(String::from),
                namespace: a.namespace.map(String::from),
                name: a.name.map(String::from),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let request = format!("{} {}{}{}", a.verb, a.resource, a.subresource.map(|s| format!("/{s}")).unwrap_or_default(), a.name.map(|n| format!(" {n}")).unwrap_or_default());
    let got = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &sar)
        .await
        .ctx(|| format!("SubjectAccessReview for {} to {request}", a.user))?;
    let st = got.status.unwrap_or_default();
    let reason = [st.reason.unwrap_or_default(), st.evaluation_error.unwrap_or_default()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join("; ");
    Ok(Capability { user: a.user, request, purpose: a.purpose, allowed: st.allowed, reason, granted_by: a.granted_by, required: a.required })
}

/// Whether group system:nodes may create `certificatesigningrequests/selfnodeclient`: what the
/// controller-manager's approver checks (as the requesting node) before it auto-approves a
/// kubelet's renewal. Asked for a node name that no binding names, so it answers for the group.
pub async fn renewals_auto_approved(client: &kube::Client) -> Result<bool, ApiError> {
    let c = ask(
        client,
        Ask {
            user: "system:node:kubecert-probe".into(),
            groups: vec![NODES_GROUP.to_string(), "system:authenticated".into()],
            verb: "create",
            group: CSR_GROUP,
            resource: "certificatesigningrequests",
            subresource: Some("selfnodeclient"),
            namespace: None,
            name: None,
            purpose: "the kubelet's renewals are auto-approved",
            granted_by: names::NODE_AUTOAPPROVE_ROTATION,
            required: false,
        },
    )
    .await?;
    Ok(c.allowed)
}

/// Asks the authorizer whether a token with `token_groups` (authenticating as `token_user`) can do
/// what a TLS bootstrap needs, whether node `node` can renew its certificate later, and whether
/// anonymous users can read `cluster-info` (token discovery). This also sees grants made under
/// other names and by other authorizers, which an object check cannot.
pub async fn bootstrap_capabilities(client: &kube::Client, token_user: &str, token_groups: &[String], node: &str) -> Result<Vec<Capability>, ApiError> {
    let mut groups: Vec<String> = vec![ALL_BOOTSTRAPPERS_GROUP.into()];
    groups.extend(token_groups.iter().cloned());
    groups.push("system:authenticated".into());
    let node_user = format!("system:node:{node}");
    let node_groups = vec![NODES_GROUP.to_string(), "system:authenticated".into()];
    let csr = |verb, sub, purpose, granted_by, required, user: &str, groups: &Vec<String>| Ask {
        user: user.to_string(),
        groups: groups.clone(),
        verb,
        group: CSR_GROUP,
        resource: "certificatesigningrequests",
        subresource: sub,
        namespace: None,
        name: None,
        purpose,
        granted_by,
        required,
    };
    let asks = vec![
        csr("create", None, "the kubelet files its CSR with the bootstrap token", names::KUBELET_BOOTSTRAP, true, token_user, &groups),
        csr("watch", None, "the kubelet waits for its CSR to be issued", names::KUBELET_BOOTSTRAP, true, token_user, &groups),
        csr("create", Some("nodeclient"), "the controller-manager auto-approves the bootstrap CSR", names::NODE_AUTOAPPROVE_BOOTSTRAP, true, token_user, &groups),
        csr("create", Some("selfnodeclient"), "the kubelet's later renewals are auto-approved", names::NODE_AUTOAPPROVE_ROTATION, false, &node_user, &node_groups),
        Ask {
            user: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            verb: "get",
            group: "",
            resource: "configmaps",
            subresource: None,
            namespace: Some("kube-public"),
            name: Some("cluster-info"),
            purpose: "nodes can discover the cluster with a token (kubecert discover, kubeadm join)",
            granted_by: names::CLUSTER_INFO,
            required: false,
        },
    ];
    let futs = asks.into_iter().map(|a| ask(client, a));
    let mut out = Vec::new();
    for r in futures::future::join_all(futs).await {
        out.push(r?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn objects_have_kubeadm_names() {
        let labels: Vec<String> = kubeadm_objects().iter().map(|e| e.object.label()).collect();
        assert_eq!(
            labels,
            [
                "ClusterRoleBinding kubeadm:kubelet-bootstrap",
                "ClusterRoleBinding kubeadm:node-autoapprove-bootstrap",
                "ClusterRoleBinding kubeadm:node-autoapprove-certificate-rotation",
                "ClusterRole kubeadm:get-nodes",
                "ClusterRoleBinding kubeadm:get-nodes",
                "Role kube-public/kubeadm:bootstrap-signer-clusterinfo",
                "RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo",
            ]
        );
    }
}
