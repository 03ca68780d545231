#!/usr/bin/env bash
# The demo release, end to end on loopback: start v1, release v2 (Released, exit 0), release
# v3-bad (its latent error spike rolls it back to v2 automatically, exit 10), stop the service.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${VENV:-$repo/.venv}

if ! "$venv/bin/python" -c 'import pytest_release, prometheus_client' 2>/dev/null; then
  echo "== setting up $venv"
  python3 -m venv "$venv" && "$venv/bin/pip" install -q -e "$repo[demo]" || exit 1
fi
export PATH="$venv/bin:$PATH" PYTHON="$venv/bin/python"
unset CI  # the demo's gate proceeds on its own; nothing to answer
cd "$here"

port=${DEMO_PORT:-8711}
if python -c 'import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0)' "$port"; then
  echo "port $port on 127.0.0.1 is already in use: stop what serves there or set DEMO_PORT" >&2
  exit 1
fi
trap 'scripts/deploy.sh --stop >/dev/null 2>&1' EXIT
echo "== starting v1 (what is serving before the release)"
scripts/deploy.sh --env local --version v1 --strategy all-at-once || exit 1

run() {
  echo
  echo "== pytest --release-env=local --release-version=$1"
  pytest -p no:cacheprovider --release-env=local --release-version="$1"
  status=$?
  [ "$status" = "$2" ] || failed=1
  report=$(ls -t _docs/04_release/release_"$1"_local_*.md 2>/dev/null | head -n 1)
  verdict=$(sed -n 's/^\*\*\([A-Za-z-]*\)\*\*.*/\1/p' "$report" | tail -n 1)
  summary+=("$1: $verdict (exit $status), report $here/$report")
}

summary=()
failed=0
run v2 0       # expected: Released
run v3-bad 10  # expected: Rolled-Back to v2
echo
echo "== demo summary"
printf '%s\n' "${summary[@]}"
serving=$(python -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]))["version"])' "http://127.0.0.1:$port/version")
echo "now serving: $serving"
[ "$serving" = v2 ] || failed=1
if [ "$failed" != 0 ]; then
  echo "the demo did not end as expected (v2 Released with exit 0, v3-bad Rolled-Back with exit 10, v2 serving)" >&2
  exit 1
fi
