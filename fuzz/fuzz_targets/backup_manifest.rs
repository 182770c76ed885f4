//! Fuzz target: a backup folder's `manifest.json` (`Manifest::parse`), which kubecert reads from
//! the node tree and must treat as untrusted: whatever it accepts names only paths inside the root
//! and copies inside its own folder.
#![no_main]

use kubecert_node::install::{Manifest, Recorded};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Manifest::parse(data, "20250101-000000-abcd") else { return };
    assert_eq!(m.id, "20250101-000000-abcd");
    let inside = |p: &str| p.starts_with('/') && !p.split('/').any(|c| c == "..");
    for e in &m.entries {
        assert!(inside(&e.node_path), "{:?}", e.node_path);
        if let Recorded::File { copy: Some(c), .. } = &e.before {
            let name = c.strip_prefix("files/").expect("a copy outside files/");
            assert!(!name.is_empty() && !name.contains('/') && name != "..", "{c:?}");
        }
        if let Some(t) = &e.temp {
            assert!(inside(t) && t.contains(".kubecert-20250101-000000-abcd.tmp"), "{t:?}");
        }
    }
    assert!(m.created_dirs.iter().all(|d| inside(d)));
});
