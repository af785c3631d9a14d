"""The runner's progress on stderr, as a fleet's user reads it. On a terminal: one line redrawn in place,
`envdoctor: 12/64 hosts done; 3 running, slowest: gpu07 (4.2 s)`, cleared before the report. Without one
(a log, a CI job): one plain line when the phase starts, never one per host, so a thousand hosts are one
line of the log. Callers that print JSON ask for none.
"""

from __future__ import annotations

import time
from typing import TextIO

from envdoctor.printable import printable


def phase_text(what: str, secs: float | None = None) -> str:
    """`envdoctor: gathering the facts of this machine... 2.4 s`: pure, one escaped line."""
    return printable(f"envdoctor: {what}..." + (f" {secs:.1f} s" if secs is not None else ""))


def fleet_phase(what: str | None, hosts: int, forks: int) -> str:
    """The plain line of a fleet's phase: `envdoctor: applying on 64 hosts (32 at once)...`."""
    at_once = min(forks, hosts)
    return phase_text(f"{what or 'working'} on {hosts} host{'s' if hosts != 1 else ''} ({at_once} at once)")


class Progress:
    """One self-overwriting stderr line: `envdoctor: 12/64 hosts done; slowest: gpu07 (4.2 s)`."""

    def __init__(self, total: int, stream: TextIO):
        self.total, self.stream = total, stream
        self.width = 0

    def show(self, done: int, running: dict[str, float]) -> None:
        line = f"envdoctor: {done}/{self.total} hosts done"
        if running:
            name, started = min(running.items(), key=lambda kv: kv[1])
            line += f"; {len(running)} running, slowest: {printable(name)} ({time.monotonic() - started:.1f} s)"
        self.stream.write("\r" + line.ljust(self.width))
        self.stream.flush()
        self.width = len(line)

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


class PlainLine:
    """Without a terminal: the phase's one line when it starts; nothing per host, nothing to clear."""

    def __init__(self, line: str, stream: TextIO):
        self.line, self.stream = line, stream

    def show(self, done: int, running: dict[str, float]) -> None:
        if self.line:
            self.stream.write(self.line + "\n")
            self.stream.flush()
            self.line = ""  # once

    def clear(self) -> None:
        pass


def progress_for(stream: TextIO, progress: bool | None, total: int, forks: int,
                 what: str | None = None) -> Progress | PlainLine | None:
    """`progress`: False -> none (--json); True -> the live line; None -> the live line on a terminal, the
    plain line otherwise."""
    if progress is False:
        return None
    if progress or (hasattr(stream, "isatty") and stream.isatty()):
        return Progress(total, stream)
    return PlainLine(fleet_phase(what, total, forks), stream)
