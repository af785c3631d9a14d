"""Writing a report file whole or not at all: a temporary file beside it, fsync, then rename, so a
reader (the node exporter's textfile collector, a CI step) never sees half a file."""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from envdoctor.errors import UserError


def write_report(path: Path, text: str, write_file: Callable[[Path, str], None] | None = None) -> None:
    """Write a report where the user asked: atomically to a regular file (or a new name), through to a
    FIFO, a device or a descriptor (/dev/stdout, /dev/fd/N) — replacing those with a regular file would
    leave a CI reader waiting, or (as root) put a plain file where /dev/stdout or /dev/null was.
    `write_file` writes the regular file (default: write_atomic)."""
    where = str(path)
    m = re.fullmatch(r"/dev/(stdout|stderr)|/(?:dev|proc/self)/fd/(\d{1,6})", where)
    if m:
        fd = {"stdout": 1, "stderr": 2}[m.group(1)] if m.group(1) else int(m.group(2))
        stream = {1: sys.stdout, 2: sys.stderr}.get(fd)
        if stream is not None:  # the stream the text report went to: same order, same buffer
            stream.write(text)
            stream.flush()
            return
        _write_fd(fd, text, where, close=False)
        return
    try:
        # not through a symlink: one planted in a shared folder is replaced as before, never written through
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UserError(f"{where}: cannot write there: {e.strerror}") from None
    if st is None or stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
        (write_file or write_atomic)(Path(path), text)
        return
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"{where}: is a directory")
    try:
        # O_NONBLOCK: a FIFO with no reader is an error now, not a wait without end
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as e:
        why = "a FIFO with no reader" if e.errno == errno.ENXIO else e.strerror
        raise UserError(f"{where}: cannot write there: {why}") from None
    os.set_blocking(fd, True)  # a reader is there: let it take the report at its pace
    _write_fd(fd, text, where, close=True)


def _write_fd(fd: int, text: str, where: str, close: bool) -> None:
    data = text.encode("utf-8")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as e:
        raise UserError(f"{where}: cannot write there: {e.strerror}") from None
    finally:
        if close:
            os.close(fd)


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
