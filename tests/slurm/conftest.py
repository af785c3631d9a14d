import shutil
import tempfile
from pathlib import Path

import pytest

from tests.slurm.cluster import SlurmCluster, missing_binaries

SITE_CHECKS = Path(__file__).resolve().parent.parent / "data" / "constructed" / "checks"


@pytest.fixture(scope="session")
def slurm_cluster():
    """One real 3-node Slurm (munge, slurmctld, 3 slurmd) for the whole session; tests that change a
    node's state put it back."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Slurm not installed ({', '.join(missing)} missing; tests/run.sh installs Debian's "
                    "slurmctld slurmd slurm-client munge)")
    root = Path(tempfile.mkdtemp(prefix="envdoctor-slurm-"))
    try:
        with SlurmCluster(root, nodes=3) as c:
            yield c
    finally:
        shutil.rmtree(root, ignore_errors=True)
