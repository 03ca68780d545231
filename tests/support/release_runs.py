"""Run real releases of the demo service in a pytest subprocess.

`demo_release` puts a copy of examples/demo/ on a free port with v1 serving, and a separate
pytest project (pytester's directory) whose conftest gives the release a simulated clock, so the
watch window's minutes pass at once while the service, the scripts and the HTTP calls are real."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.demo import DemoProject

SIMULATED_CLOCK_CONFTEST = """
from pytest_release.clock import SimulatedClock

def pytest_release_make_clock(config):
    return SimulatedClock()
"""


class ReleaseReports:
    """The reports a test project's releases wrote, under its `release_dir`."""

    def reports(self, kind: str = "release") -> list[Path]:
        return sorted(self.release_dir.glob(f"{kind}_*.md"))

    def report(self, kind: str = "release") -> str:
        reports = self.reports(kind)
        assert len(reports) == 1, f"expected one {kind} report, found {reports}"
        return reports[0].read_text()


@dataclass
class DemoRelease(ReleaseReports):
    pytester: pytest.Pytester
    demo: DemoProject

    @property
    def config(self) -> Path:
        return self.demo.path / "release.yaml"

    @property
    def release_dir(self) -> Path:
        return self.demo.path / "_docs" / "04_release"

    def args(self, version: str, *extra: str) -> list[str]:
        return ["-p", "no:cacheprovider", f"--release-config={self.config}", "--release-env=local", f"--release-version={version}", *extra]

    def run(self, version: str, *extra: str, timeout: float = 120) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(*self.args(version, *extra), timeout=timeout)

    def popen(self, version: str, *extra: str) -> subprocess.Popen[str]:
        """A release in the background (pytester's subprocess), for tests that signal it mid-way."""
        return self.pytester.popen(
            [sys.executable, "-m", "pytest", *self.args(version, *extra)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def edit_config(self, pattern: str, replacement: str) -> None:
        text = self.config.read_text()
        new = re.sub(pattern, replacement, text, count=1, flags=re.M)
        assert new != text, f"{pattern!r} not found in release.yaml"
        self.config.write_text(new)

    def wait_for_report(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in self.reports():
                content = path.read_text()
                if text in content:
                    return content
            time.sleep(0.05)
        raise AssertionError(f"no report mentions {text!r} within {timeout}s")

    def use_real_clock(self) -> None:
        (self.pytester.path / "conftest.py").unlink()


@pytest.fixture
def demo_release(pytester: pytest.Pytester, demo_project: DemoProject, monkeypatch: pytest.MonkeyPatch) -> DemoRelease:
    for key, value in demo_project.env.items():
        monkeypatch.setenv(key, value)
    for key in ("DEMO_DEPLOY_FAIL", "DEMO_DEPLOY_HANG", "DEMO_DEPLOY_LEAK", "DEMO_DEPLOY_SPAM", "DEMO_ROLLBACK_FAIL", "DEMO_ROLLBACK_HANG", "DEMO_DEPLOY_LIE", "DEMO_ROLLBACK_LIE"):
        monkeypatch.delenv(key, raising=False)
    pytester.makeconftest(textwrap.dedent(SIMULATED_CLOCK_CONFTEST))
    demo_project.run("deploy.sh", "--env", "local", "--version", "v1")
    assert demo_project.version() == "v1"
    return DemoRelease(pytester, demo_project)


def kill_stray_group(marker: str) -> None:
    """Kill every process whose environment carries `marker` (a test's private state dir)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass
