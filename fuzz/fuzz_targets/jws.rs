//! Fuzz target: bootstrap token parsing (`Token::parse`) and detached JWS verification
//! (`jws::verify_detached`), as `discover` runs them on what the API server sends.
//! Input: `<jws>\0<payload>`. Properties: malformed input is an error, never a panic; what
//! `sign_detached` makes verifies, and never verifies for another payload.
#![no_main]

use kubecert_cluster::jws;
use kubecert_cluster::token::Token;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = Token::parse("abcdef.0123456789abcdef").expect("a valid token");
    let (jws_bytes, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let jws_text = String::from_utf8_lossy(jws_bytes);
    let _ = Token::parse(&jws_text);
    let _ = jws::verify_detached(&jws_text, payload, &token);

    let signed = jws::sign_detached(payload, &token);
    assert_eq!(jws::verify_detached(&signed, payload, &token), Ok(()), "our own signature verifies");
    if jws_bytes != payload {
        assert!(jws::verify_detached(&signed, jws_bytes, &token).is_err(), "a signature does not verify another payload");
    }
});
