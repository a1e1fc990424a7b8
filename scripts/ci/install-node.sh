#!/usr/bin/env bash
# Install a Node.js release from the npm registry's `node` package (the official binary for this
# platform), so CI can run the suite on a second Node without network beyond the npm registry.
#
#   bash scripts/ci/install-node.sh VERSION DIR     e.g. 24.21.0 /tmp/edgestock-node24
#
# Prints DIR/node_modules/.bin on stdout (put it first on PATH); other messages go to stderr.
# Idempotent: a DIR that already holds that version is reused.
set -euo pipefail

VERSION="$1"
DIR="$2"
BIN="${DIR}/node_modules/.bin"

log() { echo "[install-node] $*" >&2; }

if [[ "$("${BIN}/node" --version 2>/dev/null || true)" != "v${VERSION}" ]]; then
  rm -rf "${DIR}"
  mkdir -p "${DIR}"
  log "installing node@${VERSION} into ${DIR}"
  # --prefix: its own package.json and node_modules, nothing written to the project's.
  npm install --prefix "${DIR}" --no-save --no-audit --no-fund --loglevel=error "node@${VERSION}" >&2
fi
found="$("${BIN}/node" --version 2>/dev/null || true)"
if [[ "${found}" != "v${VERSION}" ]]; then
  log "expected v${VERSION} at ${BIN}/node, found '${found}'"
  exit 1
fi
log "node ${found} at ${BIN}/node"
echo "${BIN}"
