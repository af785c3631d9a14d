"""`envdoctor health` on this machine, for real: where no NVIDIA device is present at all (a CPU node),
the GPU checks do not fail the health check unless --require-gpu says the node is a GPU node."""

import glob
from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import main


def _has_nvidia_device() -> bool:
    vendors = [Path(p).read_text().strip() for p in glob.glob("/sys/bus/pci/devices/*/vendor")]
    return "0x10de" in vendors or Path("/proc/driver/nvidia").exists()


@pytest.mark.skipif(_has_nvidia_device(), reason="this machine has an NVIDIA device: not a CPU node")
def test_cpu_node_is_not_failed_on_gpu_checks_unless_required():
    args = ["health", "--no-slurm", "--no-torch", "--only", "gpu_present,driver_loaded"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and r.output == "", r.output
    r = CliRunner().invoke(main, args + ["--require-gpu"])
    assert r.exit_code == 1, r.output
    assert "gpu_present: this machine has no NVIDIA GPU" in r.output
