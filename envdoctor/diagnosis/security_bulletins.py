"""NVIDIA's security bulletins (data/nvidia_security_bulletins.yaml) applied to installed versions:
which bulletins a Container Toolkit or a driver version is affected by. Pure functions."""

from __future__ import annotations

from dataclasses import dataclass, field

from envdoctor.facts import HostFacts
from envdoctor.knowledge import load
from envdoctor.versions import release


@dataclass
class Bulletin:
    id: str
    title: str
    published: str
    cves: list[str]
    affected: str = ""  # toolkit: the last affected version
    fixed: str = ""  # toolkit: the fixed version
    branches: dict[str, str] = field(default_factory=dict)  # driver: branch -> fixed version
    note: str | None = None

    @property
    def fixed_key(self) -> tuple[int, ...] | None:
        return release(self.fixed)

    @property
    def branch_names(self) -> list[str]:
        """A driver bulletin's fixed branches, newest first: ["R595", "R580", "R535"]."""
        return sorted(self.branches, key=lambda k: int(k[1:]), reverse=True)


def toolkit_bulletins() -> list[Bulletin]:
    return [Bulletin(id=b["id"], title=b["title"], published=b["published"], cves=b["cves"],
                     affected=b["affected_up_to"], fixed=b["fixed"], note=b.get("note"))
            for b in load("nvidia_security_bulletins")["container_toolkit"]]


def driver_bulletins() -> list[Bulletin]:
    return [Bulletin(id=b["id"], title=b["title"], published=b["published"], cves=b["cves"],
                     branches=dict(b["fixed"]), note=b.get("note"))
            for b in sorted(load("nvidia_security_bulletins")["driver"], key=lambda b: b["published"], reverse=True)]


def toolkit_findings(version: str) -> list[Bulletin]:
    """The toolkit bulletins whose affected range ("up to and including") holds `version`, newest first."""
    v = release(version)
    return [b for b in toolkit_bulletins() if v and v <= release(b.affected)]


def driver_findings(version: str) -> tuple[list[tuple[Bulletin, str]], list[Bulletin]]:
    """(bulletins with a fixed version for the driver's branch above it -> that version; bulletins that
    list newer branches but none for this one: NVIDIA says earlier branches "might also be affected").
    A branch newer than every branch a bulletin lists came out after it and is not counted."""
    v = release(version)
    if not v:
        return [], []
    branch = f"R{v[0]}"
    fixed, unfixed = [], []
    for b in driver_bulletins():
        if branch in b.branches:
            if v < release(b.branches[branch]):
                fixed.append((b, b.branches[branch]))
        elif v[0] < max(int(k[1:]) for k in b.branches):
            unfixed.append(b)
    return fixed, unfixed


TOOLKIT_PACKAGES = ("nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools",
                    "libnvidia-container1")


def toolkit_versions(facts: HostFacts) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Each toolkit component's version that is known: name -> (as printed, comparable key)."""
    c = facts.container
    out = {}
    for name, v in (("nvidia-ctk", c.nvidia_ctk_version), ("nvidia-container-cli", c.nvidia_container_cli_version),
                    ("nvidia-container-runtime-hook", c.nvidia_container_toolkit_version)):
        if v and release(v):
            out[name] = (v, release(v))
    for pkg in TOOLKIT_PACKAGES:
        v = (facts.gpu.dpkg_packages or {}).get(pkg)
        if v and release(v):
            out[f"{pkg} (dpkg)"] = (v, release(v))
    return out


def installed_driver(facts: HostFacts) -> tuple[str | None, str]:
    """The driver version that runs: the loaded kernel module's, else NVML's (nvidia-smi)."""
    g = facts.gpu
    for v, where in ((g.kernel_module_version, "/proc/driver/nvidia/version"), (g.nvml_version, "nvidia-smi"),
                     (g.module_version_from_log, "kernel log")):
        if v and release(v):
            return v, where
    return None, ""
