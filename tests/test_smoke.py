"""Smoke tests: the runner against a real HTTP server (each case's verdict, the concurrency limit,
the test account's headers), the catalogue review (coverage, production safety, target), and
real releases: missing smoke tests, unsafe production writes, an incomplete catalogue, the
project's own smoke tests, and the phase budget enforced by pytest-timeout's signal method."""

from __future__ import annotations

import json
import textwrap
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pytest_release.adapters.smoke import SmokeBudget, SmokeRunner
from pytest_release.config import (
    ConfigError,
    SmokeEndpoint,
    SmokeSettings,
    SmokeTestAccount,
    load_config,
)
from pytest_release.core.smoke_plan import coverage_gaps, review, target, unsafe_writes


# --- a real server ------------------------------------------------------------------------------
class Recorder:
    def __init__(self, parallel: int = 0) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.headers: list[dict[str, str]] = []
        self.barrier = threading.Barrier(parallel) if parallel else None
        self.release = threading.Event()


@pytest.fixture
def server():
    """An HTTP server on 127.0.0.1: /ok (JSON with a field), /created (201), /text, /slow."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            rec = handler.recorder
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with rec.lock:
                rec.in_flight += 1
                rec.most = max(rec.most, rec.in_flight)
                rec.headers.append(dict(self.headers))
            try:
                if self.path == "/slow":
                    rec.release.wait(10)
                if self.path == "/together" and rec.barrier is not None:
                    try:
                        rec.barrier.wait(timeout=5)
                    except threading.BrokenBarrierError:
                        pass
                status, body, kind = {
                    "/created": (201, b'{"id": 1}', "application/json"),
                    "/text": (200, b"hello", "text/plain"),
                }.get(self.path, (200, json.dumps({"status": "ok", "nested": {"id": 3}}).encode(), "application/json"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (a timeout case): nothing to answer
            finally:
                with rec.lock:
                    rec.in_flight -= 1

        do_GET = do_POST = _answer

    handler = Handler
    handler.recorder = recorder
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    httpd.recorder = recorder
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        recorder.release.set()
        httpd.shutdown()
        httpd.server_close()


def test_each_case_gets_its_own_verdict(server):
    endpoints = [
        SmokeEndpoint("fields", "/ok", expect_fields=("status", "nested.id")),
        SmokeEndpoint("missing-field", "/ok", expect_fields=("nested.name",)),
        SmokeEndpoint("write", "/created", method="POST", json={"name": "x"}, status=201),
        SmokeEndpoint("wrong-status", "/created", method="POST", status=200),
        SmokeEndpoint("not-json", "/text", expect_fields=("status",)),
        SmokeEndpoint("slow", "/slow"),
    ]
    runner = SmokeRunner(server.url, endpoints, concurrency=3, request_timeout=0.5)
    try:
        results = {r.name: r for r in runner.run_all(timeout=10)}
    finally:
        runner.close()
    assert results["fields"].ok and results["write"].ok and results["write"].status == 201
    assert results["missing-field"].problem == "JSON answer lacks nested.name"
    assert results["wrong-status"].problem == "expected status 200, got 201"
    assert results["not-json"].problem == "expected a JSON answer"
    assert results["slow"].problem == "no complete answer within 0.5s (connect, headers and body; smoke.request_timeout)"
    assert results["slow"].status is None


def test_cases_run_concurrently_up_to_the_configured_limit(server):
    server.recorder.barrier = threading.Barrier(4)  # only 4 requests at once get past it quickly
    endpoints = [SmokeEndpoint(f"case-{i}", "/together") for i in range(12)]
    runner = SmokeRunner(server.url, endpoints, concurrency=4, request_timeout=10)
    try:
        results = runner.run_all(timeout=30)
    finally:
        runner.close()
    assert all(r.ok for r in results) and len(results) == 12
    assert server.recorder.most == 4
    assert not server.recorder.barrier.broken  # every round of 4 met: they really were in flight together


def test_the_test_account_goes_with_every_case(server, tmp_path):
    path = tmp_path / "release.yaml"
    path.write_text(textwrap.dedent("""
        environments:
          production:
            smoke:
              base_url: http://127.0.0.1:1
              test_account: {name: smoke-bot, headers: {X-Test-Account: smoke-bot, X-Tenant: qa}}
              endpoints:
                - {name: read, path: /ok}
                - {name: write, method: POST, path: /created, headers: {X-Tenant: qa-eu}}
    """))
    smoke = load_config(path).environment("production").smoke
    assert smoke.test_account == SmokeTestAccount("smoke-bot", {"X-Test-Account": "smoke-bot", "X-Tenant": "qa"})
    runner = SmokeRunner(server.url, smoke.endpoints, concurrency=1, request_timeout=5)
    try:
        assert all(r.ok for r in runner.run_all(timeout=10))
    finally:
        runner.close()
    sent = sorted((h["X-Test-Account"], h["X-Tenant"]) for h in server.recorder.headers)
    assert sent == [("smoke-bot", "qa"), ("smoke-bot", "qa-eu")]  # a case's own header wins


def test_the_phase_budget_gives_each_case_what_is_left():
    budget = SmokeBudget(300)
    assert 299 < budget.timeout_for(None) <= 300
    assert budget.timeout_for(10) == 10  # the case's own timeout, when shorter
    assert not budget.exhausted()
    spent = SmokeBudget(0.2)  # less than the margin left: nothing left
    assert spent.exhausted() and spent.timeout_for(None) == 0.0


# --- the catalogue review -----------------------------------------------------------------------
READ = SmokeEndpoint("read-items", "/items")
WRITE = SmokeEndpoint("write-item", "/items", method="POST", status=201)
HEALTH = SmokeEndpoint("health", "/health")


def test_every_endpoint_needs_a_read_and_a_write_unless_read_only():
    assert coverage_gaps([READ, WRITE, HEALTH], read_only=["/health"]) == []
    assert coverage_gaps([READ, HEALTH], read_only=[]) == [
        "service /items: no write case (list the path under smoke.read_only if it accepts none)",
        "service /health: no write case (list the path under smoke.read_only if it accepts none)",
    ]
    assert coverage_gaps([WRITE, SmokeEndpoint("orders", "/orders", component="shop")], read_only=["/orders"]) == [
        "service /items: no read case (a GET)",
    ]


def test_production_writes_need_test_data_or_a_test_account():
    settings = SmokeSettings(endpoints=(READ, WRITE))
    assert unsafe_writes(settings.endpoints, settings, production=False) == []
    assert unsafe_writes(settings.endpoints, settings, production=True) == [
        "write-item (POST /items) writes without test_data: true and no smoke.test_account is configured"
    ]
    marked = SmokeEndpoint("write-item", "/items", method="POST", test_data=True)
    assert unsafe_writes((READ, marked), settings, production=True) == []
    account = SmokeSettings(endpoints=(READ, WRITE), test_account=SmokeTestAccount("bot", {"X-A": "1"}))
    assert unsafe_writes(account.endpoints, account, production=True) == []


def test_the_target_is_the_idle_side_or_the_canary_when_configured():
    plain = SmokeSettings(base_url="http://live")
    preview = SmokeSettings(base_url="http://live", preview_url="http://idle")
    assert target(preview, "blue-green") == ("http://idle", "the idle side, before any user is switched to it")
    assert target(preview, "canary")[0] == "http://idle"
    assert target(preview, "all-at-once")[0] == "http://live"
    assert review(plain, strategy="canary", production=False).notes[0].startswith("canary without smoke.preview_url")
    assert review(SmokeSettings(endpoints=(READ,), coverage="off"), strategy="all-at-once", production=False).gaps == ()


@pytest.mark.parametrize(
    ("smoke", "message"),
    [
        ("{coverage: maybe}", r"environments\.production\.smoke\.coverage: expected warn, fail or off"),
        ("{read_only: [health]}", r"smoke\.read_only: a path starts with '/', got 'health'"),
        ("{test_account: {headers: {X-A: b}}}", r"smoke\.test_account\.name: a test account needs a name"),
        ("{test_account: {name: bot}}", r"smoke\.test_account\.headers: expected a mapping of the headers"),
        ("{base_url: 'http://x', endpoints: [{path: /a, method: POST, test_data: yes-please}]}", r"endpoints\[0\]\.test_data: expected true or false"),
    ],
)
def test_bad_smoke_config_names_the_key(tmp_path, smoke, message):
    path = tmp_path / "release.yaml"
    path.write_text(f"environments:\n  production:\n    smoke: {smoke}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


# --- real releases ------------------------------------------------------------------------------
def junit(pytester) -> dict[str, tuple[str, str]]:
    out = {}
    for case in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome, message = child.tag, child.get("message", "")
        out[case.get("name")] = (outcome, message)
    return out


def drop_endpoints(demo_release) -> None:
    demo_release.edit_config(r"^      endpoints:\n(?:        - .*\n)+", "")


def leftovers(demo_release) -> list:
    """The leftover entries this test's releases wrote (the demo's copy may bring older ones)."""
    folder = demo_release.demo.path / "_docs" / "_process_leftovers"
    found = set(folder.glob("*.md"))
    before = demo_release.__dict__.setdefault("_leftovers_before", None)
    if before is None:
        demo_release._leftovers_before = found
        return []
    return sorted(found - before)


def test_no_smoke_tests_aborts_before_execute_with_a_leftover(demo_release):
    leftovers(demo_release)
    drop_endpoints(demo_release)
    result = demo_release.run("v2")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines(["Aborted: smoke tests missing for local*"])
    assert "deploying v2" not in result.stdout.str()
    (note,) = leftovers(demo_release)
    assert "smoke-tests-missing-for-local" in note.name
    text = note.read_text()
    assert "environments.local.smoke.endpoints" in text and 'release_phase("smoke")' in text
    assert f"leftover entry `{note}`" in demo_release.report()
    assert demo_release.demo.version() == "v1"


def test_the_projects_own_smoke_tests_join_and_each_is_its_own_result(demo_release):
    leftovers(demo_release)
    drop_endpoints(demo_release)  # the project's own tests are the whole smoke set
    demo_release.pytester.makepyfile(test_own_smoke="""
        import pytest
        import requests

        @pytest.mark.release_phase("smoke")
        def test_items_can_be_listed(release):
            answer = requests.get(release.smoke_base_url() + "/items", timeout=5)
            assert answer.status_code == 200 and "items" in answer.json()

        @pytest.mark.release_phase("smoke")
        def test_items_can_be_created(release):
            answer = requests.post(release.smoke_base_url() + "/items", json={"name": "own"}, timeout=5)
            assert answer.status_code == 201, answer.text
    """)
    result = demo_release.run("v4-broken", "--junitxml=junit.xml")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: smoke test failure: test_items_can_be_created: *write failed*"])
    cases = junit(demo_release.pytester)
    assert cases["test_items_can_be_listed"][0] == "passed"
    assert cases["test_items_can_be_created"][0] == "failure"
    assert not [name for name in cases if name.startswith("test_smoke[")]  # no stand-in for the empty catalogue
    assert not leftovers(demo_release)
    assert demo_release.demo.version() == "v1"


def test_production_writes_without_a_test_account_abort_with_a_leftover(demo_release):
    leftovers(demo_release)
    demo_release.edit_config(r"^    kind: staging", "    kind: production")
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines([
        "Aborted: production smoke tests would write without a test account or test-data marker: "
        "write-item (POST /items) writes without test_data: true*",
    ])
    assert "deploying v2" not in result.stdout.str()
    (note,) = leftovers(demo_release)
    assert "smoke.test_account" in note.read_text() and "write-item (POST /items)" in note.read_text()
    assert junit(demo_release.pytester)["test_smoke_plan"][0] == "failure"
    assert demo_release.demo.version() == "v1"


def test_an_incomplete_catalogue_warns_or_stops(demo_release):
    demo_release.edit_config(r"^        - \{name: write-item.*\n", "")
    demo_release.edit_config(r"^      read_only: .*", "      read_only: [/health, /version]\n      coverage: fail")
    result = demo_release.run("v2")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*smoke coverage gap: service /items: no write case*",
        "Aborted: smoke coverage incomplete: service /items: no write case*",
    ])
    assert demo_release.demo.version() == "v1"


def test_the_smoke_budget_is_the_phase_s_and_running_out_rolls_back(demo_release):
    """v5-slow answers GET /items after 30 s: the phase budget (3 s) runs out while read-items
    waits; write-item, still to come, fails at once without a timer of its own."""
    demo_release.edit_config(r"^      request_timeout: 5s", "      request_timeout: 60s\n      budget: 3s")
    result = demo_release.run("v5-slow", "--junitxml=junit.xml")
    assert result.ret == 10, result.stdout.str()
    cases = junit(demo_release.pytester)
    assert cases["test_smoke[health]"][0] == cases["test_smoke[version]"][0] == "passed"
    assert cases["test_smoke[read-items]"] == ("failure", cases["test_smoke[read-items]"][1])
    assert "the smoke phase budget of 3s ran out waiting for read-items" in cases["test_smoke[read-items]"][1]
    assert "the smoke phase budget of 3s ran out before this case started" in cases["test_smoke[write-item]"][1]
    result.stdout.fnmatch_lines(["Rolled-Back: Timeout: the smoke phase budget of 3s ran out waiting for read-items*"])
    assert demo_release.demo.version() == "v1"
