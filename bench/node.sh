#!/usr/bin/env bash
# Benchmarks of the node work, printed as figures for the README:
#  1. `kubecert doctor` per node, in process (criterion) and as a whole process (startup included);
#  2. `kubecert check-expiration --scan` over 10,000 certificate files beside the same job done by
#     an `openssl x509 -enddate` loop.
#   bench/node.sh [N_FILES]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
cargo build --release -q -p kubecert
bin=$PWD/target/release/kubecert
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

echo "== in-process (criterion, release)"
cargo bench -q -p kubecert-node --bench diagnose -- --noplot 2>/dev/null | grep -E "^(doctor|check-expiration)|time:" | paste - - 2>/dev/null || true

echo "== doctor as a process (startup included), 200 runs on one node tree"
scripts/sample-node "$work/node" report-000 bench-node >/dev/null
start=$(date +%s%N)
for _ in $(seq 200); do "$bin" doctor --root "$work/node" -o json >/dev/null || true; done
end=$(date +%s%N)
echo "doctor: $(( (end - start) / 200 / 1000 )) µs per run (process start to exit)"

echo "== $n certificate files: kubecert check-expiration --scan vs openssl x509 loop"
mkdir -p "$work/certs"
# 20 distinct openssl-made certificates, copied to $n files.
for i in $(seq 20); do
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "/CN=bench-$i" -days $((i * 30)) -out "$work/c$i.crt" 2>/dev/null
done
for i in $(seq "$n"); do cp "$work/c$(( i % 20 + 1 )).crt" "$work/certs/cert-$i.crt"; done
start=$(date +%s%N)
"$bin" check-expiration --scan "$work/certs" -o json > "$work/ours.json" || true
end=$(date +%s%N)
ours=$(( (end - start) / 1000000 ))
count=$(grep -c '"expirationDate"' "$work/ours.json" || true)
# One openssl process per file is slow: time it on the first $sub files and scale up (said below).
sub=$(( n < 1000 ? n : 1000 ))
start=$(date +%s%N)
for i in $(seq "$sub"); do openssl x509 -enddate -noout -in "$work/certs/cert-$i.crt"; done > "$work/openssl.txt"
end=$(date +%s%N)
sub_ms=$(( (end - start) / 1000000 ))
theirs=$(( sub_ms * n / sub ))
echo "kubecert check-expiration --scan: $ours ms for $count certificates"
echo "openssl x509 -enddate loop:       $sub_ms ms for $(wc -l < "$work/openssl.txt") certificates -> $theirs ms for $n (scaled)"
echo "speed-up: $(( theirs / (ours > 0 ? ours : 1) ))x"
