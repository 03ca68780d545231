#!/usr/bin/env bash
# A private VictoriaMetrics for the demo's `local-victoria` environment: it scrapes the demo
# service on 127.0.0.1:$DEMO_PORT every second and answers the Prometheus query API on
# 127.0.0.1:$DEMO_VICTORIA_PORT. Its flags are the package's defaults (-search.latencyOffset stays
# 30s): the release copes with VictoriaMetrics as installed (metrics.flavor auto adds nocache=1).
#
#   victoria.sh start    start it (unless it runs) and wait until it has scraped the service once
#   victoria.sh stop     stop it
#   victoria.sh status   exit 0 when it runs
#
# Needs the Debian package victoria-metrics (the `victoria-metrics` binary on PATH).
# Environment: DEMO_PORT (default 8711), DEMO_VICTORIA_PORT (default 8718), DEMO_STATE_DIR
# (default <demo>/.demo-state: its data, config, pid and log go to victoria/ in there), PYTHON.
#
# Exit status: 0 done; 1 it did not start or did not scrape within 20 s; 2 bad usage;
# 3 `victoria-metrics` is not installed.
set -euo pipefail

script_dir="$(cd "$(dirname "$0")" && pwd)"
demo_dir="$(cd "$script_dir/.." && pwd)"
port="${DEMO_PORT:-8711}"
vm_port="${DEMO_VICTORIA_PORT:-8718}"
state_dir="${DEMO_STATE_DIR:-$demo_dir/.demo-state}"
python="${PYTHON:-python3}"
home="$state_dir/victoria"
pid_file="$home/victoria.pid"

say() { echo "victoria-metrics: $*"; }

for value in "$port" "$vm_port"; do
    [[ "$value" =~ ^[0-9]{1,5}$ ]] && (( 10#$value >= 1 && 10#$value <= 65535 )) \
        || { echo "victoria.sh: not a port: '$value'" >&2; exit 2; }
done

running_pid() {
    local pid
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q victoria-metrics || return 1
    fi
    echo "$pid"
}

# Ask its API until `condition` holds: ready (/health answers) or scraped (the demo target has
# been scraped at least once; with nocache=1, or the last 30 s would not show). Python: no curl.
wait_for() {
    "$python" - "$vm_port" "$1" <<'PY'
import json, sys, time, urllib.parse, urllib.request

port, condition = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        if condition == "ready":
            with urllib.request.urlopen(f"{base}/health", timeout=1) as answer:
                if answer.status == 200:
                    sys.exit(0)
        else:
            query = urllib.parse.urlencode({"query": 'up{job="demo"}', "nocache": "1"})
            with urllib.request.urlopen(f"{base}/api/v1/query?{query}", timeout=1) as answer:
                if json.load(answer)["data"]["result"]:
                    sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
PY
}

start() {
    local pid
    if pid="$(running_pid)"; then
        say "already running (pid $pid) on 127.0.0.1:$vm_port"
        return 0
    fi
    command -v victoria-metrics >/dev/null 2>&1 \
        || { echo "victoria.sh: victoria-metrics is not on PATH (apt-get install victoria-metrics)" >&2; exit 3; }
    mkdir -p "$home/data"
    cat >"$home/scrape.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: demo
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
    say "starting on 127.0.0.1:$vm_port, scraping the demo service on 127.0.0.1:$port every second"
    local argv=(victoria-metrics -httpListenAddr="127.0.0.1:$vm_port" -storageDataPath="$home/data"
        -retentionPeriod=1d -promscrape.config="$home/scrape.yml")
    # A new session with no inherited stdin/stdout: it outlives this script, and a caller reading
    # our output sees EOF when we exit. Without setsid (macOS), Python does the same.
    if command -v setsid >/dev/null 2>&1; then
        setsid "${argv[@]}" </dev/null >>"$home/victoria.log" 2>&1 &
    else
        "$python" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' "${argv[@]}" \
            </dev/null >>"$home/victoria.log" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$pid_file"
    if ! wait_for ready; then
        echo "victoria.sh: VictoriaMetrics did not become ready; its log:" >&2
        tail -n 20 "$home/victoria.log" >&2 || true
        stop >&2 || true
        exit 1
    fi
    if ! wait_for scraped; then
        echo "victoria.sh: VictoriaMetrics did not scrape 127.0.0.1:$port within 20 s" >&2
        exit 1
    fi
    say "running (pid $pid); it has scraped the demo service"
}

stop() {
    local pid waited
    if ! pid="$(running_pid)"; then
        say "not running"
        rm -f "$pid_file"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for (( waited = 0; waited < 100; waited++ )); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pid_file"
    say "stopped (pid $pid)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if pid="$(running_pid)"; then say "running (pid $pid) on 127.0.0.1:$vm_port"; else say "not running"; exit 1; fi ;;
    *)
        echo "usage: victoria.sh start|stop|status" >&2
        exit 2 ;;
esac
