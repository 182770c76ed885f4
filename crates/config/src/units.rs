//! How the kubelet gets its flags on a real node: systemd unit files and drop-ins
//! (`Environment=`, `EnvironmentFile=`, `ExecStart=`), and shell-style environment files
//! (`/var/lib/kubelet/kubeadm-flags.env`, `/etc/default/kubelet`, `/etc/sysconfig/kubelet`).
//! This module parses text; finding the files is the node crate's job.

use std::collections::BTreeMap;

/// What a unit file (or drop-in) says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitDirectives {
    /// `Environment=` assignments in order.
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=` paths in order; `optional` is true for a leading `-`.
    pub environment_files: Vec<(String, bool)>,
    /// `ExecStart=` lines in order. An empty value resets the list, as in systemd.
    pub exec_start: Vec<String>,
}

/// Parses the `[Service]` directives kubecert cares about from a unit or drop-in.
pub fn parse_unit(text: &str) -> UnitDirectives {
    let mut d = UnitDirectives::default();
    for line in join_continuations(text) {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.starts_with('[') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let value = value.trim();
        match key.trim() {
            "Environment" => {
                for word in split_words(value) {
                    if let Some((k, v)) = word.split_once('=') {
                        d.environment.push((k.to_string(), v.to_string()));
                    }
                }
            }
            "EnvironmentFile" => {
                let (path, optional) = match value.strip_prefix('-') {
                    Some(p) => (p, true),
                    None => (value, false),
                };
                d.environment_files.push((path.to_string(), optional));
            }
            "ExecStart" => {
                if value.is_empty() {
                    d.exec_start.clear();
                } else {
                    d.exec_start.push(value.trim_start_matches(['@', '-', ':', '+', '!']).to_string());
                }
            }
            _ => {}
        }
    }
    d
}

/// Parses a shell-style environment file (`KEY=value`, `KEY="quoted value"`, comments).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in join_continuations(text) {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                out.push((k.to_string(), split_words(v.trim()).join(" ")));
            }
        }
    }
    out
}

/// The most an `ExecStart=` line may expand to, in bytes. systemd reads unit lines up to
/// `LONG_LINE_MAX` (1 MiB) but does not bound `$VAR` expansion itself; the kernel does: `execve`
/// fails with E2BIG past `ARG_MAX`, 2 MiB with the default 8 MiB stack (a quarter of it), and for
/// any single word past `MAX_ARG_STRLEN` (128 KiB). A line expanding past these would not start
/// the kubelet, so kubecert stops there too instead of building gigabytes.
pub const MAX_EXPANDED_BYTES: usize = 2 * 1024 * 1024;
/// The kernel's limit on one argument (`MAX_ARG_STRLEN`, 32 pages).
pub const MAX_WORD_BYTES: usize = 128 * 1024;

/// Why an `ExecStart=` line could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpansionError {
    /// The expanded command line is larger than the kernel would pass to the kubelet.
    #[error("the ExecStart= line expands to more than {MAX_EXPANDED_BYTES} bytes (the kernel's ARG_MAX): the kubelet could not be started with it")]
    TooLarge,
    /// One expanded word is larger than the kernel allows for one argument.
    #[error("an argument of the ExecStart= line expands to more than {MAX_WORD_BYTES} bytes (the kernel's MAX_ARG_STRLEN): the kubelet could not be started with it")]
    WordTooLarge,
}

/// Expands `$VAR` and `${VAR}` in an `ExecStart=` line and splits it into words, as systemd does
/// for unquoted `$VAR` (split on white space) and `${VAR}` (kept as one word); bounded (see
/// [`MAX_EXPANDED_BYTES`]): the work done never exceeds the limit, whatever the input.
pub fn expand_exec_checked(line: &str, env: &BTreeMap<String, String>) -> Result<Vec<String>, ExpansionError> {
    let mut words = Vec::new();
    let mut total: usize = 0;
    let mut add = |words: &mut Vec<String>, w: &str| -> Result<(), ExpansionError> {
        if w.len() > MAX_WORD_BYTES {
            return Err(ExpansionError::WordTooLarge);
        }
        // +1: the NUL that ends each argument in execve's block.
        total = total.saturating_add(w.len()).saturating_add(1);
        if total > MAX_EXPANDED_BYTES {
            return Err(ExpansionError::TooLarge);
        }
        words.push(w.to_string());
        Ok(())
    };
    for word in split_words(line) {
        if let Some(name) = word.strip_prefix("${").and_then(|w| w.strip_suffix('}')) {
            if let Some(v) = env.get(name).filter(|v| !v.is_empty()) {
                add(&mut words, v)?;
            }
        } else if let Some(name) = word.strip_prefix('$').filter(|n| n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) {
            if let Some(v) = env.get(name) {
                if v.len() > MAX_EXPANDED_BYTES {
                    return Err(ExpansionError::TooLarge);
                }
                for w in split_words(v) {
                    add(&mut words, &w)?;
                }
            }
        } else {
            add(&mut words, &word)?;
        }
    }
    Ok(words)
}

/// [`expand_exec_checked`], with a line too large to expand giving no arguments at all.
pub fn expand_exec(line: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    expand_exec_checked(line, env).unwrap_or_default()
}

/// The hostname `/etc/hostname` gives, as systemd reads it to set the kernel hostname (which the
/// kubelet uses: `os.Hostname()`, lowercased): the first line that is not empty or a comment,
/// cleaned up like systemd's `hostname_cleanup()`, which keeps only letters, digits, `-` and `.`
/// (so a UTF-8 byte-order mark or stray control characters are dropped, not part of the name).
pub fn etc_hostname(text: &str) -> Option<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let h: String = line.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').take(64).collect::<String>().to_lowercase();
    let h = h.trim_matches(['.', '-']).to_string();
    if h.is_empty() { None } else { Some(h) }
}

/// Splits on white space, honouring single and double quotes and backslash escapes.
pub fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    in_word = true;
                }
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

fn join_continuations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if let Some(stripped) = line.strip_suffix('\\') {
            cur.push_str(stripped);
            cur.push(' ');
        } else {
            cur.push_str(line);
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The value of `--name` in an argument list (`--name=v` or `--name v`); the last one wins, as with
/// the kubelet's flag parser.
pub fn flag_value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let long = format!("--{name}");
    let eq = format!("--{name}=");
    let mut found = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if let Some(v) = a.strip_prefix(&eq) {
            found = Some(v);
        } else if a == long
            && let Some(v) = args.get(i + 1) {
                found = Some(v.as_str());
                i += 1;
            }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBEADM_DROPIN: &str = r#"# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"#;

    #[test]
    fn kubeadm_dropin_expands_to_the_kubelet_flags() {
        let u = parse_unit(KUBEADM_DROPIN);
        assert_eq!(u.exec_start.len(), 1);
        assert_eq!(u.environment_files, vec![("/var/lib/kubelet/kubeadm-flags.env".into(), true), ("/etc/default/kubelet".into(), true)]);
        let mut env: BTreeMap<String, String> = u.environment.into_iter().collect();
        env.extend(parse_env_file("KUBELET_KUBEADM_ARGS=\"--hostname-override=Worker-1 --pod-infra-container-image=x\"\n"));
        let args = expand_exec(&u.exec_start[0], &env);
        assert_eq!(args[0], "/usr/bin/kubelet");
        assert_eq!(flag_value(&args, "kubeconfig"), Some("/etc/kubernetes/kubelet.conf"));
        assert_eq!(flag_value(&args, "bootstrap-kubeconfig"), Some("/etc/kubernetes/bootstrap-kubelet.conf"));
        assert_eq!(flag_value(&args, "config"), Some("/var/lib/kubelet/config.yaml"));
        assert_eq!(flag_value(&args, "hostname-override"), Some("Worker-1"));
    }

    #[test]
    fn continuation_lines_and_separate_flag_values() {
        let u = parse_unit("[Service]\nExecStart=/opt/bin/kubelet \\\n  --kubeconfig /etc/kubernetes/worker.conf \\\n  --cert-dir=/etc/kubernetes/ssl\n");
        let args = expand_exec(&u.exec_start[0], &BTreeMap::new());
        assert_eq!(flag_value(&args, "kubeconfig"), Some("/etc/kubernetes/worker.conf"));
        assert_eq!(flag_value(&args, "cert-dir"), Some("/etc/kubernetes/ssl"));
    }

    #[test]
    fn expansion_is_bounded() {
        let env: BTreeMap<String, String> = [("BIG".to_string(), "a".repeat(1 << 20)), ("W".to_string(), "x ".repeat(100_000))].into();
        let line = format!("/usr/bin/kubelet {}", vec!["$BIG"; 20_000].join(" "));
        assert_eq!(expand_exec_checked(&line, &env), Err(ExpansionError::WordTooLarge));
        let line = format!("/usr/bin/kubelet {}", vec!["$W"; 20_000].join(" "));
        assert_eq!(expand_exec_checked(&line, &env), Err(ExpansionError::TooLarge));
        assert!(expand_exec(&line, &env).is_empty());
        let env: BTreeMap<String, String> = [("A".to_string(), "--v=2".to_string())].into();
        assert_eq!(expand_exec_checked("/k $A ${A}", &env).unwrap(), ["/k", "--v=2", "--v=2"]);
    }

    #[test]
    fn etc_hostname_is_read_as_systemd_does() {
        assert_eq!(etc_hostname("\u{feff}N1\n").as_deref(), Some("n1"));
        assert_eq!(etc_hostname("# comment\n\n  worker-1.example  \n").as_deref(), Some("worker-1.example"));
        assert_eq!(etc_hostname("evil\x1b]0;x\x07\n").as_deref(), Some("evil0x"));
        assert_eq!(etc_hostname("\n# only a comment\n"), None);
    }
}
