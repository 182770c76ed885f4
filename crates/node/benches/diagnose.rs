//! Speed of the node work, in process: `doctor` on one node tree (target: under 10 ms), and the
//! `check-expiration --scan` walk over many certificate files. Trees come from scripts/sample-node
//! (openssl-made). `bench/node.sh` compares the same work with an `openssl x509` loop.

use criterion::{criterion_group, criterion_main, Criterion};
use kubecert_node::{diagnose, NodeRoot, Overrides, Settings};
use std::process::Command;

fn sample(dir: &std::path::Path, scenario: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/sample-node");
    assert!(Command::new(script).arg(dir).arg(scenario).arg("bench-node").status().unwrap().success());
}

fn bench(c: &mut Criterion) {
    let d = tempfile::tempdir().unwrap();
    for scenario in ["healthy", "report-000"] {
        let dir = d.path().join(scenario);
        sample(&dir, scenario);
        let root = NodeRoot::new(&dir).unwrap();
        c.bench_function(&format!("doctor/{scenario}"), |b| {
            b.iter(|| diagnose(&root, &Overrides::default(), &Settings::default()))
        });
    }
    // 1,000 certificate files (the script measures 10,000 end to end).
    let many = d.path().join("many");
    std::fs::create_dir_all(&many).unwrap();
    let cert = std::fs::read(d.path().join("healthy/etc/kubernetes/pki/ca.crt")).unwrap();
    for i in 0..1000 {
        std::fs::write(many.join(format!("c{i}.crt")), &cert).unwrap();
    }
    let now = time::OffsetDateTime::now_utc();
    c.bench_function("check-expiration/scan-1000-files", |b| b.iter(|| kubecert_node::expiration::scan_dir(&many, now)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
