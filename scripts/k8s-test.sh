#!/usr/bin/env bash
# scripts/k8s-test.sh DIR: Berth's chart on a real single-node Kubernetes
# (scripts/services/k8s.sh), as scripts/test's k8s step runs it. Needs root,
# BERTH_K8S_BIN (berth_tool_kubernetes), BERTH_TEST_WEED (SeaweedFS), and
# helm and crane on PATH. Everything lives under DIR and is stopped on exit.
#
#  1. Two images built by deploy/image/build.sh (versions A and B), imported
#     into the node's containerd.
#  2. PostgreSQL and SeaweedFS (S3) on the node's bridge address, where pods
#     reach them; the test's own, not the shared dev services.
#  3. helm install --wait of the AWS reference example (3 replicas, spread
#     over zones, PDB, S3 with redirects off, external PostgreSQL, existing
#     Secrets), pointed at those; the time to all replicas Ready measured.
#  4. Push to one pod, pull from another by pod IP: identical digests.
#  5. A pod deleted while a client pushes through the balancer: the push
#     completes, the Deployment gets back to 3 ready replicas.
#  6. helm upgrade to image B while a client pulls in a loop through the
#     balancer: zero failed pulls; the new pods report version B.
#  7. helm test; helm uninstall leaves only the data (database, bucket).
#
# The "balancer" is internal/testenv/podlb on the node address: it follows
# the Service's EndpointSlices (ready, not terminating) as an ALB with
# target-type ip or kube-proxy would; the cluster has no kube-proxy. It
# never retries; curl (the pull loop) never retries either.
set -euo pipefail

