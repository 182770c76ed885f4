//! Fuzz target: certificate signing request parsing (`parse_csr`, PEM or DER), including the
//! node name check `sign`/`csr` apply to it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = kubecert_pki::parse_csr(data) {
        let _ = info.node_name();
    }
});
