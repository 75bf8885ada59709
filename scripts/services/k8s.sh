#!/usr/bin/env bash
# A throwaway single-node Kubernetes for tests, on a private bridge: etcd,
# containerd (its own root, state and socket), kube-apiserver,
# kube-controller-manager, kube-scheduler and kubelet.
#
#   scripts/services/k8s.sh start DIR   # everything under DIR; prints DIR/env
#   scripts/services/k8s.sh stop DIR    # by PID; deletes pods, bridges, mounts
#
# BERTH_K8S_BIN is the directory of the server binaries and the pause binary
# (berth_tool_kubernetes in scripts/lib/tools.sh). Needs root, etcd and
# containerd from Debian, runc, the CNI plugins in /usr/lib/cni, buildah.
#
# Addresses: the node is 192.0.2.10 (TEST-NET-1) on a port-less bridge
# (kubelet refuses a loopback node IP); pods get 198.18.0.0/24 on a second
# bridge whose host side is 198.18.0.1, with one route, to 192.0.2.0/24 (the
# node: a database or bucket listening there). No default route, no
# masquerade, no forwarding: nothing leaves the machine. Every control-plane
# port is on 127.0.0.1; the kubelet's on the node address. No kube-proxy, no
# CoreDNS: reach pods by their IPs. The kubelet runs in a mount namespace of
# its own where the kernel tunables it would otherwise rewrite
# (vm.overcommit_memory, kernel.panic, kernel.panic_on_oops, vm.panic_on_oom)
# read as already set; DIR is a shared mount so that its volume mounts reach
# containerd.
#
# DIR/env, sourced by tests: KUBECONFIG, NODE_IP, NODE_NAME, POD_GATEWAY,
# CONTAINERD_ADDRESS (for ctr -a), K8S_PIDS.
set -euo pipefail

# shellcheck source=scripts/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"

# kubectl of the same release as the server (berth_tool_kubernetes).
if [ -n "${BERTH_K8S_BIN:-}" ]; then PATH="$BERTH_K8S_BIN:$PATH"; fi
NODE_IP=192.0.2.10
NODE_BRIDGE=bk8s-node0
POD_BRIDGE=bk8s-pods0
POD_SUBNET=198.18.0.0/24
POD_GATEWAY=198.18.0.1
SERVICE_RANGE=10.0.0.0/24
NODE_NAME=berth-k8s-node
PAUSE_IMAGE=localhost/berth-test/pause:k8s

