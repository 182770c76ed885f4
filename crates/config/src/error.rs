//! Errors of the config models.

/// A file that could not be understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Not valid YAML/JSON, or not the expected shape.
    #[error("not a valid {what}: {detail}")]
    Parse {
        /// What was being parsed (`kubeconfig`, `KubeletConfiguration`).
        what: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// The file is not UTF-8 text.
    #[error("not a valid {what}: the file is not UTF-8 text")]
    NotUtf8 {
        /// What was being parsed.
        what: &'static str,
    },
    /// A reference inside the file points nowhere (e.g. current-context names no context).
    #[error("{0}")]
    Dangling(String),
    /// Writing the model back failed.
    #[error("cannot serialise {what}: {detail}")]
    Serialise {
        /// What was being written.
        what: &'static str,
        /// The serialiser's message.
        detail: String,
    },
}

pub(crate) fn parse_yaml<T: serde::de::DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ConfigError::NotUtf8 { what })?;
    if text.trim().is_empty() {
        return Err(ConfigError::Parse { what, detail: "the file is empty".into() });
    }
    serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse { what, detail: first_line(&e.to_string()) })
}

/// The parser's first line is the message; the rest is a source snippet we do not need (and that
/// could echo secret material from the file).
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).to_string()
}
