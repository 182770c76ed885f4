//! Fuzz target: the bounded `ExecStart=` expansion (`expand_exec_checked`). The input is amplified
//! — a value repeated up to 256 times, referenced up to 256 times — so that the bound, not the
//! input size, is what limits the work: an `Ok` result never exceeds the kernel's limits.
#![no_main]

use kubecert_config::units::{expand_exec_checked, MAX_EXPANDED_BYTES, MAX_WORD_BYTES};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, rest @ ..] = data else { return };
    let text = String::from_utf8_lossy(rest);
    let cut = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
    let (value, line) = text.split_at(cut);
    let times = usize::from(u16::from_le_bytes([*a, *b]) % 256) + 1;
    let refs = usize::from(u16::from_le_bytes([*c, *d]) % 256) + 1;
    let env: BTreeMap<String, String> = [("V".to_string(), value.repeat(times)), ("W".to_string(), value.to_string())].into();
    let line = format!("{line} {}", vec![if *a & 1 == 0 { "$V" } else { "${V}" }; refs].join(" "));
    if let Ok(words) = expand_exec_checked(&line, &env) {
        let total: usize = words.iter().map(|w| w.len() + 1).sum();
        assert!(total <= MAX_EXPANDED_BYTES, "{total}");
        assert!(words.iter().all(|w| w.len() <= MAX_WORD_BYTES));
    }
});
