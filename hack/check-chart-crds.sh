#!/usr/bin/env bash
# The chart installs the CRDs from its own crds/ folder (Helm cannot reach outside the
# chart), which must be an exact copy of the repository's crds/, the one source of truth.
# Fails, naming each file, when a CRD is missing from the chart, differs, or is extra; the
# only extra file allowed is kopf's peering CRDs (used by the chart's HA mode).
#
#   hack/check-chart-crds.sh          check (exit 1 on drift)
#   hack/check-chart-crds.sh --fix    copy crds/ into the chart, then check
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="${CRDS_DIR:-$root/crds}"
chart_dir="${CHART_CRDS_DIR:-$root/charts/kubecanvas/crds}"
allowed_extra=("kopf.dev-peerings.yaml")

if [[ "${1:-}" == "--fix" ]]; then
  cp "$source_dir"/*.yaml "$chart_dir"/
fi

status=0
shopt -s nullglob
sources=("$source_dir"/*.yaml)
if (( ${#sources[@]} == 0 )); then
  echo "check-chart-crds: no CRD in $source_dir" >&2
  exit 1
fi
for file in "${sources[@]}"; do
  name="$(basename "$file")"
  if [[ ! -f "$chart_dir/$name" ]]; then
    echo "check-chart-crds: $name is missing from ${chart_dir#"$root"/}/" >&2
    status=1
  elif ! cmp -s "$file" "$chart_dir/$name"; then
    echo "check-chart-crds: ${chart_dir#"$root"/}/$name differs from crds/$name:" >&2
    diff -u "$file" "$chart_dir/$name" >&2 || true
    status=1
  fi
done
for file in "$chart_dir"/*; do
  name="$(basename "$file")"
  [[ -f "$source_dir/$name" ]] && continue
  [[ " ${allowed_extra[*]} " == *" $name "* ]] && continue
  echo "check-chart-crds: ${chart_dir#"$root"/}/$name has no counterpart in crds/ (remove it)" >&2
  status=1
done
if (( status != 0 )); then
  echo "check-chart-crds: run hack/check-chart-crds.sh --fix to copy crds/ into the chart" >&2
else
  echo "check-chart-crds: ${chart_dir#"$root"/}/ matches crds/ (${#sources[@]} CRD file(s))"
fi
exit "$status"
