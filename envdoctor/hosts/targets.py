"""What a TARGET names. Part 1 knows only this machine; inventory/SSH resolution builds on Target."""

from __future__ import annotations

import os
import shlex
import socket
import sys
from dataclasses import dataclass, field


@dataclass
class Target:
    name: str  # as the user wrote it / the inventory names it (this machine: its hostname)
    hostname: str | None = None  # None: this machine through the local transport
    user: str | None = None
    port: int | None = None
    python: str | None = None  # interpreter to diagnose (--python, ansible_python_interpreter)
    vars: dict = field(default_factory=dict)
    identity_files: list[str] = field(default_factory=list)  # from ssh_config / ansible_ssh_private_key_file
    proxy_jump: list["Target"] = field(default_factory=list)  # ProxyJump hops, first hop first
    proxy_command: str | None = None  # ssh_config ProxyCommand (tokens expanded)
    groups: list[str] = field(default_factory=list)  # inventory groups this host belongs to

    @property
    def local(self) -> bool:
        return self.hostname is None

    def interpreter(self, python: str | None = None) -> str:
        """The Python to run on this target: `--python`, else the inventory's, else this very interpreter
        for this machine and `python3` on a remote host."""
        return python or self.python or (sys.executable if self.local else "python3")

    def interpreter_argv(self, python: str | None = None) -> list[str]:
        """The interpreter as argv words. Like Ansible, `ansible_python_interpreter="/usr/bin/env python3"`
        is a command line; a local path that exists is one word even with spaces in it."""
        interp = self.interpreter(python)
        if self.local and os.path.exists(interp):
            return [interp]
        return command_words(interp)


def command_words(command: str) -> list[str]:
    """An interpreter's command line as argv words, as a shell splits it ("/usr/bin/env python3")."""
    try:
        return shlex.split(command) or [command]
    except ValueError:  # an unbalanced quote: take it as one word, the target will say it is not found
        return [command]


def this_machine_name() -> str:
    """The report's heading for this machine: its own hostname (`localhost` as a TARGET means SSH)."""
    return socket.gethostname() or "localhost"


LOCAL = Target(name=this_machine_name())
