# Sourced by testbed/testbed: a kube-scheduler (`up --scheduler`) and nodes backed by a real
# container runtime (`node create NAME --runtime containerd`), as the testbed note's VERIFIED box
# (2026-11-29) found them to work on this machine kind: containerd and runc from Debian, started
# inside the kubelet's private mount namespace (so both see the node tree's /var/lib/kubelet and the
# tmpfs /var/log), `restrict_oom_score_adj = true`, cgroupfs, a pause image built locally (no
# registry here) and imported with ctr. Pods that need the network use hostNetwork: containerd
# gets a loopback-only CNI network (Debian's containernetworking-plugins) so that it reports
# NetworkReady and the Node goes Ready; with `up --netns` the node's address is its own 10.250.0.N.

# containerd 1.6 puts its shims' sockets under /run/containerd/s whatever its state dir is, and
# runc's state under /run/containerd/runc: a tmpfs there in the kubelet's namespace keeps them off
# the host (the mount point is made and removed like the kubelet's own).
HOST_MOUNTPOINTS+=(/run/containerd)

# ---------------------------------------------------------------- kube-scheduler

extras_bin() { # the folder holding kube-scheduler and the pause image (built on demand, not under CI)
  if [ ! -x "$BIN/kube-scheduler" ]; then
    [ "${CI:-}" != true ] || die "kube-scheduler is missing in $BIN (CI=true: not building implicitly). Run: testbed/testbed build"
    "$HERE/build.sh" --extras >/dev/null || die "could not build kube-scheduler and the pause image (testbed/build.sh --extras)"
  fi
  echo "$BIN"
}

start_scheduler() {
  local p=$D/pki port i ok=0
  extras_bin >/dev/null
  [ -x "$BIN/kube-scheduler" ] || die "up: no kube-scheduler in $BIN (testbed/testbed build)"
  mkcert scheduler "/CN=system:kube-scheduler" 'basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
authorityKeyIdentifier = keyid
extendedKeyUsage = clientAuth'
  chmod 600 "$p/scheduler.key"
  write_kubeconfig "$D/scheduler.conf" system:kube-scheduler "$p/scheduler.crt" "$p/scheduler.key"
  port=$(free_ports 1)
  spawn kube-scheduler "$D/logs/kube-scheduler.log" ${IN_NS[@]+"${IN_NS[@]}"} "$BIN/kube-scheduler" \
    --kubeconfig "$D/scheduler.conf" --authentication-kubeconfig "$D/scheduler.conf" \
    --authorization-kubeconfig "$D/scheduler.conf" --bind-address 127.0.0.1 --secure-port "$port" --leader-elect=false
  for i in $(seq 600); do
    alive kube-scheduler || { tail_log "$D/logs/kube-scheduler.log" 40; die "up: kube-scheduler exited during start"; }
    if [ "$(in_ns curl -sk --max-time 2 "https://127.0.0.1:$port/healthz" 2>/dev/null)" = ok ]; then ok=1; break; fi
    sleep 0.1
  done
  [ $ok = 1 ] || { tail_log "$D/logs/kube-scheduler.log"; die "up: kube-scheduler not healthy after 60 s"; }
}

# ---------------------------------------------------------------- containerd nodes

runtime_arg() { # [--runtime R] -> fakecri (default) or containerd
  local r=fakecri
  while [ $# -gt 0 ]; do
    case $1 in
      --runtime) [ $# -ge 2 ] || die "--runtime needs a value"; r=$2; shift 2 ;;
      --runtime=*) r=${1#--runtime=}; shift ;;
      *) die "node: unknown argument $1" ;;
    esac
  done
  case $r in fakecri|containerd) echo "$r" ;; *) die "node: unknown runtime '$r' (fakecri or containerd)" ;; esac
}

node_runtime() { cat "$D/run/$1/runtime" 2>/dev/null || echo fakecri; }

# the pause image's archive (built by build.sh --extras) and the name it carries
pause_archive() { ls "$(extras_bin)"/pause-*.oci.tar 2>/dev/null | head -1; }

