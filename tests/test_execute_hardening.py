"""Phase 3 and the rollback under what real deploys do: a bad .env, huge output, a hang, secrets
in the output, a rollback that fails or hangs, a cancelled CI job, the manual strategy, and two
releases of one environment at once.

Each flow test is a real release of the demo service in a pytest subprocess (tests/support/
release_runs.py), with the demo's deploy script wrapped so the test can see every call and the
environment the script was given. The pure parts of the manual strategy are tested directly."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_release.core.manual import checklist_from_procedures, parse_answer
from tests.support.demo import free_port

TOKEN = "demo-3f9c2a7b51e04d8a"  # DEMO_API_TOKEN in the demo's .env
REGION = "loopback-1"  # DEMO_REGION in the demo's .env
PASSWORD = "hunter2-Sup3rS3cret"  # MY_SERVICE_PASSWORD: secret by its name, from the environment

# The demo's deploy script, wrapped: every call is logged with its arguments and the .env values
# it received (outside the release dir, so no redaction applies). WRAPPER_LEAK=1 prints secrets
# on every call, the rollback too; WRAPPER_STUBBORN=1 makes a deploy ignore SIGTERM and leave a
# grandchild running.
WRAPPER = r"""#!/usr/bin/env bash
# Wraps deploy-real.sh, which handles --rollback.
here="$(cd "$(dirname "$0")" && pwd)"
printf '%s\n' "$*" >>"$here/../calls.log"
printf 'DEMO_REGION=%s DEMO_API_TOKEN=%s\n' "${DEMO_REGION:-}" "${DEMO_API_TOKEN:-}" >>"$here/../seen-env.log"
if [[ "${WRAPPER_LEAK:-}" == 1 ]]; then
    echo "wrapper: $1 $2 $3 $4 as deployer:${MY_SERVICE_PASSWORD:-}@registry token=${DEMO_API_TOKEN:-}!"
fi
if [[ "${WRAPPER_STUBBORN:-}" == 1 && " $* " == *" --version "* ]]; then
    trap '' TERM
    ( sleep 1000 & wait ) &
