#!/usr/bin/env bash
# Install Debian's chromium package for the browser tests (test/web/, driven by playwright-core
# with executablePath /usr/bin/chromium). Idempotent; must run as root (re-execs via sudo if not).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { echo "[install-chromium] $*" >&2; }

if [[ ${EUID} -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  log "must run as root"; exit 1
fi

if [[ -x /usr/bin/chromium ]]; then
  log "already installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
  exit 0
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
log "installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
