#!/usr/bin/env bash
# Inject a fault into the demo's shared dependency: the router that every user request passes
# through, whatever version answers it (the -lb environments). It hurts every version alike,
# as when a database both the stable version and a canary use starts failing.
#
#   fault.sh --errors PERCENT [--delay SECONDS]   that share of every version's user requests
#                                                  fails (503), each waits SECONDS longer
#   fault.sh --clear                               the dependency recovers
#
# A canary release judged against the stable version (`canary.baseline: stable`) then escalates
# "not the release: both versions degraded" instead of blaming (and rolling back) the canary.
# Environment: DEMO_PORT (default 8711), DEMO_STATE_DIR (default <demo>/.demo-state), PYTHON.
set -euo pipefail

script_dir="$(cd "$(dirname "$0")" && pwd)"
demo_dir="$(cd "$script_dir/.." && pwd)"
port="${DEMO_PORT:-8711}"
state_dir="${DEMO_STATE_DIR:-$demo_dir/.demo-state}"
python="${PYTHON:-python3}"

usage() {
    echo "usage: fault.sh --errors PERCENT [--delay SECONDS] | fault.sh --clear" >&2
    exit 2
}

spec="" clear=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --errors) [[ $# -ge 2 ]] || usage; spec="${spec:+$spec,}errors=$2%"; shift 2 ;;
        --delay) [[ $# -ge 2 ]] || usage; spec="${spec:+$spec,}delay=$2"; shift 2 ;;
        --clear) clear=1; shift ;;
        *) usage ;;
    esac
done
[[ -n "$spec" || -n "$clear" ]] || usage
[[ -z "$spec" || -z "$clear" ]] || usage
[[ -f "$state_dir/router.json" ]] || { echo "fault.sh: no router runs (deploy an -lb environment first)" >&2; exit 1; }

"$python" "$demo_dir/router.py" set --state "$state_dir/router.json" --fault "$spec" --wait "http://127.0.0.1:$port/_router"
if [[ -n "$clear" ]]; then
    echo "fault: cleared; every version's requests reach their instance again"
else
    echo "fault: the shared dependency now fails $spec of every version's user requests"
fi
