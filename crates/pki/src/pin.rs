//! kubeadm's CA public-key pin: `sha256:` + hex(SHA-256(DER SubjectPublicKeyInfo)), the value of
//! `--discovery-token-ca-cert-hash`. Hashing the whole SPKI works for every key type.

use aws_lc_rs::digest;

/// The pin of a DER SubjectPublicKeyInfo.
pub(crate) fn spki_pin(spki_der: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, spki_der);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Normalises a user-given pin (`sha256:ABC...` or bare hex) to the lowercase `sha256:<hex>` form,
/// or says why it is not one.
pub fn parse_pin(text: &str) -> Result<String, PinError> {
    let t = text.trim();
    let hex = match t.split_once(':') {
        Some((alg, hex)) if alg.eq_ignore_ascii_case("sha256") => hex,
        Some((alg, _)) => return Err(PinError::UnsupportedHash(alg.to_string())),
        None => t,
    };
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PinError::NotSha256Hex(t.to_string()));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Why a pin is not kubeadm's `sha256:<64 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// Another hash than sha256.
    #[error("unsupported hash format {0:?}; kubeadm pins are sha256:<64 hex digits>")]
    UnsupportedHash(String),
    /// Not 64 hex digits.
    #[error("{0:?} is not sha256:<64 hex digits>")]
    NotSha256Hex(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_pin_accepts_kubeadm_forms_and_rejects_others() {
        let hex = "AB".repeat(32);
        assert_eq!(parse_pin(&format!("sha256:{hex}")).unwrap(), format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(parse_pin(&hex).unwrap(), format!("sha256:{}", "ab".repeat(32)));
        assert!(parse_pin("md5:abcd").is_err());
        assert!(parse_pin("sha256:xyz").is_err());
    }
}
