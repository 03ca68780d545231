"""The plugin inside pytest: inert unless asked, usage errors before anything runs, user tests
joining a phase, and the wheel working outside the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.release_runs import SIMULATED_CLOCK_CONFTEST

ORDINARY_TESTS = """
import pytest

@pytest.fixture
def release():
    return "the project's own fixture named release"

def test_pass(release):
    assert release.startswith("the project's")

def test_fail():
    assert 1 == 2

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known")
def test_xfail():
    assert False

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n < 3
"""


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    return result.parseoutcomes()


def test_installed_but_not_asked_changes_nothing(pytester: pytest.Pytester):
    pytester.makepyfile(test_project=ORDINARY_TESTS)
    with_plugin = pytester.runpytest("-p", "release", "-rA")
    without = pytester.runpytest("-p", "no:release", "-rA")
    assert with_plugin.ret == without.ret == pytest.ExitCode.TESTS_FAILED
    assert outcomes(with_plugin) == outcomes(without) == {"passed": 3, "failed": 2, "skipped": 1, "xfailed": 1}
    collected_with = pytester.runpytest("-p", "release", "--co", "-q").stdout.lines
    collected_without = pytester.runpytest("-p", "no:release", "--co", "-q").stdout.lines
    assert [l for l in collected_with if "::" in l] == [l for l in collected_without if "::" in l]
    assert not (pytester.path / "_docs").exists()


def test_the_plugin_registers_under_the_name_release(pytester: pytest.Pytester):
    result = pytester.runpytest("--trace-config", "--co")
    result.stdout.fnmatch_lines(["*release*pytest_release*plugin*"])


DEPLOY_RECORDER = """#!/bin/sh
# --rollback supported
echo "$@" >> "$(dirname "$0")/../deploy-calls"
"""


@pytest.fixture
def tiny_project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "scripts").mkdir()
    script = pytester.path / "scripts" / "deploy.sh"
    script.write_text(DEPLOY_RECORDER)
    script.chmod(0o755)
    pytester.makefile(
        ".yaml",
        release=textwrap.dedent(
            """
            environments:
              staging: {strategies: [all-at-once, canary]}
            """
        ),
    )
    return pytester


@pytest.mark.parametrize(
    "args, message",
    [
        (["--release-env=staging"], "--release-version is required*"),
        (["--release-version=v2"], "--release-version needs --release-env*"),
        (["--release-env=staging", "--release-version=../x"], "*--release-version='../x' is not a valid version*"),
        (["--release-env=staging", "--release-version=v1;rm -rf /"], "*is not a valid version*"),
        (["--release-env=staging", "--release-version="], "*is not a valid version*"),
        (["--release-env=staging", "--release-version=" + "v" * 300], "*is not a valid version*"),
        (["--release-env=staging,production", "--release-version=v2"], "*one release targets exactly one environment*"),
        (["--release-env=qa", "--release-version=v2"], "*no environment named 'qa' (configured: staging)*"),
        (["--release-env=staging", "--release-version=v2", "--release-strategy=blue-green"], "*blue-green is not supported by environment staging*"),
        (["--release-env=staging", "--release-version=v2", "--release-strategy=yolo"], "*--release-strategy='yolo': expected one of*"),
        (["--release-env=staging", "--release-version=v2", "--release-rollback-to=v2"], "*is the version being released*"),
        (["--release-env=staging", "--release-version=v2", "--release-on-soft-breach=maybe"], "*--release-on-soft-breach: expected continue*"),
        (["--release-env=staging", "--release-version=v2", "-n", "2"], "*-n/--dist (pytest-xdist) cannot run a release*"),
        (["--release-env=staging", "--release-version=v2", "--release-config=missing.yaml"], "*missing.yaml: release config not found*"),
        (["--release-env=staging", "--release-version=v2", "-k", "not smoke"], "*these have no test left after selection*smoke*"),
    ],
)
def test_usage_errors_exit_4_and_run_nothing(tiny_project: pytest.Pytester, args, message):
    result = tiny_project.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}"]) if message.startswith("*") else result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert not (tiny_project.path / "deploy-calls").exists()
    assert not list(tiny_project.path.glob("_docs/04_release/release_*.md"))


def test_a_bad_ini_value_is_reported_under_its_ini_name(tiny_project: pytest.Pytester):
    tiny_project.makeini("[pytest]\nrelease_on_soft_breach = maybe\n")
    result = tiny_project.runpytest_subprocess("--release-env=staging", "--release-version=v2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ini release_on_soft_breach: expected continue, rollback or extend:DURATION*"])
    assert "--release-on-soft-breach" not in result.stderr.str()
    assert not (tiny_project.path / "deploy-calls").exists()


def test_bad_config_is_a_usage_error_naming_file_and_key(tiny_project: pytest.Pytester):
    (tiny_project.path / "release.yaml").write_text("environments:\n  staging:\n    watch: {interval: often}\n")
    result = tiny_project.runpytest_subprocess("--release-env=staging", "--release-version=v2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*release.yaml:3: environments.staging.watch.interval: expected a duration*"])


def test_users_smoke_test_joins_the_phase_and_ordinary_tests_do_not_run(demo_release):
    demo_release.pytester.makepyfile(
        test_users_own="""
        import pytest

        @pytest.mark.release_phase("smoke")
        def test_checkout_flow():
            assert False, "checkout is broken in this version"

        def test_ordinary():
            raise SystemExit("an ordinary test must not run in release mode")
        """
    )
    result = demo_release.run("v2")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["*test_users_own.py::test_checkout_flow FAILED*", "Rolled-Back: smoke test failure: test_checkout_flow: AssertionError: checkout is broken*"])
    assert "test_ordinary" not in result.stdout.str().replace("deselected", "")
    assert demo_release.demo.version() == "v1"
    text = result.stdout.str()
    first = {name: text.index(name) for name in ("phase3_execute.py::test_deploy_script_succeeds", "test_users_own.py::test_checkout_flow", "phase6_commit_or_rollback.py")}
    assert first["phase3_execute.py::test_deploy_script_succeeds"] < first["test_users_own.py::test_checkout_flow"] < first["phase6_commit_or_rollback.py"]
    assert "phase5_watch_window.py::test_watch_window SKIPPED" in text  # its dependency, the smoke phase, failed


def test_a_wheel_installed_in_a_fresh_venv_runs_a_release_outside_the_source_tree(tmp_path, demo_project):
    source = Path(__file__).resolve().parents[1]
    tree = tmp_path / "source"  # build from a copy: a build writes build/ and *.egg-info
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "pytest_release", "release_suite"):
        copy = shutil.copytree if (source / name).is_dir() else shutil.copy2
        copy(source / name, tree / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if (source / name).is_dir() else {}))
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(tree)],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    )
    (wheel,) = dist.glob("pytest_release-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", purelib, str(wheel)],
        check=True, capture_output=True, text=True,
    )
    # The dependencies come from this interpreter's site-packages, after the venv's own, so the
    # plugin itself can only be the wheel's copy (the editable install is not on that path).
    deps = [p for p in sys.path if p.endswith("site-packages")]
    Path(purelib, "test-deps.pth").write_text("\n".join(deps) + "\n")
    project = demo_project.path
    (project / "conftest.py").write_text(SIMULATED_CLOCK_CONFTEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DEMO_"))}
    env.update(demo_project.env, PYTHON=sys.executable)
    demo_project.run("deploy.sh", "--env", "local", "--version", "v1")
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "--release-env=local", "--release-version=v2"],
        cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(source) not in result.stdout  # nothing came from the source tree
    assert demo_project.version() == "v2"
    assert list(project.glob("_docs/04_release/release_v2_local_*.md"))


def test_a_projects_phase_tests_run_after_the_suites_checks_but_before_the_gate_decision(demo_release):
    port = demo_release.demo.port
    demo_release.pytester.makepyfile(
        test_users_phases=f"""
        import pytest, requests

        @pytest.mark.release_phase("execute")
        def test_new_version_is_deployed():
            assert requests.get("http://127.0.0.1:{port}/version", timeout=5).json()["version"] == "v2"

        @pytest.mark.release_phase("gate")
        def test_our_own_gate_check():
            assert requests.get("http://127.0.0.1:{port}/version", timeout=5).json()["version"] == "v1"
        """
    )
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    text = result.stdout.str()
    assert text.index("test_users_phases.py::test_our_own_gate_check PASSED") < text.index("phase1_pre_release_gate.py::test_gate_decision PASSED")
    assert text.index("phase3_execute.py::test_deploy_script_succeeds PASSED") < text.index("test_users_phases.py::test_new_version_is_deployed PASSED")
