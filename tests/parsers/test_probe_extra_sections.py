"""Sections of the probe beyond the classic tools: the CUDA driver API via ctypes, /sys/module/nvidia,
apt history, and the container runtime hook's version."""

import sys

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.hosts.transport import LocalTransport
from envdoctor.parsers.cuda_env import parse_cuda_driver_api
from tests.corpus import corpus_body


def test_driver_api_is_not_called_without_a_driver():
    # Real: this machine has no NVIDIA device nodes and no driver, so the probe does not start an
    # interpreter to ask libcuda; the section says so and the facts stay unknown.
    import glob
    import os

    if glob.glob("/dev/nvidia*") or os.path.exists("/proc/driver/nvidia"):
        pytest.skip("this machine has an NVIDIA driver")
    b = gather(LocalTransport(), python=sys.executable, no_torch=True)
    assert b.sections["cuda_driver_api"].error == "not-found"
    t = facts_from_bundle(b).torch
    assert t.driver_api_version is None and t.cu_init is None and t.libcuda_error is None


def test_libcuda_missing_line():
    # The probe's line when the driver's library is absent (seen on this machine before the probe began
    # to skip the call where no driver shows).
    out = "libcuda: OSError: libcuda.so.1: cannot open shared object file: No such file or directory\n"
    assert parse_cuda_driver_api(out) == {
        "libcuda_error": "OSError: libcuda.so.1: cannot open shared object file: No such file or directory"}


def test_driver_api_lines():
    # Constructed: the probe's own line format (ours), with the values a CUDA 12.4 driver returns.
    out = "cuDriverGetVersion: 12040\ncuInit: 0 CUDA_SUCCESS: no error\ncuDeviceGetCount: 8\n"
    assert parse_cuda_driver_api(out) == {"driver_api_version": 12040, "cu_init": "0 CUDA_SUCCESS: no error"}
    facts = facts_from_bundle(Bundle(sections={"cuda_driver_api": Section(stdout=out, rc=0)}))
    assert facts.torch.driver_cuda_found == 12040


def test_cuinit_802_is_recognised_as_fabric_manager_symptom():
    # Constructed: cuInit's name and string for error 802 as the CUDA driver API defines them.
    out = ("cuDriverGetVersion: 12020\n"
           "cuInit: 802 CUDA_ERROR_SYSTEM_NOT_READY: system not yet initialized\n")
    facts = facts_from_bundle(Bundle(sections={"cuda_driver_api": Section(stdout=out, rc=0)}))
    assert facts.torch.cu_init.startswith("802")
    assert any(e.kind == "cuda_system_not_ready_802" for e in facts.torch.errors)


def test_toolkit_hook_version_section():
    body = corpus_body("container-config/nvidia-container-toolkit-version-1.17.0.txt")
    facts = facts_from_bundle(Bundle(sections={"nvidia_container_toolkit_version": Section(stdout=body, rc=0)}))
    assert facts.container.nvidia_container_toolkit_version == "1.17.0"


def test_module_version_from_sys_when_proc_is_hidden():
    # Constructed: /sys/module/nvidia/version holds just the version string.
    b = Bundle(sections={"proc_driver_version": Section(error="not-found"),
                         "sys_module_nvidia_version": Section(stdout="550.54.15\n", rc=0)})
    g = facts_from_bundle(b).gpu
    assert g.kernel_module_loaded is True and g.kernel_module_version == "550.54.15"


def test_apt_history_section_feeds_upgrade_evidence():
    body = corpus_body("errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt")
    facts = facts_from_bundle(Bundle(sections={"apt_history": Section(stdout=body, rc=0)}))
    assert any("unattended-upgrade" in line for line in facts.gpu.driver_upgrade_lines)
