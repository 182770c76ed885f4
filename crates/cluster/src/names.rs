//! The Kubernetes names kubecert relies on, in one place: the kubelet's signers, the users and
//! groups nodes and bootstrap tokens authenticate as, and kubeadm's RBAC object names. (The
//! node-side file locations are the layout catalog's: kubecert-node's `layout`.)

/// The signer of kubelet client certificates.
pub const KUBELET_CLIENT_SIGNER: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// The signer of kubelet serving certificates (the controller-manager never approves these).
pub const KUBELET_SERVING_SIGNER: &str = "kubernetes.io/kubelet-serving";

/// A node's user is this prefix plus its name; its group is [`NODES_GROUP`].
pub use kubecert_pki::{NODES_GROUP, NODE_USER_PREFIX};
/// The user a bootstrap token authenticates as is this prefix plus its id.
pub const BOOTSTRAP_USER_PREFIX: &str = "system:bootstrap:";
/// The group every bootstrap token authenticates as.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// The group kubeadm's node-join tokens carry (`kubeadm token create --groups` default).
pub const KUBEADM_NODE_TOKEN_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// ClusterRole that lets bootstrap tokens file CSRs (made by the API server).
pub const NODE_BOOTSTRAPPER_ROLE: &str = "system:node-bootstrapper";
/// ClusterRole that the CSR approver checks before approving a bootstrap CSR.
pub const NODE_CLIENT_ROLE: &str = "system:certificates.k8s.io:certificatesigningrequests:nodeclient";
/// ClusterRole that the CSR approver checks before approving a renewal CSR.
pub const SELF_NODE_CLIENT_ROLE: &str = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient";

/// kubeadm's RBAC objects for node bootstrap and rotation.
pub mod kubeadm_rbac {
    /// Bootstrap group → `system:node-bootstrapper`.
    pub const KUBELET_BOOTSTRAP: &str = "kubeadm:kubelet-bootstrap";
    /// Bootstrap group → nodeclient (auto-approval of bootstrap CSRs).
    pub const NODE_AUTOAPPROVE_BOOTSTRAP: &str = "kubeadm:node-autoapprove-bootstrap";
    /// `system:nodes` → selfnodeclient (auto-approval of renewals).
    pub const NODE_AUTOAPPROVE_ROTATION: &str = "kubeadm:node-autoapprove-certificate-rotation";
    /// ClusterRole and binding: the bootstrap group may get Nodes.
    pub const GET_NODES: &str = "kubeadm:get-nodes";
    /// Role and RoleBinding in kube-public: anonymous get of `cluster-info`.
    pub const CLUSTER_INFO: &str = "kubeadm:bootstrap-signer-clusterinfo";
}

/// kubeadm's bootstrap kubeconfig on a node (its kubelet drop-in's `--bootstrap-kubeconfig`); the
/// same path as kubecert-node's kubeadm layout, which the node side reads.
pub const KUBEADM_BOOTSTRAP_KUBECONFIG: &str = "/etc/kubernetes/bootstrap-kubelet.conf";

/// True for a bootstrap token's user (`system:bootstrap:<id>`).
pub fn is_bootstrap_user(user: &str) -> bool {
    user.starts_with(BOOTSTRAP_USER_PREFIX)
}
