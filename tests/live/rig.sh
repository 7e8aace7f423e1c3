#!/usr/bin/env bash
# A real Kubernetes 1.20.2 control plane on loopback for karpdeck's live tests:
# etcd + kube-apiserver + kube-scheduler + kube-controller-manager, built from
# Debian bookworm's `kubernetes` source package (see shared/reference/control-plane.md),
# plus the Karpenter CRDs in tests/live/fixtures/crds/.
#
#   rig.sh install                      apt packages (and deb-src) the build and the rig need
#   rig.sh build                        build the three binaries once into the cache
#   rig.sh start DIR                    start everything, state under DIR, write DIR/kubeconfig and DIR/env
#   rig.sh stop DIR                     stop everything started in DIR (logs stay)
#   rig.sh restart-apiserver DIR [SEC]  SIGKILL kube-apiserver, sleep SEC, start it again on the same port
#   rig.sh env DIR                      print DIR/env
#   rig.sh lab DIR                      install, build and start in DIR, apply the lab cluster and play
#                                       its kubelets in the foreground (to try karpdeck on a real API server)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CRDS="$HERE/fixtures/crds"
CACHE=${KARPDECK_RIG_CACHE:-$HOME/.cache/karpdeck/k8s-1.20.2}
BIN="$CACHE/bin"
COMPONENTS=(kube-apiserver kube-scheduler kube-controller-manager)
APT_PACKAGES=(golang-go etcd-server rsync make openssl golang-github-modern-go-reflect2-dev curl python3)
READY_TIMEOUT=${KARPDECK_RIG_READY_TIMEOUT:-90}

die() { echo "rig: $*" >&2; exit 1; }
log() { echo "rig: $*" >&2; }

# ---------------------------------------------------------------------------
# install: apt packages plus a deb-src entry for bookworm main (for `apt-get source kubernetes`).
# Runs `apt-get update` only when something is missing, so it is quick once done.
cmd_install() {
  local need_update=0 missing=() p
  local src_list=/etc/apt/sources.list.d/karpdeck-deb-src.sources
  if ! grep -qsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; then
    # Same archive, key and component as the existing bookworm `deb` entry, for source packages.
    awk 'BEGIN { RS = ""; ORS = "\n" }
         /Types: deb/ && /Suites:.*bookworm( |$|\n)/ && /Components:.*main/ {
           n = split($0, lines, "\n")
           for (i = 1; i <= n; i++) {
             if (lines[i] ~ /^Types:/) lines[i] = "Types: deb-src"
             else if (lines[i] ~ /^Suites:/) lines[i] = "Suites: bookworm"
             else if (lines[i] ~ /^Components:/) lines[i] = "Components: main"
             else if (lines[i] ~ /^#/) continue
             print lines[i]
           }
           exit
         }' /etc/apt/sources.list.d/debian.sources >"$src_list"
    grep -q '^URIs:' "$src_list" || { rm -f "$src_list"; die "no bookworm deb entry in /etc/apt/sources.list.d/debian.sources to copy for deb-src"; }
    log "added $src_list"
    need_update=1
  fi
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) || need_update=1
  if ((need_update)); then apt-get update -qq; fi
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  log "install: ok"
}

