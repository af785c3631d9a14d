"""Pure parsers for the state of the NVIDIA driver stack on a host: the loaded kernel module
(/proc/driver/nvidia/version, /proc/modules), the installed packages (dpkg, apt history), the
systemd units (nvidia-fabricmanager, nvidia-persistenced) and the /dev/nvidia* nodes."""

from __future__ import annotations

import re
from dataclasses import dataclass

# "NVRM version: NVIDIA UNIX x86_64 Kernel Module  520.56.06  Thu Oct  6 ..." or
# "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  525.60.11  Release Build  (...)"
_NVRM_VERSION = re.compile(r"NVRM version:\s*NVIDIA UNIX(?P<kind>.*?)Kernel Module(?: for \S+)?\s+(?P<ver>\d+\.\d+(?:\.\d+)?)")


@dataclass
class ProcVersion:
    version: str
    open_module: bool
    line: str


def parse_proc_version(text: str) -> ProcVersion | None:
    for line in text.splitlines():
        m = _NVRM_VERSION.search(line)
        if m:
            return ProcVersion(m.group("ver"), "Open" in m.group("kind"), line.strip())
    return None


def parse_proc_modules(text: str) -> list[str]:
    """Names of the loaded kernel modules (first field of each /proc/modules line)."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def parse_systemd_show(text: str) -> dict[str, dict[str, str]]:
    """`systemctl show -p Id,ActiveState,... a.service b.service`: blank-line separated blocks of
    Key=Value -> {unit id: {key: value}}."""
    units: dict[str, dict[str, str]] = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        kv = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if kv.get("Id"):
            units[kv["Id"]] = kv
    return units


def unit_state(units: dict[str, dict[str, str]], name: str) -> tuple[bool | None, str | None]:
    """(installed, ActiveState) of a unit; (None, None) when the unit is not in the output."""
    u = units.get(name)
    if u is None:
        return None, None
    installed = u.get("LoadState") not in ("not-found", None)
    return installed, u.get("ActiveState")


# dpkg-query -W -f '${Package} ${Version} ${Status}': "nvidia-utils-535 535.183.01-0ubuntu1 install ok installed"
_DPKG_QUERY = re.compile(r"^(?P<pkg>[a-z0-9][a-z0-9.+-]+)(?::\w+)? (?P<ver>\S+) install ok installed\s*$")
# dpkg -l: "ii  nvidia-smi     525.85.12-1  amd64        NVIDIA System Management Interface"
_DPKG_L = re.compile(r"^ii\s+(?P<pkg>[a-z0-9][a-z0-9.+-]+)(?::\w+)?\s+(?P<ver>\S+)\s+\S+")
_NVIDIA_PKG = re.compile(r"nvidia|cuda", re.I)


def parse_dpkg(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        m = _DPKG_QUERY.match(line.strip()) or _DPKG_L.match(line)
        if m and _NVIDIA_PKG.search(m.group("pkg")):
            out[m.group("pkg")] = m.group("ver")
    return out


# Packages that carry the user-space NVML/driver libraries, in order of preference.
_LIB_PACKAGES = [r"libnvidia-compute-\d+", r"nvidia-utils-\d+", r"libnvidia-ml1", r"nvidia-smi",
                 r"nvidia-driver-libs", r"libnvidia-gl-\d+", r"nvidia-driver-\d+", r"libnvidia-common-\d+"]


def upstream_version(deb_version: str) -> str | None:
    """'525.85.12-1' / '460.73.01-0ubuntu0.20.04.1' / '1:550.54.15-1' -> '525.85.12'."""
    m = re.match(r"^(?:\d+:)?(\d+\.\d+(?:\.\d+)?)", deb_version)
    return m.group(1) if m else None


def library_versions(packages: dict[str, str]) -> list[tuple[str, str]]:
    """(package, upstream version) of the installed packages holding the user-space driver libraries."""
    out = []
    for pat in _LIB_PACKAGES:
        for pkg, ver in sorted(packages.items()):
            v = upstream_version(ver)
            if re.fullmatch(pat, pkg) and v:
                out.append((pkg, v))
    return out


# /var/log/apt/history.log: "Commandline: /usr/bin/unattended-upgrade" then
# "Upgrade: libnvidia-common-460:amd64 (460.56-0ubuntu0.20.04.1, 460.73.01-0ubuntu0.20.04.1)"
_APT_UPGRADE = re.compile(r"^(Upgrade|Install|Remove):.*nvidia", re.I)


def find_driver_upgrades(text: str) -> list[str]:
    """apt history lines that changed NVIDIA packages, with the Commandline line that did it."""
    out, last_cmd = [], None
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("Commandline:"):
            last_cmd = s
        elif s.startswith("Start-Date:"):
            last_cmd = None
        elif _APT_UPGRADE.match(s):
            if last_cmd and last_cmd not in out:
                out.append(last_cmd)
            out.append(s if len(s) < 400 else s[:400] + " ...")
    return out


def upgraded_versions(line: str) -> tuple[str, str] | None:
    """'Upgrade: libnvidia-common-460:amd64 (460.56-0ubuntu..., 460.73.01-0ubuntu...)' -> ('460.56', '460.73.01')."""
    m = re.search(r"nvidia[^()]*\(([^,()]+),\s*([^()]+)\)", line)
    if not m:
        return None
    a, b = upstream_version(m.group(1).strip()), upstream_version(m.group(2).strip())
    return (a, b) if a and b else None


def nvswitch_nodes(text: str) -> list[str]:
    return [l.strip() for l in text.splitlines() if re.fullmatch(r"/dev/nvidia-nvswitch\d+", l.strip())]
