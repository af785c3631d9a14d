"""Stop the host with a message (Ansible's `fail`): with `when:`, a playbook refuses what would be
unsafe (sshd-hardening.yml refuses to lock out the user envdoctor is logged in as). Fails in check
mode too, so the plan already says why."""

from __future__ import annotations

from envdoctor.fixes.modules.base import Module, ModuleArgs, failed


class FailArgs(ModuleArgs):
    msg: str


class Fail(Module):
    name = "fail"
    Args = FailArgs
    doc = "Fail the task (and stop the host) with `msg`; use it with `when:`."

    def plan(self, a: FailArgs, state):
        return failed(a.msg)
