#!/usr/bin/env bash
# Installs what deja-fetch's TLS tests need: nginx (as a TLS-terminating gRPC proxy in
# front of the dev server) and openssl (to make throwaway certificates).
# Idempotent; run as root (CI) or with sudo.
set -euo pipefail
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
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
