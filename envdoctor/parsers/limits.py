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
_ULIMIT_CMD = re.compile(r"\bulimit((?:\s+-[A-Za-z]+)+)\s*$")


def _flags(cmd_line: str) -> str | None:
    m = _ULIMIT_CMD.search(cmd_line)
    return m.group(1).replace("-", "").replace(" ", "") if m else None


def _preceding_flags(lines: list[str], i: int, reach: int = 30) -> str | None:
    for j in range(i - 1, max(-1, i - reach), -1):
        f = _flags(lines[j])
        if f is not None:
            return f
    return None


def scan_ulimit(text: str) -> MemlockReading | None:
    """Memlock from pasted `ulimit -a`/`-Ha`/`-Sa` tables and `ulimit -l`/`-Hl` one-liners.
    Without -H a shell prints the soft limit, so a table with no command line above is the soft limit."""
    lines = text.splitlines()
    r = MemlockReading()
    for i, line in enumerate(lines):
        m = _ULIMIT_A_LINE.match(line)
        if m:
            unit = (m.group(1) or m.group(2) or "kbytes").lower()
            val = _value(m.group(3), 1 if unit == "bytes" else 1024)
            if val is None:
                continue
            flags = _preceding_flags(lines, i) or "a"
            hard = "H" in flags
            if hard and r.hard is None:
                r.hard, r.lines = val, r.lines + [line.strip()]
                r.source = r.source or f"ulimit -{flags}"
            elif not hard and r.soft is None:
                r.soft, r.lines = val, r.lines + [line.strip()]
                r.source = r.source or f"ulimit -{flags}"
            continue
        flags = _flags(line)
        if flags and "l" in flags and "a" not in flags:
            # `ulimit -l`: the value is the next non-empty line, KiB
            nxt = next((l for l in lines[i + 1:i + 3] if l.strip()), "")
            val = _value(nxt, 1024)
            if val is None:
                continue
            ev = [line.strip(), nxt.strip()]
            if "H" in flags and r.hard is None:
                r.hard, r.lines = val, r.lines + ev
                r.source = r.source or f"ulimit -{flags}"
            elif "H" not in flags and r.soft is None:
                r.soft, r.lines = val, r.lines + ev
                r.source = r.source or f"ulimit -{flags}"
    return r if (r.soft is not None or r.hard is not None) else None


# Verbs/NCCL failures that a small locked-memory limit causes (pinning RDMA buffers needs memlock).
_RDMA_ERR = re.compile(r"ibv_(?:create_qp|create_cq|reg_mr|reg_dmabuf_mr)\b[^\n]*\bfail|\bfail\w*[^\n]*\bibv_(?:create_qp|create_cq|reg_mr)",
                       re.IGNORECASE)
_NCCL_SYSTEM = re.compile(r"unhandled system error", re.IGNORECASE)


def scan_rdma_errors(text: str) -> list[str]:
    """Verbatim lines of ibv_* failures; NCCL's generic "unhandled system error" only alongside one."""
    hits = [l.strip() for l in text.splitlines() if _RDMA_ERR.search(l)]
    if hits:
        hits += [l.strip() for l in text.splitlines() if _NCCL_SYSTEM.search(l)]
    return hits
