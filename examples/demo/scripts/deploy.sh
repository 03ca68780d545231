#!/usr/bin/env bash
# Deploy, roll back or stop the demo service on 127.0.0.1.
#
#   deploy.sh --env ENV --version VERSION [--strategy STRATEGY] [--canary-weight N]
#   deploy.sh --env ENV --rollback VERSION
#   deploy.sh --stop
#
# Exit status: 0 done; 1 the new version did not come up; 2 bad usage;
# 3 deploy refused (DEMO_DEPLOY_FAIL=1, for tests).
#
# Environment: DEMO_PORT (default 8711), DEMO_STATE_DIR (default <demo>/.demo-state: pid file,
# version file, service log), PYTHON (default python3). For tests of the release tool:
# DEMO_DEPLOY_FAIL=1 fails a deploy, DEMO_DEPLOY_HANG=1 hangs it, DEMO_DEPLOY_LEAK=1 prints the
# DEMO_API_TOKEN secret (which is otherwise never printed). None of them affect --rollback/--stop.
#
# There is one process, so every strategy ends with the new version taking all traffic;
# the strategy is validated and reported so a release log shows what was asked for.
set -euo pipefail

script_dir="$(cd "$(dirname "$0")" && pwd)"
demo_dir="$(cd "$script_dir/.." && pwd)"
service="$demo_dir/service.py"
port="${DEMO_PORT:-8711}"
state_dir="${DEMO_STATE_DIR:-$demo_dir/.demo-state}"
python="${PYTHON:-python3}"
pid_file="$state_dir/service.pid"
version_file="$state_dir/service.version"
log_file="$state_dir/service.log"

name_re='^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$'

usage() {
    cat >&2 <<EOF
usage: deploy.sh --env ENV --version VERSION [--strategy all-at-once|blue-green|canary] [--canary-weight 1-100]
       deploy.sh --env ENV --rollback VERSION
       deploy.sh --stop
EOF
}

usage_error() {
    echo "deploy.sh: $1" >&2
    usage
    exit 2
}

say() { echo "deploy: $*"; }

