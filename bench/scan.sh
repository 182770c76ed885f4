#!/usr/bin/env bash
# Benchmark of `kubecert scan` (issue 6): N simulated kubelets (real TLS servers on 127.0.0.1 in
# one process, distinct certificates: 60% cluster-signed, 20% self-signed, 10% expired, 5% refused,
# 5% silent) with real Node objects in a private test cluster pointing at them; `kubecert scan`
# timed under /usr/bin/time -v (wall time, CPU, peak RSS; BENCH_RUNS runs per N, default 3, median
# reported), with and without the kubelet metrics read through the node proxy (the forecast),
# beside a plain sequential
# `openssl s_client` loop over the first 200 of the same endpoints (extrapolated to N).
#   bench/scan.sh [N...]        (default: 100 1000 5000)
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(100 1000 5000)
cargo build --release -q -p kubecert -p kubecert-scan-bench
# The simulated Nodes never heartbeat: with the node-lifecycle controller on, this 2-core machine's
# API server, etcd and controller-manager spend about one core marking 5,000 of them Unknown and
# retrying conflicting updates, a load that in a real cluster is on the control plane, not on the
# machine that runs the scan. BENCH_NODE_LIFECYCLE=1 keeps it on.
up_args=(--no-node-lifecycle); [ "${BENCH_NODE_LIFECYCLE:-0}" = 1 ] && up_args=()
env_file=$(testbed/testbed up "${up_args[@]}" | tail -1)
trap 'TESTBED_DIR=$(dirname "$env_file") testbed/testbed down >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1090
. "$env_file"
# The simulated kubelets listen on this machine's own address: the API server's node proxy (the
# scan's kubelet metrics read) refuses loopback. With no such address they fall back to 127.0.0.1
# and every metrics read is refused (the bench's counts then say NO).
BENCH_ADDRESS=${BENCH_ADDRESS:-$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)}
export BENCH_ADDRESS=${BENCH_ADDRESS:-127.0.0.1}
echo "endpoints on $BENCH_ADDRESS; machine: $(nproc) cores, $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg); node-lifecycle controller: $([ ${#up_args[@]} -eq 0 ] && echo on || echo off); kubecert scan --timeout 1s --concurrency 256 (default)"
target/release/kubecert-scan-bench "$PWD/target/release/kubecert" "${sizes[@]}"