log() { echo "k8s.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

# wait_for SECONDS WHAT CMD...: poll CMD every 0.2 s.
wait_for() {
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	die "$what not ready after ${secs}s (logs in $DIR/*.log)"
}

start() {
	DIR=$1
	[ "$(id -u)" = 0 ] || die "needs root"
	BIN=${BERTH_K8S_BIN:?set BERTH_K8S_BIN to the Kubernetes binaries directory}
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet pause; do
		[ -x "$BIN/$b" ] || die "$BIN/$b missing"
	done
	for c in etcd containerd ctr runc buildah openssl kubectl unshare; do
		command -v "$c" >/dev/null || die "$c missing"
	done
	ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && die "$NODE_BRIDGE exists: another cluster runs (or stop was skipped)"
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	mkdir -p "$DIR"/{pki,etcd,containerd,cni/net.d,cni/ipam,kubelet,pod-logs,sysctl}
	: >"$DIR/pids"

	# DIR as a shared mount: the kubelet's volume mounts (made in its own
	# mount namespace) appear here for containerd too.
	mount --bind "$DIR" "$DIR"
	mount --make-shared "$DIR"
	echo mounted >"$DIR/shared-mount"

	log "network: $NODE_BRIDGE $NODE_IP/32, $POD_BRIDGE $POD_GATEWAY/24"
	ip link add "$NODE_BRIDGE" type bridge
	ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
	ip link set "$NODE_BRIDGE" up
	ip link add "$POD_BRIDGE" type bridge
	ip addr add "$POD_GATEWAY/24" dev "$POD_BRIDGE"
	ip link set "$POD_BRIDGE" up

	log "certificates and keys"
	(
		cd "$DIR/pki"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj /CN=berth-test-apiserver -addext "subjectAltName=IP:127.0.0.1" \
			-keyout apiserver-key.pem -out apiserver.pem 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >token
		printf '%s,admin,admin,system:masters\n' "$(cat token)" >tokens.csv
	) || die "openssl failed"

	local etcd_port etcd_peer api_port cm_port sched_port healthz_port kubelet_port
	free_port etcd_port
	free_port etcd_peer
	free_port api_port
	free_port cm_port
	free_port sched_port
	free_port healthz_port
	free_port kubelet_port
	cat >"$DIR/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $DIR/pki/apiserver.pem
users:
- name: admin
  user:
    token: $(cat "$DIR/pki/token")
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
KC

	log "etcd on 127.0.0.1:$etcd_port"
	etcd --name default --data-dir "$DIR/etcd/data" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
		--initial-cluster "default=http://127.0.0.1:$etcd_peer" --listen-metrics-urls "" \
		--quota-backend-bytes $((512 << 20)) >"$DIR/etcd.log" 2>&1 &
	echo "etcd $!" >>"$DIR/pids"
	wait_tcp "$etcd_port" $! 30 || die "etcd did not start; see $DIR/etcd.log"

	log "containerd"
	cat >"$DIR/containerd/config.toml" <<TOML
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$DIR/containerd/containerd.sock"
[ttrpc]
  address = "$DIR/containerd/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "${BERTH_K8S_SNAPSHOTTER:-overlayfs}"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
TOML
	cat >"$DIR/cni/net.d/10-berth-test.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "berth-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DIR/cni/ipam",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$POD_GATEWAY"}]],
        "routes": [{"dst": "192.0.2.0/24", "gw": "$POD_GATEWAY"}]
      }
    }
  ]
}
JSON
	containerd --config "$DIR/containerd/config.toml" >"$DIR/containerd.log" 2>&1 &
	echo "containerd $!" >>"$DIR/pids"
	wait_for 30 containerd ctr -a "$DIR/containerd/containerd.sock" version

	log "pause image (static build of pause.c)"
	local ctx
	ctx=$(mktemp -d "$DIR/pause-ctx.XXXXXX")
	cp "$BIN/pause" "$ctx/pause"
	printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
	local sconf="$DIR/buildah-storage.conf"
	printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' "$DIR/buildah/graph" "$DIR/buildah/run" >"$sconf"
	CONTAINERS_STORAGE_CONF=$sconf buildah bud --isolation chroot --quiet -t "$PAUSE_IMAGE" "$ctx" >/dev/null
	CONTAINERS_STORAGE_CONF=$sconf buildah push --quiet "$PAUSE_IMAGE" "docker-archive:$DIR/pause.tar:$PAUSE_IMAGE" >/dev/null
	ctr -a "$DIR/containerd/containerd.sock" -n k8s.io images import "$DIR/pause.tar" >/dev/null
	rm -rf "$ctx"

	log "kube-apiserver on 127.0.0.1:$api_port"
	"$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$etcd_port" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
		--tls-cert-file="$DIR/pki/apiserver.pem" --tls-private-key-file="$DIR/pki/apiserver-key.pem" \
		--client-ca-file="$DIR/pki/apiserver.pem" --token-auth-file="$DIR/pki/tokens.csv" \
		--authorization-mode=Node,RBAC --service-cluster-ip-range="$SERVICE_RANGE" \
		--service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$DIR/pki/sa.pub" \
		--service-account-signing-key-file="$DIR/pki/sa.key" \
		--kubelet-preferred-address-types=InternalIP \
		--allow-privileged=false --profiling=false --enable-priority-and-fairness=false \
		>"$DIR/kube-apiserver.log" 2>&1 &
	echo "kube-apiserver $!" >>"$DIR/pids"
	export KUBECONFIG="$DIR/kubeconfig"
	wait_for 90 kube-apiserver kubectl get --raw /readyz

	log "kube-controller-manager and kube-scheduler"
	"$BIN/kube-controller-manager" --kubeconfig="$DIR/kubeconfig" --authentication-kubeconfig="$DIR/kubeconfig" \
		--authorization-kubeconfig="$DIR/kubeconfig" --bind-address=127.0.0.1 --secure-port="$cm_port" \
		--service-account-private-key-file="$DIR/pki/sa.key" --root-ca-file="$DIR/pki/apiserver.pem" \
		--controllers='*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle' --leader-elect=false \
		--use-service-account-credentials=true --profiling=false \
		>"$DIR/kube-controller-manager.log" 2>&1 &
	echo "kube-controller-manager $!" >>"$DIR/pids"
	"$BIN/kube-scheduler" --kubeconfig="$DIR/kubeconfig" --authentication-kubeconfig="$DIR/kubeconfig" \
		--authorization-kubeconfig="$DIR/kubeconfig" --bind-address=127.0.0.1 --secure-port="$sched_port" \
		--leader-elect=false --profiling=false >"$DIR/kube-scheduler.log" 2>&1 &
	echo "kube-scheduler $!" >>"$DIR/pids"

	log "kubelet on $NODE_IP:$kubelet_port"
	cat >"$DIR/kubelet/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz_port
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
makeIPTablesUtilChains: false
protectKernelDefaults: false
containerRuntimeEndpoint: unix://$DIR/containerd/containerd.sock
podLogsDir: $DIR/pod-logs
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
evictionHard:
  memory.available: "50Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 30
