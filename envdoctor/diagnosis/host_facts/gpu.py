"""Build GpuFacts from a bundle: the probe's GPU/driver sections when present, and every block the
parsers recognise in the user's pastes (nvidia-smi in any layout, /proc/driver/nvidia/version,
dmesg lines, lspci, dpkg, apt history, error messages).

`None` stays "not known": a fact is only set from evidence. A probe section that ran and found
nothing (nvidia-smi "not-found", no 10de device on PCI) is evidence of absence, so it gives False/[].
"""

from __future__ import annotations

import re

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.facts.gpu import GpuFacts, GpuInfo, PciGpu, XidEvent
from envdoctor.parsers import driver_state as ds
from envdoctor.parsers import nvidia_smi as smi
from envdoctor.parsers.kernel_log import parse_kernel_log
from envdoctor.parsers.pci import parse_lspci, parse_probe_pci
from envdoctor.parsers.signatures import find_all

_SMI_SECTIONS = ("nvidia_smi_xml", "nvidia_smi", "nvidia_smi_list")
_SOURCE_RANK = {"nvidia-smi -q -x": 0, "nvidia-smi -q": 1, "nvidia-smi --query-gpu": 2, "nvidia-smi": 3,
                "nvidia-smi -L": 4}
# The signature of CUDA error 802 (the knowledge base recognises the message; this takes its line), also
# the kind nvidia_smi.find_errors gives its lines
_CUDA_802 = "cuda_system_not_ready_802"
# Errors that mean NVML could not list any GPU at that moment.
_NO_GPU_KINDS = {"no_driver_comm", "mismatch", "nvml_init", "no_devices", "no_driver", "no_library"}


def _ran(s: Section | None) -> bool:
    return s is not None and s.error is None


def _dedupe(items: list[str]) -> list[str]:
    seen, out = set(), []
    for i in items:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def build_gpu_facts(bundle: Bundle) -> GpuFacts:
    f = GpuFacts()
    _pci(bundle, f)
    _kernel_module(bundle, f)
    _nvidia_smi(bundle, f)
    _kernel_log(bundle, f)
    _services(bundle, f)
    _packages(bundle, f)
    _derive(f)
    return f


# --- PCI -------------------------------------------------------------------------------------


def _pci(bundle: Bundle, f: GpuFacts) -> None:
    s = bundle.get("pci_devices")
    if _ran(s) and s.stdout.strip():
        f.pci_gpus, f.nvswitch_count = parse_probe_pci(s.stdout)
    else:
        for paste in bundle.pastes:
            r = parse_lspci(paste)
            if r is not None:
                f.pci_gpus = (f.pci_gpus or []) + r[0]
                f.nvswitch_count = (f.nvswitch_count or 0) + r[1]
    nodes = bundle.get("nvswitch_devices")
    if _ran(nodes):
        f.nvswitch_dev_nodes = ds.nvswitch_nodes(nodes.stdout)
        if f.nvswitch_dev_nodes:
            f.nvswitch_count = max(f.nvswitch_count or 0, len(f.nvswitch_dev_nodes))
    if f.pci_gpus is not None:
        f.nouveau_bound = [g.slot for g in f.pci_gpus if g.driver == "nouveau"]


# --- kernel module ---------------------------------------------------------------------------


_LSMOD = re.compile(r"^(nvidia|nouveau)\s+\d+\s+\d+", re.M)


def _kernel_module(bundle: Bundle, f: GpuFacts) -> None:
    s = bundle.get("proc_driver_version")
    pv = None
    if _ran(s):
        pv = ds.parse_proc_version(s.stdout)
    if pv is None:
        for paste in bundle.pastes:
            pv = ds.parse_proc_version(paste)
            if pv:
                break
    sysver = bundle.get("sys_module_nvidia_version")
    if pv is not None:
        f.kernel_module_loaded = True
        f.kernel_module_version = pv.version
        f.kernel_module_open = pv.open_module
    elif _ran(sysver) and sysver.stdout.strip():
        # /sys/module/nvidia/version exists while the module is loaded, even where /proc/driver is hidden
        f.kernel_module_loaded = True
        f.kernel_module_version = sysver.stdout.strip()
    elif s is not None and s.error == "not-found":
        # the nvidia module creates /proc/driver/nvidia when it loads: no file, no module
        f.kernel_module_loaded = False

    m = bundle.get("proc_modules")
    if _ran(m) and m.stdout.strip():
        mods = ds.parse_proc_modules(m.stdout)
        f.nvidia_modules = [x for x in mods if x.startswith("nvidia")]
        f.nouveau_loaded = "nouveau" in mods
        f.kernel_module_loaded = bool(f.kernel_module_loaded) or "nvidia" in mods
    for paste in bundle.pastes:  # `lsmod` output pasted
        for name in _LSMOD.findall(paste):
            if name == "nouveau":
                f.nouveau_loaded = True
            else:
                f.kernel_module_loaded = True
    if f.nouveau_loaded is None and f.pci_gpus and all(g.driver == "nvidia" for g in f.pci_gpus):
        f.nouveau_loaded = False  # every NVIDIA GPU is bound to nvidia: nouveau holds none
    if f.nouveau_bound:
        f.nouveau_loaded = True


