"""Pure parser for NVIDIA devices on the PCI bus: the probe's `pci_devices` section (one sysfs device
per line: `<slot> <vendor> <device> <class> [key=value ...]`) and `lspci -nn[k]` lines in pastes.

NVIDIA's vendor id is 10de. Class 0300 (VGA) and 0302 (3D controller) are GPUs; 0680 (other bridge)
is how an NVSwitch shows up. NVIDIA audio/USB functions of a graphics card are neither."""

from __future__ import annotations

import re

from envdoctor.facts.gpu import PciGpu

NVIDIA_VENDOR = "10de"


def is_gpu_class(pci_class: str | None) -> bool:
    return bool(pci_class) and pci_class.lower().startswith(("0300", "0302"))


def is_nvswitch_class(pci_class: str | None) -> bool:
    return bool(pci_class) and pci_class.lower().startswith("0680")


def parse_probe_pci(text: str) -> tuple[list[PciGpu], int]:
    """(NVIDIA GPUs, NVSwitch count) from the probe's pci_devices section."""
    gpus, switches = [], 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[1].lower() != NVIDIA_VENDOR:
            continue
        slot, _vendor, device, cls = parts[:4]
        kv = dict(p.split("=", 1) for p in parts[4:] if "=" in p)
        if is_nvswitch_class(cls):
            switches += 1
            continue
        if not is_gpu_class(cls):
            continue
        gpus.append(PciGpu(
            slot=slot.lower(), device_id=device.lower(), pci_class=cls.lower(), driver=kv.get("driver"),
            link_speed=kv.get("current_link_speed"), max_link_speed=kv.get("max_link_speed"),
            link_width=_int(kv.get("current_link_width")), max_link_width=_int(kv.get("max_link_width"))))
    return gpus, switches


def _int(v: str | None) -> int | None:
    return int(v) if v and v.isdigit() else None


# `lspci -nn`: "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [...] [10de:2204] (rev a1)"
_LSPCI = re.compile(
    r"^(?P<slot>(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-9a-fA-F])\s+.*?\[(?P<cls>[0-9a-fA-F]{4})\]:"
    r".*\[(?P<vendor>[0-9a-fA-F]{4}):(?P<device>[0-9a-fA-F]{4})\]")
_DRIVER_IN_USE = re.compile(r"^\s+Kernel driver in use:\s*(\S+)")


def parse_lspci(text: str) -> tuple[list[PciGpu], int] | None:
    """(NVIDIA GPUs, NVSwitch count) from `lspci -nn` / `lspci -nnk` lines; None when there are none
    (a paste without lspci output says nothing about the bus)."""
    gpus, switches, seen, cur = [], 0, False, None
    for line in text.splitlines():
        m = _LSPCI.match(line)
        if m:
            seen = True
            cur = None
            if m.group("vendor").lower() != NVIDIA_VENDOR:
                continue
            slot = m.group("slot").lower()
            slot = slot if slot.count(":") == 2 else "0000:" + slot
            if is_nvswitch_class(m.group("cls")):
                switches += 1
            elif is_gpu_class(m.group("cls")):
                cur = PciGpu(slot=slot, device_id=m.group("device").lower(), pci_class=m.group("cls").lower())
                gpus.append(cur)
            continue
        d = _DRIVER_IN_USE.match(line)
        if d and cur is not None:
            cur.driver = d.group(1)
    return (gpus, switches) if seen else None