DIR=${1:?usage: k8s-test.sh DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib/proc.sh
source scripts/lib/proc.sh
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
# kubectl of the same release as the server (berth_tool_kubernetes).
if [ -n "${BERTH_K8S_BIN:-}" ]; then PATH="$BERTH_K8S_BIN:$PATH"; fi
NS=registry
REL=berth
START=$SECONDS
say() { printf '==> [%4ds] k8s-test: %s\n' $((SECONDS - START)) "$*" >&2; }
fail() {
	say "FAIL: $*"
	exit 1
}

PIDS=()
cleanup() {
	local rc=$? pid
	set +e
	if [ "$rc" != 0 ] && [ -f "$DIR/cluster/env" ]; then
		kubectl get pods -A -o wide >&2
		kubectl get events -n "$NS" --sort-by=.lastTimestamp 2>/dev/null | tail -n 30 >&2
		for pod in $(kubectl get pods -n "$NS" -o name 2>/dev/null); do
			echo "--- logs of $pod" >&2
			kubectl logs -n "$NS" "$pod" --tail=20 >&2
		done
	fi
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	[ -n "${PG_PORT:-}" ] && scripts/services/postgres.sh stop "$DIR/postgres" "$PG_PORT"
	scripts/services/seaweedfs.sh stop "$DIR/seaweedfs"
	scripts/services/k8s.sh stop "$DIR/cluster"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export CONTAINERS_STORAGE_CONF="$DIR/storage.conf"
printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' "$DIR/buildah/graph" "$DIR/buildah/run" >"$CONTAINERS_STORAGE_CONF"
VERSION_A="k8s-test-a-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
VERSION_B="k8s-test-b-$(git rev-parse --short HEAD 2>/dev/null || echo dev)"
t0=$SECONDS
say "images $VERSION_A and $VERSION_B (deploy/image/build.sh)"
deploy/image/build.sh --version "$VERSION_A" --tag "localhost/berth:$VERSION_A" --archive "$DIR/berth-a.tar" >/dev/null
deploy/image/build.sh --version "$VERSION_B" --tag "localhost/berth:$VERSION_B" --archive "$DIR/berth-b.tar" >/dev/null
IMAGE_SIZE=$(stat -c %s "$DIR/berth-a.tar")
IMAGE_SECS=$((SECONDS - t0))

t0=$SECONDS
say "cluster (scripts/services/k8s.sh)"
scripts/services/k8s.sh start "$DIR/cluster" >/dev/null
# shellcheck disable=SC1091
source "$DIR/cluster/env"
CLUSTER_SECS=$((SECONDS - t0))
kubectl label node "$NODE_NAME" topology.kubernetes.io/zone=test-zone-a >/dev/null
for f in "$DIR/berth-a.tar" "$DIR/berth-b.tar"; do
	ctr -a "$CONTAINERD_ADDRESS" -n k8s.io images import "$f" >/dev/null
done

say "PostgreSQL and SeaweedFS on $NODE_IP"
free_port PG_PORT
BERTH_SERVICE_ADDR=$NODE_IP scripts/services/postgres.sh start "$DIR/postgres" "$PG_PORT"
DB_PASSWORD="db-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "host berth berth 198.18.0.0/24 scram-sha-256" >>"$DIR/postgres/data/pg_hba.conf"
psql_admin() { runuser -u postgres -- psql -h "$DIR/postgres" -p "$PG_PORT" -U postgres -qtA "$@"; }
psql_admin -c "CREATE ROLE berth LOGIN PASSWORD '$DB_PASSWORD'" -c "CREATE DATABASE berth OWNER berth" >/dev/null
runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$DIR/postgres/data" reload >/dev/null
S3_URL=$(BERTH_SERVICE_ADDR=$NODE_IP scripts/services/seaweedfs.sh start "$DIR/seaweedfs" berth)
S3_KEYS=${S3_URL#http://}
S3_KEYS=${S3_KEYS%%@*}
S3_ENDPOINT="http://${S3_URL##*@}"
S3_ENDPOINT=${S3_ENDPOINT%/berth}

say "the balancer (internal/testenv/podlb) on $NODE_IP"
go build -o "$DIR/podlb" ./internal/testenv/podlb
free_port LB_PORT
REG="$NODE_IP:$LB_PORT"
"$DIR/podlb" -listen "$REG" -server "$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')" \
	-token-file "$DIR/cluster/pki/token" -ca "$DIR/cluster/pki/apiserver.pem" \
	-namespace "$NS" -service "$REL" >"$DIR/podlb.log" 2>&1 &
PIDS+=($!)

ADMIN_PASSWORD="admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
kubectl create namespace "$NS" >/dev/null
# The reference example reads these Secrets by name (existingSecret).
kubectl -n "$NS" create secret generic berth-db --from-literal=password="$DB_PASSWORD" >/dev/null
kubectl -n "$NS" create secret generic berth-s3 --from-literal=REGISTRY_STORAGE_S3_ACCESSKEY="${S3_KEYS%%:*}" \
	--from-literal=REGISTRY_STORAGE_S3_SECRETKEY="${S3_KEYS#*:}" >/dev/null
kubectl -n "$NS" create secret generic berth-admin --from-literal=BERTH_ADMIN_PASSWORD="$ADMIN_PASSWORD" >/dev/null
cat >"$DIR/values.yaml" <<YAML
# The AWS reference example, with this cluster's addresses. externalURL
# empty: Berth derives its URLs (upload locations, the token realm) from
# each request, so a client that talks to one pod by its IP stays on it;
# through the balancer they name the balancer.
externalURL: ""
image:
  repository: localhost/berth
  tag: $VERSION_A
  pullPolicy: Never
existingSecretAdminPassword: berth-admin
persistence:
  imageChartStorage:
    s3:
      regionendpoint: $S3_ENDPOINT
database:
  external:
    host: $NODE_IP
    port: "$PG_PORT"
    sslmode: disable
core:
  trustedProxies: ["$POD_GATEWAY/32"]
  resources:
    requests: {cpu: 50m, memory: 64Mi}
    limits: {memory: 512Mi}
tests:
  url: http://$REG
YAML

say "helm install --wait (3 replicas)"
t0=$(date +%s.%N)
helm install "$REL" deploy/helm/berth -n "$NS" -f deploy/helm/berth/examples/aws-alb.yaml -f "$DIR/values.yaml" \
	--wait --timeout 5m >"$DIR/helm-install.log" || fail "helm install: $(cat "$DIR/helm-install.log")"
t1=$(date +%s.%N)
READY_SECS=$(echo "$t1 - $t0" | bc)
ready=$(kubectl -n "$NS" get deploy "$REL" -o jsonpath='{.status.readyReplicas}')
[ "$ready" = 3 ] || fail "readyReplicas $ready after helm install --wait, want 3"
say "3 replicas Ready ${READY_SECS}s after helm install started (migration Job included)"

pod_ips() { kubectl -n "$NS" get pods -l app.kubernetes.io/component=server --field-selector=status.phase=Running -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}'; }
mapfile -t IPS < <(pod_ips)
[ ${#IPS[@]} -eq 3 ] || fail "want 3 pod IPs, got ${IPS[*]}"

# Every pod reports the version the image was built with, as the REST API does.
for pod in $(kubectl -n "$NS" get pods -l app.kubernetes.io/component=server -o name); do
	v=$(kubectl -n "$NS" exec "$pod" -- /berth version)
	[ "$v" = "berth $VERSION_A" ] || fail "$pod: berth version printed '$v', want 'berth $VERSION_A'"
done
sysv=$(curl -fsS -u "admin:$ADMIN_PASSWORD" "http://$REG/api/v2.0/systeminfo" | jq -r .harbor_version)
[ "$sysv" = "$VERSION_A" ] || fail "systeminfo harbor_version $sysv, want $VERSION_A"

say "push to pod ${IPS[0]}, pull from pod ${IPS[1]}"
export DOCKER_CONFIG="$DIR/docker"
mkdir -p "$DOCKER_CONFIG"
for ip in "${IPS[@]}" "$NODE_IP"; do
	crane auth login "$ip:5000" -u admin -p "$ADMIN_PASSWORD" --insecure >/dev/null
done
crane auth login "$REG" -u admin -p "$ADMIN_PASSWORD" --insecure >/dev/null
head -c $((4 << 20)) /dev/urandom >"$DIR/small.bin"
tar -C "$DIR" -cf "$DIR/small.tar" small.bin
pushed=$(crane append --insecure -f "$DIR/small.tar" -t "${IPS[0]}:5000/library/k8s-test:v1" 2>"$DIR/push1.log" | sed 's/.*@//')
pulled=$(crane digest --insecure "${IPS[1]}:5000/library/k8s-test:v1")
[ -n "$pushed" ] && [ "$pushed" = "$pulled" ] || fail "pushed $pushed to ${IPS[0]}, ${IPS[1]} has $pulled"
layer=$(crane manifest --insecure "${IPS[1]}:5000/library/k8s-test:v1" | jq -r '.layers[0].digest')
got=$(crane blob --insecure "${IPS[2]}:5000/library/k8s-test@$layer" | sha256sum | cut -d' ' -f1)
[ "sha256:$got" = "$layer" ] || fail "layer $layer read back from ${IPS[2]} as sha256:$got"
say "same manifest $pushed on every pod; layer read back intact"

say "delete a pod while a client pushes through the balancer"
head -c $((96 << 20)) /dev/urandom >"$DIR/big.bin"
tar -C "$DIR" -cf "$DIR/big.tar" big.bin
victim=$(kubectl -n "$NS" get pods -l app.kubernetes.io/component=server -o jsonpath='{.items[0].metadata.name}')
crane append --insecure -f "$DIR/big.tar" -t "$REG/library/k8s-big:v1" >"$DIR/push2.out" 2>"$DIR/push2.log" &
push_pid=$!
sleep 1
kill -0 "$push_pid" 2>/dev/null || say "warning: the push ended before the pod was deleted"
kubectl -n "$NS" delete pod "$victim" --wait=false >/dev/null
push_rc=0
wait "$push_pid" || push_rc=$?
[ "$push_rc" = 0 ] || fail "the push during the pod's deletion failed: $(tail -n 5 "$DIR/push2.log")"
big=$(sed 's/.*@//' "$DIR/push2.out")
[ "$(crane digest --insecure "$REG/library/k8s-big:v1")" = "$big" ] || fail "k8s-big:v1 is not $big after the push"
retries=$(grep -ci "retry" "$DIR/push2.log" || true)
kubectl -n "$NS" rollout status deploy/"$REL" --timeout=3m >/dev/null || fail "the Deployment did not recover"
for _ in $(seq 300); do # its graceful stop: preStop sleep, then in-flight requests
	kubectl -n "$NS" get pod "$victim" >/dev/null 2>&1 || break
	sleep 0.2
done
kubectl -n "$NS" get pod "$victim" >/dev/null 2>&1 && fail "$victim still exists after 60 s"
ready=$(kubectl -n "$NS" get deploy "$REL" -o jsonpath='{.status.readyReplicas}')
[ "$ready" = 3 ] || fail "readyReplicas $ready after the deletion, want 3"
say "push of 96 MiB completed while $victim was deleted (client retries logged: $retries); 3 replicas ready again"

say "helm upgrade to $VERSION_B while a client pulls in a loop"
token() { curl -fsS -u "admin:$ADMIN_PASSWORD" "http://$REG/service/token?scope=repository:library/k8s-test:pull" | jq -r .token; }
man_accept='application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json'
: >"$DIR/pulls.log"
(
	n=0 bad=0
	while [ ! -e "$DIR/stop-pulls" ]; do
		n=$((n + 1))
		if ! tok=$(token) || [ -z "$tok" ]; then
			bad=$((bad + 1)); echo "pull $n: token failed" >>"$DIR/pulls.log"; continue
		fi
		code=$(curl -sS -o "$DIR/pull-manifest" -w '%{http_code}' -H "Authorization: Bearer $tok" -H "Accept: $man_accept" \
			"http://$REG/v2/library/k8s-test/manifests/v1" 2>>"$DIR/pulls.log") || code=000
		if [ "$code" != 200 ] || [ "sha256:$(sha256sum <"$DIR/pull-manifest" | cut -d' ' -f1)" != "$pushed" ]; then
			bad=$((bad + 1)); echo "pull $n: manifest $code" >>"$DIR/pulls.log"; continue
		fi
		got=$(curl -sS -L -H "Authorization: Bearer $tok" "http://$REG/v2/library/k8s-test/blobs/$layer" 2>>"$DIR/pulls.log" | sha256sum | cut -d' ' -f1)
		if [ "sha256:$got" != "$layer" ]; then
			bad=$((bad + 1)); echo "pull $n: blob digest sha256:$got" >>"$DIR/pulls.log"
		fi
	done
	echo "$n $bad" >"$DIR/pulls.count"
) &
loop_pid=$!
PIDS+=("$loop_pid")
sleep 2
helm upgrade "$REL" deploy/helm/berth -n "$NS" --reuse-values --set image.tag="$VERSION_B" --wait --timeout 5m \
	>"$DIR/helm-upgrade.log" || fail "helm upgrade: $(cat "$DIR/helm-upgrade.log")"
kubectl -n "$NS" rollout status deploy/"$REL" --timeout=3m >/dev/null
# Until the last old pod is gone, then a few seconds more.
for _ in $(seq 150); do
	[ "$(kubectl -n "$NS" get pods -l app.kubernetes.io/component=server --no-headers 2>/dev/null | wc -l)" = 3 ] && break
	sleep 0.2
done
sleep 3
touch "$DIR/stop-pulls"
wait "$loop_pid" || true
read -r PULLS FAILED_PULLS <"$DIR/pulls.count"
[ "$PULLS" -ge 10 ] || fail "only $PULLS pulls during the upgrade"
[ "$FAILED_PULLS" = 0 ] || fail "$FAILED_PULLS of $PULLS pulls failed during the upgrade: $(head -n 5 "$DIR/pulls.log")"
for pod in $(kubectl -n "$NS" get pods -l app.kubernetes.io/component=server -o name); do
	v=$(kubectl -n "$NS" exec "$pod" -- /berth version)
	[ "$v" = "berth $VERSION_B" ] || fail "$pod: berth version printed '$v' after the upgrade, want 'berth $VERSION_B'"
done
sysv=$(curl -fsS -u "admin:$ADMIN_PASSWORD" "http://$REG/api/v2.0/systeminfo" | jq -r .harbor_version)
[ "$sysv" = "$VERSION_B" ] || fail "systeminfo harbor_version $sysv after the upgrade, want $VERSION_B"
say "$PULLS pulls during the upgrade, $FAILED_PULLS failed; every pod runs $VERSION_B"

say "helm test"
# (No --logs: the hook deletes its pod once it succeeded.)
helm test "$REL" -n "$NS" --timeout 2m >"$DIR/helm-test.log" 2>&1 || fail "helm test: $(cat "$DIR/helm-test.log")"
grep -Eq "Phase: +Succeeded" "$DIR/helm-test.log" || fail "helm test did not succeed: $(cat "$DIR/helm-test.log")"

say "the server's own validation of every value set (kubectl apply --dry-run=server, strict fields)"
kubectl create namespace dry-run >/dev/null
for vf in "" deploy/helm/berth/examples/aws-alb.yaml deploy/helm/berth/examples/nginx-cert-manager.yaml deploy/helm/berth/examples/single-binary.yaml; do
	args=(template dry deploy/helm/berth -n dry-run --set database.external.password=x
		--set persistence.imageChartStorage.s3.accesskey=a --set persistence.imageChartStorage.s3.secretkey=b
		--set metrics.serviceMonitor.enabled=false) # a CRD this cluster does not have
	[ -n "$vf" ] && args+=(-f "$vf")
	helm "${args[@]}" >"$DIR/dry.yaml"
	kubectl apply --dry-run=server --validate=strict -n dry-run -f "$DIR/dry.yaml" >"$DIR/dry.log" 2>&1 ||
		fail "the API server refused ${vf:-the defaults}: $(cat "$DIR/dry.log")"
done
kubectl delete namespace dry-run --wait=false >/dev/null

say "helm uninstall"
helm uninstall "$REL" -n "$NS" --wait --timeout 2m >/dev/null
# Pods and ReplicaSets go by garbage collection, after the Deployment.
for _ in $(seq 300); do
	left=$(kubectl -n "$NS" get all,cm,secret,ingress,pdb,sa,pvc,job,hpa,networkpolicy \
		-l app.kubernetes.io/instance="$REL" -o name 2>/dev/null)
	[ -z "$left" ] && [ -z "$(kubectl -n "$NS" get pods -o name 2>/dev/null)" ] && break
	sleep 0.2
done
[ -z "$left" ] || fail "left behind after helm uninstall: $left"
[ -z "$(kubectl -n "$NS" get pods -o name)" ] || fail "pods left after helm uninstall"
# What remains in the namespace: the Secrets this test made, nothing of the chart.
kubectl -n "$NS" get secrets -o name | grep -v -e berth-db -e berth-s3 -e berth-admin && fail "a Secret of the release is left"
# The data stays: the metadata in PostgreSQL and the blobs in the bucket.
repos=$(psql_admin -d berth -c "SELECT count(*) FROM repositories" 2>/dev/null || echo 0)
[ "${repos:-0}" -ge 2 ] || fail "the database lost its repositories after uninstall ($repos)"
objects=$(curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEYS" "$S3_ENDPOINT/berth?list-type=2&max-keys=1000" |
	grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g')
echo "$objects" >"$DIR/bucket-keys"
# On S3 a blob stays at its upload key (uploads/<id>/data) with its digest
# in a sidecar (uploads/<id>/digest): find the pushed layer through those.
found=
for key in $(echo "$objects" | grep '/digest$'); do
	if [ "$(curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEYS" "$S3_ENDPOINT/berth/$key")" = "$layer" ]; then
		found=$key
		break
	fi
done
[ -n "$found" ] || fail "the bucket lacks the pushed layer $layer after uninstall"
say "uninstalled: nothing of the release left; $repos repositories in PostgreSQL, $(echo "$objects" | wc -l) objects in the bucket (layer at ${found%/digest}/data)"

printf 'image %s MiB (docker-archive), install-to-Ready %.1fs, %d pulls during upgrade (0 failed), cluster start %ds, images %ds\n' \
	"$((IMAGE_SIZE / 1048576))" "$READY_SECS" "$PULLS" "$CLUSTER_SECS" "$IMAGE_SECS" >"$DIR/summary"
cat "$DIR/summary" >&2
say "PASS"
