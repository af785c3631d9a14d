"""build_gpu_facts on whole bundles: probe sections, pastes, and the None (unknown) vs empty/False
(known absent) rule."""

import glob
import shutil

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts.gpu import build_gpu_facts
from envdoctor.hosts.transport.local import LocalTransport
from tests.corpus import DATA, constructed_body, corpus_body


def sec(stdout="", rc=0, error=None, stderr="", cmd=""):
    return Section(cmd=cmd, rc=rc if error is None else None, stdout=stdout, stderr=stderr, error=error)


def paste(*rels):
    return Bundle(pastes=["\n".join(corpus_body(r) for r in rels)])


def test_this_machine_for_real():
    """The real probe on this machine: facts must agree with what the machine has."""
    f = build_gpu_facts(gather(LocalTransport(), no_torch=True))
    has_nvidia_pci = any(open(p).read().strip() == "0x10de" for p in glob.glob("/sys/bus/pci/devices/*/vendor"))
    if not has_nvidia_pci:
        assert f.pci_gpus == [] and f.known_no_gpu
    if shutil.which("nvidia-smi") is None:
        assert f.nvidia_smi_available is False and f.gpus == []
    if not glob.glob("/proc/driver/nvidia/version"):
        assert f.kernel_module_loaded is False and f.kernel_module_version is None


def test_paste_without_nvidia_smi_block_is_unknown():
    f = build_gpu_facts(paste("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt"))
    assert (f.gpus, f.pci_gpus, f.nvidia_smi_available, f.kernel_module_loaded, f.xid_events) == \
        (None, None, None, None, None)
    assert f.errors_seen == []


def test_probe_without_nvidia_smi_is_evidence():
    # constructed: a probe bundle of a GPU-less host (sections as the probe writes them when tools are missing)
    b = Bundle(sections={
        "nvidia_smi": sec(error="not-found"), "nvidia_smi_xml": sec(error="not-found"),
        "proc_driver_version": sec(error="not-found"),
        "pci_devices": sec("0000:00:00.0 8086 0d57 060000\n0000:00:03.0 1af4 1041 020000 driver=virtio-pci\n"),
        "kernel_log": sec("", cmd="dmesg --ctime | grep -E 'NVRM|Xid|nvidia|nouveau'"),
        "nvswitch_devices": sec("\n")})
    f = build_gpu_facts(b)
    assert (f.gpus, f.pci_gpus, f.nvswitch_count, f.nvidia_smi_available, f.kernel_module_loaded) == ([], [], 0, False, False)
    assert (f.xid_events, f.fallen_off_bus, f.kernel_log_read) == ([], [], True)


def test_dmesg_permission_denied_is_unknown():
    # constructed: dmesg refused (kernel.dmesg_restrict=1) and no journal fallback
    b = Bundle(sections={"kernel_log": sec("", rc=1, stderr="dmesg: read kernel buffer failed: Operation not permitted\n",
                                           cmd="dmesg --ctime")})
    f = build_gpu_facts(b)
    assert (f.kernel_log_read, f.xid_events) == (False, None)


def test_probe_hgx_bundle():
    # constructed sections (see the files' first lines) around a real nvidia-smi -q of an H100
    b = Bundle(sections={
        "pci_devices": sec(constructed_body("gpu/pci-devices-hgx-8gpu-4nvswitch.txt")),
        "nvswitch_devices": sec(constructed_body("gpu/dev-nvidia-nvswitch.txt")),
        "proc_modules": sec(constructed_body("gpu/proc-modules-nvidia.txt")),
        "proc_driver_version": sec("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  590.48.01  Release Build  "
                                   "(dvs-builder@U22)  Mon Dec  1 00:00:00 UTC 2025\n"),
        "systemd_units": sec(constructed_body("gpu/systemctl-show-fabricmanager-failed.txt")),
        "dpkg_nvidia": sec(constructed_body("gpu/dpkg-query-nvidia-535.txt")),
        "nvidia_smi": sec(corpus_body("nvidia-smi-q/h100-80gb-hbm3-590.48.01.txt")),
    })
    f = build_gpu_facts(b)
    assert (len(f.pci_gpus), f.nvswitch_count, f.nvswitch_dev_nodes[0]) == (8, 4, "/dev/nvidia-nvswitch0")
    assert (f.kernel_module_loaded, f.kernel_module_version, f.kernel_module_open) == (True, "590.48.01", True)
    assert f.nvidia_modules == ["nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nvidia"] and f.nouveau_loaded is False
    assert (f.fabricmanager_installed, f.fabricmanager_state, f.fabricmanager_active) == (True, "failed", False)
    assert (f.persistenced_state, f.persistenced_active) == ("active", True)
    assert f.userspace_package_version == "535.183.01" and f.dpkg_packages["nvidia-driver-535"].startswith("535.183.01")
    assert (f.nvml_version, f.cuda_driver_version, f.gpus_source, len(f.gpus)) == ("590.48.01", "13.1", "nvidia-smi -q", 1)


def test_richest_layout_wins_and_others_fill_gaps():
    f = build_gpu_facts(paste("nvidia-smi-table/h100-mig-590.48.01-idle.txt", "nvidia-smi-misc/h100-mig-590.48.01-list-L.txt",
                              "nvidia-smi-q/h100-80gb-hbm3-590.48.01.txt"))
    assert f.gpus_source == "nvidia-smi -q" and len(f.gpus) == 1
    # the table and -q describe the same bus id; -L (no bus id) matches by index
    g = f.gpus[0]
    assert g.mig_instances == ["MIG 3g.40gb Device 0", "MIG 2g.20gb Device 1", "MIG 1g.10gb Device 2",
                               "MIG 1g.10gb Device 3"]
    assert g.pcie_gen_max == 5 and g.fabric_state == "Completed"


