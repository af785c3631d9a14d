import hashlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support importable


def shm_size() -> int:
    st = os.statvfs("/dev/shm")
    return st.f_blocks * st.f_frsize


def etc_fingerprint() -> str:
    """Every entry of this machine's /etc by path, type, mode, size and mtime (cheap: no contents
    read; any write changes the mtime). Nothing is excluded: the tests write only inside test hosts'
    overlays, so any change here is a test that escaped."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk("/etc"):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            h.update(f"{p}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            if os.path.islink(p):
                # A write through a link (/etc/os-release -> /usr/lib/os-release) lands outside /etc,
                # in a file the test hosts share with this machine: fingerprint the target too.
                try:
                    t = os.stat(p)
                except OSError:
                    continue
                h.update(f"->{os.path.realpath(p)}\0{t.st_mode}\0{t.st_size}\0{t.st_mtime_ns}\n".encode())
    return h.hexdigest()


@pytest.fixture(scope="session", autouse=True)
def machine_unchanged():
    """The suite leaves this machine as it found it: the size of its /dev/shm and its /etc."""
    before = (shm_size(), etc_fingerprint())
    yield
    after = (shm_size(), etc_fingerprint())
    assert after[0] == before[0], f"the tests resized this machine's /dev/shm: {before[0]} -> {after[0]} bytes"
    assert after[1] == before[1], "the tests changed this machine's /etc (an entry's mode, size or mtime)"
