#!/usr/bin/env bash
# Install the system packages kubecanvas needs to build and test, if they are missing.
#
#   hack/install-deps.sh
#
# Idempotent and quiet when everything is there. Needs root (or sudo) only when it has
# something to install. Go and Python come with the machine; this checks their versions.
set -euo pipefail

log() { printf '[install-deps] %s\n' "$*" >&2; }

# command (or file) -> Debian package
declare -A PACKAGES=(
  [redis-server]=redis-server   # the result store, started by hack/cluster.py
  [openssl]=openssl             # the local cluster's PKI
  [git]=git                     # code.git sources, and tests that serve a repository
  [curl]=curl                   # the module proxy lookups in hack/build-tools.sh
  [dot]=graphviz                # `kubecanvas graph --format svg|png` (and its tests)
  # The local cluster's node (hack/localcluster): container runtime, networking, kube-proxy.
  [containerd]=containerd       # the kubelet's container runtime (its CRI plugin)
  [runc]=runc                   # what containerd runs containers with
  [iptables]=iptables           # kube-proxy's Services, the kubelet's and the pod network's guard
  [conntrack]=conntrack         # kube-proxy clears stale UDP entries (cluster DNS) with it
  [ip]=iproute2                 # the pod bridge
  [/usr/lib/cni/bridge]=containernetworking-plugins  # CNI bridge and host-local IPAM
  # hack/images.sh: the images, built here without a Docker daemon and pushed to the local registry.
  [buildah]=buildah             # builds them
  [skopeo]=skopeo               # inspects and copies them
  [debootstrap]=debootstrap     # the Debian base image
  [gcc]=gcc                     # the pause image's static binary ...
  [/usr/include/stdio.h]=libc6-dev  # ... and the static C library it links
)

missing=()
for command in "${!PACKAGES[@]}"; do
  # A key is a command on PATH, or the absolute path of a file the package installs.
  if [[ $command == /* ]]; then [ -e "$command" ]; else command -v "$command" >/dev/null 2>&1; fi ||
    missing+=("${PACKAGES[$command]}")
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