# --- nvidia-smi ------------------------------------------------------------------------------


def _merge(base: GpuInfo, other: GpuInfo) -> None:
    for name in GpuInfo.model_fields:
        if getattr(base, name) is None and getattr(other, name) is not None:
            setattr(base, name, getattr(other, name))


def _same_gpu(a: GpuInfo, b: GpuInfo) -> bool:
    if a.pci_bus_id and b.pci_bus_id:
        return smi.normalize_bus_id(a.pci_bus_id) == smi.normalize_bus_id(b.pci_bus_id)
    if a.uuid and b.uuid:
        return a.uuid == b.uuid
    return a.index is not None and a.index == b.index


def _nvidia_smi(bundle: Bundle, f: GpuFacts) -> None:
    texts = bundle.texts(*_SMI_SECTIONS)
    blocks: list[smi.SmiBlock] = []
    versions: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for t in texts:
        blocks += smi.find_all(t)
        versions = versions or smi.find_version(t)
    for t in bundle.texts(*_SMI_SECTIONS, "nvidia_container_cli_info", "kernel_log"):
        errors += smi.find_errors(t)
        f.userspace_package_version = f.userspace_package_version or smi.find_nvml_library_version(t)
    # CUDA error 802 is usually printed by torch/CUDA programs: look for the message only, not the JSON around it
    s_torch = bundle.get("torch")
    if _ran(s_torch):
        for line in s_torch.text.splitlines():
            for _, a, b in find_all(line, (_CUDA_802,)):
                # the message inside the JSON string: up to the quotes around it
                start = line.rfind('"', 0, a) + 1
                end = line.find('"', b)
                errors.append((_CUDA_802, line[start:end if end >= 0 else None].strip()))

    # availability of the binary
    s = bundle.get("nvidia_smi")
    if s is not None:
        f.nvidia_smi_available = s.error != "not-found"
        f.nvidia_smi_rc = s.rc
    else:
        tools = bundle.get("tools")
        if _ran(tools):
            m = re.search(r"^nvidia-smi\t(.*)$", tools.stdout, re.M)
            if m:
                f.nvidia_smi_available = bool(m.group(1).strip())
    if blocks or versions:
        f.nvidia_smi_available = True
    if any(k == "no_smi" for k, _ in errors) and not blocks:
        f.nvidia_smi_available = False

    # the GPU list: the richest layout as the base, the others fill its gaps
    with_gpus = sorted([b for b in blocks if b.gpus], key=lambda b: _SOURCE_RANK.get(b.source, 9))
    if with_gpus:
        base = with_gpus[0]
        gpus = [g.model_copy() for g in base.gpus]
        for other in with_gpus[1:]:
            for og in other.gpus:
                match = next((g for g in gpus if _same_gpu(g, og)), None)
                if match is not None:
                    _merge(match, og)
        f.gpus = gpus
        f.gpus_source = base.source
    elif s is not None and s.error in (None, "not-found") and not (s.error is None and s.rc == 0):
        f.gpus = []  # nvidia-smi is missing or failed: NVML lists no GPU here
    elif any(k in _NO_GPU_KINDS for k, _ in errors):
        f.gpus = []

    for b in sorted(blocks, key=lambda b: _SOURCE_RANK.get(b.source, 9)):
        f.nvml_version = f.nvml_version or b.driver_version
        f.cuda_driver_version = f.cuda_driver_version or b.cuda_version
        f.nvidia_smi_version = f.nvidia_smi_version or b.smi_version
        if b.attached_gpus is not None and f.attached_gpus is None:
            f.attached_gpus = b.attached_gpus
    if versions:
        f.nvml_version = f.nvml_version or versions.get("driver")
        f.cuda_driver_version = f.cuda_driver_version or versions.get("cuda")
        f.nvidia_smi_version = f.nvidia_smi_version or versions.get("smi")

    # errors: verbatim lines, flags, and GPUs NVML lost
    f.errors_seen = _dedupe(f.errors_seen + [line for _, line in errors])
    smi_errors = [line for k, line in errors if k not in (_CUDA_802, "no_smi")]
    f.nvidia_smi_error = smi_errors[0] if smi_errors else None
    if any(k == "mismatch" for k, _ in errors):
        f.nvml_mismatch = True
    elif f.gpus:
        f.nvml_mismatch = False
    if any(k == _CUDA_802 for k, _ in errors):
        f.cuda_802_seen = True
    for kind, line in errors:
        if kind != "lost":
            continue
        m = re.search(r"GPU\s*([0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}(?:\.[0-9A-Fa-f])?)", line)
        bus = m.group(1) if m else None
        if f.gpus is None:
            f.gpus = []
        hit = next((g for g in f.gpus if bus and smi.normalize_bus_id(g.pci_bus_id) == smi.normalize_bus_id(bus)), None)
        if hit is not None:
            hit.lost = True
        elif not any(g.lost and g.pci_bus_id == bus for g in f.gpus):
            f.gpus.append(GpuInfo(pci_bus_id=bus, lost=True, source="error"))


