"""Transports: the only code that talks to a host. `run(argv, stdin, timeout) -> CommandResult`."""

from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport.base import CommandResult, Transport, TransportError
from envdoctor.hosts.transport.local import LocalTransport

__all__ = ["CommandResult", "Transport", "TransportError", "LocalTransport", "transport_for"]


def transport_for(target: Target, **ssh_options) -> Transport:
    """The transport that reaches `target`: this machine's own, else SSH."""
    if target.local:
        return LocalTransport()
    # Fabric and paramiko take a quarter of a second to import: only when a host is reached over SSH
    from envdoctor.hosts.transport.ssh import SSHTransport

    return SSHTransport(target, **ssh_options)
