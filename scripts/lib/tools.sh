# shellcheck shell=bash
# Client tools for Berth's tests, installed once and cached by version.
#
# Source this file, then call berth_tool_<name>; each prints the path of the
# installed binary on stdout and builds it only when the cached copy is missing.
# Cache: ${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}/<name>-<version>/<name>
# Build logs go to stderr.

BERTH_TOOLS_DIR=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}

BERTH_CRANE_VERSION=v0.22.1
BERTH_ORAS_VERSION=v1.3.6
BERTH_HELM_VERSION=v3.22.0
BERTH_REGCTL_VERSION=v0.11.7
BERTH_COSIGN_VERSION=v2.6.5
BERTH_CONFORMANCE_VERSION=v0.0.0-20260831232431-97274622c111
BERTH_STATICCHECK_VERSION=v0.8.2
BERTH_PEBBLE_VERSION=v2.10.3
BERTH_AXE_VERSION=4.14.1
BERTH_DISTRIBUTION_VERSION=v3.1.2
BERTH_TRIVY_VERSION=v0.74.0
BERTH_KUBECONFORM_VERSION=v0.8.0
BERTH_KUBERNETES_VERSION=v1.34.4

# _berth_go_install NAME PKG VERSION [BINARY]: go install PKG@VERSION into the
# cache directory of NAME unless it is already there; prints the binary path.
# BINARY is the name go install gives the binary (defaults to NAME).
_berth_go_install() {
	local name=$1 pkg=$2 version=$3 bin=${4:-$1}
	local dir="$BERTH_TOOLS_DIR/$name-$version" tmp
	if [ ! -x "$dir/$name" ]; then
		echo "tools: building $name $version (cached afterwards in $dir)" >&2
		mkdir -p "$BERTH_TOOLS_DIR"
		# A private temp dir first, so that a killed build never leaves a
		# half-made cache entry and two concurrent runs do not collide.
		tmp=$(mktemp -d "$dir.tmp.XXXXXX")
		if ! GOBIN="$tmp" GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local} \
			go install "$pkg@$version" >&2; then
			echo "tools: go install $pkg@$version failed" >&2
			rm -rf "$tmp"
			return 1
		fi
		if [ "$bin" != "$name" ]; then
			mv "$tmp/$bin" "$tmp/$name"
		fi
		# Another run may have finished first: keep its copy. A directory
		# without the binary is debris from an older layout: replace it.
		if [ -e "$dir" ] && [ ! -x "$dir/$name" ]; then
			rm -rf "$dir"
		fi
		if [ -x "$dir/$name" ] || ! mv -T "$tmp" "$dir" 2>/dev/null; then
			rm -rf "$tmp"
		fi
		[ -x "$dir/$name" ] || {
			echo "tools: $dir/$name missing after install" >&2
			return 1
		}
	fi
	printf '%s\n' "$dir/$name"
}

berth_tool_crane() {
	_berth_go_install crane github.com/google/go-containerregistry/cmd/crane "$BERTH_CRANE_VERSION"
}

berth_tool_oras() {
	_berth_go_install oras oras.land/oras/cmd/oras "$BERTH_ORAS_VERSION"
}

berth_tool_helm() {
	_berth_go_install helm helm.sh/helm/v3/cmd/helm "$BERTH_HELM_VERSION"
}

berth_tool_regctl() {
	_berth_go_install regctl github.com/regclient/regclient/cmd/regctl "$BERTH_REGCTL_VERSION"
}

berth_tool_cosign() {
	_berth_go_install cosign github.com/sigstore/cosign/v2/cmd/cosign "$BERTH_COSIGN_VERSION"
}

# The OCI distribution-spec conformance suite; its main package installs as
# "conformance".
berth_tool_conformance() {
	_berth_go_install conformance github.com/opencontainers/distribution-spec/conformance \
		"$BERTH_CONFORMANCE_VERSION"
}

# staticcheck lints Berth's own code.
berth_tool_staticcheck() {
	_berth_go_install staticcheck honnef.co/go/tools/cmd/staticcheck "$BERTH_STATICCHECK_VERSION"
}

