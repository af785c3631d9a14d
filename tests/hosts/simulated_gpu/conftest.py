"""A SIMULATED GPU host (see simhost.py): the tests need a private mount namespace and gcc."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def _namespace_refused() -> str | None:
    """Why this kernel/user may not make a private mount namespace with a tmpfs in it, or None."""
    if not shutil.which("unshare"):
        return "unshare (util-linux) is not installed"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                        "mount -t tmpfs simulated-check /mnt"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"this kernel or user forbids a private mount namespace: {r.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="session")
def simulation_ready():
    why = _namespace_refused()
    if why:
        pytest.skip(f"the simulated GPU host needs a private mount namespace (root, unshare): {why}")
    if not shutil.which("gcc"):
        pytest.skip("the simulated GPU host builds its stub libcuda/libnvidia-ml with gcc, which is missing")
