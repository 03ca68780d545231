#!/usr/bin/env bash
# Deploy or roll back a Kubernetes Deployment with kubectl: pytest-release's deploy script contract.
#
#   deploy.sh --env ENV --version VERSION [--strategy all-at-once]   # set image, wait for the rollout
#   deploy.sh --env ENV --rollback VERSION                           # back to VERSION, wait for it
#
# Exit status: 0 done; 2 bad usage or settings (nothing was run); otherwise kubectl's own exit
# status, passed through (a `rollout status` that timed out or failed exits 1).
#
# A Deployment rolls out with its own RollingUpdate: the only strategy it offers is all-at-once
# (every new pod takes traffic as soon as it is ready). For canary or blue-green use Argo Rollouts
# (scripts/deploy-argo.sh).
#
# Settings (from .env, which pytest-release passes to this script, or the environment):
#   IMAGE_REPOSITORY   the image without its tag, e.g. registry.example.com/shop/orders (required)
#   K8S_DEPLOYMENT     the Deployment to update (required)
#   K8S_CONTAINER      its container to update (default: the Deployment's name)
#   K8S_NAMESPACE      the namespace (default: the environment's name)
#   K8S_CONTEXT        the kubeconfig context (default: kubectl's current context)
#   ROLLOUT_TIMEOUT    how long `rollout status` waits (default 10m)
#   KUBECTL            the kubectl to run (default: kubectl on PATH)
set -uo pipefail

name_re='^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$'
usage() {
    echo "usage: deploy.sh --env ENV --version VERSION [--strategy all-at-once]" >&2
    echo "       deploy.sh --env ENV --rollback VERSION" >&2
}
usage_error() { echo "deploy.sh: $1" >&2; usage; exit 2; }
say() { echo "deploy: $*"; }
run() { echo "+ $*"; "$@"; }  # commands carry no secret: credentials live in the kubeconfig

action="" env="" version="" strategy="all-at-once"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env) [[ $# -ge 2 ]] || usage_error "--env needs a value"; env="$2"; shift 2 ;;
        --version) [[ $# -ge 2 ]] || usage_error "--version needs a value"; [[ -z "$action" ]] || usage_error "give --version or --rollback, not both"
            action="deploy"; version="$2"; shift 2 ;;
        --rollback) [[ $# -ge 2 ]] || usage_error "--rollback needs the version to roll back to"; [[ -z "$action" ]] || usage_error "give --version or --rollback, not both"
            action="rollback"; version="$2"; shift 2 ;;
        --strategy) [[ $# -ge 2 ]] || usage_error "--strategy needs a value"; strategy="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done
[[ -n "$action" ]] || usage_error "give --version or --rollback"
[[ "$env" =~ $name_re ]] || usage_error "invalid or missing --env: '$env'"
[[ "$version" =~ $name_re ]] || usage_error "invalid version: '$version'"
[[ "$strategy" == "all-at-once" ]] || usage_error "strategy '$strategy' needs Argo Rollouts (scripts/deploy-argo.sh): a Deployment rolls out all-at-once"

[[ -n "${IMAGE_REPOSITORY:-}" ]] || usage_error "IMAGE_REPOSITORY is not set (the image without its tag)"
[[ -n "${K8S_DEPLOYMENT:-}" ]] || usage_error "K8S_DEPLOYMENT is not set (the Deployment to update)"
deployment="$K8S_DEPLOYMENT"
container="${K8S_CONTAINER:-$deployment}"
namespace="${K8S_NAMESPACE:-$env}"
timeout="${ROLLOUT_TIMEOUT:-10m}"
image="$IMAGE_REPOSITORY:$version"
k=("${KUBECTL:-kubectl}" --namespace "$namespace")
[[ -z "${K8S_CONTEXT:-}" ]] || k+=(--context "$K8S_CONTEXT")

wait_for_rollout() {
    run "${k[@]}" rollout status "deployment/$deployment" --timeout="$timeout"
    local status=$?
    if [[ $status -ne 0 ]]; then
        echo "deploy: deployment/$deployment did not finish rolling out $1 within $timeout (kubectl exit $status)" >&2
        exit "$status"
    fi
}

current_image() {
    "${k[@]}" get "deployment/$deployment" -o "jsonpath={.spec.template.spec.containers[?(@.name==\"$container\")].image}"
}

case "$action" in
    deploy)
        say "deploying $image to deployment/$deployment in $namespace ($env)"
        run "${k[@]}" set image "deployment/$deployment" "$container=$image"
        status=$?
        [[ $status -eq 0 ]] || { echo "deploy: kubectl set image failed (exit $status)" >&2; exit "$status"; }
        wait_for_rollout "$version"
        say "$version is rolled out in $namespace"
        ;;
    rollback)
        say "rolling deployment/$deployment in $namespace ($env) back to $version"
        before="$(current_image)" || { status=$?; echo "deploy: cannot read deployment/$deployment (kubectl exit $status)" >&2; exit "$status"; }
        if [[ "$before" != "$image" ]]; then
            # The previous revision is usually the target: undo is the fastest way back.
            run "${k[@]}" rollout undo "deployment/$deployment" || say "rollout undo failed; setting the image instead"
            after="$(current_image)" || after=""
            if [[ "$after" != "$image" ]]; then
                say "the previous revision runs ${after:-an unknown image}, not $image: setting the image"
                run "${k[@]}" set image "deployment/$deployment" "$container=$image"
                status=$?
                [[ $status -eq 0 ]] || { echo "deploy: kubectl set image failed (exit $status)" >&2; exit "$status"; }
            fi
        else
            say "deployment/$deployment already specifies $image: waiting for it to be rolled out"
        fi
        wait_for_rollout "$version"
        say "rollback of $namespace to $version complete"
        ;;
esac
