#!/usr/bin/env bash
# Build kube-apiserver, kube-controller-manager and etcd from Go modules for
# the end-to-end tests.  Versions come from tests/e2e/go.mod (regenerate it
# with gen_gomod.py).  Needs only Go and the Go module proxy.
#
#   tests/e2e/build.sh            # -> .cache/e2e-bin/<k8s-version>/{kube-apiserver,kube-controller-manager,etcd}
#   tests/e2e/build.sh --print-dir
#
# Idempotent: exits at once when the binaries for the version already exist.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
K8S_VERSION="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$HERE/go.mod")"
[ -n "$K8S_VERSION" ] || { echo "build.sh: no k8s.io/kubernetes version in $HERE/go.mod" >&2; exit 1; }
OUT="${HERMETIC_E2E_BIN_DIR:-$ROOT/.cache/e2e-bin/$K8S_VERSION}"
BINARIES=(kube-apiserver kube-controller-manager etcd)

if [ "${1:-}" = "--print-dir" ]; then echo "$OUT"; exit 0; fi

have_all() { for b in "${BINARIES[@]}"; do [ -x "$OUT/$b" ] || return 1; done; }
if have_all; then
    echo "build.sh: binaries for $K8S_VERSION already in $OUT"
    exit 0
fi

command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 1; }

# One build at a time (parallel test sessions); the winner's result is reused.
mkdir -p "$(dirname "$OUT")"
exec 9>"$OUT.lock"
if command -v flock >/dev/null; then flock 9; fi
if have_all; then
    echo "build.sh: binaries for $K8S_VERSION already in $OUT"
    exit 0
fi

# Small machine (2 cores): keep parallelism and memory in check.
export GOMAXPROCS="${GOMAXPROCS:-2}"
export GOGC="${GOGC:-50}"
# go.mod/go.sum are complete (gen_gomod.py tidies them): never rewrite them.
export GOFLAGS="-mod=readonly"
export GOTOOLCHAIN=local
export CGO_ENABLED=0

start=$(date +%s)
TMP="$(mktemp -d "$(dirname "$OUT")/.build-$K8S_VERSION.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

cd "$HERE"
echo "build.sh: $(go version); building k8s.io/kubernetes $K8S_VERSION into $OUT"
# Stamp the version as the official build does (hack/lib/version.sh), so that
# /version and `kubectl version` report it instead of v0.0.0-master.
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit="
done
flags=(-p "$GOMAXPROCS" -trimpath "-ldflags=$ldflags")
for cmd in kube-apiserver kube-controller-manager; do
    t=$(date +%s)
    go build "${flags[@]}" -o "$TMP/$cmd" "k8s.io/kubernetes/cmd/$cmd"
    echo "build.sh: $cmd built in $(( $(date +%s) - t ))s"
done
t=$(date +%s)
go build "${flags[@]}" -o "$TMP/etcd" go.etcd.io/etcd/server/v3
echo "build.sh: etcd $(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3) built in $(( $(date +%s) - t ))s"

mkdir -p "$OUT"
for b in "${BINARIES[@]}"; do mv -f "$TMP/$b" "$OUT/$b"; done
echo "build.sh: done in $(( $(date +%s) - start ))s -> $OUT"
