"""gpu_present, driver_loaded, nouveau, nvml_version_mismatch: from real outputs (corpus, this
machine) and constructed facts/sections (labelled)."""

import pytest

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import GpuFacts, HostFacts, SystemFacts
from envdoctor.facts.gpu import GpuInfo, PciGpu
from envdoctor.hosts.transport.local import LocalTransport
from envdoctor.models import Status
from tests.checks.support import paste, run, sec
from tests.corpus import constructed_body

# --- this machine (real probe) ------------------------------------------------------------------

def test_this_machine():
    facts = facts_from_bundle(gather(LocalTransport(), no_torch=True))
    r = run("gpu_present", facts)
    if facts.gpu.known_no_gpu:  # this development machine: no NVIDIA GPU at all
        assert r.status == Status.FAIL and r.summary == "this machine has no NVIDIA GPU"
        assert r.fix and r.cause
        for cid in ("driver_loaded", "nouveau", "persistence_mode", "mig_config", "ecc_errors", "pcie_link"):
            assert run(cid, facts).status == Status.SKIP, cid
    else:
        assert r.status != Status.ERROR
    for cid in ("gpu_present", "driver_loaded", "nouveau", "nvml_version_mismatch", "persistence_mode",
                "fabric_manager", "mig_config", "xid_errors", "ecc_errors", "throttling", "pcie_link"):
        assert run(cid, facts).status != Status.ERROR, cid


# --- gpu_present ------------------------------------------------------------------------------

@pytest.mark.parametrize("rel,n", [("nvidia-smi-q-xml/tesla-t4-515.105.01.txt", 1),
                                   ("nvidia-smi-table/gtx-titan-325.15-lost-gpu-MB-units.txt", 3),
                                   ("nvidia-smi-misc/quadro-rtx4000-x2-list-L.txt", 2)])
def test_gpu_present_from_real_outputs(rel, n):
    r = run("gpu_present", paste(rel))
    assert r.status == Status.PASS and r.summary.startswith(f"{n} NVIDIA GPU(s)")
    assert len(r.evidence) == n


def test_gpu_present_partial_xml_says_attached_count():
    r = run("gpu_present", paste("nvidia-smi-q-xml/a100-sxm4-80gb-mig-535.54.03.txt"))
    assert r.status == Status.PASS
    assert "nvidia-smi reports 4 attached GPUs; the evidence holds 1" in r.evidence


def test_gpu_present_lost_gpu():
    r = run("gpu_present", paste("errors/nvidia-smi-unable-to-determine-device-handle.txt",
                                          "dmesg-xid/xid-79-sxid-20034-nvswitch.txt"))
    assert r.status == Status.FAIL and r.summary == "1 GPU(s) lost by the driver"
    assert "Unable to determine the device handle for GPU0000:91:00.0: Unknown Error" in r.evidence
    assert any("GPU has fallen off the bus" in e for e in r.evidence)


def test_gpu_present_on_pci_but_no_devices():
    r = run("gpu_present", paste(constructed=["gpu/paste-lspci-nvidia-smi-no-devices.txt"]))
    assert r.status == Status.FAIL and "on the PCI bus but not visible" in r.summary
    assert "No devices were found" in r.evidence
    assert any(e.startswith("not visible to NVML: 0000:17:00.0 (device 10de:20b5, driver nvidia)") for e in r.evidence)


def test_gpu_present_mismatch_points_at_root_check():
    r = run("gpu_present", paste("errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt"))
    assert r.status == Status.FAIL and r.cause_id == "driver_library_mismatch"


def test_gpu_present_container_sees_subset():
    # constructed facts: 2 GPUs on the host's PCI bus, 1 handed to this container
    facts = HostFacts(system=SystemFacts(in_container=True), gpu=GpuFacts(
        pci_gpus=[PciGpu(slot="0000:17:00.0", driver="nvidia"), PciGpu(slot="0000:65:00.0", driver="nvidia")],
        gpus=[GpuInfo(index=0, name="NVIDIA A100 80GB PCIe", pci_bus_id="00000000:17:00.0")]))
    r = run("gpu_present", facts)
    assert r.status == Status.WARN and r.summary == "1 of 2 GPUs visible in this container"
    facts.system.in_container = False
    assert run("gpu_present", facts).status == Status.FAIL


