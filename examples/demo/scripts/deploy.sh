#!/usr/bin/env bash
# Deploy, roll back or stop the demo service on 127.0.0.1.
#
#   deploy.sh --env ENV --version VERSION [--strategy STRATEGY] [--canary-weight N] [--switch]
#   deploy.sh --env ENV --rollback VERSION
#   deploy.sh --stop
#
# Exit status: 0 done; 1 the new version did not come up; 2 bad usage;
# 3 deploy refused (DEMO_DEPLOY_FAIL=1, for tests).
#
# Environment: DEMO_PORT (default 8711), DEMO_STATE_DIR (default <demo>/.demo-state: pid file,
# version file, service log), PYTHON (default python3). For tests of the release tool:
# DEMO_DEPLOY_FAIL=1 fails a deploy, DEMO_DEPLOY_HANG=1 hangs it, DEMO_DEPLOY_SPAM=N prints N
# extra lines, DEMO_DEPLOY_LEAK=1 prints the DEMO_API_TOKEN and MY_SERVICE_PASSWORD secrets
# inside longer lines and an error message (they are otherwise never printed); none of these
# affect --rollback/--stop. DEMO_ROLLBACK_FAIL=1 makes --rollback exit 1 without changing
# anything, DEMO_ROLLBACK_HANG=1 makes it hang. DEMO_DEPLOY_LIE=1 and DEMO_ROLLBACK_LIE=1 make a
# deploy or a rollback say it succeeded and exit 0 without changing anything.
#
# Two topologies. An environment whose name ends in -lb (or any environment while the router
# runs) is served by router.py on DEMO_PORT in front of two instances, blue and green
# (DEMO_BLUE_PORT, DEMO_GREEN_PORT; the router's preview listener, which reaches the idle side or
# the canary only, is DEMO_PREVIEW_PORT; defaults DEMO_PORT+1, +2, +3). There:
#   --strategy canary --canary-weight N   the new version on the other side takes N% of the
#                                          users' traffic (100: all of it; the old side stays up, idle)
#   --strategy blue-green                  the new version starts on the idle side; users stay put
#   --strategy blue-green --switch         users move to the side that runs VERSION
#   --strategy all-at-once                 both steps of blue-green at once
#   --rollback VERSION                     users move back to the side that runs VERSION (started
#                                          on the other side first if none does)
# Any other environment has one process on DEMO_PORT, so every strategy ends with the new
# version taking all traffic (--switch has nothing left to do); the strategy is validated and
# reported so a release log shows what was asked for.
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
router="$demo_dir/router.py"
router_state="$state_dir/router.json"
blue_port="${DEMO_BLUE_PORT:-$(( 10#${port//[!0-9]/0} + 1 ))}"
green_port="${DEMO_GREEN_PORT:-$(( 10#${port//[!0-9]/0} + 2 ))}"
preview_port="${DEMO_PREVIEW_PORT:-$(( 10#${port//[!0-9]/0} + 3 ))}"
proc_pattern="service.py"  # what a pid file's process must be running (is_our_service)

name_re='^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$'

usage() {
    cat >&2 <<EOF
usage: deploy.sh --env ENV --version VERSION [--strategy all-at-once|blue-green|canary] [--canary-weight 1-100] [--switch]
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

# Start a command in its own session, detached from this script (stdin /dev/null, output
# appended to LOG), so it outlives the deploy and never holds the caller's pipe open. Sets $pid.
start_detached() {
    local log=$1
    shift
    if command -v setsid >/dev/null 2>&1; then
        setsid "$@" </dev/null >>"$log" 2>&1 &
    else
        "$python" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' "$@" </dev/null >>"$log" 2>&1 &
    fi
    pid=$!
}

# Poll http://127.0.0.1:PORT/PATH (no curl needed) for up to 10 s until it answers, and, when
# WANTED is given, until its JSON names that version. Gives up early if PID has died.
wait_until_up() {
    "$python" - "$@" <<'PY'
import json, os, sys, time, urllib.request

port, pid, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
wanted = sys.argv[4] if len(sys.argv) > 4 else None
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as answer:
            if wanted is None or json.load(answer).get("version") == wanted:
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
}

action="" env="" version="" strategy="all-at-once" canary_weight="" switch=""
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
        --switch)
            switch=1; shift ;;
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
    if [[ -n "$switch" ]]; then
        [[ "$action" == "deploy" && "$strategy" == "blue-green" ]] || usage_error "--switch needs --version and --strategy blue-green"
    fi
