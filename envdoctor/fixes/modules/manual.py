"""A step envdoctor cannot take from where it runs (inside a container: the container's own /dev/shm
size, memlock limit and runtime are set by whoever starts it): the task is reported as skipped with
the step a person takes, never as changed or ok."""

from __future__ import annotations

from envdoctor.fixes.modules.base import Module, ModuleArgs, Plan


class ManualArgs(ModuleArgs):
    msg: str  # what to do, and who does it


class Manual(Module):
    name = "manual"
    Args = ManualArgs
    doc = "Report a step a person must take (skipped, with the step); changes nothing."

    def plan(self, a: ManualArgs, state):
        return Plan(False, a.msg, skipped=f"manual step: {a.msg}")