def test_gpu_present_unknown_without_evidence():
    r = run("gpu_present", paste("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt"))
    assert r.status == Status.UNKNOWN


# --- driver_loaded ----------------------------------------------------------------------------

def test_driver_loaded_couldnt_communicate_after_unattended_upgrade():
    r = run("driver_loaded", paste("errors/nvidia-smi-couldnt-communicate-after-unattended-upgrade.txt"))
    assert r.status == Status.FAIL
    assert r.evidence[0].startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver")
    assert "Upgrade: libnvidia-common-460:amd64 (460.73.01-0ubuntu0.20.04.1, 460.80-0ubuntu0.20.04.2)" in r.evidence
    # the packages changed under the running module: the knowledge base's mismatch, its fix a reboot
    assert r.cause_id == "driver_library_mismatch" and "unattended-upgrades" in r.cause
    assert r.fix.manual and "sudo reboot" in r.fix.commands


def test_driver_loaded_container_cli_driver_not_loaded():
    r = run("driver_loaded", paste("errors/nvidia-container-cli-nvml-driver-not-loaded-with-debug-log.txt"))
    assert r.status == Status.FAIL and "nvml error: driver not loaded" in r.evidence[0]


@pytest.mark.parametrize("rel,version", [("proc-driver-version/open-525.60.11-archlinux-no-date.txt", "525.60.11"),
                                         ("proc-driver-version/proprietary-384.98-ubuntu.txt", "384.98")])
def test_driver_loaded_from_proc_version(rel, version):
    r = run("driver_loaded", paste(rel))
    assert r.status == Status.PASS and r.summary == f"nvidia kernel module loaded ({version})"


def test_driver_not_loaded_nouveau():
    # constructed probe sections: GPU bound to nouveau, no nvidia module
    b = Bundle(sections={"pci_devices": sec(constructed_body("gpu/pci-devices-nouveau.txt")),
                         "proc_modules": sec(constructed_body("gpu/proc-modules-nouveau.txt")),
                         "proc_driver_version": sec(error="not-found"), "nvidia_smi": sec(error="not-found")})
    facts = facts_from_bundle(b)
    r = run("driver_loaded", facts)
    assert r.status == Status.FAIL and "nouveau" in r.cause
    assert r.evidence[0] == "1 NVIDIA GPU(s) on PCI, bound to: nouveau"
    n = run("nouveau", facts)
    assert n.status == Status.FAIL and n.fix.playbook == "blacklist-nouveau.yml"
    assert "GPU 0000:01:00.0 is bound to nouveau" in n.evidence
    g = run("gpu_present", facts)
    assert g.status == Status.FAIL and "nouveau" in g.cause


def test_nouveau_not_loaded():
    b = Bundle(sections={"proc_modules": sec(constructed_body("gpu/proc-modules-nvidia.txt"))})
    assert run("nouveau", facts_from_bundle(b)).status == Status.PASS
    assert run("nouveau", paste("nvidia-smi-table/titan-xp-450.57.txt")).status == Status.UNKNOWN


# --- nvml_version_mismatch --------------------------------------------------------------------

def test_mismatch_proc_vs_dpkg():
    r = run("nvml_version_mismatch", paste("errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt"))
    assert r.status == Status.FAIL and r.summary == "the kernel module and the driver's libraries are different versions"
    assert "loaded kernel module (/proc/driver/nvidia/version): 520.56.06" in r.evidence
    assert "user-space library package: 525.85.12" in r.evidence
    assert "520.56.06" in r.cause and "525.85.12" in r.cause
    assert r.fix.manual and any("reboot" in c for c in r.fix.commands)
    assert "unattended" in r.fix.commands[-1].lower() or "Unattended" in r.fix.commands[-1]


