"""Writing a report file whole or not at all: a temporary file beside it, fsync, then rename, so a
reader (the node exporter's textfile collector, a CI step) never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from envdoctor.errors import UserError


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    if not path.parent.is_dir():
        raise UserError(f"{path}: its directory does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise UserError(f"{path}: cannot write there: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp's 0600 would hide it from a collector running as another user; the umask still has the
        # last word, as for any file the user creates (umask 077: reports with evidence stay private).
        os.chmod(tmp, 0o644 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def umask() -> int:
    """The process's umask (reading it means setting it: it is put back at once)."""
    cur = os.umask(0)
    os.umask(cur)
    return cur
