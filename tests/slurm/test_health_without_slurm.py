"""`envdoctor health` where Slurm is not there to ask: the line a user reads names --no-slurm; and
`--check --no-slurm` says what it would do and why instead of printing nothing."""

import glob
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.cli import main


def _fake_sinfo(tmp_path: Path) -> str:
    """slurm-client installed, no configuration: sinfo's own fatal line, exit 1 (as Debian's sinfo prints it
    on a machine with no slurm.conf and no DNS SRV record)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sinfo = bin_dir / "sinfo"
    sinfo.write_text("#!/bin/sh\necho 'sinfo: error: _establish_config_source: failed to fetch config' >&2\n"
                     "echo 'sinfo: fatal: Could not establish a configuration source' >&2\nexit 1\n")
    sinfo.chmod(0o755)
    return str(bin_dir)


def test_slurm_without_configuration_is_one_line_naming_no_slurm(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_sinfo(tmp_path) + ":/usr/bin:/bin")
    r = CliRunner().invoke(main, ["health", "--node", "n1"])
    assert r.exit_code == 2, r.output
    lines = r.output.splitlines()
    assert len(lines) == 1, r.output
    assert lines[0].startswith("envdoctor: error: ")
    assert "Could not establish a configuration source" in lines[0]  # Slurm's own words: why
    assert "envdoctor health --no-slurm" in lines[0]  # and what to do instead
    assert "Traceback" not in r.output


def test_slurm_not_installed_names_no_slurm_too(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo at all
    r = CliRunner().invoke(main, ["health", "--node", "n1"])
    assert r.exit_code == 2, r.output
    assert "sinfo not found" in r.output and "--no-slurm" in r.output and len(r.output.splitlines()) == 1


def _has_nvidia_device() -> bool:
    vendors = [Path(p).read_text().strip() for p in glob.glob("/sys/bus/pci/devices/*/vendor")]
    return "0x10de" in vendors or Path("/proc/driver/nvidia").exists()


@pytest.mark.skipif(_has_nvidia_device(), reason="this machine has an NVIDIA device: not a CPU node")
def test_check_no_slurm_prints_what_it_would_do_and_why():
    """This machine as a CPU node, judged on two GPU checks: healthy (they do not drain a CPU node), and
    --check says so; with --require-gpu it would exit 1 and names the check."""
    args = ["health", "--check", "--no-slurm", "--no-torch", "--only", "gpu_present,driver_loaded", "--node", "n1"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    first = r.output.splitlines()[0]
    assert first == ("nothing to do on n1: healthy, 2 check(s) judged (--no-slurm: Slurm is neither asked nor "
                     "changed); exit 0"), r.output
    assert "not drained on (no NVIDIA device: a CPU node" in r.output  # why the failed GPU checks do not count
    r = CliRunner().invoke(main, args + ["--require-gpu"])
    assert r.exit_code == 1, r.output
    assert r.output.startswith("would exit 1 on n1: ")
    assert "  fail: gpu_present: this machine has no NVIDIA GPU" in r.output


def test_health_help_says_what_check_prints_without_slurm():
    r = CliRunner().invoke(main, ["health", "--help"])
    assert "with --no-slurm, what it found and the exit status it would give" in " ".join(r.output.split())


def test_help_names_the_install_path_of_the_script():
    """slurm.conf names a script (slurmd gives it a bare environment); the help says where it goes."""
    r = CliRunner().invoke(main, ["health", "--help"])
    assert re.findall(r"HealthCheckProgram=(\S+)", r.output) == ["/usr/local/bin/envdoctor-health"]
