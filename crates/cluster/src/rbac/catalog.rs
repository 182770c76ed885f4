//! kubeadm's node-bootstrap RBAC objects, as kubeadm creates them: what `check` compares with and
//! `ensure` creates.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::ObjectMeta;

use super::names;
use super::{NODES_GROUP, NODE_BOOTSTRAPPER_ROLE, NODE_CLIENT_ROLE, SELF_NODE_CLIENT_ROLE};
use crate::token::DEFAULT_GROUP;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
pub(super) const CSR_GROUP: &str = "certificates.k8s.io";

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

    pub(super) fn meta(&self) -> &ObjectMeta {
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
pub(crate) struct Expected {
    /// The object as kubeadm makes it.
    pub object: Object,
    /// What breaks without it.
    pub purpose: &'static str,
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: namespace.map(String::from), ..Default::default() }
}

pub(super) fn group(name: &str) -> Subject {
    Subject { api_group: Some(RBAC_GROUP.into()), kind: "Group".into(), name: name.into(), namespace: None }
}

pub(super) fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef { api_group: Some(RBAC_GROUP.into()), kind: kind.into(), name: name.into() }
}

fn crb(name: &str, role: &str, subject: Subject) -> Object {
    Object::ClusterRoleBinding(ClusterRoleBinding { metadata: meta(name, None), role_ref: role_ref("ClusterRole", role), subjects: Some(vec![subject]) })
}

/// kubeadm's node-bootstrap objects, in the order kubeadm creates them.
pub(crate) fn kubeadm_objects() -> Vec<Expected> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
