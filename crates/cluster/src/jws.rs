//! The detached JWS that the bootstrapsigner controller puts on `kube-public/cluster-info`
//! (`jws-kubeconfig-<token-id>`): compact form with the payload left out
//! (`<b64url(header)>..<b64url(sig)>`), HS256, header `{"alg":"HS256","kid":"<token-id>"}`,
//! HMAC key = the token's 16-character secret, payload = the exact `kubeconfig` string.
//! The comparison is constant-time (`aws_lc_rs::hmac::verify`).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::token::Token;

/// The ConfigMap key holding the signature for token `id`.
pub(crate) fn signature_key(id: &str) -> String {
    format!("jws-kubeconfig-{id}")
}

/// Why a detached JWS does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// Not `header..signature`.
    #[error("not a detached compact JWS (expected \"<header>..<signature>\")")]
    Malformed,
    /// The header is not base64url JSON.
    #[error("the JWS header is not base64url-encoded JSON")]
    BadHeader,
    /// The header names another algorithm.
    #[error("the JWS algorithm is {0:?}, not HS256")]
    Algorithm(String),
    /// The header's key id is another token's.
    #[error("the JWS key id is {found:?}, not the token id {expected:?}")]
    KeyId {
        /// The token id.
        expected: String,
        /// What the header says.
        found: String,
    },
    /// The HMAC does not match.
    #[error("the signature does not match: the content was changed, or it was not signed with this token's secret")]
    Mismatch,
}

/// Signs `payload` for `token`, as the bootstrapsigner does (Go's go-jose writes the header with
/// `alg` then `kid`).
pub fn sign_detached(payload: &[u8], token: &Token) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, token.id()));
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.secret().expose().as_bytes());
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let tag = hmac::sign(&key, input.as_bytes());
    format!("{header}..{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Verifies a detached JWS over `payload` with `token`'s secret; the header must say HS256 and
/// carry the token's id.
pub fn verify_detached(jws: &str, payload: &[u8], token: &Token) -> Result<(), JwsError> {
    let mut parts = jws.trim().split('.');
    let (Some(header_b64), Some(""), Some(sig_b64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwsError::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| JwsError::BadHeader)?;
    let header: serde_json::Value = serde_json::from_slice(&header_json).map_err(|_| JwsError::BadHeader)?;
    let alg = header.get("alg").and_then(|v| v.as_str()).unwrap_or_default();
    if alg != "HS256" {
        return Err(JwsError::Algorithm(alg.to_string()));
    }
    let kid = header.get("kid").and_then(|v| v.as_str()).unwrap_or_default();
    if kid != token.id() {
        return Err(JwsError::KeyId { expected: token.id().to_string(), found: kid.to_string() });
    }
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).map_err(|_| JwsError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, token.secret().expose().as_bytes());
    let input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(payload));
    hmac::verify(&key, input.as_bytes(), &sig).map_err(|_| JwsError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python's hmac/base64 (see the comment in the test).
    const PAYLOAD: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTg==\n    server: https://127.0.0.1:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\nkind: Config\nusers: null\n";
    const TOKEN: &str = "abcdef.0123456789abcdef";
    const PYTHON_JWS: &str = include_str!("../testdata/jws_vector.txt");

    #[test]
    fn verifies_a_vector_made_by_python_hmac() {
        // python3 -c 'import hmac,hashlib,base64;b=lambda x:base64.urlsafe_b64encode(x).rstrip(b"=");
        //   h=b(b"{\"alg\":\"HS256\",\"kid\":\"abcdef\"}");p=open(0,"rb").read();
        //   print((h+b".."+b(hmac.new(b"0123456789abcdef",h+b"."+b(p),hashlib.sha256).digest())).decode())'
        let t = Token::parse(TOKEN).unwrap();
        verify_detached(PYTHON_JWS.trim(), PAYLOAD.as_bytes(), &t).unwrap();
        assert_eq!(sign_detached(PAYLOAD.as_bytes(), &t), PYTHON_JWS.trim());
    }

    #[test]
    fn refuses_tampering_wrong_secret_wrong_kid_and_other_algorithms() {
        let t = Token::parse(TOKEN).unwrap();
        let jws = PYTHON_JWS.trim();
        let tampered = PAYLOAD.replace("6443", "6444");
        assert_eq!(verify_detached(jws, tampered.as_bytes(), &t), Err(JwsError::Mismatch));
        let wrong_secret = Token::parse("abcdef.0123456789abcdee").unwrap();
        assert_eq!(verify_detached(jws, PAYLOAD.as_bytes(), &wrong_secret), Err(JwsError::Mismatch));
        let other = Token::parse("abcdeg.0123456789abcdef").unwrap();
        assert!(matches!(verify_detached(jws, PAYLOAD.as_bytes(), &other), Err(JwsError::KeyId { .. })));
        let none_alg = format!("{}..", URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"abcdef"}"#));
        assert!(matches!(verify_detached(&none_alg, PAYLOAD.as_bytes(), &t), Err(JwsError::Algorithm(_))));
        // An attached payload is not the detached form.
        let (h, s) = jws.split_once("..").unwrap();
        let attached = format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode(PAYLOAD));
        assert_eq!(verify_detached(&attached, PAYLOAD.as_bytes(), &t), Err(JwsError::Malformed));
        assert_eq!(verify_detached("garbage", PAYLOAD.as_bytes(), &t), Err(JwsError::Malformed));
        // A truncated signature is a mismatch, not a panic.
        assert_eq!(verify_detached(&jws[..jws.len() - 3], PAYLOAD.as_bytes(), &t), Err(JwsError::Mismatch));
    }
}
