"""Fixtures for the embedded demo: a private copy of examples/demo/ with its own port and state.

``demo_project`` gives each test a fresh copy it can deploy, query and stop with the demo's real
scripts; teardown stops whatever it started, so no service outlives its test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

DEMO_SOURCE = Path(__file__).resolve().parents[2] / "examples" / "demo"
SCRIPT_TIMEOUT = 30  # seconds; a deploy waits at most ~15 s (5 s stop + 10 s start)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_running(pid: int, program: bytes = b"service.py") -> bool:
    """True when pid is a live (not zombie) demo service; pids get reused, so check what it is."""
    proc = Path(f"/proc/{pid}")
    try:
        os.kill(pid, 0)
        if not proc.exists():  # no procfs (macOS): trust the pid
            return True
        state = (proc / "stat").read_text().rsplit(") ", 1)[1].split()[0]
        return state != "Z" and program in (proc / "cmdline").read_bytes()
    except (ProcessLookupError, PermissionError, FileNotFoundError, IndexError):
        return False


#: The demo's processes by pid file: the single service, the router and its two instances.
DEMO_PROCESSES = {"service.pid": b"service.py", "blue.pid": b"service.py", "green.pid": b"service.py", "router.pid": b"router.py"}


def _ignore_local_state(directory: str, names: list[str]) -> set[str]:
    ignored = {".demo-state", ".release-locks", "__pycache__"} & set(names)
    if Path(directory).name == "_docs" and "04_release" in names:
        ignored.add("04_release")
    return ignored


@dataclass
class DemoProject:
    path: Path
    port: int
    env: dict[str, str]  # DEMO_PORT, DEMO_STATE_DIR, PYTHON: what the scripts need

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return Path(self.env["DEMO_STATE_DIR"]) / "service.pid"

    def script_env(self, **extra: str) -> dict[str, str]:
        """The process environment plus the demo's, without any stray DEMO_* from outside."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("DEMO_")}
        return {**base, **self.env, **extra}

    def run(self, script: str, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """Run scripts/<script> with args; the caller checks the result."""
        return subprocess.run(
            [str(self.path / "scripts" / script), *args],
            env=self.script_env(**extra_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
        )

    def deploy(self, version: str, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        result = self.run("deploy.sh", "--env", "test", "--version", version, *args, **extra_env)
        assert result.returncode == 0, f"deploy {version} failed:\n{result.stdout}{result.stderr}"
        return result

    def stop(self) -> subprocess.CompletedProcess[str]:
        result = self.run("deploy.sh", "--stop")
        assert result.returncode == 0, f"stop failed:\n{result.stdout}{result.stderr}"
        return result

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def get(self, path: str, timeout: float = 5) -> requests.Response:
        return requests.get(self.url + path, timeout=timeout)

    def post(self, path: str, json: object, timeout: float = 5) -> requests.Response:
        return requests.post(self.url + path, json=json, timeout=timeout)

    @property
    def preview_url(self) -> str:
        """The router's preview listener: the idle side or the canary (the -lb environments)."""
        return f"http://127.0.0.1:{self.env['DEMO_PREVIEW_PORT']}"

    def router(self) -> dict:
        """The router's routing state and history (GET /_router)."""
        return self.get("/_router").json()

    def version(self) -> str | None:
        """The version serving now, or None when nothing answers."""
        try:
            return self.get("/version", timeout=2).json()["version"]
        except (requests.RequestException, ValueError, KeyError):
            return None


@pytest.fixture
def demo_project(tmp_path: Path):
    """A private copy of examples/demo/ on a free port; its service is stopped at teardown."""
    path = tmp_path / "demo"
    shutil.copytree(DEMO_SOURCE, path, ignore=_ignore_local_state)
    ports: list[int] = []
    while len(ports) < 4:  # four distinct ports (a port just freed can come back)
        port = free_port()
        if port not in ports:
            ports.append(port)
    env = {
        "DEMO_PORT": str(ports[0]),
        "DEMO_STATE_DIR": str(path / ".demo-state"),
        "PYTHON": sys.executable,
        # the router topology's ports (the -lb environments): its instances and preview listener
        "DEMO_BLUE_PORT": str(ports[1]),
        "DEMO_GREEN_PORT": str(ports[2]),
        "DEMO_PREVIEW_PORT": str(ports[3]),
    }
    project = DemoProject(path=path, port=int(env["DEMO_PORT"]), env=env)
    try:
        yield project
    finally:
        try:
            project.run("deploy.sh", "--stop")
        finally:
            for pid_file, program in DEMO_PROCESSES.items():
                try:
                    pid = int((Path(env["DEMO_STATE_DIR"]) / pid_file).read_text().strip())
                except (OSError, ValueError):
                    continue
                if service_running(pid, program):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
