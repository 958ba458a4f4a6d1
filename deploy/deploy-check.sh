#!/usr/bin/env bash
# Offline validation of everything under deploy/ (run by `make deploy-check`, which `make test` runs):
#   yamllint; hadolint on the Dockerfile; helm lint + helm template for the default and the production
#   values; kubeconform -strict on both renders against the schemas stored in deploy/kubernetes-schemas
#   (Kubernetes $KUBE_VERSION and the Strimzi, KEDA and Prometheus Operator CRDs; no network); promtool
#   check + test of the alerting rules.
# Tools come from .tools/bin (make deploy-tools) and PATH (promtool). Overrides, for tests and debugging:
#   CHART=dir            chart to check (default deploy/helm/engage)
#   VALUES_FILES="a b"   values files rendered besides the defaults (default: $CHART/values-production.yaml)
#   HELM_EXTRA_ARGS=...  extra `helm template` arguments (e.g. --set key=value), applied to every render
#   SKIP="yamllint hadolint promtool"  steps to leave out
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_VERSION=${KUBE_VERSION:-1.34.3}
TOOLS=${TOOLS:-.tools/bin}
HELM=${HELM:-$TOOLS/helm}
KUBECONFORM=${KUBECONFORM:-$TOOLS/kubeconform}
HADOLINT=${HADOLINT:-$TOOLS/hadolint}
YAMLLINT=${YAMLLINT:-.venv/bin/yamllint}
PROMTOOL=${PROMTOOL:-promtool}
CHART=${CHART:-deploy/helm/engage}
VALUES_FILES=${VALUES_FILES-$CHART/values-production.yaml}
HELM_EXTRA_ARGS=${HELM_EXTRA_ARGS:-}
SKIP=${SKIP:-}
SCHEMAS=deploy/kubernetes-schemas

skip() { [[ " $SKIP " == *" $1 "* ]]; }
step() { printf '\n== %s\n' "$*"; }

for tool in "$HELM" "$KUBECONFORM"; do
  [[ -x $tool ]] || { echo "deploy-check: $tool is missing (make deploy-tools)" >&2; exit 2; }
done
if ! skip promtool && ! command -v "$PROMTOOL" >/dev/null; then
  echo "deploy-check: promtool is missing (Debian: apt-get install prometheus)" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/deploy-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! skip yamllint; then
  step "yamllint"
  "$YAMLLINT" --strict -c .yamllint .
fi

if ! skip hadolint; then
  step "hadolint Dockerfile"
  "$HADOLINT" --failure-threshold info Dockerfile
fi

# One render per values set: the chart's defaults, then each values file.
renders=()
names=(default)
files=("")
for f in $VALUES_FILES; do
  names+=("$(basename "$f" .yaml)")
  files+=("$f")
done
for i in "${!names[@]}"; do
  name=${names[$i]}
  args=(--kube-version "$KUBE_VERSION")
  [[ -n ${files[$i]} ]] && args+=(-f "${files[$i]}")
  # shellcheck disable=SC2206 # word splitting of HELM_EXTRA_ARGS is intended
  args+=($HELM_EXTRA_ARGS)
  step "helm lint ($name)"
  "$HELM" lint --strict "$CHART" "${args[@]}"
  step "helm template ($name)"
  out="$work/$name.yaml"
  "$HELM" template engage "$CHART" --namespace engage "${args[@]}" >"$out"
  echo "rendered $(grep -c '^kind:' "$out") resources to $name.yaml"
  renders+=("$out")
done

step "kubeconform -strict (Kubernetes $KUBE_VERSION and CRD schemas from $SCHEMAS)"
status=0
for out in "${renders[@]}"; do
  echo "-- $(basename "$out")"
  # Only the stored schemas: no default (network) location, and a kind without a schema fails.
  "$KUBECONFORM" -strict -summary -kubernetes-version "$KUBE_VERSION" \
    -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$SCHEMAS/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
    "$out" || status=1
done
[[ $status -eq 0 ]] || { echo "deploy-check: kubeconform found invalid manifests" >&2; exit 1; }

if ! skip promtool; then
  step "promtool check rules"
  "$PROMTOOL" check rules "$CHART/files/prometheus-rules.yml"
  step "promtool test rules"
  "$PROMTOOL" test rules deploy/prometheus/tests/*.yml
fi

printf '\ndeploy-check: OK\n'