# --- kernel log ------------------------------------------------------------------------------


def _kernel_log_readable(s: Section | None) -> bool:
    if not _ran(s):
        return False
    if "insufficient permissions" in s.stderr.lower() or "operation not permitted" in s.stderr.lower():
        return False
    return s.rc == 0 or (s.cmd.startswith("journalctl") and s.rc == 1)  # journalctl -g: 1 = no match


def _kernel_log(bundle: Bundle, f: GpuFacts) -> None:
    s = bundle.get("kernel_log")
    xids: list[XidEvent] = []
    fallen: list[str] = []
    notable: list[str] = []
    found_in_paste = False
    if _kernel_log_readable(s):
        f.kernel_log_read = True
        f.kernel_log_source = s.cmd
        kl = parse_kernel_log(s.stdout)
        xids += kl.xids
        fallen += kl.fallen_off_bus
        notable += kl.notable
        f.module_version_from_log = kl.module_version
        _api_mismatch(kl.api_mismatch, f)
    elif s is not None:
        f.kernel_log_read = False
    for paste in bundle.pastes:
        kl = parse_kernel_log(paste)
        if kl.xids or kl.fallen_off_bus:
            found_in_paste = True
        xids += kl.xids
        fallen += kl.fallen_off_bus
        notable += kl.notable
        f.module_version_from_log = f.module_version_from_log or kl.module_version
        _api_mismatch(kl.api_mismatch, f)
    # a paste holding no Xid says nothing about the whole log; a readable probe log does
    if f.kernel_log_read or found_in_paste:
        f.xid_events = xids
        f.fallen_off_bus = _dedupe(fallen)
    if notable:
        f.nvrm_lines = _dedupe(notable)
    if f.kernel_module_version is None and f.module_version_from_log and not bundle.get("proc_driver_version"):
        f.kernel_module_version = f.module_version_from_log


def _api_mismatch(pair: tuple[str, str] | None, f: GpuFacts) -> None:
    if pair is None:
        return
    f.nvml_mismatch = True
    f.userspace_package_version = f.userspace_package_version or pair[0]
    f.kernel_module_version = f.kernel_module_version or pair[1]


# --- services and packages -------------------------------------------------------------------


def _services(bundle: Bundle, f: GpuFacts) -> None:
    s = bundle.get("systemd_units")
    if _ran(s) and "Id=" in s.stdout:
        units = ds.parse_systemd_show(s.stdout)
        inst, state = ds.unit_state(units, "nvidia-fabricmanager.service")
        f.fabricmanager_installed, f.fabricmanager_state = inst, state
        if state is not None:
            f.fabricmanager_active = state == "active"
        inst, state = ds.unit_state(units, "nvidia-persistenced.service")
        f.persistenced_state = state
        if state is not None:
            f.persistenced_active = state == "active"
    tools = bundle.get("tools")
    if _ran(tools):
        m = re.search(r"^nv-fabricmanager\t(.*)$", tools.stdout, re.M)
        if m and m.group(1).strip():
            f.fabricmanager_installed = True
        elif m and f.fabricmanager_installed is None and f.fabricmanager_state is not None:
            f.fabricmanager_installed = False


def _packages(bundle: Bundle, f: GpuFacts) -> None:
    s = bundle.get("dpkg_nvidia")
    pkgs: dict[str, str] | None = None
    if _ran(s) and s.rc == 0:
        pkgs = ds.parse_dpkg(s.stdout)
    for paste in bundle.pastes:
        found = ds.parse_dpkg(paste)
        if found:
            pkgs = {**(pkgs or {}), **found}
    for text in bundle.texts("apt_history"):
        f.driver_upgrade_lines = _dedupe(f.driver_upgrade_lines + ds.find_driver_upgrades(text))
    f.dpkg_packages = pkgs
    if f.userspace_package_version is None and pkgs:
        libs = ds.library_versions(pkgs)
        if libs:
            f.userspace_package_version = libs[0][1]


# --- facts derived from several sources ------------------------------------------------------


def _derive(f: GpuFacts) -> None:
    # NVML listing GPUs proves the module is loaded even where /proc is hidden (some sandboxes)
    if f.gpus and any(not g.lost for g in f.gpus):
        f.kernel_module_loaded = True
    # PCI link facts fill the nvidia-smi view where it has none
    if f.gpus and f.pci_gpus:
        for g in f.gpus:
            p = _pci_for(g, f.pci_gpus)
            if p is None:
                continue
            g.pci_device_id = g.pci_device_id or p.device_id
            if g.pcie_width_current is None:
                g.pcie_width_current, g.pcie_width_max = p.link_width, p.max_link_width


def _pci_for(g: GpuInfo, pci: list[PciGpu]) -> PciGpu | None:
    bus = smi.normalize_bus_id(g.pci_bus_id)
    return next((p for p in pci if smi.normalize_bus_id(p.slot) == bus), None)
