"""Views over HostFacts shared by the torch/CUDA checks (pure): the driver as every source tells it,
the GPUs as every source names them, signs that no driver is loaded, and the fix commands."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from envdoctor.diagnosis.cuda_compat import capability_for_name, cuda_from_found, driver_native_cuda, wheel_for_driver
from envdoctor.facts import HostFacts
from envdoctor.knowledge import wheel_index
from envdoctor.versions import release


@dataclass
class DriverView:
    version: str | None = None  # "535.183.01"
    cuda: str | None = None  # the CUDA version the driver runs natively, "12.2"
    evidence: list[str] = field(default_factory=list)


def driver_view(f: HostFacts) -> DriverView:
    d = DriverView()
    for value, label in ((f.gpu.nvml_version, "driver version (nvidia-smi/NVML)"),
                         (f.gpu.kernel_module_version, "loaded kernel module (/proc/driver/nvidia/version)"),
                         (f.torch.collect_env_driver, "collect_env: Nvidia driver version")):
        if value and release(value):
            d.evidence.append(f"{label}: {value}")
            d.version = d.version or value
    smi_cuda = f.gpu.cuda_driver_version if release(f.gpu.cuda_driver_version) else None
    if smi_cuda:
        d.cuda = smi_cuda
        d.evidence.append(f"driver's CUDA version (nvidia-smi): {smi_cuda}")
    if f.torch.driver_cuda_found:
        found = cuda_from_found(f.torch.driver_cuda_found)
        d.cuda = d.cuda or found
        d.evidence.append(f"driver's CUDA version as torch found it: {f.torch.driver_cuda_found} (= {found})")
    if d.cuda is None and d.version:
        d.cuda = driver_native_cuda(d.version)
        if d.cuda:
            d.evidence.append(f"driver {d.version} runs CUDA {d.cuda} natively (NVIDIA's driver table)")
    return d


def no_driver_evidence(f: HostFacts) -> list[str]:
    """Lines showing that no NVIDIA driver is usable here (empty when none say so)."""
    ev = []
    if f.gpu.kernel_module_loaded is False:
        ev.append("nvidia kernel module not loaded (/proc/modules)")
    if f.gpu.nvidia_smi_error:
        ev.append(f"nvidia-smi: {f.gpu.nvidia_smi_error}")
    ev += [e.line for e in f.torch.errors if e.kind == "torch_no_driver"]
    if f.cuda_env.libcuda_paths == [] and not f.gpu.nvml_version:
        ev.append("no libcuda.so (the driver's CUDA library) in the linker cache (ldconfig -p)")
    return ev


def no_gpu_evidence(f: HostFacts) -> list[str]:
    """Lines showing that this host has no NVIDIA GPU at all (empty when not known)."""
    if f.gpu.pci_gpus == [] and not f.gpu.gpus:
        return ["no NVIDIA device on the PCI bus"]
    return []


@dataclass
class GpuSeen:
    name: str | None
    capability: str | None
    source: str
    index: int | None = None


def gpus_seen(f: HostFacts) -> list[GpuSeen] | None:
    """The GPUs as the best source names them: torch's devices, nvidia-smi, collect_env, error texts.
    None when no source says anything."""
    if f.torch.devices:
        return [GpuSeen(d.name, d.capability or capability_for_name(d.name), "torch", d.index) for d in f.torch.devices]
    if f.gpu.gpus:
        return [GpuSeen(g.name, g.compute_capability or capability_for_name(g.name), "nvidia-smi", g.index)
                for g in f.gpu.gpus]
    if f.torch.collect_env_gpus:
        return [GpuSeen(n, capability_for_name(n), "collect_env", i) for i, n in enumerate(f.torch.collect_env_gpus)]
    from_errors = [GpuSeen(e.gpu_name, e.capability, "error message") for e in f.torch.errors
                   if e.kind == "cuda_arch_not_in_wheel" and e.capability]
    if from_errors:
        return from_errors
    if f.gpu.gpus == [] or f.torch.collect_env_gpus == []:
        return []
    return None


def python_cmd(f: HostFacts) -> str:
    """The target's interpreter, quoted for the shell lines of a fix (a venv path may hold blanks)."""
    return shlex.quote(f.torch.python_executable or "python3")


def reinstall_command(f: HostFacts, tag: str, torch_spec: str = "torch") -> str:
    return (f"{python_cmd(f)} -m pip install --force-reinstall '{torch_spec}' torchvision "
            f"--index-url {wheel_index(tag)}")


def wheel_suggestion(f: HostFacts, d: DriverView | None = None) -> tuple[str, str] | None:
    """(description, pip command) for the newest torch wheel variant this driver runs, or None."""
    d = d or driver_view(f)
    w = wheel_for_driver(d.cuda, d.version)
    if not w:
        return None
    spec = f"torch<={w['last_torch']}" if w.get("last_torch") else "torch"
    return (f"a torch wheel built for CUDA {w['cuda']} ({w['tag']})", reinstall_command(f, w["tag"], spec))
