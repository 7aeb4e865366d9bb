#!/usr/bin/env bash
# Installs the system packages `make test` needs: nginx (a TLS-terminating gRPC proxy in
# front of the dev server, for the TLS/mTLS tests), openssl (throwaway certificates) and
# tmux (the scripted `deja debug` session).
# Idempotent; run as root (CI) or with sudo.
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v patch >/dev/null 2>&1 || missing+=(patch)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a system nginx on port 80; the tests run their own.
$SUDO service nginx stop >/dev/null 2>&1 || true
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
command -v tmux >/dev/null 2>&1
