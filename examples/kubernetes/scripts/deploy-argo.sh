#!/usr/bin/env bash
# Deploy or roll back an Argo Rollouts `Rollout` with `kubectl argo rollouts`: pytest-release's
# deploy script contract, with its canary steps and blue-green switch.
#
#   deploy-argo.sh --env ENV --version VERSION --strategy all-at-once
#   deploy-argo.sh --env ENV --version VERSION --strategy canary --canary-weight N
#   deploy-argo.sh --env ENV --version VERSION --strategy blue-green [--switch]
#   deploy-argo.sh --env ENV --rollback VERSION
#
#   all-at-once     set image, promote --full (skip every step), wait until Healthy
#   canary N        pytest-release moves the traffic step by step and judges each step itself.
#                   The first call sets the image (the Rollout goes to its first setWeight step
#                   and pauses); each later call promotes to the next step; N=100 promotes
#                   --full. Each call returns once the Rollout is paused at its step (or Healthy).
#                   The Rollout's steps must mirror release.yaml's canary.steps: setWeight N
#                   followed by a pause without duration, per step (see manifests/rollout.yaml).
#   blue-green      set image; returns once the preview pods serve and the Rollout pauses before
#                   promotion (autoPromotionEnabled: false), so the preview can be smoke-tested
#   --switch        promote: the active service switches to the new pods; wait until Healthy
#   --rollback V    abort (traffic back to the stable pods at once), set image to V,
#                   promote --full (a rollback does not walk the steps again), wait until Healthy
#
# Exit status: 0 done; 2 bad usage or settings (nothing was run); 1 the Rollout became Degraded
# or did not reach its step in time; otherwise kubectl's own exit status, passed through.
#
# Settings (from .env, which pytest-release passes to this script, or the environment):
#   IMAGE_REPOSITORY   the image without its tag (required)
#   K8S_ROLLOUT        the Rollout to update (required)
#   K8S_CONTAINER      its container to update (default: the Rollout's name)
#   K8S_NAMESPACE      the namespace (default: the environment's name)
#   K8S_CONTEXT        the kubeconfig context (default: kubectl's current context)
#   ROLLOUT_TIMEOUT    how long one call waits for its step or for Healthy, in seconds or with
#                      s/m/h (default 10m)
#   ARGO_POLL_SECONDS  how often a wait asks for the Rollout's status (default 5)
#   KUBECTL            the kubectl to run (default: kubectl on PATH, with the argo rollouts plugin)
set -uo pipefail

name_re='^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$'
usage() {
    echo "usage: deploy-argo.sh --env ENV --version VERSION --strategy all-at-once|canary|blue-green [--canary-weight N] [--switch]" >&2
    echo "       deploy-argo.sh --env ENV --rollback VERSION" >&2
}
usage_error() { echo "deploy-argo.sh: $1" >&2; usage; exit 2; }
say() { echo "deploy: $*"; }
run() { echo "+ $*"; "$@"; }  # commands carry no secret: credentials live in the kubeconfig

