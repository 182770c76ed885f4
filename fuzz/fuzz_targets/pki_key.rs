//! Fuzz target: private key loading (`load_private_key`: PKCS#8, PKCS#1 RSA, SEC1 EC, PEM or
//! DER, legacy-encrypted PEM refused). A key that loads must re-encode to PEM and load again.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(key) = kubecert_pki::load_private_key(data) {
        let _ = key.info();
        let pem = key.to_pem();
        let again = kubecert_pki::load_private_key(pem.as_bytes()).expect("a loaded key's own PEM loads");
        assert_eq!(again.spki_der(), key.spki_der(), "the re-encoded key is the same key");
    }
});
