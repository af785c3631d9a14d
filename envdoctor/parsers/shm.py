"""Shared memory (/dev/shm): `df -k /dev/shm` (the probe), pasted `df -h` (64M, 158G: powers of 1024),
the `size=` option of /proc/mounts lines, and DataLoader's "bus error ... insufficient shared memory".
Pure functions of text; sizes in bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SUFFIX = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


@dataclass
class DfRow:
    filesystem: str
    size_bytes: int | None
    used_bytes: int | None
    mount: str
    line: str


@dataclass
class ShmReading:
    size_bytes: int | None
    used_bytes: int | None
    filesystem: str
    source: str
    line: str


def human_bytes(value: str) -> int | None:
    """df -h sizes: "64M", "158G", "1.5G", "16K", "0"."""
    m = re.fullmatch(r"(\d+(?:[.,]\d+)?)([BKMGTP]?)(?:i?B)?", value.strip(), re.IGNORECASE)
    if not m:
        return None
    return int(float(m.group(1).replace(",", ".")) * _SUFFIX[m.group(2).upper()])


# Filesystem  Size|1K-blocks  Used  Avail  Use%  Mounted on
_ROW = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+%|-)\s+(/\S*)\s*$")
_HEADER = re.compile(r"^Filesystem\s+(\S+)\s+Used", re.IGNORECASE)


def parse_df(text: str) -> list[DfRow]:
    """Every row of df output. Units follow the header above the row ("1K-blocks", "1024-blocks",
    "1M-blocks", "Size"); rows without a header are read only when their sizes carry a suffix (df -h)."""
    rows = []
    unit: int | None = None  # bytes per block; None = human sizes with suffixes
    have_header = False
    lines = text.splitlines()
    for i, line in enumerate(lines):
        h = _HEADER.match(line.strip())
        if h:
            have_header = True
            col = h.group(1).lower()
            m = re.match(r"(\d+)([km]?)-blocks", col)
            unit = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2}[m.group(2)] if m else None
            continue
        s = line.strip()
        # df wraps a long filesystem name onto its own line; join it with the numbers below
        if s and len(s.split()) == 1 and i + 1 < len(lines) and len(lines[i + 1].split()) == 5:
            continue
        if i > 0 and len(s.split()) == 5 and len(lines[i - 1].split()) == 1:
            s = lines[i - 1].strip() + " " + s
        m = _ROW.match(s)
        if not m:
            continue
        fs, size, used, mount = m.group(1), m.group(2), m.group(3), m.group(6)
        if unit is not None and have_header:
            if not (size.isdigit() and used.isdigit()):
                continue
            size_b, used_b = int(size) * unit, int(used) * unit
        else:
            if not have_header and size.isdigit():
                continue  # a bare number without a header: block size unknown
            size_b, used_b = human_bytes(size), human_bytes(used)
        rows.append(DfRow(fs, size_b, used_b, mount, line.strip()))
    return rows


def shm_from_df(text: str, source: str = "df") -> list[ShmReading]:
    """The /dev/shm rows of df output, in order."""
    return [ShmReading(r.size_bytes, r.used_bytes, r.filesystem, source, r.line)
            for r in parse_df(text) if r.mount == "/dev/shm"]


def container_shm_mounts(text: str) -> list[str]:
    """A docker host's df shows each container's own shm tmpfs under .../containers/<id>/mounts/shm."""
    return [r.line for r in parse_df(text) if re.search(r"/containers/[0-9a-f]+/mounts/shm$", r.mount)]


_MOUNT = re.compile(r"^(\S+)\s+/dev/shm\s+tmpfs\s+(\S+)\s+\d+\s+\d+\s*$")


def shm_from_mounts(text: str) -> ShmReading | None:
    """The last /dev/shm tmpfs line of /proc/mounts (the one on top). Without `size=` the kernel's default
    (half of RAM) applies, which the mount line does not state: size stays unknown."""
    found = None
    for line in text.splitlines():
        m = _MOUNT.match(line.strip())
        if m:
            size = None
            opt = re.search(r"(?:^|,)size=(\d+)([kmgKMG%]?)(?:,|$)", m.group(2))
            if opt and opt.group(2) != "%":
                size = int(opt.group(1)) * _SUFFIX[opt.group(2).upper()]
            found = ShmReading(size, None, m.group(1), "/proc/mounts", line.strip())
    return found