fi
exec "$here/deploy-real.sh" "$@"
"""


class Wrapped:
    """The demo project with its deploy script wrapped."""

    def __init__(self, demo_path: Path) -> None:
        self.path = demo_path
        scripts = demo_path / "scripts"
        (scripts / "deploy.sh").rename(scripts / "deploy-real.sh")
        (scripts / "deploy.sh").write_text(WRAPPER)
        (scripts / "deploy.sh").chmod(0o755)

    def calls(self) -> list[str]:
        log = self.path / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def seen_env(self) -> list[str]:
        log = self.path / "seen-env.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def wrapped(demo_release) -> Wrapped:
    return Wrapped(demo_release.demo.path)


def marker_processes(marker: str, needle: str) -> list[int]:
    """Live processes whose command line contains `needle` and whose environment has `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            if marker.encode() in (proc / "environ").read_bytes() and needle.encode() in cmdline:
                state = (proc / "stat").read_text().rsplit(") ", 1)[1].split()[0]
                if state not in ("Z", "X"):
                    found.append(int(proc.name))
        except (OSError, IndexError):
            pass
    return found


def kill_leftovers(marker: str) -> None:
    """After a failed assertion: end what a hung script of this test left (never the service)."""
    for needle in ("sleep 2147483647", "sleep 1000"):
        for pid in marker_processes(marker, needle):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def only(paths: list[Path]) -> Path:
    assert len(paths) == 1, paths
    return paths[0]


# --- the env file ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env_text", "problem"),
    [
        (f"DEMO_API_TOKEN={TOKEN}\n", "DEMO_REGION: missing"),
        (f"DEMO_API_TOKEN={TOKEN}\nDEMO_REGION=\n", "DEMO_REGION: empty"),
        (f"DEMO_API_TOKEN=changeme-please\nDEMO_REGION={REGION}\n", "DEMO_API_TOKEN: placeholder value"),
    ],
    ids=["missing", "empty", "placeholder"],
)
def test_an_env_file_problem_aborts_before_the_deploy_naming_keys_not_values(demo_release, wrapped, env_text, problem):
    (demo_release.demo.path / ".env").write_text(env_text)
    result = demo_release.run("v2", "--junitxml=junit.xml")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines([f"Aborted: .env is not ready: {problem}"])
    assert wrapped.calls() == []  # the deploy script never ran
    assert demo_release.demo.version() == "v1"
    report = demo_release.report()
    assert f".env is not ready: {problem}" in report
    assert "Baseline over" not in report  # nothing measured for a release that cannot deploy
    outputs = report + result.stdout.str() + result.stderr.str() + (demo_release.pytester.path / "junit.xml").read_text()
    for value in (TOKEN, REGION, "changeme-please"):
        assert value not in outputs


# --- the deploy script's run ---------------------------------------------------------------
def test_the_deploy_gets_the_env_values_and_argv_and_a_huge_output_stays_bounded(demo_release, wrapped, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_SPAM", "50000")
    result = demo_release.run("v2")
    assert result.ret == 0, result.stdout.str()
    assert demo_release.demo.version() == "v2"
    assert wrapped.calls() == ["--env local --version v2 --strategy all-at-once"]
    assert wrapped.seen_env() == [f"DEMO_REGION={REGION} DEMO_API_TOKEN={TOKEN}"]

    report = demo_release.report()
    assert "credentials: DEMO_API_TOKEN is set (region ***)" in report and REGION not in report
    output = report.split("**Output**", 1)[1].split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(output) == 200 + 1 + 800  # the first lines, the marker, the last lines
    assert re.fullmatch(r"… 4\d{4} lines left out \(see release_v2_local_.*_deploy\.log\) …", output[200])
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z deploy: deploying v2 to local", output[0])
    assert output[-1].endswith("deploy: deploy of v2 to local complete")
    assert len(report.encode()) < 200_000

    log = only(sorted(demo_release.release_dir.glob("release_v2_local_*_deploy.log"))).read_text().splitlines()
    pulled = [line for line in log if "deploy: pulling layer" in line]
    assert len(pulled) == 50000 and pulled[-1].endswith("pulling layer 50000 of 50000")
    omitted = int(output[200].split()[1])
    assert len(log) == 1000 + omitted


# --- hangs and interruptions -----------------------------------------------------------------
def test_a_hung_deploy_is_stopped_with_its_whole_group_and_rolled_back(demo_release, wrapped, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_HANG", "1")
    monkeypatch.setenv("WRAPPER_STUBBORN", "1")  # ignores SIGTERM, leaves a grandchild
    demo_release.edit_config(r"^  idle_timeout: 30s.*", "  idle_timeout: 1s")
    marker = demo_release.demo.env["DEMO_STATE_DIR"]
    try:
        result = demo_release.run("v2")
        assert result.ret == 10, result.stdout.str()
        result.stdout.fnmatch_lines(["Rolled-Back: Deploy hung — manual investigation required", "*rollback succeeded*"])
        assert demo_release.demo.version() == "v1"
        report = demo_release.report()
        execute = report.split("## Phase 3: Execute", 1)[1].split("## Phase 4", 1)[0]
        assert "no output for 1 s: the script looks hung" in execute and "SIGKILL after 2 s" in execute
        assert "| -9 | hung |" in execute  # it ignored SIGTERM: SIGKILL ended it
        snapshot = execute.split("**Processes of the script's group when it was stopped**", 1)[1].split("```", 2)[1]
        assert "PID" in snapshot and "sleep 2147483647" in snapshot and "sleep 1000" in snapshot
        pids = [int(line.split()[0]) for line in snapshot.splitlines()[1:] if line.split() and line.split()[0].isdigit()]
        assert len(pids) >= 3  # the script, the subshell, the grandchild
        assert not set(pids) & set(marker_processes(marker, ""))  # none of the group is alive
        assert marker_processes(marker, "sleep 2147483647") == marker_processes(marker, "sleep 1000") == []
        assert wrapped.calls() == ["--env local --version v2 --strategy all-at-once", "--env local --rollback v1"]
    finally:
        kill_leftovers(marker)