containerd_prepare() { # NAME: containerd's folders and config under $D/run/NAME/containerd
  local n=$1 c=$D/run/$1/containerd pause
  local b
  for b in containerd ctr runc; do
    command -v $b >/dev/null || die "--runtime containerd needs $b (apt-get install containerd runc; .ci/run installs them)"
  done
  [ -x /usr/lib/cni/loopback ] || die "--runtime containerd needs the CNI loopback plugin (apt-get install containernetworking-plugins)"
  pause=$(pause_archive)
  [ -s "$pause" ] || die "no pause image archive (testbed/build.sh --extras)"
  mkdir -p "$c/root" "$c/state" "$c/opt" "$c/net.d"
  chmod 700 "$c/root"
  echo "$pause" >"$c/pause-archive"
  # ctr names the archive's image after its org.opencontainers.image.ref.name (testbed/pause:KEY);
  # the CRI plugin looks images up by their normalized name, so the launcher tags that too
  echo "testbed/pause:$(basename "$pause" .oci.tar | sed 's/^pause-//')" >"$c/pause-ref"
  normalized_ref "$(cat "$c/pause-ref")" >"$c/pause-image"
  cat >"$c/net.d/10-loopback.conflist" <<'EOF'
{"cniVersion": "1.0.0", "name": "testbed-loopback", "plugins": [{"type": "loopback"}]}
EOF
  # The kubelet now measures real filesystems: those of this shared machine, whose fill level says
  # nothing about the node. Its default thresholds (imagefs.available<15%) tainted the node with
  # DiskPressure at 88% used, and image GC (above 85%) would delete the imported images, which no
  # registry can give back: eviction only when nearly full, no image GC.
  cat >>"$D/nodes/$n/var/lib/kubelet/config.yaml" <<'EOF'
evictionHard:
  imagefs.available: 1%
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
EOF
  containerd config default | python3 -c '
import re, sys
c, pause = sys.argv[1], sys.argv[2]
s = sys.stdin.read()
def sub(pat, rep):
    global s
    s, k = re.subn(pat, rep, s, count=1, flags=re.M)
    assert k == 1, pat
sub(r"^root = .*$", "root = \"%s/root\"" % c)
sub(r"^state = .*$", "state = \"%s/state\"" % c)
sub(r"^(\[grpc\]\n  address = ).*$", "\\1\"%s/containerd.sock\"" % c)
sub(r"^(    restrict_oom_score_adj = ).*$", "\\1true")
sub(r"^(    sandbox_image = ).*$", "\\1\"%s\"" % pause)
sub(r"^(      bin_dir = ).*$", "\\1\"/usr/lib/cni\"")
sub(r"^(      conf_dir = ).*$", "\\1\"%s/net.d\"" % c)
sub(r"^(\s+SystemdCgroup = ).*$", "\\1false")
sub(r"^(  \[plugins\.\"io\.containerd\.internal\.v1\.opt\"\]\n    path = ).*$", "\\1\"%s/opt\"" % c)
print(s, end="")
' "$c" "$(cat "$c/pause-image")" >"$c/config.toml" || die "node create: could not write containerd's config"
}

# containerd_launcher NAME: shell code run in the kubelet's mount namespace before `exec kubelet`:
# starts containerd (its pid in $D/pids/containerd-NAME.pid), waits for its socket and imports the
# pause image.
containerd_launcher() {
  local n=$1 c=$D/run/$1/containerd
  rm -f "$c/containerd.sock"
  printf '%s\n' "mount -t tmpfs tmpfs /run/containerd &&
containerd --config $(printf %q "$c/config.toml") >>$(printf %q "$D/logs/containerd-$n.log") 2>&1 &
echo \$! >$(printf %q "$D/pids/containerd-$n.pid") &&
i=0 && while [ ! -S $(printf %q "$c/containerd.sock") ]; do i=\$((i + 1)); [ \$i -le 300 ] || { echo 'testbed: containerd did not start' >&2; exit 1; }; sleep 0.1; done &&
ctr -a $(printf %q "$c/containerd.sock") -n k8s.io images import $(printf %q "$(cat "$c/pause-archive")") >/dev/null &&
ctr -a $(printf %q "$c/containerd.sock") -n k8s.io images tag --force $(cat "$c/pause-ref") $(cat "$c/pause-image") >/dev/null &&"
}

containerd_wait() { # NAME: until the pause image is in (the kubelet's start follows at once)
  local n=$1 c=$D/run/$1/containerd i
  for i in $(seq 600); do
    alive "kubelet-$n" || { tail_log "$D/logs/containerd-$n.log"; tail_log "$D/logs/kubelet-$n.log"; die "node $n: the kubelet or containerd failed to start"; }
    ctr -a "$c/containerd.sock" -n k8s.io images check "name==$(cat "$c/pause-image")" 2>/dev/null | grep -q complete && return 0
    sleep 0.1
  done
  tail_log "$D/logs/containerd-$n.log"
  die "node $n: containerd not ready with the pause image after 60 s"
}