fi
for name_port in "DEMO_PORT=$port" "DEMO_BLUE_PORT=$blue_port" "DEMO_GREEN_PORT=$green_port" "DEMO_PREVIEW_PORT=$preview_port"; do
    value="${name_port#*=}"
    [[ "$value" =~ ^[0-9]{1,5}$ ]] && (( 10#$value >= 1 && 10#$value <= 65535 )) || usage_error "${name_port%%=*} is not a port: '$value'"
done

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
    [[ "$cmdline" == *"$proc_pattern"* ]]
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
    start_detached "$log_file" "$python" "$service" --version "$version" --port "$port" --host 127.0.0.1
    echo "$pid" >"$pid_file"
    echo "$version" >"$version_file"

    # Poll /version (no curl needed) until it names the new version, for up to 10 s.
    if wait_until_up "$port" "$pid" /version "$version"
    then
        say "$version is serving (pid $pid)"
        return 0
    fi
    echo "deploy: $version did not come up on 127.0.0.1:$port within 10 s; service log:" >&2
    tail -n 20 "$log_file" >&2 || true
    stop_service >&2 || true
    return 1
}

# --- the router topology: two instances (blue, green) behind router.py ---------------------
router_running() {
    local pid proc_pattern="router.py"
    pid="$(cat "$state_dir/router.pid" 2>/dev/null || true)"
    [[ -n "$pid" ]] && is_our_service "$pid"
}

slot_port() { if [[ "$1" == "blue" ]]; then echo "$blue_port"; else echo "$green_port"; fi; }
other_slot() { if [[ "$1" == "blue" ]]; then echo green; else echo blue; fi; }

# The version a slot's instance runs, or nothing when none runs there.
slot_version() {
    local pid
    pid="$(cat "$state_dir/$1.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && is_our_service "$pid"; then cat "$state_dir/$1.version" 2>/dev/null || true; fi
}

# start_slot SLOT VERSION: (re)start VERSION on SLOT's port. stop_service and start_service
# read these locals (bash scoping is dynamic).
start_slot() {
    local pid_file="$state_dir/$1.pid" version_file="$state_dir/$1.version" log_file="$state_dir/$1.log"
    local port version="$2"
    port="$(slot_port "$1")"
    say "$1 side: $2"
    stop_service
    start_service
}

stop_slot() {
    local pid_file="$state_dir/$1.pid" version_file="$state_dir/$1.version"
    [[ -n "$(slot_version "$1")" ]] || return 0
    stop_service
}

stop_router() {
    local pid_file="$state_dir/router.pid" version_file="$state_dir/router.version" proc_pattern="router.py"
    router_running || return 0
    stop_service
}

start_router() {
    local pid
    mkdir -p "$state_dir"
    say "starting the router on 127.0.0.1:$port (preview listener on 127.0.0.1:$preview_port)"
    start_detached "$state_dir/router.log" "$python" "$router" serve --port "$port" --preview-port "$preview_port" --state "$router_state"
    echo "$pid" >"$state_dir/router.pid"
    echo "router" >"$state_dir/router.version"
    if wait_until_up "$port" "$pid" /_router
    then
        say "router is up (pid $pid)"
        return 0
    fi
    echo "deploy: the router did not come up on 127.0.0.1:$port within 10 s; router log:" >&2
    tail -n 20 "$state_dir/router.log" >&2 || true
    return 1
}

# route PRIMARY WEIGHT PREVIEW: PRIMARY takes WEIGHT% of the users' traffic, the other side the
# rest; the preview listener reaches PREVIEW. Returns once the router applies it.
route() {
    local primary="$1" weight="$2" preview="$3" other s v
    local args=(set --state "$router_state" --primary "$primary" --preview "$preview")
    other="$(other_slot "$primary")"
    args+=(--weights "$primary=$weight,$other=$(( 100 - weight ))" --wait "http://127.0.0.1:$port/_router")
    for s in blue green; do
        v="$(slot_version "$s")"
        if [[ -n "$v" ]]; then args+=(--slot "$s=$(slot_port "$s"):$v"); else args+=(--slot "$s="); fi
    done
    "$python" "$router" "${args[@]}"
    say "routing: $primary ($(slot_version "$primary")) $weight%, $other ($(slot_version "$other")) $(( 100 - weight ))%; preview: ${preview:-none}"
}

router_primary() {
    local primary
    primary="$("$python" "$router" get --state "$router_state" primary)"
    if [[ -n "$primary" && -n "$(slot_version "$primary")" ]]; then echo "$primary"; fi
}

# The router takes DEMO_PORT; a single service running there moves behind it (blue side) first.
ensure_router() {
    local moved=""
    router_running && return 0
    if [[ -f "$pid_file" ]] && is_our_service "$(cat "$pid_file")"; then
        moved="$(cat "$version_file" 2>/dev/null || true)"
    fi
    rm -f "$router_state"
    if [[ -n "$moved" ]]; then
        say "moving $moved behind a router: it starts on the blue side, then the router takes 127.0.0.1:$port"
        start_slot blue "$moved"
        stop_service
    fi
    start_router
    if [[ -n "$moved" ]]; then route blue 100 green; fi
}

router_deploy() {
    local primary cand="" s
    ensure_router
    primary="$(router_primary)"
    if [[ -z "$primary" ]]; then  # nothing serves yet: the first version takes all traffic
        start_slot blue "$version"
        route blue 100 green
        return
    fi
    case "$strategy" in
        canary)
            [[ -n "$canary_weight" ]] || usage_error "--strategy canary needs --canary-weight behind the router"
            for s in blue green; do  # a later step: the side that already runs the canary
                if [[ "$s" != "$primary" && "$(slot_version "$s")" == "$version" ]] \
                    && (( $("$python" "$router" get --state "$router_state" "weight:$s") > 0 )); then
                    cand="$s"
                fi
            done
            if [[ -z "$cand" ]]; then
                cand="$(other_slot "$primary")"
                start_slot "$cand" "$version"
            fi
            if (( canary_weight >= 100 )); then
                route "$cand" 100 "$primary"
            else
                route "$primary" $(( 100 - canary_weight )) "$cand"
            fi
            ;;
        blue-green)
            if [[ -n "$switch" ]]; then
                for s in "$primary" "$(other_slot "$primary")"; do
                    if [[ "$(slot_version "$s")" == "$version" ]]; then cand="$s"; fi
                done
                if [[ -z "$cand" ]]; then
                    echo "deploy: nothing to switch to: no side runs $version (deploy it to the idle side first)" >&2
                    exit 1
                fi
                route "$cand" 100 "$(other_slot "$cand")"
            else
                cand="$(other_slot "$primary")"
                start_slot "$cand" "$version"
                route "$primary" 100 "$cand"
                say "$version is on the idle side ($cand, preview 127.0.0.1:$preview_port); users stay on $primary"
            fi
            ;;
        all-at-once)
            if [[ "$(slot_version "$primary")" == "$version" ]]; then
                say "$version already takes all traffic"
                return
            fi
            cand="$(other_slot "$primary")"
            start_slot "$cand" "$version"
            route "$cand" 100 "$primary"
            ;;
    esac
}

