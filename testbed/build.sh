#!/usr/bin/env bash
# Builds (or reuses) the pinned Kubernetes binaries, etcd and fakecri into a cache folder outside
# the repo, keyed by version and by the hash of go.mod/go.sum, and prints that folder's bin path.
# build.sh --check: print the bin path if every binary is there, else name the missing ones and exit 1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=v1.37.2
key=$(cat "$here/go.mod" "$here/go.sum" "$here/fakecri/main.go" | sha256sum | cut -c1-12)
cache=${KUBECERT_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubecert-testbed}
bin="$cache/$K8S_VERSION-$key/bin"
want=(kube-apiserver kube-controller-manager kubelet kubectl kubeadm etcd fakecri)
missing=()
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done

# build.sh --extras: kube-scheduler and the pause image for containerd nodes, built on their own
# into the same folder (same go.mod/go.sum, so the same key; the binaries above stay as they are).
# Prints the bin path. The pause image is keyed by its source's hash.
if [ "${1:-}" = --extras ]; then
  [ -d "$bin" ] || { echo "testbed build: run testbed/testbed build first ($bin is missing)" >&2; exit 1; }
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
  if [ ! -x "$bin/kube-scheduler" ]; then
    [ "${CI:-}" != true ] || [ "${TESTBED_BUILD_EXTRAS:-}" = 1 ] || { echo "testbed build: kube-scheduler missing in $bin (CI=true: not building implicitly; run testbed/testbed build)" >&2; exit 1; }
    command -v go >/dev/null || { echo "testbed build: Go is required" >&2; exit 1; }
    LD="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      LD="$LD -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitCommit=$K8S_VERSION -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
    done
    echo "testbed build: building kube-scheduler into $bin (~2-4 min on 2 cores, then cached)" >&2
    (cd "$here" && go build -p 2 -ldflags "$LD" -o "$bin/kube-scheduler.tmp" k8s.io/kubernetes/cmd/kube-scheduler) >&2
    mv "$bin/kube-scheduler.tmp" "$bin/kube-scheduler"
  fi
  pk=$(sha256sum <"$here/pause/main.go" | cut -c1-12)
  if [ ! -s "$bin/pause-$pk.oci.tar" ]; then
    command -v buildah >/dev/null || { echo "testbed build: buildah is required for the pause image (apt-get install buildah)" >&2; exit 1; }
    ctx=$(mktemp -d)
    (cd "$here" && go build -ldflags "-s -w" -o "$ctx/pause" ./pause) >&2
    printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
    store=(--root "$ctx/storage" --runroot "$ctx/run" --storage-driver vfs)
    buildah "${store[@]}" bud --quiet --layers=false --timestamp 0 -f "$ctx/Containerfile" -t localhost/pause:testbed "$ctx" >&2
    buildah "${store[@]}" push --quiet localhost/pause:testbed "oci-archive:$bin/pause-$pk.oci.tar.tmp:testbed/pause:$pk" >&2
    buildah "${store[@]}" rmi -a >/dev/null 2>&1 || true
    rm -rf "$ctx"
    mv "$bin/pause-$pk.oci.tar.tmp" "$bin/pause-$pk.oci.tar"
  fi
  echo "$bin"; exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then echo "$bin"; exit 0; fi
if [ "${1:-}" = --check ]; then
  echo "testbed build: missing in $bin: ${missing[*]} (run testbed/testbed build; cold ~8-15 min on 2 cores)" >&2
  exit 1
fi

command -v go >/dev/null || { echo "testbed build: Go is required (apt-get install golang, or a Go >= 1.26 toolchain)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-trimpath
mkdir -p "$bin.tmp"
cd "$here"
go mod download >&2
LD="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37 -X $p.gitCommit=$K8S_VERSION -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
done
echo "testbed build: building ${missing[*]} into $bin (cold ~7-8 min on 2 cores, then cached)" >&2
start=$(date +%s)
go build -p 2 -ldflags "$LD" -o "$bin.tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubeadm >&2
go build -ldflags "-s -w" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3 >&2
go build -ldflags "-s -w" -o "$bin.tmp/fakecri" ./fakecri >&2
rm -rf "$bin" && mv "$bin.tmp" "$bin"
echo "testbed build: done in $(( $(date +%s) - start )) s" >&2
echo "$bin"
