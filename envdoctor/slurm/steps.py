"""One srun step as a transport per node: the step runs a script on every node at once, and each node's output
is then handed back by a transport that replays it (or, for a node whose task printed nothing back, one that
says so), so that code written for one host over SSH reads a Slurm node's answer unchanged."""

from __future__ import annotations

from typing import Callable

from envdoctor.hosts.transport.base import Transport
from envdoctor.slurm import nodes as slurm
from envdoctor.slurm.fleet import _Unanswered


def replayed(nodes: list[str], python: str, script: str, script_args: list[str], limit_s: float, *,
             partition: str | None, job_name: str, what: str,
             say: Callable[[str], None] = lambda s: None) -> dict[str, Transport]:
    """`script` on every node of `nodes` as one srun step; each node's transport. `what`: the step's phase line."""
    say(f"envdoctor: running {what} on {len(nodes)} node(s) as one srun step")
    step = slurm.run_step(nodes, python, script, script_args, limit_s, partition=partition, job_name=job_name)
    say(f"envdoctor: {len(step.results)}/{len(nodes)} node(s) answered in {step.secs:.1f} s")
    return {n: slurm.Replay(n, step.results[n]) if n in step.results else _Unanswered(n, step) for n in nodes}
