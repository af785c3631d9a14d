"""Run a command, guarded so that a second run does nothing: `creates` (a path that exists when it is
done), `removes`, `unless` (a command whose success means done) and `onlyif`. The guards are read
even in check mode, so they must only look, never change anything."""

from __future__ import annotations

import shlex

from pydantic import model_validator

from envdoctor.fixes.modules.base import Module, ModuleArgs, Plan, stat_op


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
        ops = []
        if a.creates:
            ops.append(stat_op(a.creates, read=False))
        if a.removes:
            ops.append(stat_op(a.removes, read=False))
        if a.unless:
            ops.append({"op": "exec", "shell": a.unless, "timeout": 60})
        if a.onlyif:
            ops.append({"op": "exec", "shell": a.onlyif, "timeout": 60})
        return ops

    def plan(self, a: CommandArgs, state):
        it = iter(state)
        if a.creates and next(it).get("exists"):
            return Plan(False, f"{a.creates} exists", skipped=f"{a.creates} exists")
        if a.removes and not next(it).get("exists"):
            return Plan(False, f"{a.removes} does not exist", skipped=f"{a.removes} does not exist")
        if a.unless and next(it).get("rc") == 0:
            return Plan(False, "unless-guard succeeded: already done", skipped="already done (unless)")
        if a.onlyif:
            r = next(it)
            if r.get("rc") != 0:
                return Plan(False, "onlyif-guard failed: not needed", skipped="not needed (onlyif)")
        shown = a.cmd if a.cmd is not None else shlex.join(a.argv)
        op = {"op": "exec", "timeout": a.timeout, "chdir": a.chdir}
        op.update({"argv": a.argv} if a.argv else {"shell": a.cmd})
        return Plan(True, f"run: {shown}", ops=[op], interpret=_interpret_exec(shown))


def _interpret_exec(shown: str):
    def interpret(results):
        r = results[0]
        if r.get("error"):
            return False, r["error"]
        if r.get("rc") != 0:
            why = "not found" if r.get("not_found") else "timed out" if r.get("timed_out") else f"exit {r.get('rc')}"
            tail = (r.get("stderr") or r.get("stdout") or "").strip().splitlines()[-3:]
            return False, f"`{shown}` failed ({why})" + (": " + " | ".join(tail) if tail else "")
        return True, f"ran: {shown}"

    return interpret

