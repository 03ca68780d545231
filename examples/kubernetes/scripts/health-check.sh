#!/usr/bin/env bash
# Health check for pytest-release's watch window: exit 0 when the Deployment is fully rolled out
# and available, non-zero otherwise (kubectl's exit status, passed through).
#
#   health-check.sh --env ENV
#
# Settings: K8S_DEPLOYMENT (required), K8S_NAMESPACE (default: ENV), K8S_CONTEXT, HEALTH_TIMEOUT
# (default 10s; keep it under watch.health_timeout), KUBECTL.
set -uo pipefail

env=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env) [[ $# -ge 2 ]] || { echo "health-check.sh: --env needs a value" >&2; exit 2; }; env="$2"; shift 2 ;;
        *) echo "health-check.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ "$env" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] || { echo "health-check.sh: invalid or missing --env: '$env'" >&2; exit 2; }
[[ -n "${K8S_DEPLOYMENT:-}" ]] || { echo "health-check.sh: K8S_DEPLOYMENT is not set" >&2; exit 2; }
k=("${KUBECTL:-kubectl}" --namespace "${K8S_NAMESPACE:-$env}")
[[ -z "${K8S_CONTEXT:-}" ]] || k+=(--context "$K8S_CONTEXT")
exec "${k[@]}" rollout status "deployment/$K8S_DEPLOYMENT" --timeout="${HEALTH_TIMEOUT:-10s}"
