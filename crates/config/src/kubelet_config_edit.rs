//! Changing one top-level field of a KubeletConfiguration file in place, as text: every other
//! line, comment, unknown key and the key order stay byte for byte. Re-serialising the model would
//! drop comments and reorder keys, which an operator diffing the file at 3 a.m. must not see.
//!
//! The edit is checked by parsing both versions: they must be equal except for the one field.

use crate::error::ConfigError;
use serde_json::Value;

/// The result of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// The field already had the wanted value; nothing to write.
    Unchanged,
    /// The new file contents.
    Changed(String),
}

/// Sets the top-level boolean `field` (e.g. `serverTLSBootstrap`) to `value` in a
/// KubeletConfiguration given as YAML (block style) or JSON.
pub fn set_top_level_bool(text: &str, field: &str, value: bool) -> Result<Edit, ConfigError> {
    let before = parse_value(text)?;
    let Value::Object(map) = &before else {
        return Err(refuse("the file is not a mapping of fields"));
    };
    if map.get(field) == Some(&Value::Bool(value)) {
        return Ok(Edit::Unchanged);
    }
    let edited = if text.trim_start().starts_with('{') { edit_json(text, field, value)? } else { edit_yaml(text, field, value)? };
    let after = parse_value(&edited)?;
    let mut expected = before.clone();
    if let Value::Object(m) = &mut expected {
        m.insert(field.to_string(), Value::Bool(value));
    }
    if after != expected {
        return Err(refuse("the edited file would differ in more than that field (unusual YAML: edit it by hand)"));
    }
    Ok(Edit::Changed(edited))
}

fn parse_value(text: &str) -> Result<Value, ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError::Parse { what: "KubeletConfiguration", detail: "the file is empty".into() });
    }
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ConfigError::Parse { what: "KubeletConfiguration", detail: e.to_string().lines().next().unwrap_or_default().to_string() })
}

fn refuse(why: &str) -> ConfigError {
    ConfigError::Parse { what: "KubeletConfiguration", detail: format!("cannot edit in place: {why}") }
}

/// Block-style YAML: replace the value of a column-0 `field:` line, else append one line.
fn edit_yaml(text: &str, field: &str, value: bool) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len() + field.len() + 8);
    let mut replaced = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("---") && !out.trim().is_empty() || line.starts_with("...") {
            return Err(refuse("the file holds more than one YAML document"));
        }
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.trim_start_matches([' ', '\t']).strip_prefix(':')) {
            if replaced {
                return Err(refuse("the field appears twice"));
            }
            // keep a trailing comment and the line ending
            let comment = rest.find(" #").map(|i| rest[i..].trim_end_matches(['\r', '\n'])).unwrap_or("");
            let ending = if line.ends_with("\r\n") { "\r\n" } else if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("{field}: {value}{comment}{ending}"));
            replaced = true;
        } else {
            out.push_str(line);
        }
    }
    if !replaced {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{field}: {value}\n"));
    }
    Ok(out)
}

/// JSON: insert the field right after the opening brace (the kubelet accepts JSON config files).
fn edit_json(text: &str, field: &str, value: bool) -> Result<String, ConfigError> {
    if text.contains(&format!("\"{field}\"")) {
        return Err(refuse("JSON with the field already present: edit it by hand"));
    }
    let brace = text.find('{').ok_or_else(|| refuse("no opening brace"))?;
    let empty = text[brace + 1..].trim_start().starts_with('}');
    let sep = if empty { "" } else { "," };
    Ok(format!("{}\"{field}\": {value}{sep}{}", &text[..=brace], &text[brace + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KUBEADM: &str = "apiVersion: kubelet.config.k8s.io/v1beta1\n# kubeadm wrote this\nauthentication:\n  x509:\n    clientCAFile: /etc/kubernetes/pki/ca.crt\nkind: KubeletConfiguration\nrotateCertificates: true\nunknownThing: {a: 1}\n";

    #[test]
    fn appends_and_keeps_every_other_byte() {
        let Edit::Changed(out) = set_top_level_bool(KUBEADM, "serverTLSBootstrap", true).unwrap() else { panic!("no change") };
        assert_eq!(out, format!("{KUBEADM}serverTLSBootstrap: true\n"));
        assert_eq!(set_top_level_bool(&out, "serverTLSBootstrap", true).unwrap(), Edit::Unchanged);
    }

    #[test]
    fn replaces_false_keeping_its_comment_and_crlf() {
        let text = "kind: KubeletConfiguration\r\nserverTLSBootstrap: false # set by ops\r\nport: 10250\r\n";
        let Edit::Changed(out) = set_top_level_bool(text, "serverTLSBootstrap", true).unwrap() else { panic!() };
        assert_eq!(out, "kind: KubeletConfiguration\r\nserverTLSBootstrap: true # set by ops\r\nport: 10250\r\n");
    }

    #[test]
    fn no_final_newline_and_json() {
        let Edit::Changed(out) = set_top_level_bool("kind: KubeletConfiguration", "serverTLSBootstrap", true).unwrap() else { panic!() };
        assert_eq!(out, "kind: KubeletConfiguration\nserverTLSBootstrap: true\n");
        let json = "{\n  \"kind\": \"KubeletConfiguration\",\n  \"port\": 10250\n}\n";
        let Edit::Changed(out) = set_top_level_bool(json, "serverTLSBootstrap", true).unwrap() else { panic!() };
        assert!(out.starts_with("{\"serverTLSBootstrap\": true,\n  \"kind\""), "{out}");
    }

    #[test]
    fn a_nested_field_of_the_same_name_is_not_the_top_level_one() {
        let text = "kind: KubeletConfiguration\nnested:\n  serverTLSBootstrap: false\n";
        let Edit::Changed(out) = set_top_level_bool(text, "serverTLSBootstrap", true).unwrap() else { panic!() };
        assert_eq!(out, format!("{text}serverTLSBootstrap: true\n"));
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        assert!(set_top_level_bool("", "serverTLSBootstrap", true).is_err());
        assert!(set_top_level_bool("- a\n- b\n", "serverTLSBootstrap", true).is_err());
        assert!(set_top_level_bool("kind: K\n---\nkind: L\n", "serverTLSBootstrap", true).is_err());
        // a flow mapping is edited after its brace, and checked like the rest
        let Edit::Changed(out) = set_top_level_bool("{kind: K,\n port: 1}\n", "serverTLSBootstrap", true).unwrap() else { panic!() };
        assert_eq!(out, "{\"serverTLSBootstrap\": true,kind: K,\n port: 1}\n");
        assert!(set_top_level_bool("kind: K\nserverTLSBootstrap: no\nserverTLSBootstrap: no\n", "serverTLSBootstrap", true).is_err());
    }
}
