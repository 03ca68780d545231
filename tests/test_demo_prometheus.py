"""The demo, watched through a real Prometheus: `scripts/prometheus.sh start` runs a private
Prometheus scraping the demo service every second, and the `local-prometheus` environment
releases v2 (Released) and v3-bad (Rolled-Back to v2) with its metrics read by PromQL.

Live scraping needs the real clock, so this test takes about a minute: the windows are short
(a 6 s baseline, a 15 s window polled every 3 s)."""

from __future__ import annotations

import pytest

from tests.support.prometheus_server import free_port, require_binary


@pytest.fixture
def demo_prometheus(demo_release, monkeypatch):
    require_binary("prometheus")
    port = str(free_port())
    monkeypatch.setenv("DEMO_PROMETHEUS_PORT", port)
    demo = demo_release.demo
    demo.env["DEMO_PROMETHEUS_PORT"] = port
    started = demo.run("prometheus.sh", "start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "it has scraped the demo service" in started.stdout
        yield f"http://127.0.0.1:{port}"
    finally:
        stopped = demo.run("prometheus.sh", "stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert demo.run("prometheus.sh", "status").returncode == 1


def release(demo_release, version: str):
    return demo_release.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--release-config={demo_release.config}", "--release-env=local-prometheus",
        f"--release-version={version}", timeout=180,
    )


def test_the_demo_release_works_the_same_against_a_private_prometheus(demo_release, demo_prometheus):
    demo_release.use_real_clock()  # live scraping: the window's seconds are real
    result = release(demo_release, "v2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["Released", "exit status: 0"])
    assert demo_release.demo.version() == "v2"
    report = demo_release.report()
    assert f"prometheus at {demo_prometheus} answers" in report
    watch = report[report.index("## Phase 5: Watch Window"):report.index("## Phase 6")]
    assert watch.count("| T+") >= 5  # a poll every 3 s over 15 s (the header row included)
    assert "| error_rate | higher is worse | 0 |" in watch  # the baseline, measured through PromQL

    result = release(demo_release, "v3-bad")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: * breached *x baseline at T+*"])
    assert demo_release.demo.version() == "v2"