def test_sigterm_during_the_deploy_stops_its_group_rolls_back_and_writes_the_verdict(demo_release, wrapped, monkeypatch):
    demo_release.use_real_clock()
    demo_release.edit_config(r"^      baseline: 4s", "      baseline: 1s")
    demo_release.edit_config(r"^      rollback_duration: 6s", "      rollback_duration: 2s")
    monkeypatch.setenv("DEMO_DEPLOY_HANG", "1")  # a slow deploy: nothing printed for 30 s
    marker = demo_release.demo.env["DEMO_STATE_DIR"]
    proc = demo_release.popen("v2")
    try:
        demo_release.wait_for_report("DEMO_DEPLOY_HANG=1: waiting")  # streamed while it runs
        assert marker_processes(marker, "2147483647")  # the deploy is still running
        proc.send_signal(signal.SIGTERM)
        out = proc.stdout.read()
        proc.wait(timeout=90)
    finally:
        proc.kill()
        kill_leftovers(marker)
    assert proc.returncode == 10, out
    assert "rollback succeeded" in out
    assert marker_processes(marker, "2147483647") == []
    assert demo_release.demo.version() == "v1"
    report = demo_release.report()
    assert "| interrupted |" in report and "session interrupted: SIGTERM received" in report
    assert "**Rolled-Back**" in report
    assert "DEMO_DEPLOY_HANG=1: waiting" in only(sorted(demo_release.release_dir.glob("*_deploy.log"))).read_text()
    assert wrapped.calls() == ["--env local --version v2 --strategy all-at-once", "--env local --rollback v1"]


# --- secrets ---------------------------------------------------------------------------------
def test_secrets_never_reach_a_report_a_log_junit_or_the_terminal(demo_release, wrapped, monkeypatch):
    monkeypatch.setenv("MY_SERVICE_PASSWORD", PASSWORD)
    monkeypatch.setenv("DEMO_DEPLOY_LEAK", "1")
    monkeypatch.setenv("WRAPPER_LEAK", "1")
    demo_release.pytester.makepyfile(
        test_users_smoke=f"""
        import os
        import pytest

        TOKEN = {TOKEN!r}

        @pytest.mark.release_phase("smoke")
        def test_login_with_the_service_account():
            password = os.environ["MY_SERVICE_PASSWORD"]
            print(f"logging in with token={{TOKEN}} and password {{password}}")
            assert f"token={{TOKEN}}" == f"password={{password}}", f"login refused for {{TOKEN}}/{{password}}"

        @pytest.mark.release_phase("commit")  # runs after the rollback, so its skip is seen
        def test_admin_login():
            pytest.skip(f"no admin account for token {{TOKEN}}")
        """
    )
    result = demo_release.run("v2", "--junitxml=junit.xml", "-ra")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: smoke test failure: test_login_with_the_service_account: *login refused for ***/****"])
    release_dir = demo_release.release_dir
    texts = {
        "release report": demo_release.report(),
        "rollback report": demo_release.report("rollback"),
        "deploy log": only(sorted(release_dir.glob("*_deploy.log"))).read_text(),
        "rollback log": only(sorted(release_dir.glob("*_rollback.log"))).read_text(),
        "junit": (demo_release.pytester.path / "junit.xml").read_text(),
        "terminal": result.stdout.str() + result.stderr.str(),
    }
    for where, text in texts.items():
        for secret in (TOKEN, PASSWORD, REGION):
            assert secret not in text, f"{secret[:4]}... leaked into the {where}"
    # They were printed, and masked where they stood:
    assert "deploy: debug token=***" in texts["deploy log"]
    assert "db://deployer:***@127.0.0.1/orders?region=***" in texts["deploy log"]
    assert "registry refused credentials Bearer***x (HTTP 401)" in texts["deploy log"]
    assert "as deployer:***@registry token=***!" in texts["rollback log"]
    assert "login refused for ***/***" in texts["rollback report"]  # the reason, in its header
    assert "no admin account for token ***" in texts["junit"]
    assert "logging in with token=*** and password ***" in texts["terminal"]  # captured stdout of the failure


