#!/usr/bin/env bash
# Deploy or roll back this service: the deploy contract of pytest-release (docs/deploy-script.md).
# Written by `pytest --release-init`; fill in the two functions marked FILL below. Until
# then a release stops in phase 2, before anything is deployed.
#
#   deploy.sh --env ENV --version VERSION [--strategy all-at-once|blue-green|canary] [--canary-weight N] [--switch]
#   deploy.sh --env ENV --rollback VERSION
#
# Exit status: 0 done (the version serves); 1 it failed; 2 bad usage.
# Run from the project root with .env's values in the environment, plus RELEASE_ENV,
# RELEASE_VERSION, RELEASE_STRATEGY and RELEASE_ROLLBACK_TARGET. Print as you go: a silence
# longer than deploy.idle_timeout (default 5m) is taken for a hang. A process you start must
# detach (setsid, output to a file) to outlive this script.
set -euo pipefail

name_re='^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$'

usage() {
    cat >&2 <<EOF
usage: deploy.sh --env ENV --version VERSION [--strategy all-at-once|blue-green|canary] [--canary-weight 1-100] [--switch]
       deploy.sh --env ENV --rollback VERSION
EOF
}

usage_error() {
    echo "deploy.sh: $1" >&2
    usage
    exit 2
}

# Make VERSION serve in ENV with STRATEGY (canary: WEIGHT percent of the traffic; blue-green:
# to the idle side, or with SWITCH=1 move users to it), and return once it does.
deploy_version() {
    local env="$1" version="$2" strategy="$3" weight="$4" switch="$5"
    # <FILL: the commands that deploy $version to $env, e.g. kubectl set image ... && kubectl rollout status ...>
    echo "deploy.sh: deploy_version is not filled in yet (scripts/deploy.sh)" >&2
    return 1
}

# Make VERSION serve again in ENV (all traffic), and return once it does.
rollback_to() {
    local env="$1" version="$2"
    # <FILL: the commands that roll $env back to $version, e.g. kubectl rollout undo ... && kubectl rollout status ...>
    echo "deploy.sh: rollback_to is not filled in yet (scripts/deploy.sh)" >&2
    return 1
}

action="" env="" version="" strategy="all-at-once" weight="" switch=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env)
            [[ $# -ge 2 ]] || usage_error "--env needs a value"
            env="$2"; shift 2 ;;
        --version)
            [[ $# -ge 2 ]] || usage_error "--version needs a value"
            [[ -z "$action" ]] || usage_error "give one of --version, --rollback"
            action="deploy"; version="$2"; shift 2 ;;
        --rollback)
            [[ $# -ge 2 ]] || usage_error "--rollback needs the version to roll back to"
            [[ -z "$action" ]] || usage_error "give one of --version, --rollback"
            action="rollback"; version="$2"; shift 2 ;;
        --strategy)
            [[ $# -ge 2 ]] || usage_error "--strategy needs a value"
            strategy="$2"; shift 2 ;;
        --canary-weight)
            [[ $# -ge 2 ]] || usage_error "--canary-weight needs a value"
            weight="${2%\%}"; shift 2 ;;
        --switch)
            switch=1; shift ;;
        -h|--help)
            usage; exit 0 ;;
        *)
            usage_error "unknown argument: $1" ;;
    esac
done

[[ -n "$action" ]] || usage_error "give one of --version, --rollback"
[[ -n "$env" ]] || usage_error "--env is required"
[[ "$env" =~ $name_re ]] || usage_error "invalid environment name: '$env'"
[[ "$version" =~ $name_re ]] || usage_error "invalid version: '$version'"
case "$strategy" in
    all-at-once|blue-green|canary) ;;
    *) usage_error "unknown strategy: '$strategy' (all-at-once, blue-green or canary)" ;;
esac
if [[ -n "$weight" ]]; then
    [[ "$strategy" == "canary" ]] || usage_error "--canary-weight needs --strategy canary"
    [[ "$weight" =~ ^[0-9]{1,3}$ ]] && (( 10#$weight >= 1 && 10#$weight <= 100 )) \
        || usage_error "--canary-weight must be a whole number from 1 to 100"
fi
if [[ -n "$switch" && "$strategy" != "blue-green" ]]; then
    usage_error "--switch needs --strategy blue-green"
fi

case "$action" in
    deploy)
        echo "deploy: deploying $version to $env (strategy $strategy${weight:+, canary weight $weight%}${switch:+, switch})"
        deploy_version "$env" "$version" "$strategy" "$weight" "$switch"
        echo "deploy: deploy of $version to $env complete"
        ;;
    rollback)
        echo "deploy: rolling back $env to $version"
        rollback_to "$env" "$version"
        echo "deploy: rollback of $env to $version complete"
        ;;
esac
