"""How the hosts of a use case are reached: a `Reach` (this machine, or hosts over SSH, one or a fleet,
fanned out by the runner) or `SlurmNodes` (a Slurm cluster's nodes, as one srun step). The use cases take
one of these; the CLI builds it from the options."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from envdoctor.fixes.session import OpenHost
from envdoctor.hosts.inventory import resolve
from envdoctor.hosts.runner import DEFAULT_FORKS, RunResult, run_hosts
from envdoctor.hosts.targets import LOCAL, Target
from envdoctor.models import HostReport

R = TypeVar("R")

DEFAULT_CONNECT_TIMEOUT = 10.0


def resolve_targets(targets: list[str], inventory: Path | None = None, limit: str | None = None,
                    ssh_config: Path | None = None, python: str | None = None) -> list[Target]:
    """The TARGET words (and inventory) as hosts; none at all: this machine."""
    if not targets and not inventory:
        return [LOCAL]
    return resolve(list(targets), inventory=inventory, limit=limit, ssh_config=ssh_config, python=python)


@dataclass
class Reach:
    """How the hosts are reached: the targets, the interpreter there, the probe's limit, the SSH options
    (empty for this machine) and how many hosts at once. `quiet`: no progress line (JSON on stdout).
    `this_machine`: no TARGET was named, so the one host is this machine, worked on without the runner
    (its phases are shown instead of the fleet's progress line)."""

    targets: list[Target]
    python: str | None = None
    timeout: float | None = None
    ssh: dict = field(default_factory=dict)
    forks: int = DEFAULT_FORKS
    quiet: bool = False
    this_machine: bool = False

    @classmethod
    def local(cls, python: str | None = None, timeout: float | None = None, quiet: bool = False) -> Reach:
        return cls([LOCAL], python=python, timeout=timeout, quiet=quiet, this_machine=True)

    @property
    def connect_timeout(self) -> float:
        """Seconds to connect over SSH (the connect option's default for this machine, which has none)."""
        return self.ssh.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT)

    def open(self, target: Target) -> OpenHost:
        return OpenHost(target, python=self.python, timeout=self.timeout, **self.ssh)

    def fan_out(self, targets: list[Target], work: Callable[[Target], R],
                lost: Callable[[Target, HostReport], R] | None = None, deadline_s: float | None = None,
                progress: bool | None = None, what: str | None = None) -> RunResult:
        """`work` on every target, `forks` at once; a host that gave no result is `lost(target, why)` (without
        `lost`, the runner's HostReport). `deadline_s`: the runner's last-resort limit per host. `progress`:
        the runner's line (None: on a terminal, unless quiet); `what`: the phase it names."""
        if progress is None and self.quiet:
            progress = False
        return run_hosts(targets, work, forks=self.forks, deadline_s=deadline_s, progress=progress, lost=lost,
                         what=what)


@dataclass
class SlurmNodes:
    """A Slurm cluster's nodes, reached as one srun step with a task per node: the partition(s) and the
    nodes in Slurm's syntax (neither: the current allocation, else every node), the interpreter there,
    the probe's limit, and `say` for one line per step."""

    partition: str | None = None
    nodelist: str | None = None
    python: str | None = None
    timeout: float | None = None
    say: Callable[[str], None] = lambda s: None
