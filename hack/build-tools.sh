#!/usr/bin/env bash
# Build the pinned control-plane binaries from their Go modules and link them into .bin/.
#
#   hack/build-tools.sh [etcd] [helm] [k8s] [coredns] [registry] [argo]
#
# Without arguments: the first five. argo (Argo Workflows' workflow-controller and argoexec, for
# `make bench`'s side-by-side runs only) is built only when named: a ~10 min cold build that
# `make test` and CI do not need.
#
# coredns goes into the cluster's DNS image and registry serves the local images
# (hack/images.sh), since no public container registry is reachable from the cluster.
#
# Binaries are cached outside the checkout, keyed by tool version, a hash of the wrapper
# module (go.mod, go.sum) and the Go toolchain, so a fresh clone on a warm machine links
# them in seconds and a version bump rebuilds exactly what changed. Versions are stamped
# with -ldflags so that `kubectl version`, `kube-apiserver --version`, `helm version`,
# `coredns -version` and `registry --version` report the real release.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/hack/versions.env"
cache_root=${KUBECANVAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubecanvas}/bin
bin_dir="$root/.bin"
mkdir -p "$cache_root" "$bin_dir"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[build-tools] %s\n' "$*" >&2; }

# Build date of a release, from the module proxy's record of its tag: reproducible,
# unlike the time of this build.
release_time() {  # module version
  local proxy
  proxy=$(go env GOPROXY); proxy=${proxy%%,*}; [ "$proxy" = direct ] && proxy=https://proxy.golang.org
  curl -fsSL "$proxy/$1/@v/$2.info" 2>/dev/null | sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p'
}

