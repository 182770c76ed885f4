//! Fuzz target: the `explain` log matcher (`logs::explain_lines`) on arbitrary log text:
//! every explained line is a real line of the input, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count();
    let mut last = 0;
    for e in kubecert_node::logs::explain_lines(&text) {
        assert!(e.line > last && e.line <= lines, "line numbers are in the input and increasing");
        last = e.line;
    }
});
