"""Pure questions answered from the CUDA/torch reference tables in envdoctor/data/:
which CUDA a driver runs natively, the minimum driver for a CUDA version, minor-version floors,
which torch wheel index fits a driver, whether a GPU arch is covered by a build's arch list."""

from __future__ import annotations

import re

from envdoctor.knowledge import load
from envdoctor.parsers.nvidia_smi import is_datacenter
from envdoctor.versions import release


def cuda_from_found(n: int | None) -> str | None:
    """torch's "found version 11040" / cudaDriverGetVersion() -> "11.4"."""
    if not n or n <= 0:
        return None
    return f"{n // 1000}.{n % 1000 // 10}"


def driver_native_cuda(driver: str | None) -> str | None:
    """The CUDA version a driver supports natively (what nvidia-smi prints as "CUDA Version")."""
    dv = release(driver)
    if not dv:
        return None
    table = load("cuda_driver_table")
    branch = table["driver_branch_cuda"].get(str(dv[0]))
    if branch:
        return branch
    best = None
    for row in table["toolkit_driver"]:
        if release(row["linux"]) <= dv and (best is None or release(row["cuda"]) > release(best)):
            best = row["cuda"]
    return best


def min_driver_for(cuda: str | None) -> str | None:
    """The lowest Linux driver of Table 3 that runs `cuda` ("12.8" -> "570.26") natively."""
    cv = release(cuda)
    if not cv:
        return None
    rows = [r for r in load("cuda_driver_table")["toolkit_driver"] if release(r["cuda"]) == cv[:2]]
    if not rows:
        return None
    return min((r["linux"] for r in rows), key=release)


def minor_compat_floor(cuda: str | None) -> str | None:
    """The minimum driver for CUDA minor-version compatibility in `cuda`'s major family (11, 12, 13)."""
    cv = release(cuda)
    if not cv:
        return None
    row = load("cuda_driver_table")["minor_version_compat"].get(str(cv[0]))
    return row["min_driver"] if row else None


def forward_compat_supported(gpu_name: str | None) -> bool | None:
    """Whether CUDA forward compatibility (cuda-compat) works on this GPU: only on data-center parts
    (the list in envdoctor/data/datacenter_gpus.yaml, shared with the GPU domain); None if unknown."""
    return is_datacenter(gpu_name)


def wheel_for_driver(driver_cuda: str | None, driver: str | None = None) -> dict | None:
    """The newest torch wheel variant that runs on this driver: natively (variant CUDA <= driver's),
    or via minor-version compatibility (same major, driver >= the family floor)."""
    dc = release(driver_cuda)
    if not dc:
        return None
    dv = release(driver)
    for w in load("torch_releases")["cuda_wheels"]:  # newest first
        wc = release(w["cuda"])
        if wc <= dc[:2]:
            return w
        if wc[0] == dc[0] and dv and release(minor_compat_floor(w["cuda"]) or "999") <= dv:
            return w
    return None


def torchvision_for(torch_version: str | None) -> str | None:
    """"2.5.1+cu121" -> "0.20" (torchvision major.minor published with that torch)."""
    tv = release(torch_version)
    if not tv or len(tv) < 2:
        return None
    rel = load("torch_releases")
    key = f"{tv[0]}.{tv[1]}"
    if key in rel["torchvision_for_torch"]:
        return rel["torchvision_for_torch"][key]
    if tv[0] == 2:
        return f"0.{tv[1] + rel['torchvision_rule_2x_offset']}"
    return None


def capability_for_name(gpu_name: str | None) -> str | None:
    """Compute capability from a GPU product name, longest matching key first."""
    if not gpu_name:
        return None
    low = gpu_name.lower()
    table = load("torch_gpu_arch")["compute_capability"]
    for key in sorted(table, key=len, reverse=True):
        if re.search(r"(?<![a-z0-9])" + re.escape(key.lower()) + r"(?![0-9])", low):
            return table[key]
    return None


def arch_coverage(capability: str | None, arch_list: list[str] | None) -> str | None:
    """How a build's arch list covers a GPU of `capability` ("8.6"):
    "sass" (a cubin for this major, minor <= the GPU's), "ptx" (PTX of a lower arch, JIT by the
    driver), "none" (no kernels for it), or None when either side is unknown."""
    cv = release(capability)
    if not cv or len(cv) < 2 or arch_list is None:
        return None
    cap = cv[0] * 10 + cv[1]
    sass, ptx = [], []
    for a in arch_list:
        m = re.match(r"(sm|compute)_(\d+)([a-z]?)$", a)
        if not m:
            continue
        n, suffix = int(m.group(2)), m.group(3)
        (sass if m.group(1) == "sm" else ptx).append((n, suffix))
    # Arch-specific cubins ("sm_90a") run only on that exact arch.
    if any((n // 10 == cv[0] and n % 10 <= cv[1] and not s) or (n == cap and s) for n, s in sass):
        return "sass"
    if any(n <= cap and not s for n, s in ptx):
        return "ptx"
    return "none"