# --- a rollback that fails ----------------------------------------------------------------------
def test_a_failing_rollback_is_rollback_failed_and_nothing_is_deployed_again(demo_release, wrapped, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "1")
    monkeypatch.setenv("DEMO_ROLLBACK_FAIL", "1")
    result = demo_release.run("v2")
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines(["Rollback-Failed: deploy script failure: exit code 3", "*rollback FAILED: the rollback script failed (exit code 1)*"])
    assert wrapped.calls() == ["--env local --version v2 --strategy all-at-once", "--env local --rollback v1"]
    assert "The system is in an unknown state and needs a person" in demo_release.report()
    rollback = demo_release.report("rollback")
    assert "FAILED: the rollback script failed (exit code 1)" in rollback
    assert "The system is in an unknown state and needs a person" in rollback
    assert "DEMO_ROLLBACK_FAIL=1: refusing to roll back local to v1" in rollback


def test_a_hanging_rollback_is_stopped_and_rollback_failed(demo_release, wrapped, monkeypatch):
    monkeypatch.setenv("DEMO_DEPLOY_FAIL", "1")
    monkeypatch.setenv("DEMO_ROLLBACK_HANG", "1")
    demo_release.edit_config(r"^  idle_timeout: 30s.*", "  idle_timeout: 1s")
    marker = demo_release.demo.env["DEMO_STATE_DIR"]
    try:
        result = demo_release.run("v2")
    finally:
        kill_leftovers(marker)
    assert result.ret == 12, result.stdout.str()
    result.stdout.fnmatch_lines(["Rollback-Failed: deploy script failure: exit code 3", "*rollback FAILED: the rollback script hung*"])
    rollback = demo_release.report("rollback")
    assert "no output for 1 s: the script looks hung" in rollback and "sleep 2147483647" in rollback
    assert "The system is in an unknown state and needs a person" in rollback
    assert wrapped.calls() == ["--env local --version v2 --strategy all-at-once", "--env local --rollback v1"]


# --- the manual strategy ----------------------------------------------------------------------
PROCEDURES = """\
# Deployment procedures

## staging

1. Ask the staging owner.

## local (manual)

Follow these in order:

1. Announce the release in #deploys
2. Copy the new build to the host
   - check its checksum first
3. Restart the service
   and wait for /health

### Notes

- [ ] Tick the change ticket

## production

- Never on a Friday
"""


def test_the_procedures_document_gives_the_checklist_of_the_named_environment():
    assert checklist_from_procedures(PROCEDURES, "local") == [
        "Announce the release in #deploys",
        "Copy the new build to the host; check its checksum first",
        "Restart the service and wait for /health",
        "Tick the change ticket",
    ]
    assert checklist_from_procedures(PROCEDURES, "production") == ["Never on a Friday"]
    assert checklist_from_procedures(PROCEDURES, "loc") == []  # whole words only
    assert checklist_from_procedures("## local\n```\n- not a step\n```\n", "local") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("done", ("done", "done")),
        ("  DONE  ", ("done", "DONE")),
        ("failed: step 3 timed out", ("failed", "failed: step 3 timed out")),
        ("failed - the VM never came back", ("failed", "failed - the VM never came back")),
        ("doneish", None),
        ("not done", None),
        ("", None),
    ],
)
def test_the_operators_answer_is_done_or_failed_kept_verbatim(text, expected):
    answer = parse_answer(text)
    assert (None if answer is None else (answer.result, answer.text)) == expected


def _allow_manual(demo_release, checklist: bool) -> None:
    strategies = "    strategies: [all-at-once, manual]"
    if checklist:
        strategies += "\n    manual:\n      checklist: [Copy the build to the host, Restart the service]"
    demo_release.edit_config(r"^    strategies: \[all-at-once\]", strategies)


