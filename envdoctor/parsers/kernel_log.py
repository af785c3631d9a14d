"""Pure parser for NVIDIA lines of the kernel log (dmesg, `dmesg --ctime`, `dmesg --time-format=iso`,
journalctl short/short-iso, syslog): Xid and NVSwitch SXid events, "fallen off the bus", and the NVRM
lines that name a cause (API mismatch, probe failure, the module version loaded at boot)."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

from envdoctor.facts.gpu import XidEvent
from envdoctor.parsers.signatures import find_all

_XID = re.compile(r"NVRM: Xid \((?:PCI:)?(?P<pci>[0-9A-Fa-f:.]+)\): (?P<code>\d+)\b")
_SXID = re.compile(r"SXid \((?:PCI:)?(?P<pci>[0-9A-Fa-f:.]+)\): (?P<code>\d+)\b")
_PCI_IN_LINE = re.compile(r"\b(?:PCI:)?([0-9A-Fa-f]{4}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.[0-9A-Fa-f])?)\b")
_LOADING = re.compile(r"NVRM: loading NVIDIA UNIX.*?Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)")
# The two versions in the message the nvrm_api_mismatch signature recognises (value extraction only)
_API_VERSIONS = re.compile(
    r"client has the version (?P<client>\d+(?:\.\d+)+),? but\s+(?:NVRM: )?this kernel module has the "
    r"version (?P<module>\d+(?:\.\d+)+)")
# Which NVRM lines name a cause is the knowledge base's call (data/signatures/kernel.yaml): a line is
# notable when one of these signatures matches it, and fell off the bus when gpu_fallen_off_bus does.
NOTABLE_SIGNATURES = ("nvrm_api_mismatch", "nvrm_probe_failed", "nvrm_rm_init_adapter", "gpu_fallen_off_bus",
                      "nvrm_open_unsupported", "nvrm_legacy_branch", "nvrm_notable")
FALLEN_SIGNATURE = "gpu_fallen_off_bus"

# Timestamp prefixes, most specific first.
_TIMES = [
    re.compile(r"^\[(?P<t>\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})\]"),  # dmesg --ctime
    re.compile(r"(?P<t>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[,.]\d+)?(?:[+-]\d\d:?\d\d|Z)?)"),  # iso / short-iso
    re.compile(r"^(?P<t>\w{3} [ \d]\d \d\d:\d\d:\d\d)\s"),  # syslog / journalctl short
    re.compile(r"^\[\s*(?P<t>\d+\.\d+)\]"),  # raw seconds since boot
]


def _time(line: str) -> str | None:
    for pat in _TIMES:
        m = pat.search(line)
        if m:
            return m.group("t")
    return None


@dataclass
class KernelLog:
    xids: list[XidEvent] = field(default_factory=list)
    fallen_off_bus: list[str] = field(default_factory=list)
    notable: list[str] = field(default_factory=list)
    module_version: str | None = None  # "NVRM: loading NVIDIA UNIX ... Kernel Module 570.158.01"
    api_mismatch: tuple[str, str] | None = None  # (client/user-space version, kernel module version)
    nvrm_seen: bool = False  # any NVRM line at all: tells whether a paste held kernel log lines


def _lines_matched(text: str) -> tuple[set[int], set[int]]:
    """(notable line numbers, fallen-off-the-bus line numbers): the lines the signatures match."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    notable, fallen = set(), set()
    for sid, a, _ in find_all(text, NOTABLE_SIGNATURES):
        n = bisect_right(starts, a) - 1
        notable.add(n)
        if sid == FALLEN_SIGNATURE:
            fallen.add(n)
    return notable, fallen


def parse_kernel_log(text: str) -> KernelLog:
    out = KernelLog()
    lines = text.splitlines()
    notable, fallen = _lines_matched(text) if ("nvrm" in text.lower() or "nvidia" in text.lower()) else (set(), set())
    for i, line in enumerate(lines):
        if "NVRM" in line or "SXid" in line:
            out.nvrm_seen = True
        m = _XID.search(line)
        if m:
            out.xids.append(XidEvent(xid=int(m.group("code")), pci=m.group("pci"), time=_time(line), line=line.strip()))
        m = _SXID.search(line)
        if m:
            out.xids.append(XidEvent(xid=int(m.group("code")), pci=m.group("pci"), time=_time(line), line=line.strip(),
                                     sxid=True))
        # a kernel line (NVRM or a log timestamp); nvidia-smi's own words about a lost GPU are nvidia_smi's to read
        if i in fallen and not _XID.search(line) and ("NVRM" in line or _time(line)):
            # the 570+ message spans lines: the PCI address is on the line before
            ctx = " ".join(lines[max(0, i - 2):i + 1])
            pci = _PCI_IN_LINE.findall(ctx)
            entry = line.strip()
            if pci and pci[-1] not in entry:
                entry = f"{entry} [GPU {pci[-1]}]"
            out.fallen_off_bus.append(entry)
        elif _XID.search(line) and int(_XID.search(line).group("code")) == 79:
            out.fallen_off_bus.append(line.strip())
        m = _LOADING.search(line)
        if m:
            out.module_version = m.group(1)
        if i in notable and "NVRM" in line:  # the kernel module's own lines, not a tool's echo of them
            out.notable.append(line.strip())
    joined = re.sub(r"\n\s*(?:\[[^\]]*\]\s*)?", " ", text)  # the API-mismatch message is wrapped over lines
    m = _API_VERSIONS.search(joined) if find_all(joined, ("nvrm_api_mismatch",)) else None
    if m:
        out.api_mismatch = (m.group("client"), m.group("module"))
    return out
