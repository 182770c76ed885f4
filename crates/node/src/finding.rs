//! A finding: one problem (or one fact worth knowing) about a node, as data. The code is a public,
//! stable contract (documented in the README and by `kubecert explain CODE`).

use serde::Serialize;

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing is broken.
    Info,
    /// Will break, or is fragile.
    Warning,
    /// Broken now: the kubelet cannot authenticate, or will not start.
    Error,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `client-cert-expired`.
    pub code: &'static str,
    /// Severity.
    pub severity: Severity,
    /// One line that names the cause in plain words.
    pub summary: String,
    /// What was seen: paths, dates, subjects.
    pub evidence: Vec<String>,
    /// What to do, in words and commands.
    pub fix: Vec<String>,
}

impl Finding {
    /// A finding with `code` (from [`code!`](crate::code): catalogued), `severity` and `summary`; add evidence and fix with the builders.
    pub fn new(code: crate::codes::Code, severity: Severity, summary: impl Into<String>) -> Self {
        Finding { code: code.as_str(), severity, summary: summary.into(), evidence: Vec::new(), fix: Vec::new() }
    }

    /// Adds a line of evidence.
    pub fn evidence(mut self, line: impl Into<String>) -> Self {
        self.evidence.push(line.into());
        self
    }

    /// Adds a line of the fix.
    pub fn fix(mut self, line: impl Into<String>) -> Self {
        self.fix.push(line.into());
        self
    }
}
