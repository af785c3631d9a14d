"""Install a package with the host's package manager (apt or dnf/yum, detected)."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from envdoctor.fixes.modules.base import Module, ModuleArgs, Plan, failed, ok
from envdoctor.fixes.modules.command import interpret_exec
from envdoctor.fixes.ops import ExecOp, ExecResult


class PackageArgs(ModuleArgs):
    name: list[str]
    state: Literal["present"] = "present"
    manager: Literal["auto", "apt", "dnf", "yum"] = "auto"

    @field_validator("name", mode="before")
    @classmethod
    def _list(cls, v):
        return [v] if isinstance(v, str) else v


class Package(Module):
    name = "package"
    Args = PackageArgs
    doc = "Ensure packages are installed (apt or dnf, detected)."

    def reads(self, a: PackageArgs):
        q = " ".join(f"'{n}'" for n in a.name if "'" not in n)
        # Which manager, then each package's installed state, in one exec: "<name> <yes|no>" lines.
        script = (
            "if command -v apt-get >/dev/null; then echo manager=apt; "
            f"for p in {q}; do dpkg-query -W -f='${{Status}}' \"$p\" 2>/dev/null | grep -q 'ok installed' "
            "&& echo \"$p yes\" || echo \"$p no\"; done; "
            "elif command -v dnf >/dev/null || command -v yum >/dev/null; then "
            "command -v dnf >/dev/null && echo manager=dnf || echo manager=yum; "
            f"for p in {q}; do rpm -q \"$p\" >/dev/null 2>&1 && echo \"$p yes\" || echo \"$p no\"; done; "
            "else echo manager=none; fi")
        return [ExecOp(shell=script, timeout=60)]

    def plan(self, a: PackageArgs, state: list[ExecResult]):
        (query,) = state
        out = query.stdout.splitlines()
        manager = next((x.split("=", 1)[1] for x in out if x.startswith("manager=")), "none")
        if a.manager != "auto":
            manager = a.manager
        if manager == "none":
            return failed("no apt-get, dnf or yum on this host")
        installed = {x.split()[0] for x in out if x.endswith(" yes")}
        missing = [n for n in a.name if n not in installed]
        if not missing:
            return ok(f"installed: {', '.join(a.name)}")
        if manager == "apt":
            argv = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-q", *missing]
        else:
            argv = [manager, "install", "-y", *missing]
        shown = " ".join(argv)
        return Plan(True, f"install with {manager}: {', '.join(missing)}",
                    ops=[ExecOp(argv=argv, timeout=1800)], interpret=interpret_exec(shown))
