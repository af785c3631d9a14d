"""OS, kernel, CPU count, memory and WSL from the probe's `os_release`, `uname`, `cpuinfo_count` and
`meminfo` sections, or from pasted `uname -a`, /proc/meminfo and collect_env lines. Pure."""

from __future__ import annotations

import re


def parse_os_release(text: str) -> str | None:
    vals = dict(re.findall(r'^([A-Z_]+)="?([^"\n]*)"?\s*$', text, re.MULTILINE))
    return vals.get("PRETTY_NAME") or (" ".join(v for v in (vals.get("NAME"), vals.get("VERSION")) if v) or None)


def parse_uname(text: str) -> str | None:
    """`uname -srm` ("Linux 6.8.0-71-generic x86_64") or `uname -a` ("Linux host 4.19.0-8-amd64 #1 SMP ...")."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "Linux":
            if len(parts) >= 4 and parts[3].startswith("#"):  # uname -a: the release is the third word
                return parts[2]
            return parts[1]
    return None


def scan_kernel(text: str) -> str | None:
    """A kernel release in a paste: a `uname -a` line, or collect_env's "Python platform: Linux-<release>-..."."""
    m = re.search(r"^\s*Linux \S+ (\d+\.\d+[\w.+~-]*) #\d", text, re.MULTILINE)
    if m:
        return m.group(1)
    m = re.search(r"^Python platform: Linux-(\d+\.\d+[\w.+~-]*?)-(?:x86_64|aarch64|ppc64le)", text, re.MULTILINE)
    return m.group(1) if m else None


def scan_os_name(text: str) -> str | None:
    """collect_env's "OS: Ubuntu 22.04.4 LTS (x86_64)"."""
    m = re.search(r"^OS: (.+?)(?: \((?:x86_64|aarch64|ppc64le)\))?\s*$", text, re.MULTILINE)
    return m.group(1) if m and "Could not collect" not in m.group(1) else None


def parse_meminfo(text: str) -> int | None:
    m = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None


def parse_cpu_count(text: str) -> int | None:
    s = text.strip()
    return int(s) if s.isdigit() else None


def wsl_from_kernel(kernel: str | None) -> bool | None:
    """WSL2 kernels are "...-microsoft-standard-WSL2", WSL1 reports "...-Microsoft"."""
    if kernel is None:
        return None
    return "microsoft" in kernel.lower() or "wsl" in kernel.lower()


def scan_wsl_markers(text: str) -> tuple[bool | None, list[str]]:
    """libnvidia-container's debug log says whether it found WSL's dxcore."""
    for line in text.splitlines():
        if "continuing assuming a non-WSL environment" in line:
            return False, [line.strip()]
        if re.search(r"dxcore initialization succeeded|running under WSL", line):
            return True, [line.strip()]
    return None, []
