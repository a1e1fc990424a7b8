#!/usr/bin/env bash
# Install the Debian packages the tests drive besides Node: chromium (the browser tests in test/web/,
# through playwright-core with executablePath /usr/bin/chromium) and rclone (test/e2e/s3-clients.test.ts
# drives the local S3 endpoint with it). Idempotent; must run as root (re-execs via sudo if not).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { echo "[install-test-tools] $*" >&2; }

if [[ ${EUID} -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -E bash "$0" "$@"
  fi
  log "must run as root"; exit 1
fi

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium fonts-dejavu-core)
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
if (( ${#missing[@]} > 0 )); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo missing); $(rclone version 2>/dev/null | head -n 1 || echo 'rclone missing')"
