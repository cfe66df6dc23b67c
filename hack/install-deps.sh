#!/usr/bin/env bash
# Install the system packages kubecanvas needs to build and test, if they are missing.
#
#   hack/install-deps.sh
#
# Idempotent and quiet when everything is there. Needs root (or sudo) only when it has
# something to install. Go and Python come with the machine; this checks their versions.
set -euo pipefail

log() { printf '[install-deps] %s\n' "$*" >&2; }

# command -> Debian package
declare -A PACKAGES=(
  [redis-server]=redis-server   # the result store, started by hack/cluster.py
  [openssl]=openssl             # the local cluster's PKI
  [git]=git                     # code.git sources, and tests that serve a repository
  [curl]=curl                   # the module proxy lookups in hack/build-tools.sh
  [dot]=graphviz                # `kubecanvas graph --format svg|png` (and its tests)
)

missing=()
for command in "${!PACKAGES[@]}"; do
  command -v "$command" >/dev/null 2>&1 || missing+=("${PACKAGES[$command]}")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { log "need root to install: ${missing[*]}"; exit 1; }
    sudo="sudo"
  fi
  log "installing ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a system redis on 6379; the project runs its own on its own port.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
    $sudo systemctl stop redis-server || true
  fi
fi

# Toolchains that come with the machine: say clearly when one is too old.
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { log "Python 3.11 or newer is needed (found $(python3 --version 2>&1))"; exit 1; }
command -v go >/dev/null 2>&1 || { log "Go is needed to build the control plane (https://go.dev/dl)"; exit 1; }
# An older Go fetches the toolchain go.mod asks for (GOTOOLCHAIN=auto) through the module proxy.
log "ok: $(python3 --version), $(go version | cut -d' ' -f3), redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
