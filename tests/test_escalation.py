"""A soft breach asks a person at a terminal: a real release runs under a pseudo-terminal (its
stdin, stdout and stderr), the test reads the A/B/C question off the terminal and types the
answer, as a person would. The metrics are the replayed p99 drift of 1.7x (tests/support/replay.py)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from tests.support.replay import ReplayProject, poll_rows

QUESTION = b"Answer [A/B/C]:"


class Terminal:
    """A release running on a pseudo-terminal, with what it printed so far."""

    def __init__(self, project: ReplayProject, *args: str) -> None:
        self.master, slave = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", *project.args("drift", *args)],
            cwd=project.path, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, text: bytes, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} did not appear; the terminal shows:\n{self.output.decode(errors='replace')}"
            ready, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if ready and not self._read():
                raise AssertionError(f"the release ended before {text!r}:\n{self.output.decode(errors='replace')}")

    def _read(self) -> bool:
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the other side is closed
            return False
        self.output += chunk
        return bool(chunk)

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None or select.select([self.master], [], [], 0)[0]:
            assert time.monotonic() < deadline, "the release did not finish"
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready and not self._read():
                break
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")


def test_a_person_answers_b_and_the_release_rolls_back(replay):
    replay.environment("drift", "drift")
    terminal = Terminal(replay)
    try:
        terminal.read_until(QUESTION)
        assert "SOFT BREACH in the watch window:" in terminal.text
        assert "soft breach at T+6m: p99_latency 0.34 is 1.7x the baseline 0.2" in terminal.text
        for choice in ("A) Continue watch: accept the drift, keep polling", "B) Roll back now", "C) Extend the watch window by N minutes"):
            assert choice in terminal.text
        terminal.type("B")
        code = terminal.finish()
    finally:
        terminal.proc.kill()
    assert code == 10, terminal.text
    assert "Rolled-Back: soft breach at T+6m treated as hard (answered rollback by a person at the terminal)" in terminal.text
    section = replay.watch_section()
    assert "**Soft breach answered:** B) roll back now (by a person at the terminal)." in section
    assert poll_rows(section) == [f"T+{m}m" for m in range(1, 7)]
    assert replay.deploy_calls()[-1] == "--env drift --rollback v1"


def test_a_person_extends_the_window_by_the_minutes_they_type(replay):
    replay.environment("drift", "drift")
    terminal = Terminal(replay)
    try:
        terminal.read_until(QUESTION)
        terminal.type("maybe")  # not a choice: asked again
        terminal.read_until(b"'maybe' is not one of A, B, C")
        terminal.type("c")
        terminal.read_until(b"Extend by how long?")
        terminal.type("3m")
        code = terminal.finish()
    finally:
        terminal.proc.kill()
    assert code == 0, terminal.text
    section = replay.watch_section()
    assert "**Soft breach answered:** C) extend the window by 3m (by a person at the terminal)." in section
    assert poll_rows(section) == [f"T+{m}m" for m in range(1, 19)]
    assert "The window was extended by 3m to 18m." in section


# --- the loop's rules for asking, without a release around it -------------------------------------
# A scripted metrics source stands in for the backend here: these tests are about when the loop
# asks and where its polls land, given values; the replays above run the same loop on Prometheus.

from pytest_release.clock import SimulatedClock  # noqa: E402
from pytest_release.core.judge import MetricRule, WatchPolicy  # noqa: E402
from pytest_release.metrics.window import SoftAnswer, WatchWindow  # noqa: E402


class Scripted:
    """Answers poll k with values[k]; each answer takes `slow` simulated seconds."""

    def __init__(self, clock: SimulatedClock, values: list[dict], slow: float = 0.0) -> None:
        self.clock, self.values, self.slow, self.asked = clock, values, slow, []
        self.last_error = None

    def sample(self, at, window, not_before=None):
        self.asked.append(self.clock.monotonic())
        self.clock.sleep(self.slow)
        return self.values[min(len(self.asked) - 1, len(self.values) - 1)]


POLICY = WatchPolicy(rules=(MetricRule("p99", soft=1.5, hard=3.0), MetricRule("errors", soft=1.5, hard=2.0)))


def window_of(clock, source, answers, duration=600.0):
    asked = []

    def on_soft(decision):
        asked.append(decision.elapsed)
        return answers.pop(0)

    window = WatchWindow(
        provider=source, policy=POLICY, baseline={"p99": 1.0, "errors": 1.0}, clock=clock,
        duration=duration, interval=60.0, historical=True, on_soft=on_soft,
    )
    return window, asked


def test_polls_stay_on_the_minute_grid_when_queries_are_slow():
    clock = SimulatedClock()
    source = Scripted(clock, [{"p99": 1.0, "errors": 1.0}], slow=7.0)
    window, _ = window_of(clock, source, [])
    outcome = window.run()
    assert outcome.passed
    assert source.asked == [60.0 * k for k in range(1, 11)]


def test_an_accepted_drift_is_not_asked_again_but_a_new_one_is():
    clock = SimulatedClock()
    drift = {"p99": 1.7, "errors": 1.0}
    both = {"p99": 1.7, "errors": 1.6}
    source = Scripted(clock, [{"p99": 1.0, "errors": 1.0}, drift, drift, both, both])
    window, asked = window_of(clock, source, [SoftAnswer("continue", by="test"), SoftAnswer("extend", 120.0, by="test")])
    outcome = window.run()
    assert asked == [120.0, 240.0]
    assert outcome.passed and window.total == 720.0 and len(outcome.polls) == 12
    assert outcome.notes[0].startswith("drift accepted at T+2m (test): soft breach at T+2m: p99 1.7 is 1.7x")
    assert outcome.notes[1].startswith("window extended by 2m at T+4m (test)")


def test_a_window_ending_without_data_asks_before_it_passes():
    clock = SimulatedClock()
    source = Scripted(clock, [{"p99": 1.0, "errors": 1.0}] * 9 + [{"p99": None, "errors": 1.0}])
    window, asked = window_of(clock, source, [SoftAnswer("rollback", by="test")])
    outcome = window.run()
    assert asked == [600.0]
    assert outcome.status == "rollback-chosen"
    assert outcome.message.startswith("soft breach at T+10m treated as hard (test)")


# --- the precedence of answers, pure (core.escalation) ------------------------------------------
from pytest_release.core.escalation import settle_soft_breach  # noqa: E402


def test_the_option_wins_over_the_config_and_a_person():
    answer = settle_soft_breach(option="extend:10m", configured="rollback", config_key="environments.x.watch.on_soft_breach", letter="A")
    assert (answer.action, answer.seconds, answer.by) == ("extend", 600.0, "--release-on-soft-breach=extend:10m")


def test_the_config_wins_over_a_person():
    answer = settle_soft_breach(option=None, configured="continue", config_key="environments.x.watch.on_soft_breach", letter="B")
    assert (answer.action, answer.by) == ("continue", "environments.x.watch.on_soft_breach=continue")


def test_a_person_answers_when_neither_does():
    assert settle_soft_breach(option=None, configured=None, config_key="k", letter="B").action == "rollback"
    extend = settle_soft_breach(option=None, configured=None, config_key="k", letter="C", extension=90.0)
    assert (extend.action, extend.seconds, extend.by) == ("extend", 90.0, "a person at the terminal")
    assert settle_soft_breach(option=None, configured=None, config_key="k", letter="C").seconds == 300.0


def test_nobody_answering_rolls_back_and_says_why():
    answer = settle_soft_breach(option=None, configured=None, config_key="k", letter=None, nobody="CI is set")
    assert answer.action == "rollback" and answer.by is None
    assert answer.unanswered.startswith("nobody could be asked (CI is set)")
