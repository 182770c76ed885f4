//! The bootstrap's needs asked of the API server's authorizer (SubjectAccessReviews): these also
//! see grants made under other names and by other authorizers, which an object check cannot.

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::api::{Api, PostParams};
use serde::Serialize;

use super::catalog::CSR_GROUP;
use super::{names, NODES_GROUP};
use crate::error::{ApiError, Context};
use crate::token::ALL_BOOTSTRAPPERS_GROUP;

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
pub(crate) async fn renewals_auto_approved(client: &kube::Client) -> Result<bool, ApiError> {
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
