#!/usr/bin/env bash
# Field report 000's repair, timed two ways against the same real testbed cluster and node:
#  A. kubecert bootstrap-config --node N --install --root TREE   (preflight, token, check that it
#     authenticates, file, move-aside with backup, doctor: the whole repair in one process)
#  B. the report's five-command shell procedure: kubeadm token create, kubectl config set-cluster,
#     set-credentials, set-context, use-context, then the copy onto the node (scp -> install -m 600).
# Each round starts from the report's state (pki/*, kubelet.conf and bootstrap file wiped). The
# first round of each is followed by a kubelet start until the Node is Ready, proving both files work.
#   bench/bootstrap_repair.sh [ROUNDS]     (uses $TESTBED_ENV if set, else starts and stops a cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-10}
cargo build --release -q -p kubecert
bin=$PWD/target/release/kubecert
own_cluster=0
if [ -z "${TESTBED_ENV:-}" ]; then
  testbed/testbed build >/dev/null
  TESTBED_ENV=$(testbed/testbed up 2>/dev/null | tail -1)
  own_cluster=1
fi
# shellcheck disable=SC1090
. "$TESTBED_ENV"
export PATH=$TESTBED_BIN:$PATH
work=$(mktemp -d)
node=bench-$$
cleanup() {
  testbed/testbed node stop "$node" >/dev/null 2>&1 || true
  [ "$own_cluster" = 1 ] && testbed/testbed down >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
testbed/testbed node join "$node" >/dev/null 2>&1
tree=$TESTBED_DIR/nodes/$node
testbed/testbed node stop "$node" >/dev/null

wipe() { rm -rf "$tree"/var/lib/kubelet/pki/* "$tree/etc/kubernetes/kubelet.conf" "$tree/etc/kubernetes/bootstrap-kubelet.conf"; }
now_ns() { date +%s%N; }
ready_ms() {  # start the kubelet, wait for Ready with a fresh heartbeat; prints ms
  local t0; t0=$(now_ns)
  testbed/testbed node start "$node" >/dev/null 2>&1
  testbed/testbed node wait-ready "$node" --timeout 60 >/dev/null
  echo $(( ($(now_ns) - t0) / 1000000 ))
  testbed/testbed node stop "$node" >/dev/null 2>&1
}

# /usr/bin/time gives wall and CPU (user+sys, children included) of each whole repair.
timed() { local out=$1; shift; /usr/bin/time -f '%e %U %S' -o "$out.t" "$@"; read -r w u s < "$out.t"; echo "$w $u $s" >> "$out"; }

# A: kubecert, the whole repair in one process.
for i in $(seq "$rounds"); do
  wipe
  timed "$work/A" "$bin" bootstrap-config --node "$node" --install --root "$tree" 2>/dev/null
  [ "$i" = 1 ] && a_ready=$(ready_ms)
done

# B: field report 000's boot.sh (five commands) and the scp, verbatim but for paths.
cat > "$work/boot.sh" <<'SH'
set -e
cd "$WORK"
rm -f bootstrap-kubelet.conf
KUBE_APISERVER=$TESTBED_SERVER
export BOOTSTRAP_TOKEN=$(kubeadm token create \
  --description kubelet-bootstrap-token \
  --groups system:bootstrappers:kubeadm:default-node-token \
  --kubeconfig "$KUBECONFIG")
kubectl config set-cluster kubernetes \
  --certificate-authority="$TESTBED_CA_CERT" \
  --embed-certs=true \
  --server=${KUBE_APISERVER} \
  --kubeconfig=bootstrap-kubelet.conf >/dev/null
kubectl config set-credentials tls-bootstrap-token-user \
  --token=${BOOTSTRAP_TOKEN} \
  --kubeconfig=bootstrap-kubelet.conf >/dev/null
kubectl config set-context tls-bootstrap-token-user@kubernetes \
  --cluster=kubernetes \
  --user=tls-bootstrap-token-user \
  --kubeconfig=bootstrap-kubelet.conf >/dev/null
kubectl config use-context tls-bootstrap-token-user@kubernetes --kubeconfig=bootstrap-kubelet.conf >/dev/null
install -m 600 bootstrap-kubelet.conf "$TREE/etc/kubernetes/bootstrap-kubelet.conf"   # the scp
SH
for i in $(seq "$rounds"); do
  wipe
  WORK=$work TREE=$tree timed "$work/B" bash "$work/boot.sh"
  [ "$i" = 1 ] && b_ready=$(ready_ms)
done

# median/min/max of column $2 (1 wall s, 2 user s, 3 sys s; "cpu" = user+sys) of file $1, in ms
col() { awk -v c="$2" '{v = (c == "cpu") ? $2 + $3 : $c; printf "%d\n", v * 1000}' "$1" | sort -n |
  awk '{a[NR]=$1} END {printf "median %d ms (min %d, max %d)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo "field report 000's repair, $rounds runs each, one real cluster (k8s v1.37.2 testbed), node $node; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A kubecert bootstrap-config --node N --install --root TREE"
echo "    (preflight SARs + CSR check, token, auth check, file 0600, move-aside with backup, doctor)"
echo "    wall $(col "$work/A" 1); CPU $(col "$work/A" cpu)"
echo "B report 000: kubeadm token create + 4x kubectl config + copy"
echo "    wall $(col "$work/B" 1); CPU $(col "$work/B" cpu)"
echo "kubelet start -> Node Ready (fresh heartbeat) after the first repair: A ${a_ready} ms, B ${b_ready} ms"
