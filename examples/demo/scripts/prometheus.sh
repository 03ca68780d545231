#!/usr/bin/env bash
# A private Prometheus for the demo's `local-prometheus` environment: it scrapes the demo service
# on 127.0.0.1:$DEMO_PORT every second and answers on 127.0.0.1:$DEMO_PROMETHEUS_PORT, so the demo
# release is watched through a real Prometheus instead of reading /metrics itself.
#
#   prometheus.sh start    start it (unless it runs) and wait until it has scraped the service once
#   prometheus.sh stop     stop it
#   prometheus.sh status   exit 0 when it runs
#
# Needs the Debian package prometheus (the `prometheus` binary on PATH).
# Environment: DEMO_PORT (default 8711), DEMO_PROMETHEUS_PORT (default 8712), DEMO_STATE_DIR
# (default <demo>/.demo-state: its data, config, pid and log go to prometheus/ in there), PYTHON.
#
# Exit status: 0 done; 1 it did not start or did not scrape within 20 s; 2 bad usage;
# 3 `prometheus` is not installed.
set -euo pipefail

script_dir="$(cd "$(dirname "$0")" && pwd)"
demo_dir="$(cd "$script_dir/.." && pwd)"
port="${DEMO_PORT:-8711}"
prom_port="${DEMO_PROMETHEUS_PORT:-8712}"
state_dir="${DEMO_STATE_DIR:-$demo_dir/.demo-state}"
python="${PYTHON:-python3}"
home="$state_dir/prometheus"
pid_file="$home/prometheus.pid"

say() { echo "prometheus: $*"; }

for value in "$port" "$prom_port"; do
    [[ "$value" =~ ^[0-9]{1,5}$ ]] && (( 10#$value >= 1 && 10#$value <= 65535 )) \
        || { echo "prometheus.sh: not a port: '$value'" >&2; exit 2; }
done

running_pid() {
    local pid
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/cmdline" ]]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q prometheus || return 1
    fi
    echo "$pid"
}

# Ask Prometheus's API until `condition` holds: ready (answers /-/ready) or scraped (the demo
# target has been scraped at least once). Python, so no curl is needed.
wait_for() {
    "$python" - "$prom_port" "$1" <<'PY'
import json, sys, time, urllib.parse, urllib.request

port, condition = sys.argv[1], sys.argv[2]
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    try:
        if condition == "ready":
            with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    sys.exit(0)
        else:
            query = urllib.parse.urlencode({"query": 'up{job="demo"}'})
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
        say "already running (pid $pid) on 127.0.0.1:$prom_port"
        return 0
    fi
    command -v prometheus >/dev/null 2>&1 || { echo "prometheus.sh: prometheus is not on PATH (apt-get install prometheus)" >&2; exit 3; }
    mkdir -p "$home/data"
    cat >"$home/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: demo
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF
    say "starting on 127.0.0.1:$prom_port, scraping the demo service on 127.0.0.1:$port every second"
    local argv=(prometheus --config.file="$home/prometheus.yml" --storage.tsdb.path="$home/data"
        --storage.tsdb.retention.time=1d --web.listen-address="127.0.0.1:$prom_port")
    # A new session with no inherited stdin/stdout: it outlives this script, and a caller reading
    # our output sees EOF when we exit. Without setsid (macOS), Python does the same.
    if command -v setsid >/dev/null 2>&1; then
        setsid "${argv[@]}" </dev/null >>"$home/prometheus.log" 2>&1 &
    else
        "$python" -c 'import os, sys; os.setsid(); os.execvp(sys.argv[1], sys.argv[1:])' "${argv[@]}" \
            </dev/null >>"$home/prometheus.log" 2>&1 &
    fi
    pid=$!
    echo "$pid" >"$pid_file"
    if ! wait_for ready; then
        echo "prometheus.sh: Prometheus did not become ready; its log:" >&2
        tail -n 20 "$home/prometheus.log" >&2 || true
        stop >&2 || true
        exit 1
    fi
    if ! wait_for scraped; then
        echo "prometheus.sh: Prometheus did not scrape 127.0.0.1:$port within 20 s" >&2
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
        if pid="$(running_pid)"; then say "running (pid $pid) on 127.0.0.1:$prom_port"; else say "not running"; exit 1; fi ;;
    *)
        echo "usage: prometheus.sh start|stop|status" >&2
        exit 2 ;;
esac
