"""The probe's diagnosis sections (Secure Boot, the module for the running kernel, dkms, NVML's init
code, WSL markers, cgroup device rules, RDMA devices, the CUDA libraries torch maps), run for real on
this machine, and the evidence they give the root-cause reasoning."""

import glob
import os
import sys

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.diagnosis.root_cause import evidence
from envdoctor.hosts.transport import LocalTransport

NEW = ("nvml_init", "secure_boot", "nvidia_modinfo", "nvidia_module_files", "dkms_status", "wsl_markers",
       "cgroup_devices", "infiniband")


def test_diagnosis_sections_are_collected_in_the_one_round_trip():
    b = gather(LocalTransport(), python=sys.executable, no_torch=True)
    for name in NEW:
        assert name in b.sections, name
        s = b.sections[name]
        assert s.error in (None, "not-found", "denied", "timeout") or s.error.startswith("probe error") is False, (name, s)
    f = facts_from_bundle(b)
    d = f.diagnosis
    # what this machine really has: no NVIDIA driver (checked the same way as the probe does)
    if not glob.glob("/dev/nvidia*") and not os.path.exists("/proc/driver/nvidia"):
        assert b.sections["nvml_init"].error == "not-found" and d.nvml_init is None
    ib = sorted(os.listdir("/sys/class/infiniband")) if os.path.isdir("/sys/class/infiniband") else []
    assert d.rdma_devices == ib
    if not os.path.isdir("/sys/firmware/efi"):
        assert d.secure_boot is False  # legacy BIOS boot: no Secure Boot
    # a probe bundle is no paste: nothing is listed as "recognised"
    assert d.recognised == []


def _bundle(**sections) -> Bundle:
    return Bundle(host="t", sections={k: Section(cmd=k, rc=0, stdout=v) for k, v in sections.items()})


def test_module_files_absent_for_the_running_kernel_is_evidence():
    # section shapes as the probe writes them: an empty find, the running kernel from uname
    f = facts_from_bundle(_bundle(nvidia_module_files="", uname="Linux 6.8.0-45-generic x86_64\n",
                                  proc_modules="ext4 1 0 - Live 0x0\n"))
    assert evidence(f, "module_absent_for_kernel")[0] is True
    assert "6.8.0-45-generic" in evidence(f, "module_absent_for_kernel")[1]


def test_secure_boot_and_dkms_kernel_change():
    f = facts_from_bundle(_bundle(secure_boot="SecureBoot enabled\n", uname="Linux 6.8.0-45-generic x86_64\n",
                                  dkms_status="nvidia/550.120, 6.5.0-41-generic, x86_64: installed\n"))
    assert evidence(f, "secure_boot_on") == (True, "SecureBoot enabled")
    ok, line = evidence(f, "kernel_changed")
    assert ok and "6.5.0-41-generic" in line and "6.8.0-45-generic" in line


def test_nvml_init_code_is_read_as_a_signature():
    f = facts_from_bundle(_bundle(nvml_init="nvmlInit_v2: 18 NVML_ERROR_LIB_RM_VERSION_MISMATCH (Driver/library version mismatch)\n"))
    assert f.diagnosis.nvml_init == "18 NVML_ERROR_LIB_RM_VERSION_MISMATCH"
    assert "nvml_library_mismatch" in {s.id for s in f.diagnosis.signatures}


def test_a_tools_own_answer_on_a_live_run_is_judged_by_its_facts_not_read_as_an_error():
    # docker's client on a host with no daemon: a paste of it names the cause; the probe's docker_info section
    # is docker_daemon.py's to judge, and neither a known nor an unknown error of the host
    no_daemon = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
    live = facts_from_bundle(_bundle(docker_info=no_daemon, kernel_log="Failed to load firmware for the webcam\n"))
    assert live.diagnosis.signatures == []
    pasted = facts_from_bundle(Bundle(host="t", pastes=[no_daemon]))
    assert "docker_daemon_unreachable" in [s.id for s in pasted.diagnosis.signatures]
