//! Fuzz target: kubeconfig parsing (`Kubeconfig::parse`, YAML or JSON), context resolution, and
//! the embedded certificate data a kubeconfig carries (`load_bundle_base64`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(kc) = kubecert_config::Kubeconfig::parse(data) else { return };
    let _ = kc.to_yaml();
    if let Ok(r) = kc.resolve(None) {
        if let Some(ca) = r.cluster.certificate_authority_data.as_deref() {
            let _ = kubecert_pki::load_bundle_base64(ca);
        }
    }
});