# Pebble, a small ACME server for tests, and its mock DNS server
# (challtestsrv), which the TLS step uses to resolve test host names to
# loopback: Berth gets and renews certificates from it.
berth_tool_pebble() {
	_berth_go_install pebble github.com/letsencrypt/pebble/v2/cmd/pebble "$BERTH_PEBBLE_VERSION"
}

berth_tool_challtestsrv() {
	_berth_go_install challtestsrv github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv \
		"$BERTH_PEBBLE_VERSION" pebble-challtestsrv
}

# axe-core (the accessibility engine the browser tests inject into pages):
# its axe.min.js, from the npm registry with npm pack (no Node build step).
berth_tool_axe() {
	local dir="$BERTH_TOOLS_DIR/axe-core-$BERTH_AXE_VERSION" tmp
	if [ ! -f "$dir/axe.min.js" ]; then
		echo "tools: fetching axe-core $BERTH_AXE_VERSION (cached afterwards in $dir)" >&2
		mkdir -p "$BERTH_TOOLS_DIR"
		tmp=$(mktemp -d "$dir.tmp.XXXXXX")
		if ! (cd "$tmp" && npm pack --silent "axe-core@$BERTH_AXE_VERSION" >/dev/null &&
			tar -xzf "axe-core-$BERTH_AXE_VERSION.tgz" package/axe.min.js &&
			mv package/axe.min.js . && rm -rf package "axe-core-$BERTH_AXE_VERSION.tgz") >&2; then
			echo "tools: npm pack axe-core@$BERTH_AXE_VERSION failed" >&2
			rm -rf "$tmp"
			return 1
		fi
		if [ -e "$dir" ] && [ ! -f "$dir/axe.min.js" ]; then
			rm -rf "$dir"
		fi
		if [ -f "$dir/axe.min.js" ] || ! mv -T "$tmp" "$dir" 2>/dev/null; then
			rm -rf "$tmp"
		fi
	fi
	printf '%s\n' "$dir/axe.min.js"
}

# Distribution v3, the peer registry of scripts/bench/compare.sh; its main
# package installs as "registry".
berth_tool_distribution() {
	_berth_go_install distribution github.com/distribution/distribution/v3/cmd/registry \
		"$BERTH_DISTRIBUTION_VERSION" registry
}

# Trivy, the vulnerability scanner behind Berth's built-in scanner adapter
# (berth scanner) and the SBOM generator. Its module needs encoding/json/v2,
# which Go 1.25/1.26 builds only with GOEXPERIMENT=jsonv2 (~15 min on 2 cores).
berth_tool_trivy() {
	GOEXPERIMENT=jsonv2 _berth_go_install trivy github.com/aquasecurity/trivy/cmd/trivy "$BERTH_TRIVY_VERSION"
}

# kubeconform validates the Helm chart's rendered objects (scripts/test helm)
# against JSON schemas generated from the Kubernetes OpenAPI spec
# (berth_tool_kubernetes's openapi-spec/, by internal/testenv/k8sschema).
berth_tool_kubeconform() {
	_berth_go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$BERTH_KUBECONFORM_VERSION"
}

# berth_tool_k8s_openapi: the Kubernetes OpenAPI description of the release
# the k8s step runs (api/openapi-spec/swagger.json of the k8s.io/kubernetes
# module, from the module cache: no build needed). Prints its path.
berth_tool_k8s_openapi() {
	local dir
	dir=$(cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$BERTH_KUBERNETES_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -f "$dir/api/openapi-spec/swagger.json" ] || {
		echo "tools: no api/openapi-spec/swagger.json in k8s.io/kubernetes@$BERTH_KUBERNETES_VERSION" >&2
		return 1
	}
	printf '%s\n' "$dir/api/openapi-spec/swagger.json"
}

