#!/usr/bin/env bash
# `renew all` timed two ways on identical kubeadm-made control-plane trees (the real kubeadm v1.37.2
# from the testbed cache, offline with --rootfs):
#  A. kubeadm certs renew all --config /kubeadm.yaml --rootfs TREE
#  B. kubecert renew all --force --root TREE   (plus what kubeadm does not do: backup with manifest,
#     atomic writes, verification of every new pair, the CA checks)
# Each round renews a fresh copy of the same tree. Prints median/min/max wall and CPU per tool.
#   bench/renew.sh [ROUNDS]     (needs `testbed/testbed build` done; builds kubecert --release, or
#   KUBECERT_BIN=path uses that release binary, e.g. scripts/build-static's)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
if [ -n "${KUBECERT_BIN:-}" ]; then
  bin=$KUBECERT_BIN
else
  cargo build --release -q -p kubecert
  bin=$PWD/target/release/kubecert
fi
kubeadm=$(ls -d "$HOME"/.cache/kubecert-testbed/*/bin | head -1)/kubeadm
[ -x "$kubeadm" ] || { echo "no kubeadm: run testbed/testbed build" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
mkdir -p "$tree/etc/kubernetes/pki"
echo cp1 > "$tree/etc/hostname"
cat > "$tree/kubeadm.yaml" <<'YAML'
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.250.0.5
  bindPort: 6443
nodeRegistration:
  name: cp1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
YAML
(cd "$work" && "$kubeadm" init phase certs all --config /kubeadm.yaml --rootfs "$tree" >/dev/null && "$kubeadm" init phase kubeconfig all --config /kubeadm.yaml --rootfs "$tree" >/dev/null)

# One timed run: prints "wall_ms cpu_ms".
timed() {
  /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >/dev/null 2>&1
  awk '{printf "%d %d\n", $1*1000, ($2+$3)*1000}' "$work/t"
}
stats() {  # name file: medians of each column separately (plain awk, no gawk extensions)
  local w c
  w=$(cut -d' ' -f1 "$2" | sort -n | tr '\n' ' ')
  c=$(cut -d' ' -f2 "$2" | sort -n | tr '\n' ' ')
  awk -v n="$1" -v w="$w" -v c="$c" 'BEGIN { k = split(w, W, " "); split(c, C, " "); m = int((k + 1) / 2);
    printf "%-30s wall median %5d ms (min %d, max %d)   cpu median %5d ms\n", n, W[m], W[1], W[k], C[m] }'
}
: > "$work/a"; : > "$work/b"
for i in $(seq "$rounds"); do
  rm -rf "$work/x" "$work/y"; cp -a "$tree" "$work/x"; cp -a "$tree" "$work/y"
  (cd "$work" && timed "$kubeadm" certs renew all --config /kubeadm.yaml --rootfs "$work/x") >> "$work/a"
  timed "$bin" renew all --force --root "$work/y" >> "$work/b"
done
echo "renew all, 11 certificates (7 PEM pairs + 4 kubeconfigs), RSA 2048, $rounds rounds, load $(cut -d' ' -f1 /proc/loadavg)"
stats "kubeadm certs renew all" "$work/a"
stats "kubecert renew all --force" "$work/b"