cache_key() {  # tool_dir ldflags packages...: everything that shapes the binaries
  local dir=$1; shift
  # patches/: files added to a module's source before the build (argo).
  { cat "$dir/go.mod" "$dir/go.sum"; [ ! -d "$dir/patches" ] || cat "$dir"/patches/*; go env GOVERSION GOOS GOARCH CGO_ENABLED; printf '%s\n' "$@"; } |
    sha256sum | cut -c1-12
}

# Check that the wrapper module requires the version hack/versions.env pins.
check_pin() {  # tool_dir module version
  local pinned
  pinned=$(cd "$1" && go list -m -f '{{.Version}}' "$2")
  if [ "$pinned" != "$3" ]; then
    log "$1/go.mod pins $2 $pinned but hack/versions.env says $3; run hack/pin-tools.sh"
    exit 1
  fi
}

# Compile packages with `go build -v`, printing a progress line every 10% of the
# packages that actually needed compiling.
go_build_with_progress() {  # label out_dir ldflags packages...
  local label=$1 out=$2 ldflags=$3; shift 3
  local total start
  total=$(go list -deps "$@" | wc -l)
  start=$(date +%s)
  log "$label: compiling up to $total packages (cold builds take a while; cached packages are skipped)"
  go build -v -trimpath -ldflags "$ldflags" -o "$out/" "$@" 2>&1 |
    awk -v total="$total" -v label="$label" -v start="$start" '
      /^#|\.go:[0-9]+|^go: / { print > "/dev/stderr"; next }   # compiler and go-command messages
      { n++; pct = int(100 * n / total)
        if (pct >= next_pct) { printf "[build-tools] %s: %d/%d packages (%d%%, %ds)\n", label, n, total, pct, systime() - start > "/dev/stderr"; next_pct = pct + 10 } }'
  local status=${PIPESTATUS[0]}
  [ "$status" -eq 0 ] || { log "$label: go build failed"; return "$status"; }
  log "$label: built in $(( $(date +%s) - start ))s"
}

# Build one tool into its cache directory unless it is already there, then link its
# binaries into .bin/.
build_tool() {  # name tool_dir ldflags packages...
  local name=$1 dir=$2 ldflags=$3; shift 3
  local key out
  key=$(cache_key "$dir" "$ldflags" "$@")
  out="$cache_root/$name-$key"
  if [ ! -f "$out/.complete" ]; then
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (cd "$dir" && go_build_with_progress "$name" "$out.tmp" "$ldflags" "$@")
    # A main package at a /vN module path is named after its parent directory
    # (go.etcd.io/etcd/server/v3 -> "server"); give such binaries the tool's name.
    [ -e "$out.tmp/server" ] && mv "$out.tmp/server" "$out.tmp/$name"
    touch "$out.tmp/.complete" && rm -rf "$out" && mv "$out.tmp" "$out"
  else
    log "$name: cached at $out"
  fi
  for binary in "$out"/*; do ln -sfn "$binary" "$bin_dir/$(basename "$binary")"; done
}

build_k8s() {
  local dir="$root/hack/tools/k8s" minor built
  check_pin "$dir" k8s.io/kubernetes "$K8S_VERSION"
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  built=$(release_time k8s.io/kubernetes "$K8S_VERSION")
  local flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=archive -X $pkg.buildDate=${built:-1970-01-01T00:00:00Z}"
  done
  build_tool k8s "$dir" "$flags" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/cmd/kube-scheduler
}

build_etcd() {
  local dir="$root/hack/tools/etcd"
  check_pin "$dir" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  # etcd's version number is a constant in go.etcd.io/etcd/api/v3/version already.
  build_tool etcd "$dir" "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
    go.etcd.io/etcd/server/v3
}

build_helm() {
  local dir="$root/hack/tools/helm"
  check_pin "$dir" helm.sh/helm/v4 "$HELM_VERSION"
  build_tool helm "$dir" \
    "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
    helm.sh/helm/v4/cmd/helm
}

build_coredns() {
  local dir="$root/hack/tools/coredns" pkg=github.com/coredns/coredns/coremain built
  check_pin "$dir" github.com/coredns/coredns "$COREDNS_VERSION"
  # CoreVersion is a constant; gitTag makes -version print the release, not "(untracked dev build)".
  built=$(release_time github.com/coredns/coredns "$COREDNS_VERSION")
  build_tool coredns "$dir" \
    "-s -w -X $pkg.gitTag=$COREDNS_VERSION -X $pkg.GitCommit=$COREDNS_VERSION -X $pkg.buildDate=${built:-1970-01-01T00:00:00Z}" \
    github.com/coredns/coredns
}

build_registry() {
  local dir="$root/hack/tools/registry" pkg=github.com/distribution/distribution/v3/version
  check_pin "$dir" github.com/distribution/distribution/v3 "$REGISTRY_VERSION"
  build_tool registry "$dir" "-s -w -X $pkg.version=$REGISTRY_VERSION -X $pkg.revision=$REGISTRY_VERSION" \
    github.com/distribution/distribution/v3/cmd/registry
}

# The module hash of ARGO_VERSION as the checksum database recorded it (its go.sum line): the
# wrapper module replaces the module by a patched copy, so go.sum no longer checks it.
ARGO_SUM=h1:/1lru5oXUd+k6KEDUps6rLX5OKfi1jTfabgXTly/VFU=

# hack/tools/argo/src: the module as the proxy serves it (hash checked), plus
# patches/signal_linux.go, which the module zip lacks (see that file).
prepare_argo_src() {  # tool_dir
  local dir=$1 info mod sum dest=$1/src
  local stamp="$ARGO_VERSION $ARGO_SUM $(sha256sum "$dir/patches/signal_linux.go" | cut -c1-12)"
  [ "$(cat "$dest/.complete" 2>/dev/null)" = "$stamp" ] && return 0
  info=$(cd "$dir" && GOFLAGS='' go mod download -json "github.com/argoproj/argo-workflows/v4@$ARGO_VERSION")
  mod=$(sed -n 's/^\t"Dir": "\(.*\)",$/\1/p' <<<"$info")
  sum=$(sed -n 's/^\t"Sum": "\(.*\)",$/\1/p' <<<"$info")
  [ "$sum" = "$ARGO_SUM" ] || { log "argo: module hash $sum, expected $ARGO_SUM"; exit 1; }
  rm -rf "$dest.tmp" && cp -r "$mod" "$dest.tmp" && chmod -R u+w "$dest.tmp"
  cp "$dir/patches/signal_linux.go" "$dest.tmp/workflow/executor/osspecific/signal_linux.go"
  echo "$stamp" >"$dest.tmp/.complete" && rm -rf "$dest" && mv "$dest.tmp" "$dest"
}

build_argo() {
  local dir="$root/hack/tools/argo" pkg=github.com/argoproj/argo-workflows/v4 built
  prepare_argo_src "$dir"
  check_pin "$dir" "$pkg" "$ARGO_VERSION"
  # As upstream's Makefile stamps a release; the proxy records no commit, so gitCommit is the tag.
  # With gitTag set and a clean tree, `workflow-controller version` prints the plain tag, and the
  # controller's default executor image is quay.io/argoproj/argoexec:$ARGO_VERSION.
  built=$(release_time "$pkg" "$ARGO_VERSION")
  local flags="-s -w -X $pkg.version=$ARGO_VERSION -X $pkg.buildDate=${built:-1970-01-01T00:00:00Z}"
  flags+=" -X $pkg.gitCommit=$ARGO_VERSION -X $pkg.gitTag=$ARGO_VERSION -X $pkg.gitTreeState=clean"
  build_tool argo "$dir" "$flags" "$pkg/cmd/workflow-controller" "$pkg/cmd/argoexec"
}

tools=("$@")
[ ${#tools[@]} -eq 0 ] && tools=(etcd helm k8s coredns registry)
for tool in "${tools[@]}"; do
  case "$tool" in
    k8s) build_k8s ;;
    etcd) build_etcd ;;
    helm) build_helm ;;
    coredns) build_coredns ;;
    registry) build_registry ;;
    argo) build_argo ;;
    *) log "unknown tool '$tool' (expected k8s, etcd, helm, coredns, registry or argo)"; exit 2 ;;
  esac
done
