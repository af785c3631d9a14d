"""The transport interface shared by the local and SSH transports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from envdoctor.models import HostStatus


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