def test_manual_done_records_the_checklist_and_the_answer_and_goes_on(demo_release, wrapped):
    procedures = demo_release.demo.path / "_docs" / "04_deploy" / "deployment_procedures.md"
    procedures.parent.mkdir(parents=True, exist_ok=True)
    procedures.write_text(PROCEDURES)
    _allow_manual(demo_release, checklist=False)
    demo_release.demo.run("deploy-real.sh", "--env", "local", "--version", "v2")  # the operator's work
    result = demo_release.run(
        "v2", "--release-strategy=manual", "--release-rollback-to=v1",
        "--release-manual-result=done: all three steps, ticket CHG-7 ticked",
    )
    assert result.ret == 0, result.stdout.str()
    assert wrapped.calls() == []  # deploy.sh is never run by a manual release
    report = demo_release.report()
    assert "1. Announce the release in #deploys\n2. Copy the new build to the host; check its checksum first" in report
    assert "Ask the staging owner" not in report and "Never on a Friday" not in report
    assert "done: all three steps, ticket CHG-7 ticked" in report
    assert "by --release-manual-result" in report
    assert "/version reports v2" in report
    assert "## Phase 5: Watch Window" in report and "**Released**" in report


def test_manual_failed_is_a_rollback_trigger(demo_release, wrapped):
    _allow_manual(demo_release, checklist=True)
    demo_release.demo.run("deploy-real.sh", "--env", "local", "--version", "v2")  # half of it, then it broke
    result = demo_release.run("v2", "--release-strategy=manual", "--release-rollback-to=v1", "--release-manual-result=failed: step 2 hung")
    assert result.ret == 10, result.stdout.str()
    result.stdout.fnmatch_lines(["Rolled-Back: manual deploy failure, reported by --release-manual-result: failed: step 2 hung"])
    assert wrapped.calls() == ["--env local --rollback v1"]
    assert demo_release.demo.version() == "v1"
    report = demo_release.report()
    assert "1. Copy the build to the host\n2. Restart the service" in report
    assert "`environments.local.manual.checklist` in release.yaml" in report


def test_manual_without_an_answer_in_ci_aborts_naming_the_option(demo_release, wrapped, monkeypatch):
    monkeypatch.setenv("CI", "true")
    _allow_manual(demo_release, checklist=True)
    result = demo_release.run("v2", "--release-strategy=manual")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines(["Aborted: the manual strategy needs the operator's answer*pass --release-manual-result=done*"])
    assert wrapped.calls() == [] and demo_release.demo.version() == "v1"


def test_manual_without_a_checklist_aborts_naming_both_sources(demo_release, wrapped):
    _allow_manual(demo_release, checklist=False)
    result = demo_release.run("v2", "--release-strategy=manual", "--release-manual-result=done")
    assert result.ret == 11, result.stdout.str()
    result.stdout.fnmatch_lines(["Aborted: the manual strategy needs the operator's checklist: set environments.local.manual.checklist*deployment_procedures.md does not exist)"])
    assert wrapped.calls() == []


def test_a_manual_result_for_another_strategy_is_a_usage_error(demo_release):
    result = demo_release.run("v2", "--release-manual-result=done")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--release-manual-result answers the manual strategy, but this release uses all-at-once*"])


def _read_until(fd: int, wanted: str, seen: bytearray, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while wanted.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{wanted!r} never appeared in:\n{seen.decode(errors='replace')}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the other side closed
                chunk = b""
            assert chunk, f"{wanted!r} never appeared before the end:\n{seen.decode(errors='replace')}"
            seen += chunk


def test_a_person_at_the_terminal_types_done(demo_release, wrapped):
    _allow_manual(demo_release, checklist=True)
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *demo_release.args("v2", "--release-strategy=manual", "--release-rollback-to=v1")],
        cwd=demo_release.pytester.path, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, "type 'done' or 'failed'", seen)
        assert b"1. Copy the build to the host" in seen
        os.write(master, b"maybe\n")
        _read_until(master, "is neither 'done' nor 'failed'", seen)
        demo_release.demo.run("deploy-real.sh", "--env", "local", "--version", "v2")  # the person does the steps
        os.write(master, b"done, restarted at 10:42\n")
        _read_until(master, "exit status: ", seen, timeout=120)
        assert proc.wait(timeout=60) == 0, seen.decode(errors="replace")
    finally:
        proc.kill()
        os.close(master)
    report = demo_release.report()
    assert "done, restarted at 10:42" in report and "by a person at the terminal" in report
    assert wrapped.calls() == [] and demo_release.demo.version() == "v2"


