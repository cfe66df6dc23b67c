#!/usr/bin/env bash
# Build every container image the local cluster and the chart need, here, and push them to
# the local registry (hack/registry.yml): no public container registry is reachable from the
# machines this runs on.
#
#   hack/images.sh [pause] [coredns] [base] [runtime] [operator] [redis]     (default: all)
#
#   pause     pause:3.10               the pod sandbox, pause.c of the pinned Kubernetes module
#   coredns   coredns/coredns:VERSION  the cluster DNS, .bin/coredns (hack/build-tools.sh)
#   base      library/python:3.11-slim Debian (debootstrap) with python3 and venv, FROM of the rest
#   runtime   kubecanvas/runtime:dev-HASH and :APPVERSION, runtime/Dockerfile
#   operator  kubecanvas/operator:dev-HASH and :APPVERSION, operator/Dockerfile
#   redis     library/redis:7.4        the chart's bundled Redis, Debian's redis-server
#
#   hack/images.sh argo
#
#   argo      argoproj/workflow-controller:ARGO_VERSION and argoproj/argoexec:ARGO_VERSION, Argo
#             Workflows for `make bench`'s side-by-side runs only (hack/build-tools.sh argo); never
#             part of the default list, and .cluster/images.env is left as it is when only argo is built
#
# Every image is labelled with a key, a hash of all that goes into it (its base image's ID
# included); the project images carry it in their tag as well. An image the registry already
# has with that key is not built again, so a warm run takes seconds. The base's root file
# system is cached as a tarball in $KUBECANVAS_CACHE/images/, keyed by suite and packages.
#
# Builds use buildah (no Docker daemon): chroot isolation, and the host's CA bundle mounted
# for the build only, since TLS to PyPI may be intercepted with a CA only the host trusts.
# .cluster/images.env gets the names pods use: the local cluster's containerd resolves
# ghcr.io, docker.io, registry.k8s.io and quay.io to the local registry.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=versions.env
source "$root/hack/versions.env"
cache_dir=${KUBECANVAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubecanvas}/images
registry=127.0.0.1:${KUBECANVAS_REGISTRY_PORT:-15000}
log_dir="$root/.cluster/logs"
host_ca=/etc/ssl/certs/ca-certificates.crt

DEBIAN_SUITE=bookworm
BASE_PACKAGES=(python3 python3-venv ca-certificates git)
PAUSE_TAG=3.10                               # the local cluster's sandbox image (containerd)
REDIS_TAG=7.4                                # charts/kubecanvas/values.yaml: redis.image.tag
APP_VERSION=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/charts/kubecanvas/Chart.yaml")
KEY_LABEL=dev.kubecanvas.key
MANIFEST_TYPES="application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
# What operator/Dockerfile and runtime/Dockerfile copy (keep in step with them and .dockerignore).
PROJECT_INPUTS=(pyproject.toml README.md src runtime operator hack/constraints.txt)

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s%N; }
since() { local ns=$(( $(now) - $1 )); printf '%d.%ds' $(( ns / 1000000000 )) $(( ns / 100000000 % 10 )); }
short_hash() { sha256sum | cut -c1-12; }

# --- buildah -------------------------------------------------------------------------------

# overlay where the kernel has it (and the store was made with it), vfs otherwise.
storage_driver() {
  if [ -n "${KUBECANVAS_BUILDAH_DRIVER:-}" ]; then echo "$KUBECANVAS_BUILDAH_DRIVER"
  elif buildah --storage-driver overlay info >/dev/null 2>&1; then echo overlay
  else echo vfs
  fi
}
driver=""
bh() { [ -n "$driver" ] || driver=$(storage_driver); buildah --storage-driver "$driver" "$@"; }

