//! Fuzz target: certificate/key bundle loading from raw bytes (PEM or DER: `decode_blocks`,
//! `load_bundle`) and from a kubeconfig `*-data` base64 value (`load_bundle_base64`).
//! Every certificate that loads has its facts and SPKI read, as `doctor` does.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kubecert_pki::decode_blocks(data);
    if let Ok(bundle) = kubecert_pki::load_bundle(data) {
        for cert in &bundle.certificates {
            let _ = cert.info();
            let _ = cert.spki_der();
            let _ = cert.to_pem();
            if let Some(Ok(key)) = &bundle.key {
                let _ = key.matches(cert);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = kubecert_pki::load_bundle_base64(text);
    }
});