action="" env="" version="" strategy="all-at-once" weight="" switch=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env) [[ $# -ge 2 ]] || usage_error "--env needs a value"; env="$2"; shift 2 ;;
        --version) [[ $# -ge 2 ]] || usage_error "--version needs a value"; [[ -z "$action" ]] || usage_error "give --version or --rollback, not both"
            action="deploy"; version="$2"; shift 2 ;;
        --rollback) [[ $# -ge 2 ]] || usage_error "--rollback needs the version to roll back to"; [[ -z "$action" ]] || usage_error "give --version or --rollback, not both"
            action="rollback"; version="$2"; shift 2 ;;
        --strategy) [[ $# -ge 2 ]] || usage_error "--strategy needs a value"; strategy="$2"; shift 2 ;;
        --canary-weight) [[ $# -ge 2 ]] || usage_error "--canary-weight needs a value"; weight="${2%\%}"; shift 2 ;;
        --switch) switch=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done
[[ -n "$action" ]] || usage_error "give --version or --rollback"
[[ "$env" =~ $name_re ]] || usage_error "invalid or missing --env: '$env'"
[[ "$version" =~ $name_re ]] || usage_error "invalid version: '$version'"
case "$strategy" in
    all-at-once|blue-green) [[ -z "$weight" ]] || usage_error "--canary-weight needs --strategy canary" ;;
    canary)
        [[ "$weight" =~ ^[0-9]{1,3}$ ]] && (( 10#$weight >= 1 && 10#$weight <= 100 )) \
            || usage_error "--strategy canary needs --canary-weight 1-100, got '$weight'" ;;
    *) usage_error "unknown strategy '$strategy' (all-at-once, canary or blue-green)" ;;
esac
[[ -z "$switch" || "$strategy" == "blue-green" ]] || usage_error "--switch belongs to --strategy blue-green"

[[ -n "${IMAGE_REPOSITORY:-}" ]] || usage_error "IMAGE_REPOSITORY is not set (the image without its tag)"
[[ -n "${K8S_ROLLOUT:-}" ]] || usage_error "K8S_ROLLOUT is not set (the Rollout to update)"
timeout="${ROLLOUT_TIMEOUT:-10m}"
[[ "$timeout" =~ ^([0-9]{1,6})([smh]?)$ ]] || usage_error "ROLLOUT_TIMEOUT is not a duration like 600, 90s, 10m or 1h: '$timeout'"
case "${BASH_REMATCH[2]}" in
    h) timeout_s=$(( 10#${BASH_REMATCH[1]} * 3600 )) ;;
    m) timeout_s=$(( 10#${BASH_REMATCH[1]} * 60 )) ;;
    *) timeout_s=$(( 10#${BASH_REMATCH[1]} )) ;;
esac
poll="${ARGO_POLL_SECONDS:-5}"
[[ "$poll" =~ ^[0-9]+$ ]] || usage_error "ARGO_POLL_SECONDS is not a whole number: '$poll'"
rollout="$K8S_ROLLOUT"
container="${K8S_CONTAINER:-$rollout}"
namespace="${K8S_NAMESPACE:-$env}"
image="$IMAGE_REPOSITORY:$version"
kube=("${KUBECTL:-kubectl}" --namespace "$namespace")
[[ -z "${K8S_CONTEXT:-}" ]] || kube+=(--context "$K8S_CONTEXT")
argo=("${kube[0]}" argo rollouts "${kube[@]:1}")

must() {  # a step the rest depends on: its failure ends the script with its exit status
    run "$@"
    local status=$?
    [[ $status -eq 0 ]] || { echo "deploy: '${*:2}' failed (exit $status)" >&2; exit "$status"; }
}

wait_until_healthy() {
    run "${argo[@]}" status "$rollout" --timeout "${timeout_s}s"
    local status=$?
    [[ $status -eq 0 ]] || { echo "deploy: rollout $rollout did not become Healthy with $version within ${timeout_s}s (exit $status)" >&2; exit "$status"; }
}

wait_until_paused() {  # `status` watches only until Healthy or Degraded; a step's pause is polled
    local answer status deadline=$(( SECONDS + timeout_s ))
    while :; do
        answer="$("${argo[@]}" status "$rollout" --watch=false 2>&1)"
        status=$?
        echo "  rollout $rollout: $answer"
        case "$answer" in
            Paused*|Healthy*) return 0 ;;
        esac
        [[ $status -eq 0 ]] || { echo "deploy: rollout $rollout failed at $1: $answer (exit $status)" >&2; exit "$status"; }
        (( SECONDS < deadline )) || { echo "deploy: rollout $rollout did not reach $1 within ${timeout_s}s" >&2; exit 1; }
        sleep "$poll"
    done
}

spec_image() {
    "${kube[@]}" get "rollout/$rollout" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$container\")].image}"
}

case "$action" in
    deploy)
        case "$strategy" in
            all-at-once)
                say "deploying $image to rollout $rollout in $namespace ($env), all at once"
                must "${argo[@]}" set image "$rollout" "$container=$image"
                must "${argo[@]}" promote --full "$rollout"
                wait_until_healthy
                ;;
            canary)
                current="$(spec_image)" || { status=$?; echo "deploy: cannot read rollout/$rollout (exit $status)" >&2; exit "$status"; }
                if [[ "$current" != "$image" ]]; then
                    say "canary: $image to rollout $rollout in $namespace ($env), first step ($weight%)"
                    must "${argo[@]}" set image "$rollout" "$container=$image"
                elif (( 10#$weight == 100 )); then
                    say "canary: promoting $version fully (100%)"
                    must "${argo[@]}" promote --full "$rollout"
                else
                    say "canary: promoting $version to the next step ($weight%)"
                    must "${argo[@]}" promote "$rollout"
                fi
                if (( 10#$weight == 100 )); then wait_until_healthy; else wait_until_paused "the $weight% step"; fi
                ;;
            blue-green)
                if [[ -n "$switch" ]]; then
                    say "blue-green: switching the active service of $rollout to $version"
                    must "${argo[@]}" promote "$rollout"
                    wait_until_healthy
                else
                    say "blue-green: $image to the preview side of rollout $rollout in $namespace ($env)"
                    must "${argo[@]}" set image "$rollout" "$container=$image"
                    wait_until_paused "the preview of $version"
                fi
                ;;
        esac
        say "done: $version, $strategy${weight:+ $weight%}${switch:+ (switched)}"
        ;;
    rollback)
        say "rolling rollout $rollout in $namespace ($env) back to $version"
        # Abort first: an update in flight sends its traffic back to the stable pods at once.
        run "${argo[@]}" abort "$rollout" || say "abort refused (nothing in flight?); going on with the rollback"
        must "${argo[@]}" set image "$rollout" "$container=$image"
        run "${argo[@]}" promote --full "$rollout" || say "promote --full refused (nothing to promote?); waiting for the rollout"
        wait_until_healthy
        say "rollback of $namespace to $version complete"
        ;;
esac