router_rollback() {
    local primary target="" s
    ensure_router
    primary="$(router_primary)"
    for s in "$primary" "$(other_slot "$primary")"; do  # the live side first: it may run VERSION
        if [[ -n "$s" && "$(slot_version "$s")" == "$version" ]]; then target="$s"; break; fi
    done
    if [[ -z "$target" ]]; then
        target="$(other_slot "$primary")"
        start_slot "$target" "$version"
    fi
    route "$target" 100 "$(other_slot "$target")"
}

use_router() { [[ "$env" == *-lb ]] || router_running; }

case "$action" in
    stop)
        stop_router
        stop_slot blue
        stop_slot green
        stop_service
        rm -f "$router_state"
        ;;
    rollback)
        say "rolling back $env to $version"
        if [[ "${DEMO_ROLLBACK_FAIL:-}" == "1" ]]; then
            echo "deploy: DEMO_ROLLBACK_FAIL=1: refusing to roll back $env to $version" >&2
            exit 1
        fi
        if [[ "${DEMO_ROLLBACK_HANG:-}" == "1" ]]; then
            say "DEMO_ROLLBACK_HANG=1: waiting for a lock that never frees"
            exec sleep 2147483647
        fi
        if [[ "${DEMO_ROLLBACK_LIE:-}" == "1" ]]; then
            say "rollback of $env to $version complete"  # it is not: nothing was changed
            exit 0
        fi
        if use_router; then
            router_rollback
        else
            stop_service
            start_service
        fi
        say "rollback of $env to $version complete"
        ;;
    deploy)
        if [[ "${DEMO_DEPLOY_FAIL:-}" == "1" ]]; then
            echo "deploy: DEMO_DEPLOY_FAIL=1: refusing to deploy $version to $env" >&2
            exit 3
        fi
        say "deploying $version to $env (strategy $strategy${canary_weight:+, canary weight $canary_weight%}${switch:+, switch})"
        if [[ "${DEMO_DEPLOY_LIE:-}" == "1" ]]; then
            say "deploy of $version complete"  # it is not: nothing was changed
            exit 0
        fi
        if [[ -n "${DEMO_API_TOKEN:-}" ]]; then
            say "credentials: DEMO_API_TOKEN is set${DEMO_REGION:+ (region $DEMO_REGION)}"
        fi
        if [[ "${DEMO_DEPLOY_LEAK:-}" == "1" ]]; then
            echo "deploy: debug token=${DEMO_API_TOKEN:-}"
            echo "deploy: connecting to db://deployer:${MY_SERVICE_PASSWORD:-}@127.0.0.1/orders?region=${DEMO_REGION:-}"
            echo "deploy: error: registry refused credentials Bearer${DEMO_API_TOKEN:-}x (HTTP 401)" >&2
        fi
        if [[ "${DEMO_DEPLOY_SPAM:-}" =~ ^[0-9]+$ ]]; then
            for (( line = 1; line <= 10#$DEMO_DEPLOY_SPAM; line++ )); do
                echo "deploy: pulling layer $line of $DEMO_DEPLOY_SPAM"
            done
        fi
        if [[ "${DEMO_DEPLOY_HANG:-}" == "1" ]]; then
            say "DEMO_DEPLOY_HANG=1: waiting for a lock that never frees"
            exec sleep 2147483647
        fi
        if use_router; then
            router_deploy
        elif [[ -n "$switch" ]]; then
            say "one process serves $env: $version already takes all traffic, nothing to switch"
        else
            stop_service
            start_service
        fi
        say "deploy of $version to $env complete"
        ;;
esac
