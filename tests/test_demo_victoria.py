"""The demo, watched through a real VictoriaMetrics with the package's default flags:
`scripts/victoria.sh start` runs a private one scraping the demo service every second
(-search.latencyOffset keeps its 30 s default), and the `local-victoria` environment releases v2
(Released) and v3-bad (Rolled-Back to v2, the rollback verified by its short watch window) with
its metrics read through the Prometheus query API. The flavour is detected from VictoriaMetrics'
build-info, which brings nocache=1; without it the first release would judge the version that ran
30 s before the deploy (issue 12).

Live scraping needs the real clock: about a minute, like the Prometheus demo."""

from __future__ import annotations

import pytest

from tests.support.prometheus_server import free_port
from tests.support.victoria_server import require_victoria


@pytest.fixture
def demo_victoria(demo_release, monkeypatch):
    require_victoria()
    port = str(free_port())
    monkeypatch.setenv("DEMO_VICTORIA_PORT", port)
    demo = demo_release.demo
    demo.env["DEMO_VICTORIA_PORT"] = port
    started = demo.run("victoria.sh", "start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "it has scraped the demo service" in started.stdout
        yield f"http://127.0.0.1:{port}"
    finally:
        stopped = demo.run("victoria.sh", "stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert demo.run("victoria.sh", "status").returncode == 1


def release(demo_release, version: str):
    return demo_release.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--release-config={demo_release.config}", "--release-env=local-victoria",
        f"--release-version={version}", timeout=180,
    )


def test_the_demo_releases_and_rolls_back_through_victoriametrics_with_default_flags(demo_release, demo_victoria):
    demo_release.use_real_clock()
    result = release(demo_release, "v2")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["Released", "exit status: 0"])
    assert demo_release.demo.version() == "v2"
    watch = demo_release.report()
    watch = watch[watch.index("## Phase 5: Watch Window"):watch.index("## Phase 6")]
    assert watch.count("| T+") >= 5
    assert "| error_rate | higher is worse | 0 |" in watch  # the baseline, through VictoriaMetrics

    result = release(demo_release, "v3-bad")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: * breached *x baseline at T+*"])
    assert demo_release.demo.version() == "v2"
    rollback = demo_release.report("rollback")
    assert "v2 is serving again (smoke passed, watched 6s without a hard breach)" in rollback, rollback


def test_phase_1_refuses_victoriametrics_that_answers_30s_late_with_the_fix(demo_release, demo_victoria):
    """Without nocache=1 VictoriaMetrics answers the last 30 s as of 30 s ago: the release must not
    start (nothing deployed), and the failure says exactly what to change."""
    demo_release.edit_config(r"^      flavor: auto .*$", '      flavor: auto\n      query_params: {nocache: ""}')
    demo_release.use_real_clock()
    before = demo_release.demo.version()
    result = release(demo_release, "v2")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*observability backend unreachable: victoriametrics at http://127.0.0.1:* does not answer with fresh data: "
        "VictoriaMetrics answers queries of the last *s as of *s ago (-search.latencyOffset): keep "
        'metrics.query_params.nocache: "1" (the default for flavor victoriametrics), or start it with -search.latencyOffset=0s*',
    ])
    assert demo_release.demo.version() == before  # nothing was deployed
