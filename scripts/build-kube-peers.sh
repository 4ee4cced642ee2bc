#!/usr/bin/env bash
# Builds the real Kubernetes test peers, kube-apiserver and etcd, from their Go modules (pinned in
# test/peers/kube/) into ${MESHNODE_PEERS_DIR:-/var/cache/meshnode/peers}/<version>/bin/.
# A finished build is reused: the binaries are rebuilt only when the pinned sources change.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src="$repo/test/peers/kube"
# Keep in step with go.mod and with PEERS_VERSION in test/helpers/kube-cluster.ts.
version="k8s-v1.32.13-etcd-v3.5.16"
root="${MESHNODE_PEERS_DIR:-/var/cache/meshnode/peers}"
out="$root/$version/bin"

command -v go >/dev/null 2>&1 || {
  echo "build-kube-peers: Go is not installed (needed to build kube-apiserver and etcd; install golang >= 1.23)" >&2
  exit 1
}

# The stamp ties the binaries to the exact sources and Go toolchain they were built from.
stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/etcd/main.go" <(go env GOVERSION) | sha256sum | cut -d' ' -f1)
if [ -x "$out/kube-apiserver" ] && [ -x "$out/etcd" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "build-kube-peers: up to date in $out"
  exit 0
fi

mkdir -p "$out" "$root/go/cache" "$root/go/mod"
export GOCACHE="$root/go/cache" GOMODCACHE="$root/go/mod" GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="-trimpath -mod=readonly -buildvcs=false"
cd "$src"

build() { # name, package
  echo "build-kube-peers: building $1 ($(go env GOVERSION)); this takes several minutes on a fresh cache"
  local started=$SECONDS
  go build -ldflags='-s -w' -o "$out/.$1.tmp" "$2"
  mv -f "$out/.$1.tmp" "$out/$1"
  echo "build-kube-peers: $1 built in $((SECONDS - started)) s"
}

rm -f "$out/.stamp"
echo "build-kube-peers: downloading modules into $GOMODCACHE"
go mod download
build etcd ./etcd
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
echo "$stamp" > "$out/.stamp"
echo "build-kube-peers: done: $out"
