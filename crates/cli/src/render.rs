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

/// Node text made safe for a terminal: control characters (C0 except tab, DEL, C1) and bidi
/// overrides are shown escaped (`\x1b`, `\u{202e}`), so a file on a hostile node cannot retitle,
/// clear or rewrite the operator's terminal. Everything printed from node data goes through it.
pub fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    // U+10FF00..: a file name's non-UTF-8 byte as kubecert_node::root::encode_name carries it.
    let bad = |c: char| {
        (c.is_control() && c != '\t' && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{10ff00}'..='\u{10ffff}')
    };
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            let n = u32::from(c);
            let n = if n >= 0x10_ff00 { n - 0x10_ff00 } else { n };
            if n < 0x100 { out.push_str(&format!("\\x{n:02x}")) } else { out.push_str(&format!("\\u{{{n:x}}}")) }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`safe`], also escaping line breaks: for one-line fields (names, labels, table cells).
pub fn safe_line(s: &str) -> String {
    safe(s).replace('\n', "\\n")
}

/// An error and its causes, each said once (a cause whose text its parent already quotes is not
/// repeated: "Read-only file system (os error 30)" appears once), escaped for the terminal.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let t = cause.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
    }
    safe(&msg).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_causes_said_once() {
        assert_eq!(safe("n1"), "n1");
        assert_eq!(safe("evil\x1b]0;PWNED\x07\x1b[2J\u{9b}\u{202e}"), "evil\\x1b]0;PWNED\\x07\\x1b[2J\\x9b\\u{202e}");
        assert_eq!(safe_line("a\nb"), "a\\nb");
        assert_eq!(safe("kubelet-client-\u{10ffff}.pem"), "kubelet-client-\\xff.pem");
        let io = std::io::Error::from_raw_os_error(30);
        let e = anyhow::Error::new(io).context(format!("cannot write x: {}", std::io::Error::from_raw_os_error(30)));
        assert_eq!(error_text(&e), "cannot write x: Read-only file system (os error 30)");
    }
}