action="" env="" version="" strategy="all-at-once" canary_weight=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env)
            [[ $# -ge 2 ]] || usage_error "--env needs a value"
            env="$2"; shift 2 ;;
        --version)
            [[ $# -ge 2 ]] || usage_error "--version needs a value"
            [[ -z "$action" ]] || usage_error "give one of --version, --rollback, --stop"
            action="deploy"; version="$2"; shift 2 ;;
        --rollback)
            [[ $# -ge 2 ]] || usage_error "--rollback needs the version to roll back to"
            [[ -z "$action" ]] || usage_error "give one of --version, --rollback, --stop"
            action="rollback"; version="$2"; shift 2 ;;
        --stop)
            [[ -z "$action" ]] || usage_error "give one of --version, --rollback, --stop"
            action="stop"; shift ;;
        --strategy)
            [[ $# -ge 2 ]] || usage_error "--strategy needs a value"
            strategy="$2"; shift 2 ;;
        --canary-weight)
            [[ $# -ge 2 ]] || usage_error "--canary-weight needs a value"
            canary_weight="$2"; shift 2 ;;
        -h|--help)
            usage; exit 0 ;;
        *)
            usage_error "unknown argument: $1" ;;
    esac
done

[[ -n "$action" ]] || usage_error "give one of --version, --rollback, --stop"
if [[ "$action" != "stop" ]]; then
    [[ -n "$env" ]] || usage_error "--env is required"
    [[ "$env" =~ $name_re ]] || usage_error "invalid environment name: '$env'"
    [[ "$version" =~ $name_re ]] || usage_error "invalid version: '$version' (allowed: $name_re)"
    case "$strategy" in
        all-at-once|blue-green|canary) ;;
        *) usage_error "unknown strategy: '$strategy' (all-at-once, blue-green or canary)" ;;
    esac
    if [[ -n "$canary_weight" ]]; then
        [[ "$strategy" == "canary" ]] || usage_error "--canary-weight needs --strategy canary"
        canary_weight="${canary_weight%\%}"
        [[ "$canary_weight" =~ ^[0-9]{1,3}$ ]] && (( 10#$canary_weight >= 1 && 10#$canary_weight <= 100 )) \
            || usage_error "--canary-weight must be a whole number from 1 to 100 (a trailing % is allowed)"
        canary_weight=$(( 10#$canary_weight ))
    fi
fi
[[ "$port" =~ ^[0-9]{1,5}$ ]] && (( 10#$port >= 1 && 10#$port <= 65535 )) || usage_error "DEMO_PORT is not a port: '$port'"

# True when PID is a live (not zombie) demo service process.
is_our_service() {
    local pid="$1" stat cmdline
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/stat" ]]; then
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
        stat="${stat##*) }"
        [[ "${stat%% *}" != "Z" ]] || return 1
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    else
        cmdline="$(ps -p "$pid" -o command= 2>/dev/null)" || return 1
    fi
    [[ "$cmdline" == *service.py* ]]
}

stop_service() {
    local pid running_version waited
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ -z "$pid" ]] || ! is_our_service "$pid"; then
        say "no demo service running"
        rm -f "$pid_file" "$version_file"
        return 0
    fi
    running_version="$(cat "$version_file" 2>/dev/null || echo unknown)"
    say "stopping $running_version (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for (( waited = 0; waited < 50; waited++ )); do
        is_our_service "$pid" || break
        sleep 0.1
    done
    if is_our_service "$pid"; then
        say "$running_version (pid $pid) ignored SIGTERM for 5 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for (( waited = 0; waited < 50; waited++ )); do
            is_our_service "$pid" || break
            sleep 0.1
        done
    fi
    if is_our_service "$pid"; then
        echo "deploy: could not stop pid $pid" >&2
        return 1
    fi
    rm -f "$pid_file" "$version_file"
    say "stopped $running_version"
}

start_service() {
    local pid
    mkdir -p "$state_dir"
    say "starting $version on 127.0.0.1:$port"
    # A new session, no inherited stdin/stdout: the service outlives this script and the caller
    # reading our output sees EOF when we exit. Without setsid (macOS), Python does the same.
    if command -v setsid >/dev/null 2>&1; then
        setsid "$python" "$service" --version "$version" --port "$port" --host 127.0.0.1 \
            </dev/null >>"$log_file" 2>&1 &
    else
        "$python" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' \
            "$python" "$service" --version "$version" --port "$port" --host 127.0.0.1 \
            </dev/null >>"$log_file" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$pid_file"
    echo "$version" >"$version_file"

    # Poll /version (no curl needed) until it names the new version, for up to 10 s.
    if "$python" - "$port" "$version" "$pid" <<'PY'
import json, os, sys, time, urllib.request

port, wanted, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=1) as answer:
            if json.load(answer).get("version") == wanted:
                sys.exit(0)
    except Exception:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(1)
    time.sleep(0.1)
sys.exit(1)
PY
    then
        say "$version is serving (pid $pid)"
        return 0
    fi
    echo "deploy: $version did not come up on 127.0.0.1:$port within 10 s; service log:" >&2
    tail -n 20 "$log_file" >&2 || true
    stop_service >&2 || true
    return 1
}

case "$action" in
    stop)
        stop_service
        ;;
    rollback)
        say "rolling back $env to $version"
        stop_service
        start_service
        say "rollback of $env to $version complete"
        ;;
    deploy)
        if [[ "${DEMO_DEPLOY_FAIL:-}" == "1" ]]; then
            echo "deploy: DEMO_DEPLOY_FAIL=1: refusing to deploy $version to $env" >&2
            exit 3
        fi
        say "deploying $version to $env (strategy $strategy${canary_weight:+, canary weight $canary_weight%})"
        if [[ -n "${DEMO_API_TOKEN:-}" ]]; then
            say "credentials: DEMO_API_TOKEN is set${DEMO_REGION:+ (region $DEMO_REGION)}"
        fi
        if [[ "${DEMO_DEPLOY_LEAK:-}" == "1" ]]; then
            echo "deploy: debug token=${DEMO_API_TOKEN:-}"
        fi
        if [[ "${DEMO_DEPLOY_HANG:-}" == "1" ]]; then
            say "DEMO_DEPLOY_HANG=1: waiting for a lock that never frees"
            exec sleep 2147483647
        fi
        stop_service
        start_service
        say "deploy of $version to $env complete"
        ;;
esac
