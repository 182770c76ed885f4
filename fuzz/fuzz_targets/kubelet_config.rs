//! Fuzz target: KubeletConfiguration parsing (`KubeletConfiguration::parse`, YAML or JSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = kubecert_config::KubeletConfiguration::parse(data) {
        let _ = c.client_ca_file();
    }
});