def test_mismatch_unattended_upgrade():
    r = run("nvml_version_mismatch", paste("errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt"))
    assert r.status == Status.FAIL
    assert "Commandline: /usr/bin/unattended-upgrade" in r.evidence
    assert "unattended-upgrades" in r.cause


def test_mismatch_from_kernel_api_message():
    b = Bundle(sections={"kernel_log": sec(constructed_body("gpu/dmesg-api-mismatch.txt"))})
    r = run("nvml_version_mismatch", facts_from_bundle(b))
    assert r.status == Status.FAIL
    assert "loaded kernel module (/proc/driver/nvidia/version): 530.30.02" in r.evidence
    assert "user-space library package: 535.54.03" in r.evidence


def test_no_mismatch_when_versions_agree():
    r = run("nvml_version_mismatch", paste("proc-driver-version/proprietary-520.56.06-debian.txt"))
    assert r.status == Status.UNKNOWN  # only one side known
    # constructed facts: module and nvidia-smi agree
    facts = HostFacts(gpu=GpuFacts(kernel_module_version="590.48.01", nvml_version="590.48.01", nvml_mismatch=False))
    assert run("nvml_version_mismatch", facts).status == Status.PASS
    facts.gpu.nvml_version = "590.44.01"
    assert run("nvml_version_mismatch", facts).status == Status.FAIL


def test_mismatch_pending_from_dpkg():
    # constructed: module 530.30.02 loaded, packages already at 535.183.01, nvidia-smi not run yet
    b = Bundle(sections={"proc_driver_version": sec("NVRM version: NVIDIA UNIX x86_64 Kernel Module  530.30.02  "
                                                    "Wed Feb 22 04:11:39 UTC 2023\n"),
                         "dpkg_nvidia": sec(constructed_body("gpu/dpkg-query-nvidia-535.txt"))})
    r = run("nvml_version_mismatch", facts_from_bundle(b))
    assert r.status == Status.FAIL and r.summary == "kernel module 530.30.02 but installed libraries 535.183.01"
    assert any("535.183.01" in e for e in r.evidence)


def test_collect_env_paste_counts_as_nvidia_smi_evidence():
    facts = paste("collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt")
    r = run("gpu_present", facts)
    assert r.status == Status.PASS and r.summary == "8 NVIDIA GPU(s) listed by collect_env (from nvidia-smi)"
    d = run("driver_loaded", facts)
    assert d.status == Status.PASS and d.evidence == ["Nvidia driver version: 525.60.13"]


def test_nouveau_loaded_but_idle():
    # constructed: nouveau module loaded while every NVIDIA GPU is bound to nvidia
    b = Bundle(sections={"pci_devices": sec(constructed_body("gpu/pci-devices-hgx-8gpu-4nvswitch.txt")),
                         "proc_modules": sec(constructed_body("gpu/proc-modules-nouveau.txt"))})
    r = run("nouveau", facts_from_bundle(b))
    assert r.status == Status.WARN and r.fix.playbook == "blacklist-nouveau.yml"
    assert r.cause_id == "nouveau_owns_device" and "not blacklisted" in r.cause
    assert r.fix.commands[0].startswith("printf 'blacklist nouveau")


def test_driver_unreachable_inside_container():
    # constructed facts: host module visible in /proc, torch inside a container without --gpus
    facts = HostFacts(system=SystemFacts(in_container=True), gpu=GpuFacts(
        kernel_module_loaded=True, kernel_module_version="550.54.15",
        errors_seen=["RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU "
                     "and installed a driver from http://www.nvidia.com/Download/index.aspx"]))
    r = run("driver_loaded", facts)
    assert r.status == Status.FAIL and "container" in r.summary and r.cause_id == "container_without_gpus"
    # never "reinstall the host driver and reboot": the container needs GPUs
    assert any("--gpus" in c for c in r.fix.commands) and "reboot" not in " ".join(r.fix.commands)
