//! What an install will do, as data: an ordered list of steps that one engine executes with
//! backups and rollback. Repair paths (new certificate, bootstrap kubeconfig, rollback itself)
//! build a plan; `--dry-run` prints [`InstallPlan::describe`] and stops there.

use super::resolve::{current_state, Current};
use crate::root::NodeRoot;
use serde::Serialize;
use zeroize::Zeroizing;

/// The bytes of a file to write. Secret contents (private keys, kubeconfigs with keys or tokens)
/// are wiped from memory when dropped and never shown by `Debug` or a plan description.
#[derive(Clone)]
pub struct Contents {
    bytes: Zeroizing<Vec<u8>>,
    secret: bool,
}

impl Contents {
    /// Contents that may be shown (a certificate, a CA bundle).
    pub fn public(bytes: impl Into<Vec<u8>>) -> Self {
        Contents { bytes: Zeroizing::new(bytes.into()), secret: false }
    }

    /// Contents that must never be shown (a key, or a file holding one).
    pub fn secret(bytes: impl Into<Vec<u8>>) -> Self {
        Contents { bytes: Zeroizing::new(bytes.into()), secret: true }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True for secret contents.
    pub(crate) fn is_secret(&self) -> bool {
        self.secret
    }
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes{}>", self.bytes.len(), if self.secret { ", secret" } else { "" })
    }
}

/// One change to the node. Paths are node paths (absolute, resolved inside the root).
#[derive(Debug, Clone)]
pub enum Step {
    /// Write a whole file atomically (temp file, fsync, rename, fsync dir) with exactly `mode`.
    /// If `node_path` is a symlink, the file it points to (inside the root) is written.
    Write {
        /// Where.
        node_path: String,
        /// What.
        contents: Contents,
        /// Permission bits, e.g. `0o600` for anything holding a key.
        mode: u32,
    },
    /// Point the symlink `node_path` at `target` (written as given, e.g. an absolute node path, as
    /// the kubelet writes `kubelet-client-current.pem`), swapped atomically: a temp link renamed over.
    Symlink {
        /// The link.
        node_path: String,
        /// Its target.
        target: String,
    },
    /// Back up `node_path` and remove it (a file or a symlink; nothing to do when absent).
    MoveAside {
        /// What to move aside.
        node_path: String,
    },
}

impl Step {
    /// The node path the step acts on.
    pub fn node_path(&self) -> &str {
        match self {
            Step::Write { node_path, .. } | Step::Symlink { node_path, .. } | Step::MoveAside { node_path } => node_path,
        }
    }
}

/// An ordered list of steps executed by [`super::apply`], all or nothing.
#[derive(Debug, Clone)]
pub struct InstallPlan {
    /// What this install is, for the backup list (e.g. `sign --node n2`).
    pub label: String,
    /// The steps, in order. Order matters for crash safety: put new files first and the switch
    /// that makes the node use them last, so that every intermediate state is coherent.
    pub steps: Vec<Step>,
}

/// What one step will do, for `--dry-run` and reports. Never holds file contents.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedChange {
    /// The node path acted on (after following a symlink for writes).
    pub node_path: String,
    /// `create`, `replace`, `remove` or `nothing` (move-aside of an absent path).
    pub action: &'static str,
    /// `file` or `symlink`.
    pub kind: &'static str,
    /// Mode of the new file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Size of the new file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<usize>,
    /// Target of the new symlink.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// True when the new file holds a secret.
    pub secret: bool,
    /// What is there now.
    pub current: Current,
}

impl PlannedChange {
    /// One line: the action, the path, the new content and what is there now (`done`: what was there).
    pub fn line(&self, done: bool) -> String {
        let before = if done { "was" } else { "now" };
        let what = match (self.kind, &self.target, &self.mode) {
            ("symlink", Some(t), _) => format!("symlink -> {t}"),
            (_, _, Some(m)) => format!("file, mode {m}, {} bytes{}", self.size.unwrap_or(0), if self.secret { ", holds a private key" } else { "" }),
            _ => String::new(),
        };
        match self.action {
            "remove" => format!("move aside  {}  ({before}: {}; a copy goes to the backup)", self.node_path, self.current),
            "nothing" => format!("move aside  {}  (absent: nothing to do)", self.node_path),
            a => format!("{a:<10}  {}  ({what}; {before}: {})", self.node_path, self.current),
        }
    }
}

impl std::fmt::Display for PlannedChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line(false))
    }
}

impl InstallPlan {
    /// An empty plan.
    pub fn new(label: impl Into<String>) -> Self {
        InstallPlan { label: label.into(), steps: Vec::new() }
    }

    /// Adds a [`Step::Write`].
    pub fn write(mut self, node_path: impl Into<String>, contents: Contents, mode: u32) -> Self {
        self.steps.push(Step::Write { node_path: node_path.into(), contents, mode });
        self
    }

    /// Adds a [`Step::Symlink`].
    pub fn symlink(mut self, node_path: impl Into<String>, target: impl Into<String>) -> Self {
        self.steps.push(Step::Symlink { node_path: node_path.into(), target: target.into() });
        self
    }

    /// Adds a [`Step::MoveAside`].
    pub fn move_aside(mut self, node_path: impl Into<String>) -> Self {
        self.steps.push(Step::MoveAside { node_path: node_path.into() });
        self
    }

    /// What each step will do on this node, touching nothing.
    pub fn describe(&self, root: &NodeRoot) -> Vec<PlannedChange> {
        self.steps
            .iter()
            .map(|s| {
                let (node_path, current) = current_state(root, s);
                let exists = !matches!(current, Current::Absent);
                match s {
                    Step::Write { contents, mode, .. } => PlannedChange {
                        node_path,
                        action: if exists { "replace" } else { "create" },
                        kind: "file",
                        mode: Some(format!("{mode:04o}")),
                        size: Some(contents.bytes().len()),
                        target: None,
                        secret: contents.is_secret(),
                        current,
                    },
                    Step::Symlink { target, .. } => PlannedChange {
                        node_path,
                        action: if exists { "replace" } else { "create" },
                        kind: "symlink",
                        mode: None,
                        size: None,
                        target: Some(target.clone()),
                        secret: false,
                        current,
                    },
                    Step::MoveAside { .. } => PlannedChange {
                        node_path,
                        action: if exists { "remove" } else { "nothing" },
                        kind: "file",
                        mode: None,
                        size: None,
                        target: None,
                        secret: false,
                        current,
                    },
                }
            })
            .collect()
    }
}
