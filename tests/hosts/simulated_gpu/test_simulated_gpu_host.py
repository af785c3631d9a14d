"""The live `envdoctor check` path (probe -> facts -> checks) on SIMULATED GPU hosts: recorded real outputs
served inside a private mount namespace (simhost.py, scenarios.py). Each scenario's root cause must be
named first, and a healthy host must have no failed check."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.hosts.simulated_gpu import scenarios
from tests.hosts.simulated_gpu.simhost import build, in_namespace, run_check

pytestmark = pytest.mark.usefixtures("simulation_ready")


def _checks(host: dict) -> dict[str, dict]:
    return {c["id"]: c for c in host["checks"]}


def _failed(host: dict) -> list[str]:
    return [f"{c['id']}: {c['summary']}" for c in host["checks"] if c["status"] == "fail"]


def _named_first(host: dict) -> tuple[str | None, str]:
    """The report's first check (the root cause) and the cause id it names."""
    first = host["checks"][0]
    assert first["id"] == "root_cause", host["checks"][0]
    return first["cause_id"], first["status"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Each scenario's report, made once (a run is one probe: a few seconds)."""
    made = {}

    def report(name: str) -> dict:
        if name not in made:
            made[name] = run_check(getattr(scenarios, name)(), tmp_path_factory.mktemp(name))
        return made[name]

    return report


def test_healthy_h100_has_no_failed_check_and_no_root_cause(reports):
    host = reports("healthy_h100")
    assert host["status"] in ("pass", "warn"), host.get("error")
    assert _failed(host) == []
    assert _named_first(host) == (None, "pass")
    checks = _checks(host)
    # the probe saw the simulated host, not this machine: the recorded GPU, driver and CUDA, through every path
    assert host["headline"]["gpu"] == "NVIDIA H100 80GB HBM3" and host["headline"]["gpu_count"] == 1
    assert host["headline"]["driver"] == "590.48.01" and host["headline"]["cuda_driver"] == "13.1"
    for cid in ("gpu_present", "driver_loaded", "nvml_version_mismatch", "torch_cuda_available", "torch_arch_support",
                "driver_cuda_compat"):
        assert checks[cid]["status"] == "pass", checks[cid]
    assert "590.48.01" in checks["driver_loaded"]["summary"]
    assert "13.1" in checks["driver_cuda_compat"]["summary"]


@pytest.mark.parametrize("scenario, cause", [
    ("driver_library_mismatch", "driver_library_mismatch"),
    ("uvm_missing", "uvm_missing"),
    ("driver_too_old", "driver_too_old"),
    ("exclusive_process_busy", "device_busy_exclusive"),
])
def test_root_cause_named_first(reports, scenario, cause):
    host = reports(scenario)
    assert _named_first(host) == (cause, "fail"), host["checks"][0]
    assert host["status"] == "fail"


def test_mismatch_evidence_is_the_hosts_own(reports):
    checks = _checks(reports("driver_library_mismatch"))
    assert "seen: Failed to initialize NVML: Driver/library version mismatch" in checks["root_cause"]["evidence"]
    assert checks["nvml_version_mismatch"]["status"] == "fail"


def test_uvm_missing_is_confirmed_by_the_missing_node(reports):
    ev = _checks(reports("uvm_missing"))["root_cause"]["evidence"]
    assert any(e.startswith("confirms: no /dev/nvidia-uvm") for e in ev), ev


def test_busy_gpu_is_not_blamed_on_the_wheel(reports):
    """Issue 17 item 3: a kernel that fails because the exclusive-process GPU is busy gets the busy GPU's fix,
    never another torch wheel (the sm_80 kernels are in this wheel)."""
    arch = _checks(reports("exclusive_process_busy"))["torch_arch_support"]
    fix = arch["fix"] or {"summary": "", "commands": []}
    assert "pip" not in " ".join(fix["commands"]) and "torch" not in fix["summary"], arch
    assert arch["cause_id"] in (None, "device_busy_exclusive"), arch


def test_uvm_missing_torch_check_agrees_with_the_root_cause(reports):
    """One diagnosis: the torch check names the cause the first line names, not "not determined"."""
    torch_check = _checks(reports("uvm_missing"))["torch_cuda_available"]
    assert torch_check["status"] == "fail" and "not determined" not in torch_check["summary"], torch_check


def _machine_views() -> dict:
    """What the simulation binds over, as this machine shows it outside any namespace."""
    def listing(path):
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return None

    def stat(path):
        try:
            st = os.stat(path)
            return st.st_size, st.st_mtime_ns, st.st_ino
        except FileNotFoundError:
            return None

    return {"dev": listing("/dev"), "proc_driver": listing("/proc/driver"), "pci": listing("/sys/bus/pci/devices"),
            "ldconfig_aux": listing("/var/cache/ldconfig"), "ld.so.cache": stat("/etc/ld.so.cache"),
            "aux_cache": stat("/var/cache/ldconfig/aux-cache"),
            "ldconfig_p": subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout}


def test_the_simulation_changes_nothing_outside_its_namespace(tmp_path):
    before = _machine_views()
    res = in_namespace(build(scenarios.uvm_missing(), tmp_path))
    assert res.returncode in (0, 1, 2), res.stderr[-2000:]
    assert _machine_views() == before


def test_stubs_answer_only_what_was_recorded(tmp_path):
    """The stub tools print the recording byte for byte, and say so when a command was never recorded."""
    plan = build(scenarios.healthy_h100(), tmp_path)
    nvidia_smi = tmp_path / "bin" / "nvidia-smi"
    table = subprocess.run([nvidia_smi], capture_output=True, text=True)
    assert (table.returncode, table.stdout) == (0, scenarios.corpus_body(scenarios.H100_TABLE))
    xml = subprocess.run([nvidia_smi, "-q", "-x"], capture_output=True, text=True)
    assert xml.returncode == 2 and xml.stdout == "" and "SIMULATION: no recording" in xml.stderr
    assert plan.exists() and "SIMULATION" in (tmp_path / "SIMULATION.txt").read_text()


def test_this_machines_own_nvidia_tools_do_not_answer(tmp_path):
    """On a machine with its own nvidia-smi, a simulated host without one has none (here: a fake on PATH)."""
    plan = build(scenarios.driver_too_old(), tmp_path / "host")
    real = tmp_path / "machine-bin"
    real.mkdir()
    (real / "nvidia-smi").write_text("#!/bin/sh\necho this machine: own nvidia-smi\n")
    (real / "nvidia-smi").chmod(0o755)
    p = json.loads(plan.read_text())
    p["env"]["PATH"] = f"{p['env']['PATH']}:{real}"
    p["argv"] = [sys.executable, "-c", "import shutil; print(shutil.which('nvidia-smi'), shutil.which('nvidia-ctk'))"]
    plan.write_text(json.dumps(p))
    res = in_namespace(plan)
    assert res.stdout.split() == ["None", str(tmp_path / "host" / "bin" / "nvidia-ctk")], res.stderr[-2000:]
    assert "own nvidia-smi" in subprocess.run([real / "nvidia-smi"], capture_output=True, text=True).stdout
