#!/usr/bin/env bash
# Check the demo service's /health on 127.0.0.1:$DEMO_PORT (default 8711) with a 2 s timeout.
#
#   health-check.sh [--env ENV]
#
# Exit status: 0 healthy (HTTP 200); 1 unhealthy or unreachable; 2 bad usage.
# Prints one line either way. Needs only Python (PYTHON, default python3), not curl.
set -euo pipefail

port="${DEMO_PORT:-8711}"
python="${PYTHON:-python3}"
env="local"

while [[ $# -gt 0 ]]; do
    case "$1" in
        --env)
            [[ $# -ge 2 ]] || { echo "health-check.sh: --env needs a value" >&2; exit 2; }
            env="$2"; shift 2 ;;
        -h|--help)
            echo "usage: health-check.sh [--env ENV]"; exit 0 ;;
        *)
            echo "health-check.sh: unknown argument: $1" >&2
            echo "usage: health-check.sh [--env ENV]" >&2
            exit 2 ;;
    esac
done
[[ "$env" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$ ]] || { echo "health-check.sh: invalid environment name" >&2; exit 2; }
[[ "$port" =~ ^[0-9]{1,5}$ ]] || { echo "health-check.sh: DEMO_PORT is not a port: '$port'" >&2; exit 2; }

exec "$python" - "$env" "http://127.0.0.1:$port/health" <<'PY'
import sys, urllib.error, urllib.request

env, url = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=2) as answer:
        status, body = answer.status, answer.read(200).decode(errors="replace")
except urllib.error.HTTPError as error:
    status, body = error.code, error.read(200).decode(errors="replace")
except Exception as error:
    print(f"health-check {env}: UNREACHABLE {url}: {error}")
    sys.exit(1)
verdict = "OK" if status == 200 else "UNHEALTHY"
print(f"health-check {env}: {verdict} {url} -> HTTP {status} {body.strip()}")
sys.exit(0 if status == 200 else 1)
PY
