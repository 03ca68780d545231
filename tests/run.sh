#!/usr/bin/env bash
# The whole test suite, on a fresh machine: a virtual environment with the test extras, the
# Debian packages prometheus, prometheus-alertmanager, victoria-metrics and docker-registry (the integration tests run the real servers),
# golang-go and gotestsum (the gate's JUnit tests read a report gotestsum writes), kubernetes-client
# (kubectl checks the Kubernetes example offline), then pytest. Arguments are passed to pytest.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null || ! command -v victoria-metrics >/dev/null || ! command -v docker-registry >/dev/null || ! command -v openssl >/dev/null || ! command -v go >/dev/null || ! command -v gotestsum >/dev/null || ! command -v kubectl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus prometheus-alertmanager victoria-metrics docker-registry openssl golang-go gotestsum >/dev/null
    command -v kubectl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
  else
    echo "the integration tests need the Debian packages prometheus, prometheus-alertmanager, victoria-metrics, docker-registry, golang-go, gotestsum and kubernetes-client (kubectl):" >&2
    echo "  sudo apt-get install prometheus prometheus-alertmanager victoria-metrics docker-registry golang-go gotestsum kubernetes-client" >&2
    exit 1
  fi
fi
if ! "$venv/bin/python" -c 'import pytest_release, scipy, hypothesis, prometheus_client, lxml, xdist, importlinter, kubernetes_validate' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -e "$repo[test]"
fi
cd "$repo"
# The suite is mostly real subprocesses and servers waiting on each other: four workers keep
# it well under ten minutes on two cores.
exec "$venv/bin/python" -m pytest -n 4 "$@"