# berth_tool_kubernetes: the Kubernetes binaries the k8s step runs
# (scripts/services/k8s.sh), built from the k8s.io/kubernetes module (its
# go.mod has replace directives into staging/, which the module zip lacks:
# they are swapped for the published k8s.io/* modules of the same release),
# plus the release's api/openapi-spec/ and the pause binary (a static build
# of build/pause/linux/pause.c, the sandbox image's only file). Prints the
# directory: kube-apiserver kube-controller-manager kube-scheduler kubelet
# kubectl pause openapi-spec/. About 20-40 min on 2 cores the first time.
berth_tool_kubernetes() {
	local dir="$BERTH_TOOLS_DIR/kubernetes-$BERTH_KUBERNETES_VERSION" tmp
	if [ ! -x "$dir/kubelet" ] || [ ! -x "$dir/pause" ] || [ ! -f "$dir/openapi-spec/swagger.json" ]; then
		echo "tools: building kubernetes $BERTH_KUBERNETES_VERSION (cached afterwards in $dir)" >&2
		command -v gcc >/dev/null || {
			echo "tools: kubernetes needs gcc (the static pause binary)" >&2
			return 1
		}
		mkdir -p "$BERTH_TOOLS_DIR"
		tmp=$(mktemp -d "$dir.tmp.XXXXXX")
		if ! _berth_k8s_build "$tmp" ./cmd/kube-apiserver ./cmd/kube-controller-manager \
			./cmd/kube-scheduler ./cmd/kubelet ./cmd/kubectl; then
			rm -rf "$tmp"
			return 1
		fi
		if [ -e "$dir" ] && [ ! -x "$dir/kubelet" ]; then
			rm -rf "$dir"
		fi
		if [ -x "$dir/kubelet" ] || ! mv -T "$tmp/out" "$dir" 2>/dev/null; then
			:
		fi
		rm -rf "$tmp"
		[ -x "$dir/kubelet" ] || return 1
	fi
	# A cache made before kubectl was part of it: add kubectl alone (the
	# same release as the server; a distribution's kubectl may be older).
	if [ ! -x "$dir/kubectl" ]; then
		echo "tools: building kubectl $BERTH_KUBERNETES_VERSION into $dir" >&2
		tmp=$(mktemp -d "$dir.kubectl.XXXXXX")
		if ! _berth_k8s_build "$tmp" ./cmd/kubectl || ! mv "$tmp/out/kubectl" "$dir/kubectl"; then
			rm -rf "$tmp"
			return 1
		fi
		rm -rf "$tmp"
	fi
	printf '%s\n' "$dir"
}

# _berth_k8s_build TMP PKG...: build the k8s.io/kubernetes commands PKG into
# TMP/out (with the openapi spec and pause), working in TMP/src.
_berth_k8s_build() {
	local tmp=$1 v=$BERTH_KUBERNETES_VERSION src minor
	shift
	src=$(cd / && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$v" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[ -d "$src" ] || {
		echo "tools: go mod download k8s.io/kubernetes@$v gave no directory" >&2
		return 1
	}
	cp -r "$src/." "$tmp/src"
	chmod -R u+w "$tmp/src"
	minor=${v#v1.}
	minor=${minor%%.*}
	(
		cd "$tmp/src" && rm -f go.work go.work.sum &&
			for m in $(grep -oE 'k8s.io/[a-z0-9-]+ => ./staging' go.mod | awk '{print $1}'); do
				go mod edit -dropreplace="$m" -require="$m@v0.${v#v1.}" || exit 1
			done &&
			mkdir -p "$tmp/out" &&
			GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local} go build -trimpath -o "$tmp/out/" \
				-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
				"$@" &&
			cp -r api/openapi-spec "$tmp/out/openapi-spec" &&
			gcc -Os -static -o "$tmp/out/pause" build/pause/linux/pause.c
	) >&2 || {
		echo "tools: building kubernetes $v ($*) failed" >&2
		return 1
	}
}

# berth_tools_all: install every tool; prints their directory paths, one a line.
berth_tools_all() {
	local t p
	for t in crane oras helm regctl cosign conformance staticcheck pebble challtestsrv; do
		p=$("berth_tool_$t") || return 1
		dirname "$p"
	done
}