YAML
	# The kernel tunables the kubelet insists on, as files it reads in its
	# own mount namespace; the machine's settings stay as they are.
	printf 1 >"$DIR/sysctl/overcommit_memory"
	printf 10 >"$DIR/sysctl/panic"
	printf 1 >"$DIR/sysctl/panic_on_oops"
	printf 0 >"$DIR/sysctl/panic_on_oom"
	unshare --mount --propagation unchanged -- bash -c '
		set -e
		d=$1; shift
		mount --make-rprivate /proc
		mount --bind "$d/sysctl/overcommit_memory" /proc/sys/vm/overcommit_memory
		mount --bind "$d/sysctl/panic" /proc/sys/kernel/panic
		mount --bind "$d/sysctl/panic_on_oops" /proc/sys/kernel/panic_on_oops
		mount --bind "$d/sysctl/panic_on_oom" /proc/sys/vm/panic_on_oom
		exec "$@"' kubelet "$DIR" \
		"$BIN/kubelet" --config="$DIR/kubelet/config.yaml" --kubeconfig="$DIR/kubeconfig" \
		--root-dir="$DIR/kubelet/root" --cert-dir="$DIR/kubelet/pki" \
		--node-ip="$NODE_IP" --hostname-override="$NODE_NAME" \
		>"$DIR/kubelet.log" 2>&1 &
	echo "kubelet $!" >>"$DIR/pids"
	node_ready() { kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -qx True; }
	wait_for 120 "node $NODE_NAME" node_ready
	sa_ready() { kubectl get serviceaccount default -n default; }
	wait_for 60 "default ServiceAccount" sa_ready

	cat >"$DIR/env" <<ENV
export KUBECONFIG=$DIR/kubeconfig
NODE_IP=$NODE_IP
NODE_NAME=$NODE_NAME
POD_GATEWAY=$POD_GATEWAY
CONTAINERD_ADDRESS=$DIR/containerd/containerd.sock
ENV
	log "ready: node $NODE_NAME ($NODE_IP), KUBECONFIG=$DIR/kubeconfig"
	printf '%s\n' "$DIR/env"
}

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$DIR/pids" 2>/dev/null | tail -n 1; }

stop() {
	DIR=$(cd "$1" 2>/dev/null && pwd) || exit 0
	[ -f "$DIR/pids" ] || exit 0
	local sock="$DIR/containerd/containerd.sock" pid id ns
	export KUBECONFIG="$DIR/kubeconfig"
	# Pods first, while the kubelet runs: it stops their containers and
	# tears their networks down (CNI DEL, network namespaces removed).
	if [ -n "$(pid_of kubelet)" ] && kill -0 "$(pid_of kubelet)" 2>/dev/null; then
		timeout 20 kubectl delete pods --all -A --grace-period=1 --wait=false >/dev/null 2>&1 || true
		for _ in $(seq 100); do
			[ -z "$(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null)" ] && break
			sleep 0.3
		done
	fi
	for n in kubelet kube-scheduler kube-controller-manager kube-apiserver; do
		stop_pid "$(pid_of $n)"
	done
	# What the kubelet did not stop: kill the tasks, delete containers and
	# their network namespaces.
	if [ -S "$sock" ]; then
		for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$sock" -n k8s.io tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
		done
		sleep 0.5
		for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
			ctr -a "$sock" -n k8s.io tasks delete -f "$id" >/dev/null 2>&1 || true
		done
		for id in $(ctr -a "$sock" -n k8s.io containers ls -q 2>/dev/null); do
			ctr -a "$sock" -n k8s.io containers delete "$id" >/dev/null 2>&1 || true
		done
	fi
	stop_pid "$(pid_of containerd)"
	stop_pid "$(pid_of etcd)"
	# Network namespaces the CRI made for our pods (their veths go with them).
	for ns in /var/run/netns/cni-*; do
		[ -e "$ns" ] || continue
		if grep -rqs "$(basename "$ns")" "$DIR/cni/ipam" "$DIR/containerd" 2>/dev/null; then
			umount "$ns" 2>/dev/null || true
			rm -f "$ns"
		fi
	done
	# Every mount under DIR (volumes, overlay snapshots, shm), deepest
	# first, then DIR's own bind mount.
	awk -v d="$DIR/" '{ if (index($5, d) == 1) print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	if [ -f "$DIR/shared-mount" ]; then
		umount "$DIR" 2>/dev/null || umount -l "$DIR" 2>/dev/null || true
		rm -f "$DIR/shared-mount"
	fi
	# The kubelet links container logs into /var/log/containers (a fixed
	# path): remove the links into DIR.
	for l in /var/log/containers/*.log; do
		[ -L "$l" ] || continue
		case $(readlink "$l") in "$DIR"/*) rm -f "$l" ;; esac
	done
	ip link del "$POD_BRIDGE" 2>/dev/null || true
	ip link del "$NODE_BRIDGE" 2>/dev/null || true
	# The cgroups the kubelet made (cgroupfs driver), now empty.
	for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
		[ -d "$c" ] || continue
		find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	done
	: >"$DIR/pids"
}

case ${1:-} in
start) start "${2:?usage: k8s.sh start DIR}" ;;
stop) stop "${2:?usage: k8s.sh stop DIR}" ;;
*) die "usage: k8s.sh start|stop DIR" ;;
esac