def test_mismatch_paste_with_proc_and_dpkg():
    f = build_gpu_facts(paste("errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt"))
    assert (f.nvml_mismatch, f.kernel_module_version, f.userspace_package_version) == (True, "520.56.06", "525.85.12")
    assert f.gpus == [] and f.nvidia_smi_error == "Failed to initialize NVML: Driver/library version mismatch"
    assert f.errors_seen == ["Failed to initialize NVML: Driver/library version mismatch"]


def test_unattended_upgrade_paste():
    f = build_gpu_facts(paste("errors/nvidia-smi-couldnt-communicate-after-unattended-upgrade.txt"))
    assert f.errors_seen[0].startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver")
    assert f.driver_upgrade_lines[0] == "Commandline: /usr/bin/unattended-upgrade"
    assert f.nvml_mismatch is None and f.kernel_module_loaded is None


def test_lost_gpu_paste():
    f = build_gpu_facts(paste("errors/nvidia-smi-unable-to-determine-device-handle.txt",
                              "dmesg-xid/xid-79-sxid-20034-nvswitch.txt"))
    assert [(g.pci_bus_id, g.lost) for g in f.gpus] == [("0000:91:00.0", True)]
    assert [e.xid for e in f.xid_events if not e.sxid] == [79] and len(f.fallen_off_bus) == 2


def test_api_mismatch_in_probe_kernel_log():
    b = Bundle(sections={"kernel_log": sec(constructed_body("gpu/dmesg-api-mismatch.txt"), cmd="dmesg --ctime"),
                         "nvidia_smi": sec("Failed to initialize NVML: Driver/library version mismatch\n"
                                           "NVML library version: 535.54\n", rc=18)})  # constructed nvidia-smi text
    f = build_gpu_facts(b)
    assert f.nvml_mismatch is True and f.gpus == [] and f.nvidia_smi_rc == 18
    assert (f.kernel_module_version, f.userspace_package_version) == ("530.30.02", "535.54")


def test_nouveau_bound_on_pci():
    b = Bundle(sections={"pci_devices": sec(constructed_body("gpu/pci-devices-nouveau.txt")),
                         "proc_modules": sec(constructed_body("gpu/proc-modules-nouveau.txt")),
                         "proc_driver_version": sec(error="not-found"), "nvidia_smi": sec(error="not-found")})
    f = build_gpu_facts(b)
    assert (f.nouveau_loaded, f.nouveau_bound, f.kernel_module_loaded, f.gpus) == (True, ["0000:01:00.0"], False, [])


def test_lspci_paste_and_no_devices():
    f = build_gpu_facts(Bundle(pastes=[constructed_body("gpu/paste-lspci-nvidia-smi-no-devices.txt")]))
    assert [p.slot for p in f.pci_gpus] == ["0000:17:00.0", "0000:65:00.0"] and f.gpus == []
    assert f.errors_seen == ["No devices were found"]


def test_cuda_802_in_torch_section():
    b = Bundle(sections={"torch": sec('{"is_available_error": "RuntimeError: CUDA error: system not yet initialized"}')})
    f = build_gpu_facts(b)  # constructed torch section JSON
    assert f.cuda_802_seen is True and f.errors_seen == ["RuntimeError: CUDA error: system not yet initialized"]
    assert build_gpu_facts(Bundle(pastes=[constructed_body("gpu/cuda-802-torch.txt")])).cuda_802_seen is True


def test_pci_link_fills_nvidia_smi_view():
    # constructed: sysfs says x8 of x16 for a GPU the nvidia-smi -L view has no link facts for
    b = Bundle(sections={"pci_devices": sec("0000:3b:00.0 10de 20b5 030200 current_link_width=8 max_link_width=16 "
                                            "driver=nvidia\n"),
                         "nvidia_smi": sec(corpus_body("nvidia-smi-table/h100-80gb-hbm3-590.48.01-load.txt")
                                           .replace("00000000:00:09.0", "00000000:3B:00.0"))})
    f = build_gpu_facts(b)
    g = f.gpus[0]
    assert (g.pcie_width_current, g.pcie_width_max, g.pci_device_id) == (8, 16, "20b5")

_KINDS = ["nvidia-smi-table", "nvidia-smi-q", "nvidia-smi-q-xml", "nvidia-smi-query-csv", "nvidia-smi-misc",
          "proc-driver-version", "dmesg-xid"]
_NOT_GPU_LISTS = {"h100-590.48.01-query-compute-apps-load.txt", "h200-mig-590.48.01-query-compute-apps.txt",
                  "h100-590.48.01-query-retired-pages.txt", "h200-590.48.01-topo-m.txt"}


@pytest.mark.parametrize("rel", sorted(f"{k}/{p.name}" for k in _KINDS for p in (DATA / "corpus" / k).glob("*.txt")))
def test_every_gpu_corpus_file_yields_facts(rel):
    """Guard: a new corpus file of these kinds must give some GPU fact (or be known to hold none)."""
    f = build_gpu_facts(paste(rel))
    kind, name = rel.split("/")
    if name in _NOT_GPU_LISTS:
        assert f.gpus is None
    elif kind == "proc-driver-version":
        assert f.kernel_module_version and f.kernel_module_loaded
    elif kind == "dmesg-xid":
        assert f.xid_events or f.fallen_off_bus
    elif name == "h100-590.48.01-version.txt":
        assert f.nvml_version == "590.48.01"
    else:
        assert f.gpus and all(g.name or g.index is not None for g in f.gpus)
