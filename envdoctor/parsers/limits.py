"""Memory-lock limits: `/proc/self/limits` (the probe's `limits` section, bytes) and pasted `ulimit -a`,
`ulimit -Ha`, `ulimit -l` (bash/zsh print KiB), plus the RDMA errors a too-small limit causes.

All sizes are bytes; -1 means unlimited. Pure functions of text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

UNLIMITED = -1


@dataclass
class MemlockReading:
    soft: int | None = None
    hard: int | None = None
    source: str = ""
    lines: list[str] = field(default_factory=list)
    scope: str | None = None  # "container" / "host" when the paste tells which; None: not told
    host: "MemlockReading | None" = None  # the host's reading, kept apart, when a container's is the one above


def _value(raw: str, unit_bytes: int) -> int | None:
    raw = raw.strip().lower()
    if raw in ("unlimited", "infinity"):
        return UNLIMITED
    if raw.isdigit():
        return int(raw) * unit_bytes
    return None


# /proc/<pid>/limits: "Max locked memory         8388608              8388608              bytes"
_PROC_LINE = re.compile(r"^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)(?:\s+(\S+))?\s*$")


def parse_proc_limits(text: str) -> dict[str, tuple[int | None, int | None, str]]:
    """Every row of /proc/<pid>/limits: name -> (soft, hard, unit). Byte-valued rows stay bytes."""
    out = {}
    for line in text.splitlines():
        m = _PROC_LINE.match(line.strip())
        if m:
            out[m.group(1)] = (_value(m.group(2), 1), _value(m.group(3), 1), m.group(4) or "")
    return out


def memlock_from_proc_limits(text: str) -> MemlockReading | None:
    for line in text.splitlines():
        m = _PROC_LINE.match(line.strip())
        if m and m.group(1) == "Max locked memory":
            return MemlockReading(_value(m.group(2), 1), _value(m.group(3), 1), "/proc/self/limits", [line.strip()])
    return None


# bash `ulimit -a`, old and new (5.2+) alignment: "max locked memory       (kbytes, -l) unlimited";
# zsh: "-l: locked-in-memory size (kbytes) 64"; dash/busybox: "-l: locked memory (kb) 64".
_ULIMIT_A_LINE = re.compile(
    r"^\s*(?:max locked memory\s+\((kbytes|bytes)?,?\s*-l\)|-l:\s*locked(?:-in)?[- ]memory(?: size)?\s*\((kbytes|kb|bytes)\))"
    r"\s+(\S+)\s*$", re.IGNORECASE)
# A command line in a paste: "$ ulimit -l", "# ulimit -Ha", "ulimit -a", "user@host:~$ ulimit -H -l".
_ULIMIT_CMD = re.compile(r"\bulimit((?:\s+-[A-Za-z]+)+)\s*['\"]?\s*$")  # also `docker run ... sh -c 'ulimit -l'`


def _flags(cmd_line: str) -> str | None:
    m = _ULIMIT_CMD.search(cmd_line)
    return m.group(1).replace("-", "").replace(" ", "") if m else None


# Which side a `ulimit` ran on: a container's prompt (root@<12 hex>), the command run through docker/podman/
# kubectl, or the user's heading just above ("Docker container:", "On the host:").
_CONTAINER_PROMPT = re.compile(r"^\s*\w[\w.-]*@[0-9a-f]{12}:\S*\s?[#$]")
_THROUGH_CONTAINER = re.compile(r"\b(?:docker|podman|nerdctl)\s+(?:container\s+)?(?:run|exec)\b|\bkubectl\s+exec\b|\benroot\s+start\b")
_HEADING_CONTAINER = re.compile(r"\b(?:in(?:side)?\s+(?:the\s+|a\s+|my\s+)?)?(?:docker\s+)?container\b|\bpod\b", re.I)
_HEADING_HOST = re.compile(r"\b(?:host(?:\s+machine)?|bare[- ]metal|outside (?:the |a )?container)\b", re.I)


def _scope(lines: list[str], cmd_at: int) -> str | None:
    cmd = lines[cmd_at]
    if _CONTAINER_PROMPT.match(cmd) or _THROUGH_CONTAINER.search(cmd):
        return "container"
    for j in range(cmd_at - 1, max(-1, cmd_at - 4), -1):  # a heading just above, before any other command
        prev = lines[j].strip()
        if not prev:
            continue
        if _flags(prev) is not None:
            break
        if prev.endswith(":") and len(prev) < 60:
            if _HEADING_CONTAINER.search(prev):
                return "container"
            if _HEADING_HOST.search(prev):
                return "host"
    return None


def _command_at(lines: list[str], i: int, reach: int = 30) -> int | None:
    for j in range(i - 1, max(-1, i - reach), -1):
        if _flags(lines[j]) is not None:
            return j
    return None


def _scan_ulimit(text: str) -> dict[str | None, MemlockReading]:
    """Readings per scope (None: not told)."""
    lines = text.splitlines()
    by: dict[str | None, MemlockReading] = {}

    def put(scope: str | None, hard: bool, val: int, flags: str, ev: list[str]) -> None:
        r = by.setdefault(scope, MemlockReading(scope=scope))
        if hard and r.hard is None:
            r.hard, r.lines = val, r.lines + ev
        elif not hard and r.soft is None:
            r.soft, r.lines = val, r.lines + ev
        else:
            return
        r.source = r.source or f"ulimit -{flags}"

    for i, line in enumerate(lines):
        m = _ULIMIT_A_LINE.match(line)
        if m:
            unit = (m.group(1) or m.group(2) or "kbytes").lower()
            val = _value(m.group(3), 1 if unit == "bytes" else 1024)
            if val is None:
                continue
            at = _command_at(lines, i)
            flags = _flags(lines[at]) if at is not None else "a"
            put(_scope(lines, at) if at is not None else None, "H" in flags, val, flags, [line.strip()])
            continue
        flags = _flags(line)
        if flags and "l" in flags and "a" not in flags:
            # `ulimit -l`: the value is the next non-empty line, KiB
            nxt = next((l for l in lines[i + 1:i + 3] if l.strip()), "")
            val = _value(nxt, 1024)
            if val is None:
                continue
            put(_scope(lines, i), "H" in flags, val, flags, [line.strip(), nxt.strip()])
    return {k: r for k, r in by.items() if r.soft is not None or r.hard is not None}


def scan_ulimit(text: str) -> MemlockReading | None:
    """Memlock from pasted `ulimit -a`/`-Ha`/`-Sa` tables and `ulimit -l`/`-Hl` one-liners.
    Without -H a shell prints the soft limit, so a table with no command line above is the soft limit.
    When the paste shows a container's limit and the host's, the container's is returned (it is the one
    the training process gets) with the host's in `.host`; a reading not marked either way counts as
    the host's when a container's is there."""
    by = _scan_ulimit(text)
    if not by:
        return None
    container = by.get("container")
    host = by.get("host") or by.get(None)
    if container is None:
        return by.get(None) or by["host"]
    if host is not None:
        host.scope = "host"
        container.host = host
    return container
