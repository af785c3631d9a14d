"""The transport interface shared by the local and SSH transports, the output cap, and the register of
commands running now (so that Ctrl-C and SIGTERM can end them on their hosts)."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Callable

from envdoctor.models import HostStatus

# A command's stdout and stderr together. The probe's report is a few MB at most; a target whose "python"
# is `yes` must not take the controller's memory (32 forks x this cap is the worst case).
MAX_OUTPUT_BYTES = 64 * 2**20


@dataclass
class CommandResult:
    rc: int | None  # None when the command was killed by the timeout
    stdout: str
    stderr: str
    secs: float
    timed_out: bool = False


class TransportError(Exception):
    """The host could not be reached or the command could not be run at all. `status` says how
    (unreachable, auth-failed, host-key-unknown, host-key-changed, timeout, error)."""

    def __init__(self, status: HostStatus, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{status.value}: {message}")


class OutputTooLarge(TransportError):
    """The command wrote more than MAX_OUTPUT_BYTES; it was stopped and its output dropped."""

    def __init__(self, message: str):
        super().__init__(HostStatus.ERROR, message)


class ConnectionClosed(TransportError):
    """The host closed the connection while the command ran (no exit status came)."""

    def __init__(self, message: str):
        super().__init__(HostStatus.UNREACHABLE, message)


class Transport:
    """One host. `run` takes an argv list (quoted by the transport for a remote shell) and optional
    stdin bytes; it never raises for a non-zero exit, only TransportError when the host is unusable."""

    name: str = "localhost"

    def run(self, argv: list[str], stdin: bytes | None = None, timeout: float = 60.0,
            on_line: Callable[[str], None] | None = None) -> CommandResult:
        """`on_line`, when given, is called with each stdout line as it arrives (progress streaming);
        the full stdout is still returned."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_running: dict[int, Callable[[], None]] = {}
_running_lock = threading.Lock()
_ids = itertools.count()


@contextlib.contextmanager
def running(end: Callable[[], None]):
    """Register, for the time of a command, how to end it on its host."""
    n = next(_ids)
    with _running_lock:
        _running[n] = end
    try:
        yield
    finally:
        with _running_lock:
            _running.pop(n, None)


def end_running(wait_s: float = 5.0) -> int:
    """End every command still running (in parallel, each best effort); returns how many there were."""
    with _running_lock:
        ends = list(_running.values())
        _running.clear()
    threads = [threading.Thread(target=_quietly, args=(f,), daemon=True) for f in ends]
    for t in threads:
        t.start()
    deadline = time.monotonic() + wait_s
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return len(ends)


def _quietly(f: Callable[[], None]) -> None:
    try:
        f()
    except Exception:
        pass
