#!/usr/bin/env bash
# Is the service healthy? Run by pytest-release at every watch-window poll (docs/deploy-script.md).
# Written by `pytest --release-init`: it asks HEALTH_URL (from .env; a per-environment URL can
# be HEALTH_URL_<ENV>, e.g. HEALTH_URL_PRODUCTION) and is healthy on HTTP 200 within 5 s.
#
#   health-check.sh --env ENV
#
# Exit status: 0 healthy; 1 unhealthy or unreachable; 2 bad usage. Prints one line either way.
set -euo pipefail

env=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --env)
            [[ $# -ge 2 ]] || { echo "health-check.sh: --env needs a value" >&2; exit 2; }
            env="$2"; shift 2 ;;
        -h|--help)
            echo "usage: health-check.sh --env ENV"; exit 0 ;;
        *)
            echo "health-check.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
[[ "$env" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$ ]] || { echo "health-check.sh: --env ENV is required" >&2; exit 2; }

per_env="HEALTH_URL_$(echo "$env" | tr '[:lower:]-' '[:upper:]_')"
url="${!per_env:-${HEALTH_URL:-}}"
if [[ -z "$url" ]]; then
    echo "health-check $env: UNKNOWN: neither $per_env nor HEALTH_URL is set (.env)"
    exit 1
fi

exec "${PYTHON:-python3}" - "$env" "$url" <<'PY'
import sys, urllib.error, urllib.request

env, url = sys.argv[1], sys.argv[2]
try:
    with urllib.request.urlopen(url, timeout=5) as answer:
        status = answer.status
except urllib.error.HTTPError as error:
    status = error.code
except Exception as error:
    print(f"health-check {env}: UNREACHABLE {url}: {error}")
    sys.exit(1)
print(f"health-check {env}: {'OK' if status == 200 else 'UNHEALTHY'} {url} -> HTTP {status}")
sys.exit(0 if status == 200 else 1)
PY
