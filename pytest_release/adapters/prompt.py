"""Blocking gates: ask a person at a terminal, even under pytest's output capture.

pytest points fd 0 at /dev/null while it captures, so "is there a terminal?" is asked of the
descriptor the capture plugin saved, and the answer is read from it directly. In CI (the `CI`
variable set) or with no terminal there is nobody to ask: callers get None and must fall back to
an option or stop safely, saying which option would have answered."""

from __future__ import annotations

import os
from typing import Callable, Mapping

import pytest


def _saved_stdin_fd(config: pytest.Config) -> int | None:
    capman = config.pluginmanager.getplugin("capturemanager")
    capturing = getattr(capman, "_global_capturing", None)
    in_ = getattr(capturing, "in_", None)
    if in_ is None:
        return 0
    return getattr(in_, "targetfd_save", None)


class Asker:
    def __init__(
        self, config: pytest.Config, write: Callable[[str], None], on_ask: Callable[[str], None] = lambda question: None
    ) -> None:
        self._config = config
        self._write = write
        self._on_ask = on_ask  # once per question a person is asked (the "asked" notification)

    def interactive(self) -> bool:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            return False
        fd = _saved_stdin_fd(self._config)
        try:
            return fd is not None and os.isatty(fd)
        except OSError:
            return False

    def choose(self, question: str, choices: Mapping[str, str]) -> str | None:
        """Ask until a listed letter (or word) is typed; None when nobody can be asked."""
        if not self.interactive():
            return None
        fd = _saved_stdin_fd(self._config)
        assert fd is not None
        self._on_ask(question)
        capman = self._config.pluginmanager.getplugin("capturemanager")
        menu = "\n".join(f"  {key}) {label}" for key, label in choices.items())
        with capman.global_and_fixture_disabled():
            while True:
                self._write(f"\n{question}\n{menu}\nAnswer [{'/'.join(choices)}]: ")
                answer = _read_line(fd)
                if answer is None:
                    return None  # end of input: nobody is there after all
                answer = answer.strip()
                for key in choices:
                    if answer.lower() == key.lower():
                        return key
                self._write(f"'{answer}' is not one of {', '.join(choices)}\n")

    def text(self, question: str) -> str | None:
        if not self.interactive():
            return None
        fd = _saved_stdin_fd(self._config)
        assert fd is not None
        self._on_ask(question)
        capman = self._config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled():
            self._write(f"\n{question} ")
            answer = _read_line(fd)
        return None if answer is None else answer.strip()


def _read_line(fd: int) -> str | None:
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 1)
        if not chunk:
            return data.decode(errors="replace") if data else None
        data += chunk
    return data.decode(errors="replace")
