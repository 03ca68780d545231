"""TLS against a Prometheus-compatible API: verified by default, a CA file or `verify_tls: false`
when asked. The server is a real HTTPS server on 127.0.0.1 with a certificate made by openssl."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from pytest_release.metrics import MetricsUnavailable
from pytest_release.metrics.prometheus import PrometheusProvider

ANSWER = {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "1"]}]}}


def _answer(path: str) -> dict:
    """ANSWER, except the provider's freshness probe (`time()`), answered as Prometheus does:
    evaluated at the requested time."""
    params = parse_qs(urlsplit(path).query)
    query = params.get("query", [""])[0]
    if "time()" not in query or "time" not in params:
        return ANSWER
    when = float(params["time"][0])
    result = [{"metric": {"probe": "now"}, "value": [when, repr(when)]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = json.dumps(_answer(self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def https_prometheus(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("install the Debian package openssl (apt-get install openssl)")
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


AT = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


def test_an_unknown_certificate_is_refused_by_default(https_prometheus):
    url, _ = https_prometheus
    provider = PrometheusProvider(url, {"error_rate": "vector(1)"}, timeout=5)
    with pytest.raises(MetricsUnavailable, match="(?i)certificate"):
        provider.check_reachable()
    assert provider.sample(AT, 60) == {"error_rate": None}  # during a watch: no data, never a pass


def test_a_ca_file_lets_it_answer(https_prometheus):
    url, cert = https_prometheus
    provider = PrometheusProvider(url, {"error_rate": "vector(1)"}, timeout=5, verify_tls=str(cert))
    provider.check_reachable()
    assert provider.sample(AT, 60) == {"error_rate": 1.0}


def test_verify_tls_false_answers_and_says_it_is_unverified(https_prometheus):
    url, _ = https_prometheus
    provider = PrometheusProvider(url, {"error_rate": "vector(1)"}, timeout=5, verify_tls=False)
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        provider.check_reachable()
        assert provider.sample(AT, 60) == {"error_rate": 1.0}
