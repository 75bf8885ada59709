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

# berth_tools_all: install every tool; prints their directory paths, one a line.
berth_tools_all() {
	local t p
	for t in crane oras helm regctl cosign conformance staticcheck pebble challtestsrv; do
		p=$("berth_tool_$t") || return 1
		dirname "$p"
	done
}
