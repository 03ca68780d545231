#!/usr/bin/env bash
# Health check for pytest-release's watch window with Argo Rollouts: exit 0 when the Rollout is
# Healthy, 1 when it is anything else (Progressing, Paused, Degraded), kubectl's exit status when
# it cannot be asked.
#
#   health-check-argo.sh --env ENV
#
# Settings: K8S_ROLLOUT (required), K8S_NAMESPACE (default: ENV), K8S_CONTEXT, KUBECTL.
set -uo pipefail

env=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env) [[ $# -ge 2 ]] || { echo "health-check-argo.sh: --env needs a value" >&2; exit 2; }; env="$2"; shift 2 ;;
        *) echo "health-check-argo.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ "$env" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] || { echo "health-check-argo.sh: invalid or missing --env: '$env'" >&2; exit 2; }
[[ -n "${K8S_ROLLOUT:-}" ]] || { echo "health-check-argo.sh: K8S_ROLLOUT is not set" >&2; exit 2; }
k=("${KUBECTL:-kubectl}" argo rollouts --namespace "${K8S_NAMESPACE:-$env}")
[[ -z "${K8S_CONTEXT:-}" ]] || k+=(--context "$K8S_CONTEXT")
answer="$("${k[@]}" status "$K8S_ROLLOUT" --watch=false)"
status=$?
[[ $status -eq 0 ]] || exit "$status"
phase="${answer%%[[:space:]]*}"   # "Healthy", or "Degraded - RolloutAborted: ..."
if [[ "$phase" == "Healthy" ]]; then
    exit 0
fi
echo "rollout $K8S_ROLLOUT is $answer" >&2
exit 1
