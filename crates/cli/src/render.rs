//! Shared rendering: structured output (JSON/YAML) and terminal colour.

use crate::global::Output;
use serde::Serialize;
use std::io::IsTerminal;

/// Prints `value` as JSON or YAML when asked; returns false for text formats (the caller renders).
pub fn structured<T: Serialize>(output: Output, value: &T) -> anyhow::Result<bool> {
    match output {
        Output::Json => {
            println!("{}", serde_json::to_string_pretty(value)?);
            Ok(true)
        }
        Output::Yaml => {
            let v = serde_json::to_value(value)?;
            print!("{}", serde_saphyr::to_string(&v).map_err(|e| anyhow::anyhow!("YAML output: {e}"))?);
            Ok(true)
        }
        Output::Text | Output::Wide => Ok(false),
    }
}

/// True when stdout is a terminal and NO_COLOR is unset.
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Wraps `s` in an ANSI colour when `on`.
pub fn paint(on: bool, code: &str, s: &str) -> String {
    if on { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
}

/// A human duration: `3d4h`, `5h12m`, `40s`, negative as `-…`.
pub fn human_duration(d: time::Duration) -> String {
    let neg = d.is_negative();
    let s = d.whole_seconds().unsigned_abs();
    let (days, hours, mins) = (s / 86400, (s % 86400) / 3600, (s % 3600) / 60);
    let body = if days >= 365 {
        format!("{}y{}d", days / 365, days % 365)
    } else if days > 0 {
        format!("{days}d{hours}h")
    } else if hours > 0 {
        format!("{hours}h{mins}m")
    } else if mins > 0 {
        format!("{mins}m{}s", s % 60)
    } else {
        format!("{s}s")
    };
    if neg { format!("-{body}") } else { body }
}