node_import() { # NAME ARCHIVE [IMAGE]: prints the names the kubelet can use (IMAGE: one more tag)
  local n=$1 f=${2:-} as=${3:-} c=$D/run/$1/containerd
  node_tree "$n"
  [ "$(node_runtime "$n")" = containerd ] || die "node import: $n is not a containerd node"
  [ -f "$f" ] || die "node import: no archive $f"
  [ -S "$c/containerd.sock" ] || die "node import: containerd of $n is not running"
  local out name
  out=$(ctr -a "$c/containerd.sock" -n k8s.io images import "$f" 2>&1) || { echo "$out" >&2; die "node import: ctr failed on $f"; }
  # ctr prints "unpacking NAME (sha256:...)...done" per image; the kubelet asks for the normalized
  # name (localhost/kubecert:0.1.0 stays as is, kubecert:0.1.0 becomes docker.io/library/kubecert:0.1.0)
  for name in $(printf '%s\n' "$out" | sed -n 's/^unpacking \([^ ]*\) (sha256:.*/\1/p'); do
    [ "$(normalized_ref "$name")" = "$name" ] || ctr -a "$c/containerd.sock" -n k8s.io images tag --force "$name" "$(normalized_ref "$name")" >/dev/null ||
      die "node import: cannot tag $name"
    echo "$(normalized_ref "$name")"
    if [ -n "$as" ]; then
      ctr -a "$c/containerd.sock" -n k8s.io images tag --force "$name" "$(normalized_ref "$as")" >/dev/null || die "node import: cannot tag $name as $as"
      echo "$(normalized_ref "$as")"
    fi
  done
}

normalized_ref() { # NAME[:TAG] -> the name as the CRI plugin resolves it (docker's normalization)
  local r=$1 first=${1%%/*}
  case $r in
    */*) case $first in *.*|*:*|localhost) echo "$r" ;; *) echo "docker.io/$r" ;; esac ;;
    *) echo "docker.io/library/$r" ;;
  esac
}

# stop_containerd NAME: the node's containers (the children of its shims), the shims, containerd
shim_pids() { # NAME
  local p exe sock=$D/run/$1/containerd/containerd.sock
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case ${exe##*/} in containerd-shim*) ;; *) continue ;; esac
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $sock " || continue
    ours "${p#/proc/}" && echo "${p#/proc/}"
  done
  return 0
}

stop_containerd() {
  local n=$1 s kids=() shims=() i ids=() id k
  [ "$(node_runtime "$n")" = containerd ] || return 0
  # runc makes a cgroup per container (cgroupfs, /k8s.io/ID in every hierarchy): removed at the end
  [ -S "$D/run/$n/containerd/containerd.sock" ] &&
    mapfile -t ids < <(timeout 10 ctr -a "$D/run/$n/containerd/containerd.sock" -n k8s.io containers ls -q 2>/dev/null)
  for s in $(shim_pids "$n"); do
    shims+=("$s")
    # a container's first process is a child of its shim and the init of its own pid namespace:
    # killing it ends every process of that container
    for i in $(cat "/proc/$s/task/"*/children 2>/dev/null); do kids+=("$i"); done
  done
  [ ${#kids[@]} -eq 0 ] || kill -KILL "${kids[@]}" 2>/dev/null || true
  stop_procs "containerd-$n"
  [ ${#shims[@]} -eq 0 ] || { sleep 0.5; kill -KILL "${shims[@]}" 2>/dev/null || true; }
  rm -f "$D/run/$n/containerd/containerd.sock"
  for id in ${ids[@]+"${ids[@]}"}; do
    [[ $id =~ ^[0-9a-f]{64}$ ]] || continue
    for k in $(seq 20); do  # a killed container's cgroup empties a moment later
      rmdir /sys/fs/cgroup/*/k8s.io/"$id" /sys/fs/cgroup/k8s.io/"$id" 2>/dev/null || true
      compgen -G "/sys/fs/cgroup/*/k8s.io/$id" >/dev/null || compgen -G "/sys/fs/cgroup/k8s.io/$id" >/dev/null || break
      sleep 0.1
    done
  done
  rmdir /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/k8s.io 2>/dev/null || true  # only when no one else's is left
}
