"""systemd units: enable, start, restart, reload, daemon-reload/-reexec. On a host where systemd is not
the running init (containers, chroots) this is a clear failure of the task, not a silent pass."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from envdoctor.fixes.modules.base import Module, ModuleArgs, Plan, failed, ok
from envdoctor.fixes.modules.command import interpret_exec
from envdoctor.fixes.ops import ExecOp, ExecResult


class ServiceArgs(ModuleArgs):
    name: str | None = None  # the unit, "docker" or "docker.service"
    state: Literal["started", "stopped", "restarted", "reloaded"] | None = None
    enabled: bool | None = None
    daemon_reload: bool = False
    daemon_reexec: bool = False  # needed for changes to system.conf (DefaultLimit*)

    @model_validator(mode="after")
    def _something(self):
        if self.name is None and not (self.daemon_reload or self.daemon_reexec):
            raise ValueError("give `name` (with state/enabled) or daemon_reload/daemon_reexec")
        if self.name is not None and self.state is None and self.enabled is None:
            raise ValueError("give `state` and/or `enabled` for the unit")
        return self


def _manual_step(a: ServiceArgs) -> str:
    """What a person does instead, where systemd is not the init (a container, a chroot, sysvinit)."""
    if a.daemon_reexec or a.daemon_reload:
        return "the change applies when systemd next starts (reboot the host), or ask the host's admin"
    verb = {"restarted": "restart", "reloaded": "reload", "started": "start", "stopped": "stop"}.get(a.state or "", "")
    steps = [f"`service {a.name} {verb}` (or this system's own init)" if verb else ""]
    if a.enabled:
        steps.append(f"make {a.name} start at boot with this system's init")
    return "; ".join(s for s in steps if s) + " -- inside a container, the daemon runs on the host: ask its admin"


class Service(Module):
    name = "service"
    Args = ServiceArgs
    doc = "Start/restart/enable a systemd unit (as a handler: once, at the end, when notified)."

    def reads(self, a: ServiceArgs):
        ops = [ExecOp(argv=["systemctl", "is-system-running"], timeout=30)]
        if a.name:
            ops += [ExecOp(argv=["systemctl", "is-active", a.name], timeout=30),
                    ExecOp(argv=["systemctl", "is-enabled", a.name], timeout=30)]
        return ops

    def plan(self, a: ServiceArgs, state: list[ExecResult]):
        running = state[0]
        said = running.stdout.strip() or running.stderr.strip()
        if running.not_found or said in ("offline", "") or "not been booted with systemd" in running.stderr:
            why = "no systemctl on this host" if running.not_found else \
                f"systemd is not running on this host (systemctl is-system-running: {said or 'no answer'})"
            return Plan(False, why, skipped=f"{why}: skipped; manual step: {_manual_step(a)}")
        cmds: list[list[str]] = []
        if a.daemon_reexec:
            cmds.append(["systemctl", "daemon-reexec"])
        if a.daemon_reload:
            cmds.append(["systemctl", "daemon-reload"])
        if a.name:
            is_active, is_enabled = state[1], state[2]
            active = is_active.stdout.strip() == "active"
            enabled = is_enabled.stdout.strip()
            said = is_enabled.stderr + is_enabled.stdout
            if "No such file" in said or "not-found" in said:
                return failed(f"unit {a.name} is not installed on this host")
            if a.enabled is True and enabled not in ("enabled", "enabled-runtime", "static", "alias"):
                cmds.append(["systemctl", "enable", a.name])
            if a.enabled is False and enabled == "enabled":
                cmds.append(["systemctl", "disable", a.name])
            if a.state == "started" and not active:
                cmds.append(["systemctl", "start", a.name])
            elif a.state == "stopped" and active:
                cmds.append(["systemctl", "stop", a.name])
            elif a.state in ("restarted", "reloaded"):
                cmds.append(["systemctl", "restart" if a.state == "restarted" else "reload", a.name])
        if not cmds:
            return ok(f"{a.name}: already {a.state or ''}{' and ' if a.state and a.enabled else ''}"
                      f"{'enabled' if a.enabled else ''}".strip())
        shown = "; ".join(" ".join(c) for c in cmds)
        ops = [ExecOp(argv=c, timeout=300) for c in cmds]

        def interpret(results: list[ExecResult]):
            for c, r in zip(cmds, results):
                good, msg = interpret_exec(" ".join(c))([r])
                if not good:
                    return False, msg
            return True, f"ran: {shown}"

        return Plan(True, f"run: {shown}", ops=ops, interpret=interpret)
