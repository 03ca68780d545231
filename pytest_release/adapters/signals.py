"""SIGINT and SIGTERM during a release: the first stops, every later one is noted.

Python's default SIGTERM ends the process at once (no rollback, no verdict), and a second Ctrl-C
or SIGTERM while the first is being handled would land in the middle of the rollback or the
verdict. So in release mode the first signal takes Ctrl-C's path (a KeyboardInterrupt: pytest
stops the session, the rollback and the verdict follow from its end), and every later one is
only noted. While the gate is held (the rollback, the end of the session) even the first one is
only noted: half a rollback is the worst state to leave a system in. SIGKILL still ends
everything; the report says "rollback started" before anything runs, so a cut-short rollback is
visible."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class InterruptGate:
    def __init__(self, on_first: Callable[[str], None], on_noted: Callable[[str, bool], None]) -> None:
        self.on_first = on_first  # the signal that stops the session, before it is raised
        self.on_noted = on_noted  # (signal name, held): a signal that was not obeyed
        self.fired = False
        self.held = 0
        self._saved: dict[int, Any] = {}

    def install(self) -> None:
        """Take over both signals (main thread only; elsewhere Python keeps its handlers)."""
        if self._saved or threading.current_thread() is not threading.main_thread():
            return
        for signum in SIGNALS:
            self._saved[signum] = signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, handler in self._saved.items():
            signal.signal(signum, handler)
        self._saved.clear()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Note every signal, the first included, while this block runs."""
        temporary = not self._saved
        if temporary:
            self.install()
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1
            if temporary:
                self.restore()

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.fired or self.held:
            self.on_noted(name, bool(self.held))
            return
        self.fired = True
        self.on_first(name)
        raise KeyboardInterrupt(name)
