//! The error shared by every module that calls the API server: what kubecert was doing, and why
//! the server (or the connection to it) said no.

/// An API request that failed.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {}", describe(.cause))]
pub struct ApiError {
    /// What was being done, e.g. `create Secret kube-system/bootstrap-token-abcdef`.
    pub action: String,
    /// The client's error (not a `#[source]`: its text is already in this error's message).
    pub cause: kube::Error,
}

impl ApiError {
    /// Wraps `source` with what was being done.
    pub fn new(action: impl Into<String>, source: kube::Error) -> Self {
        ApiError { action: action.into(), cause: source }
    }

    /// The HTTP status code when the server answered with a Status.
    pub fn code(&self) -> Option<u16> {
        status_code(&self.cause)
    }
}

/// The HTTP status of a server-side error.
pub(crate) fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// One line for a client error: the server's message for API errors, the whole cause chain for
/// connection and TLS errors (kube's own Display stops at the outermost layer).
pub(crate) fn describe(e: &kube::Error) -> String {
    if let kube::Error::Api(s) = e {
        return format!("{} ({} {})", s.message, s.code, s.reason);
    }
    let mut out = e.to_string();
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

/// `Result<T, ApiError>` with the action filled in.
pub(crate) trait Context<T> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, ApiError>;
}

impl<T> Context<T> for Result<T, kube::Error> {
    fn ctx(self, action: impl FnOnce() -> String) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::new(action(), e))
    }
}