# Working containers this run made and its scratch directory; removed on exit, whatever happened.
our_containers=()
work=$(mktemp -d "${TMPDIR:-/tmp}/kubecanvas-images.XXXXXX")
cleanup() {
  local ctr
  for ctr in "${our_containers[@]}"; do bh rm "$ctr" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

local_image_id() {  # name -> sha256:... or nothing
  bh inspect --type image --format '{{.FromImageID}}' "$1" 2>/dev/null | sed 's/^\([0-9a-f]\)/sha256:\1/' || true
}

# buildah bud into the local name $registry/repo:tag, labelled with the key; its output
# goes to .cluster/logs/images-NAME.log and, when it fails, its tail to stderr.
bud() {  # name repo:tag key containerfile context [bud args...]
  local name=$1 ref=$registry/$2 key=$3 file=$4 context=$5; shift 5
  local ca=() logfile="$log_dir/images-$name.log"
  [ -f "$host_ca" ] && ca=(--volume "$host_ca:$host_ca:ro")
  if ! bh bud --isolation chroot --pull=false --tls-verify=false --force-rm --layers=false \
      "${ca[@]}" --label "$KEY_LABEL=$key" --file "$file" --tag "$ref" "$@" "$context" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    die "$name: buildah bud failed (whole log: $logfile)"
  fi
}

push() {  # repo:tag
  bh push --quiet --tls-verify=false "$registry/$1" "docker://$registry/$1" >/dev/null ||
    die "push of $registry/$1 failed"
}

# Drop the local copies of repo other than repo:tag, and the image repo:tag was before this
# build (untagged now), so that the store does not grow with every build.
prune_local() {  # repo tag previous_id
  local ref
  bh images --noheading --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep -F "$registry/$1:" |
    { grep -vxF "$registry/$1:$2" || true; } | while read -r ref; do bh rmi "$ref" >/dev/null 2>&1 || true; done
  if [ -n "$3" ] && [ "$3" != "$(local_image_id "$registry/$1:$2")" ]; then
    bh rmi "$3" >/dev/null 2>&1 || true
  fi
}

# --- the registry ------------------------------------------------------------------------

registry_up() {
  curl -fsS -o /dev/null --max-time 5 "http://$registry/v2/" 2>/dev/null
}

manifest() {  # repo tag -> the manifest JSON, or nothing
  curl -fsS -H "Accept: $MANIFEST_TYPES" "http://$registry/v2/$1/manifests/$2" 2>/dev/null || true
}

# The image ID (its config's digest) and key label of repo:tag in the registry, or nothing.
registry_image() {  # repo tag -> "sha256:... key"
  local config
  config=$(manifest "$1" "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])' 2>/dev/null) ||
    return 0
  curl -fsS "http://$registry/v2/$1/blobs/$config" 2>/dev/null |
    python3 -c "import json,sys; print('$config', (json.load(sys.stdin).get('config') or {}).get('Labels', {}).get('$KEY_LABEL', '-'))" ||
    true
}

# Point tag `to` at the manifest tag `from` has (blobs are shared: one small PUT).
retag() {  # repo from to
  local body=$work/manifest headers=$work/headers type
  curl -fsS -D "$headers" -o "$body" -H "Accept: $MANIFEST_TYPES" "http://$registry/v2/$1/manifests/$2"
  type=$(tr -d '\r' <"$headers" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | tail -n 1)
  curl -fsS -o /dev/null -X PUT -H "Content-Type: $type" --data-binary "@$body" \
    "http://$registry/v2/$1/manifests/$3"
}

declare -A image_ids=()   # image -> its ID in the registry, to check that no two share one

# repo:tag is in the registry with this key: nothing to build. Records its ID for image.
up_to_date() {  # image repo tag key
  local found
  found=$(registry_image "$2" "$3")
  image_ids[$1]=${found%% *}
  [ -n "$found" ] && [ "${found#* }" = "$4" ]
}

record_id() {  # image repo tag: after a build
  local found
  found=$(registry_image "$2" "$3")
  image_ids[$1]=${found%% *}
}

# --- the Debian base (library/python:3.11-slim) ----------------------------------------------

# The host's Debian mirror (deb822 sources first), else deb.debian.org.
debian_mirror() {
  local mirror
  mirror=${KUBECANVAS_DEBIAN_MIRROR:-}
  [ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v suite="$DEBIAN_SUITE" '
      /^$/ { if (uri && suites ~ "(^| )" suite "( |$)") { print uri; exit } uri = suites = "" }
      /^URIs:/ { uri = $2 } /^Suites:/ { sub(/^Suites: */, ""); suites = $0 }
      END { if (uri && suites ~ "(^| )" suite "( |$)") print uri }' | head -n 1)
  [ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -n "s/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) $DEBIAN_SUITE .*/\2/p" | head -n 1)
  echo "${mirror:-http://deb.debian.org/debian}"
}

# A minimal Debian root file system with the packages, as a tarball for an image layer.
make_rootfs() {  # tarball
  local tarball=$1 dir mirror
  dir=$work/rootfs mirror=$(debian_mirror)
  log "base: debootstrap $DEBIAN_SUITE from $mirror with ${BASE_PACKAGES[*]} (about a minute)"
  if ! debootstrap --variant=minbase --include="$(IFS=,; echo "${BASE_PACKAGES[*]}")" \
      "$DEBIAN_SUITE" "$dir" "$mirror" >"$log_dir/images-debootstrap.log" 2>&1; then
    tail -n 20 "$log_dir/images-debootstrap.log" >&2
    die "base: debootstrap failed (whole log: $log_dir/images-debootstrap.log)"
  fi
  # What a container image does not carry: package caches and lists, logs, device nodes, and
  # this host's resolver and name (the runtime provides them). Slim, as Debian's slim images
  # are: no documentation but the copyrights, no manuals, no translations, now or later.
  rm -rf "${dir:?}"/var/cache/apt/archives/*.deb "${dir:?}"/var/cache/apt/*.bin "${dir:?}"/var/lib/apt/lists/* \
    "${dir:?}"/dev/* "${dir:?}"/run/* "${dir:?}"/tmp/* "${dir:?}"/etc/resolv.conf "${dir:?}"/etc/hostname
  find "${dir:?}/var/log" -type f -delete
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
    'path-exclude /usr/share/lintian/*' >"${dir:?}/etc/dpkg/dpkg.cfg.d/slim"
  find "${dir:?}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  rm -rf "${dir:?}"/usr/share/man/* "${dir:?}"/usr/share/info/* "${dir:?}"/usr/share/locale/* "${dir:?}"/usr/share/lintian/*
  tar -C "$dir" --numeric-owner -cf "$tarball.$$.tmp" . && mv "$tarball.$$.tmp" "$tarball"
  rm -rf "$dir"
  find "${tarball%/*}" -maxdepth 1 -name "base-$DEBIAN_SUITE-*.tar" ! -path "$tarball" -delete  # older recipes
}

import_base() {  # tarball ref key
  local ctr mnt
  ctr=$(bh from --quiet scratch); our_containers+=("$ctr")
  mnt=$(bh mount "$ctr")
  tar -C "$mnt" --numeric-owner -xpf "$1"
  bh umount "$ctr" >/dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8 \
    --cmd python3 --label "$KEY_LABEL=$3" --created-by "hack/images.sh: debootstrap $DEBIAN_SUITE" "$ctr"
  bh commit --quiet --rm "$ctr" "$2" >/dev/null
}

base_ref=library/python:3.11-slim
base_id=""
# Make sure the registry has the base (built from the cached tarball if need be); sets base_id.
ensure_base() {
  local start tar_key key tarball previous
  [ -z "$base_id" ] || return 0
  start=$(now)
  tar_key=$({ echo "$DEBIAN_SUITE ${BASE_PACKAGES[*]}"; declare -f make_rootfs; } | short_hash)
  key=$({ echo "$tar_key"; declare -f import_base; } | short_hash)
  tarball="$cache_dir/base-$DEBIAN_SUITE-$tar_key.tar"
  if up_to_date base library/python 3.11-slim "$key"; then
    log "base: $base_ref up to date ($(since "$start"))"
  else
    [ -f "$tarball" ] || make_rootfs "$tarball"
    previous=$(local_image_id "$registry/$base_ref")
    import_base "$tarball" "$registry/$base_ref" "$key"
    push "$base_ref"
    prune_local library/python 3.11-slim "$previous"
    log "base: $base_ref built and pushed ($(since "$start"))"
    record_id base library/python 3.11-slim
  fi
  base_id=${image_ids[base]}
}

# Images build FROM the local copy of the base: make it the registry's.
local_base() {
  if [ "$(local_image_id "$registry/$base_ref")" != "$base_id" ]; then
    bh pull --quiet --tls-verify=false "docker://$registry/$base_ref" >/dev/null
  fi
}

# --- the images ----------------------------------------------------------------------------

build_pause() {
  local start src key ctx=$work/pause repo=pause previous
  start=$(now)
  mkdir -p "$ctx"
  src=$(cd "$ctx" && GOFLAGS='' go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
    sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')/build/pause
  [ -f "$src/linux/pause.c" ] || die "pause: no build/pause/linux/pause.c in k8s.io/kubernetes@$K8S_VERSION"
  local upstream_tag
  upstream_tag=$(sed -n 's/^TAG ?= *//p' "$src/Makefile")
  key=$({ cat "$src/linux/pause.c" "$root/hack/images/pause/Containerfile"; gcc --version | head -n 1
          echo "$upstream_tag $K8S_VERSION"; } | short_hash)
  if ! up_to_date pause "$repo" "$PAUSE_TAG" "$key"; then
    previous=$(local_image_id "$registry/$repo:$PAUSE_TAG")
    # As build/pause/Makefile does; the version it reports is upstream's, with ours after it.
    gcc -Os -Wall -Werror -static -DVERSION="v$upstream_tag-$K8S_VERSION" -o "$ctx/pause" "$src/linux/pause.c"
    strip "$ctx/pause"
    bud pause "$repo:$PAUSE_TAG" "$key" "$root/hack/images/pause/Containerfile" "$ctx"
    push "$repo:$PAUSE_TAG"
    prune_local "$repo" "$PAUSE_TAG" "$previous"
    record_id pause "$repo" "$PAUSE_TAG"
    log "pause: $repo:$PAUSE_TAG built and pushed ($(since "$start"))"
  else
    log "pause: $repo:$PAUSE_TAG up to date ($(since "$start"))"
  fi
}

build_coredns() {
  local start binary key ctx=$work/coredns repo=coredns/coredns previous
  start=$(now)
  # The pinned version, built (or linked from the cache) when .bin/coredns is another one.
  if [ "$("$root/.bin/coredns" -version 2>/dev/null | head -n 1)" != "CoreDNS-${COREDNS_VERSION#v}" ]; then
    "$root/hack/build-tools.sh" coredns || die "coredns: hack/build-tools.sh coredns failed"
  fi
  binary=$(readlink -f "$root/.bin/coredns")
  [ -x "$binary" ] || die "coredns: .bin/coredns missing (hack/build-tools.sh coredns)"
  key=$(cat "$binary" "$root/hack/images/coredns/Containerfile" | short_hash)
  if ! up_to_date coredns "$repo" "$COREDNS_VERSION" "$key"; then
    previous=$(local_image_id "$registry/$repo:$COREDNS_VERSION")
    mkdir -p "$ctx" && cp "$binary" "$ctx/coredns"
    bud coredns "$repo:$COREDNS_VERSION" "$key" "$root/hack/images/coredns/Containerfile" "$ctx"
    push "$repo:$COREDNS_VERSION"
    prune_local "$repo" "$COREDNS_VERSION" "$previous"
    record_id coredns "$repo" "$COREDNS_VERSION"
    log "coredns: $repo:$COREDNS_VERSION built and pushed ($(since "$start"))"
  else
    log "coredns: $repo:$COREDNS_VERSION up to date ($(since "$start"))"
  fi
}

build_redis() {
  local start key repo=library/redis previous
  ensure_base
  start=$(now)
  key=$({ cat "$root/hack/images/redis/Containerfile"; echo "$base_id"; } | short_hash)
  if ! up_to_date redis "$repo" "$REDIS_TAG" "$key"; then
    log "redis: building $repo:$REDIS_TAG from Debian's redis-server"
    local_base
    previous=$(local_image_id "$registry/$repo:$REDIS_TAG")
    bud redis "$repo:$REDIS_TAG" "$key" "$root/hack/images/redis/Containerfile" "$root/hack/images/redis" \
      --build-arg "BASE_IMAGE=$registry/$base_ref"
    push "$repo:$REDIS_TAG"
    prune_local "$repo" "$REDIS_TAG" "$previous"
    record_id redis "$repo" "$REDIS_TAG"
    log "redis: $repo:$REDIS_TAG built and pushed ($(since "$start"))"
  else
    log "redis: $repo:$REDIS_TAG up to date ($(since "$start"))"
  fi
}

declare -A project_tags=()  # image -> its tag, once computed
# dev-<hash of the files the Dockerfile copies, the Dockerfile and the base image's ID>
project_tag() {  # image base_id
  (cd "$root" && find "${PROJECT_INPUTS[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.py[cod]' \
      ! -path '*.egg-info/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
   sha256sum "$1/Dockerfile"; echo "$2") | short_hash | sed 's/^/dev-/'
}

build_project() {  # runtime|operator
  local name=$1 start tag repo=kubecanvas/$1
  ensure_base
  start=$(now)
  tag=$(project_tag "$name" "$base_id")
  project_tags[$name]=$tag
  if ! up_to_date "$name" "$repo" "$tag" "${tag#dev-}"; then
    log "$name: building $repo:$tag from $name/Dockerfile"
    local_base
    bud "$name" "$repo:$tag" "${tag#dev-}" "$root/$name/Dockerfile" "$root" \
      --build-arg "BASE_IMAGE=$registry/$base_ref"
    push "$repo:$tag"
    prune_local "$repo" "$tag" ""
    record_id "$name" "$repo" "$tag"
    log "$name: $repo:$tag built and pushed ($(since "$start"))"
  else
    log "$name: $repo:$tag up to date ($(since "$start"))"
  fi
  # The chart's default tag (its appVersion) follows the newest build.
  if [ "$(manifest "$repo" "$APP_VERSION" | sha256sum)" != "$(manifest "$repo" "$tag" | sha256sum)" ]; then
    retag "$repo" "$tag" "$APP_VERSION"
    log "$name: $repo:$APP_VERSION -> $tag"
  fi
}

# Argo Workflows' two images (bench only), each its static binary on the base.
build_argo() {
  local name repo binary key ctx previous start
  "$root/hack/build-tools.sh" argo || die "argo: hack/build-tools.sh argo failed"
  ensure_base
  for name in workflow-controller argoexec; do
    start=$(now)
    repo=argoproj/$name ctx=$work/argo-$name
    binary=$(readlink -f "$root/.bin/$name")
    [ -x "$binary" ] || die "argo: .bin/$name missing (hack/build-tools.sh argo)"
    local file="$root/hack/images/${name/#workflow-controller/argo-workflow-controller}/Containerfile"
    key=$({ sha256sum "$binary"; cat "$file"; echo "$base_id"; } | short_hash)
    if ! up_to_date "argo-$name" "$repo" "$ARGO_VERSION" "$key"; then
      local_base
      previous=$(local_image_id "$registry/$repo:$ARGO_VERSION")
      mkdir -p "$ctx" && cp "$binary" "$ctx/$name"
      bud "argo-$name" "$repo:$ARGO_VERSION" "$key" "$file" "$ctx" --build-arg "BASE_IMAGE=$registry/$base_ref"
      push "$repo:$ARGO_VERSION"
      prune_local "$repo" "$ARGO_VERSION" "$previous"
      record_id "argo-$name" "$repo" "$ARGO_VERSION"
      log "argo: $repo:$ARGO_VERSION built and pushed ($(since "$start"))"
    else
      log "argo: $repo:$ARGO_VERSION up to date ($(since "$start"))"
    fi
  done
}

# The names pods use, for hack/cluster.py, the tests and `make deploy`. The project images'
# tags are those of this tree (built or not: `hack/images.sh runtime operator` builds them).
write_images_env() {  # base_id
  local env="$root/.cluster/images.env"
  mkdir -p "$root/.cluster"
  {
    echo "# Written by hack/images.sh: the images pods use (the cluster maps these registries to $registry)."
    echo "export KUBECANVAS_RUNTIME_IMAGE=ghcr.io/kubecanvas/runtime:${project_tags[runtime]:-$(project_tag runtime "$1")}"
    echo "export KUBECANVAS_OPERATOR_IMAGE=ghcr.io/kubecanvas/operator:${project_tags[operator]:-$(project_tag operator "$1")}"
    echo "export KUBECANVAS_REDIS_IMAGE=docker.io/library/redis:$REDIS_TAG"
    echo "export KUBECANVAS_PAUSE_IMAGE=registry.k8s.io/pause:$PAUSE_TAG"
    echo "export KUBECANVAS_COREDNS_IMAGE=registry.k8s.io/coredns/coredns:$COREDNS_VERSION"
  } >"$env.tmp"
  mv "$env.tmp" "$env"
}

# Two local images with one ID confuse containerd 1.6's CRI (it pulls the second name).
check_distinct_ids() {
  local name seen=""
  for name in "${!image_ids[@]}"; do
    [ -n "${image_ids[$name]}" ] || die "$name: not in the registry after its build"
    case "$seen" in *" ${image_ids[$name]} "*) die "two images share the ID ${image_ids[$name]}: $(
      for n in "${!image_ids[@]}"; do [ "${image_ids[$n]}" = "${image_ids[$name]}" ] && printf '%s ' "$n"; done)";; esac
    seen+=" ${image_ids[$name]} "
  done
}

main() {
  local images=("$@") image start
  start=$(now)
  [ ${#images[@]} -gt 0 ] || images=(pause coredns base runtime operator redis)
  [ -n "$APP_VERSION" ] || die "no appVersion in charts/kubecanvas/Chart.yaml"
  for image in "${images[@]}"; do
    case "$image" in pause|coredns|base|runtime|operator|redis|argo) ;;
      *) die "unknown image '$image' (expected pause, coredns, base, runtime, operator, redis or argo)" ;; esac
  done
  registry_up || die "no registry at $registry; start it: REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=${cache_dir%/images}/registry REGISTRY_HTTP_ADDR=$registry $root/.bin/registry serve $root/hack/registry.yml"
  mkdir -p "$cache_dir" "$log_dir"
  for image in "${images[@]}"; do
    case "$image" in
      pause) build_pause ;;
      coredns) build_coredns ;;
      base) ensure_base ;;
      redis) build_redis ;;
      runtime|operator) build_project "$image" ;;
      argo) build_argo ;;
    esac
  done
  check_distinct_ids
  # Argo alone (make bench) names none of the images pods use: images.env stays as it is, which
  # also keeps a worktree sharing another checkout's .cluster from rewriting that checkout's names.
  if [ "${images[*]}" = argo ]; then
    log "done: argo in $(since "$start") (registry $registry)"
    return 0
  fi
  # Without a base in the registry no project image exists yet: nothing to name.
  [ -n "$base_id" ] || { base_id=$(registry_image library/python 3.11-slim); base_id=${base_id%% *}; }
  if [ -n "$base_id" ]; then
    write_images_env "$base_id"
    log "wrote .cluster/images.env"
  else
    log "no base image in the registry yet: .cluster/images.env not written (hack/images.sh base runtime operator)"
  fi
  log "done: ${images[*]} in $(since "$start") (registry $registry)"
}

main "$@"
