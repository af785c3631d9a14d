"""Progress of a command's slow phases (gathering, reading a big paste, recognising what it shows) on stderr.

On a terminal: one live line per phase, redrawn in place with its seconds so far, the way the proof's
bars are drawn (erase the line, write it again; cut to the terminal's width), and erased when the phase
ends, so the report starts on a clean line. Without a terminal: one plain line when a phase starts (a
log or CI job shows where the time goes). With --json (`Phases.off()`): nothing. A fleet's phases are the
runner's (envdoctor/hosts/progress.py), in the same words.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time
from typing import Iterator, TextIO

from envdoctor.hosts.progress import phase_text

__all__ = ["Phases", "phase_text"]

REDRAW_S = 0.2


class Phases:
    def __init__(self, stream: TextIO | None, live: bool):
        self.stream, self.live = stream, live

    @classmethod
    def for_stderr(cls, quiet: bool = False, stream: TextIO | None = None) -> "Phases":
        """Live on a terminal, plain lines otherwise; nothing when `quiet` (--json)."""
        if quiet:
            return cls.off()
        stream = stream or sys.stderr
        return cls(stream, live=bool(getattr(stream, "isatty", lambda: False)()))

    @classmethod
    def off(cls) -> "Phases":
        return cls(None, live=False)

    @property
    def terminal(self) -> bool:
        return self.stream is not None and self.live

    @contextlib.contextmanager
    def phase(self, what: str) -> Iterator[None]:
        if self.stream is None:
            yield
            return
        if not self.live:
            self.stream.write(phase_text(what) + "\n")
            self.stream.flush()
            yield
            return
        stop = threading.Event()
        t0 = time.monotonic()

        def draw() -> None:
            while True:
                cols = shutil.get_terminal_size((100, 24)).columns - 1  # a wrapped line would not be erased
                self.stream.write("\r\x1b[2K" + phase_text(what, time.monotonic() - t0)[:cols])
                self.stream.flush()
                if stop.wait(REDRAW_S):
                    return

        ticker = threading.Thread(target=draw, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
            ticker.join()
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
