"""What a TARGET names. Part 1 knows only this machine; inventory/SSH resolution builds on Target."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field


@dataclass
class Target:
    name: str  # as the user wrote it / the inventory names it
    hostname: str | None = None  # None: this machine through the local transport
    user: str | None = None
    port: int | None = None
    python: str | None = None  # interpreter to diagnose (--python, ansible_python_interpreter)
    vars: dict = field(default_factory=dict)
    identity_files: list[str] = field(default_factory=list)  # from ssh_config / ansible_ssh_private_key_file
    proxy_jump: list["Target"] = field(default_factory=list)  # ProxyJump hops, first hop first
    groups: list[str] = field(default_factory=list)  # inventory groups this host belongs to

    @property
    def local(self) -> bool:
        return self.hostname is None

    def interpreter(self, python: str | None = None) -> str:
        """The Python to run on this target: `--python`, else the inventory's, else this very interpreter
        for this machine and `python3` on a remote host."""
        return python or self.python or (sys.executable if self.local else "python3")


LOCAL = Target(name="localhost")