# --- one release per environment ----------------------------------------------------------------
SWITCHABLE_CLOCK_CONFTEST = """
import os
from pytest_release.clock import SimulatedClock

def pytest_release_make_clock(config):
    return None if os.environ.get("TEST_REAL_CLOCK") else SimulatedClock()
"""


def test_one_release_per_environment_while_others_run_side_by_side(demo_release, wrapped, monkeypatch):
    pytester, demo = demo_release.pytester, demo_release.demo
    pytester.makeconftest(SWITCHABLE_CLOCK_CONFTEST)
    config = demo_release.config.read_text()
    local = re.search(r"^  local:\n(?:(?: {4}.*)?\n)*", config, re.M).group(0)  # down to the next environment
    demo_release.config.write_text(config.rstrip("\n") + "\n" + local.replace("  local:\n", "  other:\n", 1))
    demo_release.edit_config(r"^      duration: 20s", "      duration: 5m")  # local's watch: long, on a real clock
    demo_release.edit_config(r"^      baseline: 4s", "      baseline: 1s")
    demo_release.edit_config(r"^      rollback_duration: 6s", "      rollback_duration: 2s")
    locks = demo_release.release_dir / ".locks"
    other = {"DEMO_PORT": str(free_port()), "DEMO_STATE_DIR": str(demo.path / ".demo-state-other")}
    assert demo.run("deploy-real.sh", "--env", "other", "--version", "v1", **other).returncode == 0
    # A release of `other` was killed earlier and left its lock behind:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "other.lock").write_text(json.dumps(
        {"env": "other", "version": "v0", "pid": gone.pid, "host": socket.gethostname(), "since": "2026-11-26T01:00:00+00:00"}
    ))
    with monkeypatch.context() as m:
        m.setenv("TEST_REAL_CLOCK", "1")
        first = demo_release.popen("v2")
    try:
        demo_release.wait_for_report("| T+2s |")  # the first release holds local, in its watch window
        holder = json.loads((locks / "local.lock").read_text())
        assert (holder["pid"], holder["version"], holder["host"]) == (first.pid, "v2", socket.gethostname())

        second = demo_release.run("v3", timeout=30)
        assert second.ret == 11, second.stdout.str()
        second.stdout.fnmatch_lines([f"Aborted: another release of local is running: v2 by pid {first.pid} on host {socket.gethostname()} since * UTC (lock *local.lock)*"])
        assert "phase1_pre_release_gate.py" not in second.stdout.str()  # nothing ran
        refused = only([p for p in demo_release.reports() if p.name.startswith("release_v3_")]).read_text()
        assert "refused: nothing was run or touched" in refused and "**Aborted**" in refused
        assert demo.version() == "v2" and json.loads((locks / "local.lock").read_text())["pid"] == first.pid

        with monkeypatch.context() as m:
            for key, value in other.items():
                m.setenv(key, value)
            third = pytester.runpytest_subprocess(*demo_release.args("v2")[:-2], "--release-env=other", "--release-version=v2", timeout=120)
        assert third.ret == 0, third.stdout.str()
        taken = only([p for p in demo_release.reports() if "_other_" in p.name]).read_text()
        assert "## Release lock" in taken and f"v0 by pid {gone.pid}" in taken and "taken over" in taken
        assert not (locks / "other.lock").exists()  # released at its end

        first.send_signal(signal.SIGINT)
        out = first.stdout.read()
        first.wait(timeout=90)
    finally:
        first.kill()
        demo.run("deploy-real.sh", "--stop", **other)
    assert first.returncode == 10, out
    assert not (locks / "local.lock").exists()
    assert demo.version() == "v1"
