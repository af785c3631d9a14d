"""Report files: written whole, readable by a collector running as another user, yet within the umask."""

import os
import stat
import subprocess
import sys

import pytest

WRITE = "import sys; from pathlib import Path; from envdoctor.atomic import write_atomic; " \
        "write_atomic(Path(sys.argv[1]), 'envdoctor_up 1\\n')"


@pytest.mark.parametrize("mask,want", [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_mode_follows_the_umask(tmp_path, mask, want):
    # The umask is set in a child process: the test's own process keeps its own.
    path = tmp_path / "r.prom"
    r = subprocess.run([sys.executable, "-c", WRITE, str(path)], capture_output=True, text=True,
                       preexec_fn=lambda: os.umask(mask), cwd=os.getcwd())
    assert r.returncode == 0, r.stderr
    assert path.read_text() == "envdoctor_up 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == want
    assert [p.name for p in tmp_path.iterdir()] == ["r.prom"]  # no temporary file left
