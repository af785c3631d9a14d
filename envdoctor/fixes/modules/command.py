"""Run a command, guarded so that a second run does nothing: `creates` (a path that exists when it is
done), `removes`, `unless` (a command whose success means done) and `onlyif`. The guards are read
even in check mode, so they must only look, never change anything."""

from __future__ import annotations

import shlex

from pydantic import model_validator

from envdoctor.fixes.modules.base import Module, ModuleArgs, Plan, stat_op
from envdoctor.fixes.ops import ExecOp, ExecResult, OpResult, StatOp


class CommandArgs(ModuleArgs):
    argv: list[str] | None = None
    cmd: str | None = None  # run by `sh -c`
    creates: str | None = None
    removes: str | None = None
    unless: str | None = None  # `sh -c` guard: exit 0 means nothing to do
    onlyif: str | None = None  # `sh -c` guard: exit non-zero means nothing to do
    chdir: str | None = None
    timeout: float = 600

    @model_validator(mode="after")
    def _one(self):
        if (self.argv is None) == (self.cmd is None):
            raise ValueError("give exactly one of `argv` (a list) or `cmd` (a shell command line)")
        return self


class Command(Module):
    name = "command"
    Args = CommandArgs
    doc = "Run a command, with creates/removes/unless/onlyif guards for idempotence."

    def reads(self, a: CommandArgs):
        return list(_guards(a).values())

    def plan(self, a: CommandArgs, state: list[OpResult]):
        guard = dict(zip(_guards(a), state))  # each guard's result, by the guard's name
        if "creates" in guard and guard["creates"].exists:
            return Plan(False, f"{a.creates} exists", skipped=f"{a.creates} exists")
        if "removes" in guard and not guard["removes"].exists:
            return Plan(False, f"{a.removes} does not exist", skipped=f"{a.removes} does not exist")
        if "unless" in guard and guard["unless"].rc == 0:
            return Plan(False, "unless-guard succeeded: already done", skipped="already done (unless)")
        if "onlyif" in guard and guard["onlyif"].rc != 0:
            return Plan(False, "onlyif-guard failed: not needed", skipped="not needed (onlyif)")
        op = ExecOp(argv=a.argv, shell=a.cmd, timeout=a.timeout, chdir=a.chdir)
        shown = a.cmd if a.cmd is not None else shlex.join(a.argv)
        return Plan(True, f"run: {shown}", ops=[op], interpret=interpret_exec(shown))


def _guards(a: CommandArgs) -> dict[str, StatOp | ExecOp]:
    """The guards the task has, by name, in the order they are read (and checked)."""
    guards: dict[str, StatOp | ExecOp] = {}
    if a.creates:
        guards["creates"] = stat_op(a.creates, read=False)
    if a.removes:
        guards["removes"] = stat_op(a.removes, read=False)
    if a.unless:
        guards["unless"] = ExecOp(shell=a.unless, timeout=60)
    if a.onlyif:
        guards["onlyif"] = ExecOp(shell=a.onlyif, timeout=60)
    return guards


def interpret_exec(shown: str):
    """A command's result as (ok, message): its exit, and the last lines it printed when it failed."""
    def interpret(results: list[ExecResult]):
        r = results[0]
        if r.error:
            return False, r.error
        if r.rc != 0:
            why = "not found" if r.not_found else "timed out" if r.timed_out else f"exit {r.rc}"
            tail = (r.stderr or r.stdout or "").strip().splitlines()[-3:]
            return False, f"`{shown}` failed ({why})" + (": " + " | ".join(tail) if tail else "")
        return True, f"ran: {shown}"

    return interpret
