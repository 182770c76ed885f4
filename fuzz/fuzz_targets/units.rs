//! Fuzz target: systemd unit/drop-in parsing (`parse_unit`), env files (`parse_env_file`), and
//! the `ExecStart=` expansion that turns them into the kubelet's flags (`expand_exec`,
//! `split_words`, `flag_value`) — the path `doctor` takes on every node.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first half is read as a unit file, the rest as an env file, so the two interact.
    let cut = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
    let (unit_text, env_text) = text.split_at(cut);
    let unit = kubecert_config::units::parse_unit(unit_text);
    let mut env: BTreeMap<String, String> = unit.environment.into_iter().collect();
    env.extend(kubecert_config::units::parse_env_file(env_text));
    for line in &unit.exec_start {
        let args = kubecert_config::units::expand_exec(line, &env);
        let _ = kubecert_config::units::flag_value(&args, "kubeconfig");
    }
    let _ = kubecert_config::units::split_words(&text);
});