# ---------------------------------------------------------------------------
# build: kube-apiserver, kube-scheduler, kube-controller-manager into $CACHE/bin, unless all three are there.
# The work tree ($CACHE/work) is removed after a successful build.
cmd_build() {
  local c have=1
  for c in "${COMPONENTS[@]}"; do [[ -x "$BIN/$c" ]] || have=0; done
  if ((have)); then log "build: cached in $BIN"; return; fi
  command -v go >/dev/null || die "go is missing: run '$0 install' first"
  local start=$SECONDS work="$CACHE/work"
  rm -rf "$work" && mkdir -p "$work/src" && cd "$work"
  apt-get source --download-only kubernetes >/dev/null 2>&1 \
    || die "apt-get source kubernetes failed: run '$0 install' (it enables deb-src)"
  tar -xzf kubernetes_*.orig.tar.gz -C src --strip-components=1
  cd src
  # Vendored reflect2 v1.0.1 crashes under Go >= 1.18 (runtime.mapiternext); Debian's 1.0.2 works.
  local r=vendor/github.com/modern-go/reflect2 deb=/usr/share/gocode/src/github.com/modern-go/reflect2
  rm -rf "$r" && mkdir "$r" && cp "$deb"/*.go "$deb"/*.s "$r"/
  # The 1.20 build scripts run in GOPATH mode; the version file makes /version say v1.20.2.
  mkdir -p .go/src/k8s.io && ln -s ../../.. .go/src/k8s.io/kubernetes
  cat >"$work/version" <<'EOF'
KUBE_GIT_VERSION=v1.20.2
KUBE_GIT_MAJOR=1
KUBE_GIT_MINOR=20
KUBE_GIT_COMMIT=faecb196815e248d3ecfb03c680a4507229c2a56
KUBE_GIT_TREE_STATE=clean
EOF
  log "build: compiling ${COMPONENTS[*]} (4-8 minutes on 2 cores)"
  GOPATH="$PWD/.go" GOCACHE="$work/gocache" CGO_ENABLED=0 KUBE_GIT_VERSION_FILE="$work/version" \
    make WHAT="cmd/kube-apiserver cmd/kube-scheduler cmd/kube-controller-manager" >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; die "build failed (log: $work/build.log)"; }
  mkdir -p "$BIN"
  for c in "${COMPONENTS[@]}"; do cp "_output/bin/$c" "$BIN/$c"; done
  cd / && rm -rf "$work"
  log "build: done in $((SECONDS - start)) s -> $BIN"
}

# ---------------------------------------------------------------------------
# Helpers shared by start / stop / restart-apiserver.

# pid of a component started in DIR, if it is still running that component's binary (a zombie's cmdline is empty).
running_pid() {
  local dir=$1 name=$2 pid
  [[ -f "$dir/run/$name.pid" ]] || return 1
  pid=$(<"$dir/run/$name.pid")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name" && echo "$pid"
}

# Start one component in its own session (it outlives this script), log to DIR/logs/NAME.log.
launch() {
  local dir=$1 name=$2; shift 2
  setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/run/$name.pid"
  disown
}

# Send SIG to a component and wait (up to 30 s, SIGKILL after 15 s) until it has exited. An exited process
# can stay a zombie for a while (init reaps it), so "exited" is judged by running_pid, not kill -0.
kill_component() {
  local dir=$1 name=$2 sig=$3 pid i
  if pid=$(running_pid "$dir" "$name"); then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
      running_pid "$dir" "$name" >/dev/null || break
      ((i == 150)) && { kill -KILL "$pid" 2>/dev/null || true; }
      sleep 0.1
    done
    running_pid "$dir" "$name" >/dev/null && die "$name (pid $pid) did not exit"
  fi
  rm -f "$dir/run/$name.pid"
}

# `n` distinct free TCP ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# curl as admin against the rig's apiserver, verifying TLS with the rig's CA.
admin_curl() {
  local dir=$1; shift
  # shellcheck disable=SC1091
  (. "$dir/env" && curl -sS --cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $KARPDECK_RIG_ADMIN_TOKEN" "$@")
}

# The kube-apiserver command line, in one place so restart-apiserver starts it exactly as start did.
start_apiserver() {
  local dir=$1 pki=$1/pki
  launch "$dir" kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$(port_of "$dir" ETCD_PORT)" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$(port_of "$dir" APISERVER_PORT)" --insecure-port=0 \
    --tls-cert-file="$pki/server.crt" --tls-private-key-file="$pki/server.key" --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$pki/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/12 \
    --disable-admission-plugins=ServiceAccount \
    --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/audit.log" --audit-log-maxsize=0
}

# Wait until /readyz says ok; on timeout print the apiserver log tail and fail.
wait_ready() {
  local dir=$1 deadline=$((SECONDS + READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    [[ "$(admin_curl "$dir" --max-time 5 "$(server "$dir")/readyz" 2>/dev/null)" == ok ]] && return 0
    running_pid "$dir" kube-apiserver >/dev/null || break
    sleep 0.5
  done
  tail -n 40 "$dir/logs/kube-apiserver.log" >&2
  die "kube-apiserver not ready within ${READY_TIMEOUT} s (log: $dir/logs/kube-apiserver.log)"
}

# DIR/ports holds the ports start chose (KEY=PORT lines); restart-apiserver reuses them.
port_of() { sed -n "s/^$2=//p" "$1/ports"; }
server() { echo "https://127.0.0.1:$(port_of "$1" APISERVER_PORT)"; }

# CA, serving certificate (rustls-compatible v3 extensions), service-account key pair, tokens.
make_pki() {
  local pki=$1/pki
  mkdir -p "$pki"
  [[ -f "$pki/server.crt" ]] && return
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt -subj /CN=karpdeck-rig-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver 2>/dev/null
    printf '%s\n' basicConstraints=CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment \
      extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1,DNS:localhost >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # token,user,uid,"groups": the scheduler and controller-manager get their own names in the audit log.
    {
      echo "$(openssl rand -hex 16),admin,admin,\"system:masters\""
      echo "$(openssl rand -hex 16),viewer,viewer"
      echo "$(openssl rand -hex 16),system:kube-scheduler,system:kube-scheduler"
      echo "$(openssl rand -hex 16),system:kube-controller-manager,system:kube-controller-manager,\"system:masters\""
    } >tokens.csv
    chmod 600 ./*.key tokens.csv
  )
}

token_of() { awk -F, -v u="$2" '$2 == u { print $1 }' "$1/pki/tokens.csv"; }

# kubeconfig for one user with one context (the scheduler's and the controller-manager's).
component_kubeconfig() {
  local dir=$1 user=$2 out=$3
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rig
  cluster:
    server: $(server "$dir")
    certificate-authority: $dir/pki/ca.crt
users:
- name: $user
  user:
    token: $(token_of "$dir" "$user")
contexts:
- name: rig
  context: {cluster: rig, user: $user}
current-context: rig
EOF
}

# DIR/kubeconfig: contexts rig (admin, current), rig-viewer (viewer), rig-b (admin, cluster entry rig-b).
user_kubeconfig() {
  local dir=$1 ca srv
  ca=$(base64 -w0 "$dir/pki/ca.crt")
  srv=$(server "$dir")
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rig
  cluster:
    server: $srv
    certificate-authority-data: $ca
- name: rig-b
  cluster:
    server: $srv
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $(token_of "$dir" admin)
- name: viewer
  user:
    token: $(token_of "$dir" viewer)
contexts:
- name: rig
  context: {cluster: rig, user: admin}
- name: rig-viewer
  context: {cluster: rig, user: viewer}
- name: rig-b
  context: {cluster: rig-b, user: admin}
current-context: rig
EOF
}

write_env() {
  local dir=$1
  {
    printf 'KARPDECK_RIG_DIR=%q\n' "$dir"
    printf 'KARPDECK_RIG_KUBECONFIG=%q\n' "$dir/kubeconfig"
    printf 'KARPDECK_RIG_SERVER=%q\n' "$(server "$dir")"
    printf 'KARPDECK_RIG_CA_FILE=%q\n' "$dir/pki/ca.crt"
    printf 'KARPDECK_RIG_ADMIN_TOKEN=%q\n' "$(token_of "$dir" admin)"
    printf 'KARPDECK_RIG_VIEWER_TOKEN=%q\n' "$(token_of "$dir" viewer)"
    printf 'KARPDECK_RIG_AUDIT_LOG=%q\n' "$dir/audit.log"
  } >"$dir/env"
}

# POST every CRD fixture (409 AlreadyExists is fine on a reused DIR), then wait until each is Established.
apply_crds() {
  local dir=$1 f name code i srv
  srv=$(server "$dir")
  for f in "$CRDS"/*.json; do
    code=$(admin_curl "$dir" -o "$dir/logs/crd-apply.out" -w '%{http_code}' -X POST \
      -H 'Content-Type: application/json' --data-binary "@$f" "$srv/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    [[ $code == 201 || $code == 409 ]] || { cat "$dir/logs/crd-apply.out" >&2; die "creating CRD $f: HTTP $code"; }
  done
  for f in "$CRDS"/*.json; do
    name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["name"])' "$f")
    for ((i = 0; ; i++)); do
      admin_curl "$dir" "$srv/apis/apiextensions.k8s.io/v1/customresourcedefinitions/$name" | python3 -c '
import json, sys
conds = json.load(sys.stdin).get("status", {}).get("conditions", [])
sys.exit(0 if any(c["type"] == "Established" and c["status"] == "True" for c in conds) else 1)' && break
      ((i < 60)) || die "CRD $name not Established after 30 s"
      sleep 0.5
    done
  done
  log "CRDs established"
}

# ---------------------------------------------------------------------------
# start DIR: etcd, kube-apiserver, kube-scheduler, kube-controller-manager on free loopback ports.
cmd_start() {
  local dir name
  [[ $# -eq 1 ]] || die "usage: $0 start DIR"
  mkdir -p "$1" && dir=$(cd "$1" && pwd)
  for name in etcd "${COMPONENTS[@]}"; do
    running_pid "$dir" "$name" >/dev/null && die "$dir already has a running $name: '$0 stop $dir' first"
  done
  for name in "${COMPONENTS[@]}"; do [[ -x "$BIN/$name" ]] || die "$BIN/$name missing: run '$0 build'"; done
  command -v etcd >/dev/null || die "etcd missing: run '$0 install'"
  mkdir -p "$dir/run" "$dir/logs" "$dir/etcd"
  # A start that fails half-way stops what it had started (the logs stay).
  trap '[[ $? -eq 0 ]] || cmd_stop "$dir"' EXIT

  local ports
  read -r -a ports <<<"$(free_ports 3)"
  printf 'ETCD_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' "${ports[@]}" >"$dir/ports"
  make_pki "$dir"
  # One line per request (stage ResponseComplete, plus ResponseStarted for watches) at Metadata level.
  cat >"$dir/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
EOF
  component_kubeconfig "$dir" system:kube-scheduler "$dir/scheduler.kubeconfig"
  component_kubeconfig "$dir" system:kube-controller-manager "$dir/controller-manager.kubeconfig"
  user_kubeconfig "$dir"
  write_env "$dir"

  local etcd_peer="http://127.0.0.1:${ports[1]}"
  launch "$dir" etcd etcd --name rig --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:${ports[0]}" --advertise-client-urls "http://127.0.0.1:${ports[0]}" \
    --listen-peer-urls "$etcd_peer" --initial-advertise-peer-urls "$etcd_peer" --initial-cluster "rig=$etcd_peer"
  start_apiserver "$dir"
  wait_ready "$dir"

  local k
  k="$dir/scheduler.kubeconfig"
  launch "$dir" kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$k" --authentication-kubeconfig="$k" \
    --authorization-kubeconfig="$k" --bind-address=127.0.0.1 --secure-port=0 --port=0 --leader-elect=false
  k="$dir/controller-manager.kubeconfig"
  launch "$dir" kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$k" \
    --authentication-kubeconfig="$k" --authorization-kubeconfig="$k" --bind-address=127.0.0.1 \
    --secure-port=0 --port=0 --leader-elect=false --controllers='*,-serviceaccount-token,-nodeipam' \
    --service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$dir/pki/ca.crt"

  apply_crds "$dir"
  for name in kube-scheduler kube-controller-manager; do
    running_pid "$dir" "$name" >/dev/null || { tail -n 20 "$dir/logs/$name.log" >&2; die "$name exited"; }
  done
  log "started: $(server "$dir") (env: $dir/env)"
}

# ---------------------------------------------------------------------------
# stop DIR: scheduler and controller-manager (SIGTERM), apiserver (SIGKILL, it ignores SIGTERM for long), etcd.
cmd_stop() {
  [[ $# -eq 1 && -d $1 ]] || die "usage: $0 stop DIR"
  local dir
  dir=$(cd "$1" && pwd)
  kill_component "$dir" kube-scheduler TERM
  kill_component "$dir" kube-controller-manager TERM
  kill_component "$dir" kube-apiserver KILL
  kill_component "$dir" etcd TERM
  log "stopped (logs in $dir/logs)"
}

# ---------------------------------------------------------------------------
# restart-apiserver DIR [SECONDS]: SIGKILL kube-apiserver, stay down SECONDS, start it with the same flags and port.
cmd_restart_apiserver() {
  [[ $# -ge 1 && $# -le 2 && -d $1 ]] || die "usage: $0 restart-apiserver DIR [SECONDS]"
  local dir down=${2:-0}
  dir=$(cd "$1" && pwd)
  running_pid "$dir" etcd >/dev/null || die "etcd is not running in $dir"
  kill_component "$dir" kube-apiserver KILL
  sleep "$down"
  start_apiserver "$dir"
  wait_ready "$dir"
  log "kube-apiserver restarted on $(server "$dir")"
}

# ---------------------------------------------------------------------------
# env DIR: print the shell-sourceable variables of a started rig.
cmd_env() {
  [[ $# -eq 1 && -f $1/env ]] || die "usage: $0 env DIR (a DIR that '$0 start' set up)"
  cat "$1/env"
}

# ---------------------------------------------------------------------------
# lab DIR: everything from a fresh machine to the lab cluster on a running control plane. The
# lab's nodes need their kubelets (tests/live/kubelet.rs) for as long as it is used, so this
# stays in the foreground; ctrl-c ends them, `rig.sh stop DIR` the control plane.
cmd_lab() {
  [[ $# -eq 1 ]] || die "usage: $0 lab DIR"
  cmd_install
  cmd_build
  cmd_start "$1"
  set -a
  # shellcheck disable=SC1091
  . "$1/env"
  set +a
  cd "$HERE/../.."
  exec cargo test --release --test live -- serve-lab
}

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  build) shift; cmd_build "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  restart-apiserver) shift; cmd_restart_apiserver "$@" ;;
  env) shift; cmd_env "$@" ;;
  lab) shift; cmd_lab "$@" ;;
  *) sed -n '2,14s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
