#!/usr/bin/env bash
# deploy/image/build.sh: build Berth's container image without a Docker
# engine, with buildah (chroot isolation; no RUN step, no daemon).
#
#   deploy/image/build.sh [--tag IMAGE:TAG] [--version V] [--archive FILE]
#                         [--oci-archive FILE]
#
# The binary is compiled here, outside the image: static (CGO_ENABLED=0),
# -trimpath, the version stamped into internal/version with -ldflags (so
# `berth version` in the image prints what /api/v2.0/systeminfo reports).
# Then Containerfile copies it onto an empty base with CA certificates, an
# /etc/passwd naming the numeric user 65532, and empty /tmp and /data.
#
# Defaults: --version from `git describe --tags --always --dirty` (else
# "dev"), --tag berth:VERSION. --archive writes a docker-archive tarball
# (for `ctr images import`, `docker load`, `podman load`), --oci-archive an
# OCI layout tarball. buildah keeps the image in its storage, which
# CONTAINERS_STORAGE_CONF may point somewhere private. Prints the image ID
# and its size.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=
VERSION=
ARCHIVE=
OCI_ARCHIVE=
while [ $# -gt 0 ]; do
	case $1 in
	--tag) TAG=$2; shift 2 ;;
	--version) VERSION=$2; shift 2 ;;
	--archive) ARCHIVE=$2; shift 2 ;;
	--oci-archive) OCI_ARCHIVE=$2; shift 2 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "build.sh: unknown argument $1 (try --help)" >&2
		exit 2
		;;
	esac
done

command -v buildah >/dev/null || { echo "build.sh: buildah is missing (apt-get install buildah)" >&2; exit 1; }
cd "$ROOT"
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [ -z "$VERSION" ]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi
TAG=${TAG:-berth:$VERSION}
CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

CTX=$(mktemp -d "${TMPDIR:-/tmp}/berth-image.XXXXXX")
trap 'rm -rf "$CTX"' EXIT

echo "build.sh: go build ./cmd/berth (static, version $VERSION)" >&2
CGO_ENABLED=0 GOOS=linux go build -trimpath \
	-ldflags "-s -w -X github.com/berth-registry/berth/internal/version.version=$VERSION" \
	-o "$CTX/berth" ./cmd/berth

# The root filesystem besides the binary: what a static Go program needs.
mkdir -p "$CTX/rootfs/etc/ssl/certs" "$CTX/rootfs/tmp" "$CTX/data"
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { echo "build.sh: $ca missing (apt-get install ca-certificates)" >&2; exit 1; }
cp "$ca" "$CTX/rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nberth:x:65532:65532:berth:/data:/sbin/nologin\n' >"$CTX/rootfs/etc/passwd"
printf 'root:x:0:\nberth:x:65532:\n' >"$CTX/rootfs/etc/group"
chmod 1777 "$CTX/rootfs/tmp"
chmod 0750 "$CTX/data"
cp deploy/image/Containerfile "$CTX/Containerfile"

echo "build.sh: buildah bud -t $TAG" >&2
buildah bud --isolation chroot --layers=false --quiet \
	--build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" --build-arg CREATED="$CREATED" \
	-f "$CTX/Containerfile" -t "$TAG" "$CTX" >/dev/null
id=$(buildah images --quiet --no-trunc "$TAG" | head -n 1)
if [ -n "$ARCHIVE" ]; then
	rm -f "$ARCHIVE"
	buildah push --quiet "$TAG" "docker-archive:$ARCHIVE:$TAG" >&2
fi
if [ -n "$OCI_ARCHIVE" ]; then
	rm -f "$OCI_ARCHIVE"
	buildah push --quiet "$TAG" "oci-archive:$OCI_ARCHIVE:$TAG" >&2
fi
size=$(buildah images --format '{{.Size}}' "$TAG" | head -n 1)
echo "build.sh: built $TAG ($id), $size" >&2
printf '%s\n' "$TAG"
