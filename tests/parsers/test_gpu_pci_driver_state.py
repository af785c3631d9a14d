"""PCI, /proc/driver/nvidia/version, /proc/modules, systemd, dpkg and apt-history parsers."""

import pytest

from envdoctor.parsers import driver_state as ds
from envdoctor.parsers.pci import parse_lspci, parse_probe_pci
from tests.corpus import constructed_body, corpus_body


@pytest.mark.parametrize("name,version,open_module", [
    ("open-525.60.11-archlinux-no-date.txt", "525.60.11", True),
    ("proprietary-384.98-ubuntu.txt", "384.98", False),
    ("proprietary-470.223.02-ubuntu20.04.txt", "470.223.02", False),
    ("proprietary-520.56.06-debian.txt", "520.56.06", False),
])
def test_proc_driver_version(name, version, open_module):
    pv = ds.parse_proc_version(corpus_body(f"proc-driver-version/{name}"))
    assert (pv.version, pv.open_module) == (version, open_module)
    assert pv.line.startswith("NVRM version: NVIDIA UNIX")


def test_proc_version_inside_pastes():
    pv = ds.parse_proc_version(corpus_body("errors/torch-driver-too-old-11040-with-proc-version.txt"))
    assert pv.version == "470.223.02"
    assert ds.parse_proc_version(corpus_body("errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt")).version \
        == "520.56.06"


def test_probe_pci_hgx():
    gpus, switches = parse_probe_pci(constructed_body("gpu/pci-devices-hgx-8gpu-4nvswitch.txt"))
    assert (len(gpus), switches) == (8, 4)  # the 10de audio function (0403) is neither
    assert {g.device_id for g in gpus} == {"2330"} and {g.driver for g in gpus} == {"nvidia"}
    last = gpus[-1]
    assert (last.slot, last.link_width, last.max_link_width, last.link_speed) == ("0000:db:00.0", 8, 16, "32.0_GT/s_PCIe")


def test_probe_pci_nouveau_and_no_gpu():
    gpus, switches = parse_probe_pci(constructed_body("gpu/pci-devices-nouveau.txt"))
    assert [(g.slot, g.pci_class, g.driver) for g in gpus] == [("0000:01:00.0", "030000", "nouveau")]
    assert switches == 0
    # this sandbox's real sysfs listing (virtio devices only): no NVIDIA GPU
    real = "0000:00:00.0 8086 0d57 060000\n0000:00:01.0 1af4 1045 ffff00 driver=virtio-pci\n"
    assert parse_probe_pci(real) == ([], 0)


def test_lspci():
    gpus, switches = parse_lspci(constructed_body("gpu/paste-lspci-nvidia-smi-no-devices.txt"))
    assert [(g.slot, g.device_id, g.pci_class, g.driver) for g in gpus] == [
        ("0000:17:00.0", "20b5", "0302", "nvidia"), ("0000:65:00.0", "20b5", "0302", "nvidia")]
    assert parse_lspci("no lspci output here") is None


def test_proc_modules():
    mods = ds.parse_proc_modules(constructed_body("gpu/proc-modules-nvidia.txt"))
    assert mods[:4] == ["nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nvidia"]
    assert "nouveau" in ds.parse_proc_modules(constructed_body("gpu/proc-modules-nouveau.txt"))


def test_systemd_show():
    units = ds.parse_systemd_show(constructed_body("gpu/systemctl-show-fabricmanager-failed.txt"))
    assert ds.unit_state(units, "nvidia-fabricmanager.service") == (True, "failed")
    assert ds.unit_state(units, "nvidia-persistenced.service") == (True, "active")
    assert ds.unit_state(units, "nvidia-dcgm.service") == (False, "inactive")
    assert ds.unit_state(units, "absent.service") == (None, None)


def test_dpkg_and_library_versions():
    pkgs = ds.parse_dpkg(constructed_body("gpu/dpkg-query-nvidia-535.txt"))
    assert pkgs["nvidia-utils-535"] == "535.183.01-0ubuntu0.22.04.1" and pkgs["cuda-toolkit-12-4"] == "12.4.1-1"
    assert ds.library_versions(pkgs)[0] == ("libnvidia-compute-535", "535.183.01")
    real = ds.parse_dpkg(corpus_body("errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt"))
    assert real == {"nvidia-smi": "525.85.12-1"}
    assert ds.library_versions(real) == [("nvidia-smi", "525.85.12")]


def test_apt_history_upgrade_lines():
    lines = ds.find_driver_upgrades(corpus_body("errors/nvml-driver-library-version-mismatch-unattended-upgrade.txt"))
    assert lines == ["Commandline: /usr/bin/unattended-upgrade",
                     "Upgrade: libnvidia-common-460:amd64 (460.56-0ubuntu0.20.04.1, 460.73.01-0ubuntu0.20.04.1)"]
    assert ds.upgraded_versions(lines[1]) == ("460.56", "460.73.01")


def test_nvswitch_nodes():
    assert ds.nvswitch_nodes(constructed_body("gpu/dev-nvidia-nvswitch.txt")) == [
        "/dev/nvidia-nvswitch0", "/dev/nvidia-nvswitch1", "/dev/nvidia-nvswitch2", "/dev/nvidia-nvswitch3"]
