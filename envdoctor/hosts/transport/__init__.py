"""Transports: the only code that talks to a host. `run(argv, stdin, timeout) -> CommandResult`."""

from envdoctor.hosts.transport.base import CommandResult, Transport, TransportError
from envdoctor.hosts.transport.local import LocalTransport

__all__ = ["CommandResult", "Transport", "TransportError", "LocalTransport"]
