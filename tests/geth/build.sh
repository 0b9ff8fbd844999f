#!/usr/bin/env bash
# Builds the pinned go-ethereum interop tools into target/geth-bin/ (or $KADNODE_GETH_BIN):
#   devp2p   go-ethereum's cmd/devp2p at the version go.mod pins
#   kadpeer  our harness: a go-ethereum p2p.Server with discv4 and kadtest/1
# Skips the build when both binaries were built from the same go.mod, go.sum, harness source
# and Go version (a stamp file records them). Fails when `go` is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${KADNODE_GETH_BIN:-$root/target/geth-bin}"

if ! command -v go >/dev/null 2>&1; then
  echo "tests/geth/build.sh: \`go\` is not on PATH; install Go >= $(sed -n 's/^go //p' "$here/go.mod")" >&2
  exit 1
fi

cd "$here"
stamp="$( { go version; cat build.sh go.mod go.sum kadpeer/*.go; } | sha256sum | cut -d' ' -f1)"
if [ -x "$out/devp2p" ] && [ -x "$out/kadpeer" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "go-ethereum tools up to date in $out"
  exit 0
fi

mkdir -p "$out"
rm -f "$out/.stamp"
start=$(date +%s)
export GOFLAGS="-mod=readonly -buildvcs=false -trimpath"
go build -o "$out/devp2p" github.com/ethereum/go-ethereum/cmd/devp2p
go build -o "$out/kadpeer" ./kadpeer
echo "$stamp" > "$out/.stamp"
echo "built go-ethereum tools in $out ($(( $(date +%s) - start ))s)"
