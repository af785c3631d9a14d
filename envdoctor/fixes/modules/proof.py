"""The proof-run as a playbook task: train a ResNet on the host's GPUs and fail the task (and so the
host's play) when the verdict fails. It changes nothing on the host, so it reports `ok`, never
`changed`, and check mode does not run it (it takes a minute and proves nothing about a plan)."""

from __future__ import annotations

from typing import Literal

from envdoctor.fixes.modules.base import Module, ModuleArgs, Plan
from envdoctor.fixes.ops import ExecOp, ExecResult
from envdoctor.hosts.targets import command_words
from envdoctor.models import Status
from envdoctor.proof import STDIN
from envdoctor.proof.stage import TRANSPORT_SLACK_S, build_argv, parse_lines
from envdoctor.proof.verdict import judge


class ProofArgs(ModuleArgs):
    python: str = "python3"  # the interpreter whose torch trains: a command line ("/usr/bin/env python3")
    device: Literal["cuda", "cpu"] = "cuda"
    arch: str | None = None
    time_budget: float = 60.0
    batch_size: int | None = None
    steps: int | None = None
    image_size: int | None = None
    ddp: bool = False
    allow_cpu: bool = False  # a CPU run passes with a warning instead of failing


class Proof(Module):
    name = "proof"
    Args = ProofArgs
    doc = "Run the ResNet proof-run; the task fails when the verdict is fail (never reports changed)."
    assertion = True

    def plan(self, a: ProofArgs, state):
        argv = build_argv(command_words(a.python), device=a.device, arch=a.arch, time_budget=a.time_budget,
                          batch_size=a.batch_size, steps=a.steps, image_size=a.image_size, ddp=a.ddp)
        op = ExecOp(argv=argv, stdin=STDIN.decode(), timeout=a.time_budget + TRANSPORT_SLACK_S)
        return Plan(True, f"proof-run on {a.device} ({a.arch or 'default model'}, {a.time_budget:g} s budget)",
                    ops=[op], interpret=_interpret(a))


def _interpret(a: ProofArgs):
    def interpret(results: list[ExecResult]):
        r = results[0]
        result, _events = parse_lines(r.stdout)
        if result is None:
            tail = r.stderr.strip().splitlines()[-3:]
            return False, "the proof-run gave no result" + (": " + " | ".join(tail) if tail else "")
        verdict = judge(result, allow_cpu=a.allow_cpu)
        return verdict.status in (Status.PASS, Status.WARN), f"proof-run {verdict.status.value}: {verdict.summary}"

    return interpret
