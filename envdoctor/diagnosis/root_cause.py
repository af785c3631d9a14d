"""Root-cause reasoning (pure): the failure signatures seen plus the facts -> the most likely cause,
the alternatives still open, and what to run to tell them apart.

Every signature of the knowledge base (envdoctor/data/signatures/) lists candidate causes with a
weight and the evidence that confirms or rules each out. A candidate's score is its weight, plus a
bonus per confirming piece of evidence; evidence that rules it out removes it. The same cause
proposed by several signatures adds up. Evidence that is not known stays open, and its `ask` (the
command that would settle it) is what the report says to run."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from envdoctor.diagnosis.cuda_compat import capability_for_name
from envdoctor.diagnosis.torch_evidence import driver_view
from envdoctor.facts import HostFacts
from envdoctor.knowledge import CauseRef, KnowledgeBase, load, signatures
from envdoctor.versions import release

CONFIRM_BONUS = 5.0
OBSERVED_BONUS = 5.0  # a fact signature whose evidence is all observed (lspci, /proc, a CUDA call) shows the cause itself
# How a candidate is known, strongest first: the cause observed directly, a failure message that points
# at it, an inference from a table, a hint (a word in the report).
SUPPORT = ("observed", "message", "inferred", "hint")
Verdict = tuple[bool | None, str | None]  # (holds?, the evidence line)


# --- evidence ----------------------------------------------------------------------------------------

def _in_container(f: HostFacts) -> Verdict:
    d = f.diagnosis
    if f.system.in_container:
        return True, "; ".join(f.system.container_evidence[:2]) or f"in a {f.system.container_kind} container"
    if d.in_container_text:
        return True, "the paste was made inside a container (prompt or wording)"
    if f.system.in_container is False:
        return False, "no container markers"
    return None, None


def _on_host(f: HostFacts) -> Verdict:
    v, line = _in_container(f)
    if v is False:
        return True, line
    if v:
        return False, line
    if f.gpu.kernel_log_read or f.gpu.xid_events or f.gpu.nvrm_lines or f.diagnosis.dkms_kernels is not None \
            or f.diagnosis.secure_boot is not None or f.gpu.pci_gpus is not None:
        return True, "host-level evidence (kernel log, lspci, dkms, mokutil)"
    return None, None


def _launches_gpu(f: HostFacts, want: bool) -> Verdict:
    ls = [l for l in f.diagnosis.launches if l.gpus is not None]
    if not ls:
        return None, None
    without = [l for l in ls if not l.gpus]
    if want:
        return (not without), (ls[0].line if not without else without[0].line)
    return bool(without), (without[0].line if without else ls[0].line)


def _secure_boot(f: HostFacts, on: bool) -> Verdict:
    sb = f.diagnosis.secure_boot
    if sb is None:
        return None, None
    return sb == on, f.diagnosis.secure_boot_line


def _nouveau(f: HostFacts) -> Verdict:
    g = f.gpu
    if g.nouveau_bound or g.nouveau_loaded or _sig(f, "nouveau_in_use"):
        return True, "nouveau is loaded / bound to the GPU"
    if g.nouveau_loaded is False:
        return False, "nouveau not loaded"
    return None, None


def _pci(f: HostFacts, present: bool) -> Verdict:
    if f.gpu.pci_gpus is None:
        return None, None
    has = bool(f.gpu.pci_gpus)
    return has == present, f"{len(f.gpu.pci_gpus)} NVIDIA device(s) on the PCI bus"


def _module_loaded(f: HostFacts, loaded: bool) -> Verdict:
    v = f.gpu.kernel_module_loaded
    if f.gpu.gpus and any(not g.lost for g in f.gpu.gpus):
        v = True
    if v is None:
        return None, None
    return v == loaded, ("nvidia module loaded" + (f" ({f.gpu.kernel_module_version})" if f.gpu.kernel_module_version else "")
                         if v else "nvidia module not loaded")


def _module_for_kernel(f: HostFacts, present: bool) -> Verdict:
    d = f.diagnosis
    v = d.module_for_kernel
    if v is None and d.dkms_kernels is not None and d.running_kernel:
        v = d.running_kernel in d.dkms_kernels
    # "Unable to load the kernel module" says the module is missing only when the module never ran: an
    # NVRM probe message (the GPU bound to another driver, no device probed) is the module itself talking
    probed = _sig(f, "nvrm_probe_failed") or _sig(f, "nova_core_bound")
    if v is None and probed:
        return (present, probed.line)
    if v is None and _sig(f, "modprobe_module_not_found"):
        v = False
    if v is None:
        return None, None
    line = "; ".join(d.module_evidence[:2]) or (f"dkms built nvidia for {', '.join(d.dkms_kernels or []) or 'no kernel'}")
    return v == present, line


def _kernel_changed(f: HostFacts) -> Verdict:
    d = f.diagnosis
    if d.kernel_changed:
        return True, "the report mentions a kernel upgrade"
    if d.dkms_kernels and d.running_kernel and d.running_kernel not in d.dkms_kernels:
        return True, f"dkms built nvidia for {', '.join(d.dkms_kernels)}, the running kernel is {d.running_kernel}"
    return None, None


def _driver_changed(f: HostFacts) -> Verdict:
    if f.gpu.driver_upgrade_lines:
        return True, f.gpu.driver_upgrade_lines[0]
    if f.diagnosis.driver_changed:
        return True, "the report mentions a driver upgrade/install"
    return None, None


def _versions_differ(f: HostFacts) -> Verdict:
    g = f.gpu
    mod, lib = g.kernel_module_version, g.nvml_version or g.userspace_package_version
    if mod and lib:
        return mod != lib, f"kernel module {mod}, user-space library {lib}"
    return None, None


def _uvm(f: HostFacts, missing: bool) -> Verdict:
    d = f.diagnosis
    if d.uvm_loaded is None:
        return None, None
    return (not d.uvm_loaded) == missing, ("/dev/nvidia-uvm present" if d.uvm_loaded else "no /dev/nvidia-uvm / nvidia_uvm not loaded")


def _mention(name: str) -> Callable[[HostFacts], Verdict]:
    def v(f: HostFacts) -> Verdict:
        return (True, f"the report mentions {name}") if name in f.diagnosis.mentions else (None, None)
    return v


def _wsl(f: HostFacts, want: bool) -> Verdict:
    w = f.system.wsl
    if w is None and (_sig(f, "wsl_libcuda_messages") or "wsl" in f.diagnosis.mentions):
        w = True
    drv = f.gpu.nvml_version or f.gpu.kernel_module_version
    smi = f.gpu.nvidia_smi_version
    if w is None and smi and f.gpu.nvml_version and smi != f.gpu.nvml_version and re.fullmatch(r"\d{3}\.\d{2}", f.gpu.nvml_version) \
            and release(f.gpu.nvml_version) >= (455,):
        # On Linux nvidia-smi and the driver it reports are one release; under WSL the Linux-side nvidia-smi
        # reports the Windows driver, whose version has two parts (555.85)
        return want, f"NVIDIA-SMI {smi} reports the Windows driver {f.gpu.nvml_version} (WSL)"
    if w is None and drv and release(drv) and release(drv) < (455,):
        # GPU support in WSL 2 came with the 455 driver preview: an older driver is not a WSL one
        return (not want), f"driver {drv} predates GPU support in WSL (455+)"
    if w is None:
        return None, None
    return w == want, "; ".join(f.system.wsl_evidence[:1]) or ("WSL markers in the paste" if w else "not WSL")


def _open_module(f: HostFacts) -> Verdict:
    if f.gpu.kernel_module_open is None:
        return None, None
    return f.gpu.kernel_module_open, "open kernel module" if f.gpu.kernel_module_open else "proprietary kernel module"


def _caps(f: HostFacts) -> list[tuple[str, str]]:
    out = []
    for g in f.gpu.gpus or []:
        cap = g.compute_capability or capability_for_name(g.name)
        if cap:
            out.append((g.name or "GPU", cap))
    for d in f.torch.devices or []:
        if d.capability:
            out.append((d.name or "GPU", d.capability))
    for n in f.torch.collect_env_gpus or []:
        cap = capability_for_name(n)
        if cap:
            out.append((n, cap))
    return out


def _pre_turing(f: HostFacts) -> Verdict:
    caps = _caps(f)
    if not caps:
        return None, None
    old = [(n, c) for n, c in caps if release(c) < (7, 5)]
    return bool(old), ", ".join(f"{n} (sm {c})" for n, c in (old or caps)[:2])


def _nvswitch(f: HostFacts, want: bool) -> Verdict:
    n = f.gpu.nvswitch_count
    names = " ".join(g.name or "" for g in f.gpu.gpus or [])
    if n is None and re.search(r"SXM|HGX|DGX|H100 80GB HBM3|A100-SXM|H200|B200", names):
        n = 1
    if n is None:
        return None, None
    return (n > 0) == want, f"{n} NVSwitch(es)" if n else "no NVSwitch"


def _fm_inactive(f: HostFacts) -> Verdict:
    if f.gpu.fabricmanager_active is None:
        return None, None
    return not f.gpu.fabricmanager_active, f"nvidia-fabricmanager: {f.gpu.fabricmanager_state}"


def _mig(f: HostFacts) -> Verdict:
    gs = [g for g in f.gpu.gpus or [] if g.mig_mode_current is not None]
    if not gs:
        return None, None
    on = [g for g in gs if g.mig_mode_current]
    return bool(on), f"MIG mode enabled on {len(on)} GPU(s)" if on else "MIG disabled"


def _others_on_gpu(f: HostFacts) -> Verdict:
    used = [g for g in f.gpu.gpus or [] if g.memory_used_mib is not None and g.memory_total_mib]
    if not used:
        return None, None
    busy = [g for g in used if g.memory_used_mib > 0.2 * g.memory_total_mib]
    return bool(busy), ", ".join(f"{g.label}: {g.memory_used_mib} of {g.memory_total_mib} MiB used" for g in (busy or used)[:2])


def _rdma(f: HostFacts, want: bool) -> Verdict:
    r = f.diagnosis.rdma_devices
    if r is None and (_sig(f, "memlock_rdma_error") or re.search(r"NET/IB|mlx5|ibv_", " ".join(s.line for s in f.diagnosis.signatures))):
        return want, "RDMA/verbs in use (NET/IB, ibv_* messages)"
    if r is None:
        return None, None
    return bool(r) == want, (f"RDMA devices: {', '.join(r[:3])}" if r else "no /sys/class/infiniband devices")


def _memlock(f: HostFacts, low: bool) -> Verdict:
    soft = f.system.memlock_soft_bytes
    if soft is None:
        return None, None
    unlimited = soft == -1 or soft >= 2**40
    small = soft != -1 and soft <= 64 * 2**20
    line = "; ".join(f.system.memlock_evidence[:1]) or f"memlock {soft}"
    return (small if low else unlimited), line


def _shm(f: HostFacts, small: bool) -> Verdict:
    size = f.system.shm_size_bytes
    if size is not None:
        return (size <= 2**30) == small, "; ".join(f.system.shm_evidence[:1]) or f"/dev/shm {size} bytes"
    ls = [l for l in f.diagnosis.launches if l.shm is not None]
    if ls:
        without = [l for l in ls if not l.shm]
        return bool(without) == small, (without or ls)[0].line
    return None, None


def _cvd_bad(f: HostFacts) -> Verdict:
    v = f.cuda_env.cuda_visible_devices if f.cuda_env.cuda_visible_devices_set else f.diagnosis.cuda_visible_devices
    if v is None:
        return None, None
    vs = v.strip()
    if vs in ("", "-1", "none", "NoDevFiles"):
        return True, f"CUDA_VISIBLE_DEVICES={v!r}"
    if vs.startswith("$"):
        # "$0" expands to the shell's or script's name, never a GPU; other variables are not known here
        return (True, f"CUDA_VISIBLE_DEVICES={v} (the shell's name, not a GPU index)") if vs == "$0" else (None, None)
    if not re.fullmatch(r"(?:\s*(?:\d+|(?:GPU|MIG)-[\w/-]+)\s*,?)+", vs):
        return True, f"CUDA_VISIBLE_DEVICES={v!r} names no GPU index or UUID"
    n = len(f.gpu.gpus) if f.gpu.gpus else None
    idx = [int(x) for x in re.findall(r"\d+", vs)] if re.fullmatch(r"[\d,\s]+", vs) else []
    if n and idx and max(idx) >= n:
        return True, f"CUDA_VISIBLE_DEVICES={v!r} but {n} GPU(s) exist"
    return False, f"CUDA_VISIBLE_DEVICES={v!r}"


def _cuda_libs_mixed(f: HostFacts) -> Verdict:
    """`ldd` shows CUDA libraries of a pip/conda install resolved from a system toolkit (or two toolkits)."""
    libs = [x for x in f.system.cuda_libs_resolved or [] if x.path]
    if not libs:
        return None, None
    system = [x for x in libs if x.origin == "system toolkit" and not x.subject]
    packaged = [x for x in libs if x.origin in ("pip wheel", "conda")]
    roots = sorted({x.cuda_root for x in libs if x.cuda_root})
    if system and packaged:
        return True, f"{system[0].name} from {system[0].cuda_root or system[0].path} next to {packaged[0].name} of a {packaged[0].origin}"
    if len(roots) > 1:
        return True, f"CUDA libraries from {roots[0]} and {roots[1]}"
    return False, f"the CUDA libraries ldd shows come from one place ({libs[0].origin})"


def _system_cuda_on_ld(f: HostFacts) -> Verdict:
    ld = f.cuda_env.ld_library_path if f.cuda_env.ld_library_path is not None else f.diagnosis.ld_library_path
    if ld is None:
        return None, None
    hits = [p for p in ld if re.search(r"/cuda[^/]*/(?:lib|targets)|/usr/local/cuda", p)]
    return bool(hits), f"LD_LIBRARY_PATH holds {', '.join(hits[:2])}" if hits else "no system CUDA on LD_LIBRARY_PATH"


def _pip_nvidia(f: HostFacts) -> Verdict:
    w = f.diagnosis.pip_nvidia_wheels
    if w is None:
        return None, None
    return bool(w), ", ".join(w[:3]) if w else "no nvidia-* wheels"


def _several_toolkits(f: HostFacts) -> Verdict:
    dirs = [t.path for t in f.cuda_env.toolkits or [] if not t.is_link] or \
        [x for x in f.diagnosis.toolkit_dirs or [] if "->" not in x and x != "cuda"]
    if not dirs and f.cuda_env.toolkits is None and f.diagnosis.toolkit_dirs is None:
        return None, None
    return len(dirs) > 1, f"toolkits: {', '.join(dirs[:4])}" if dirs else "no toolkit dirs"


def _nvcc_differs(f: HostFacts) -> Verdict:
    nv, tc = f.cuda_env.nvcc_version, f.torch.cuda_build
    if not (nv and tc and release(nv) and release(tc)):
        return None, None
    return release(nv)[:2] != release(tc)[:2], f"nvcc {nv}, torch built with CUDA {tc}"


def _torch_cpu(f: HostFacts, cpu: bool) -> Verdict:
    t = f.torch
    if t.cuda_build:
        return (not cpu), f"torch.version.cuda = {t.cuda_build}"
    if t.cpu_only_build is not None:
        return t.cpu_only_build == cpu, f"torch {t.version or ''} CPU-only build".strip() if t.cpu_only_build else "CUDA build"
    pk = " ".join(f.diagnosis.torch_packages or [])
    if re.search(r"\btorch \S+\+cpu|pytorch \S+ \S*cpu", pk):  # a CPU build listed anywhere is the anomaly
        return cpu, pk[:120]
    if re.search(r"\btorch \S+\+cu\d+|pytorch \S+ \S*cuda", pk):
        return (not cpu), pk[:120]
    return None, None


def _driver_vs_torch(f: HostFacts, too_old: bool) -> Verdict:
    tc = f.torch.cuda_build
    d = driver_view(f)
    if not (tc and d.cuda and release(tc) and release(d.cuda)):
        return None, None
    old = release(d.cuda)[0] < release(tc)[0]
    return old == too_old, f"driver runs CUDA {d.cuda}, torch needs {tc}"


def _arch_by_build(f: HostFacts, caps: list[tuple[str, str]], missing: bool) -> Verdict:
    """Without torch's arch list: a GPU whose architecture needs a newer CUDA than the one torch was built
    with (sm_120 needs CUDA 12.8) cannot be in the build. The converse is not known: an older CUDA's
    build may still lack an arch, so only "missing" is ever concluded this way."""
    build = release(f.torch.cuda_build)
    if not build:
        return None, None
    need = load("torch_gpu_arch")["min_cuda_for_arch"]
    for name, cap in caps:
        c = release(cap)
        arch = f"sm_{c[0]}{c[1]}" if c and len(c) >= 2 else None
        if arch in need and release(need[arch]) > build:
            return missing, f"{name} ({arch}) needs a CUDA {need[arch]} build; torch is built with CUDA {f.torch.cuda_build}"
    return None, None


def _arch(f: HostFacts, missing: bool) -> Verdict:
    arch = f.torch.arch_list
    caps = _caps(f)
    if caps and not arch:
        return _arch_by_build(f, caps, missing)
    if not arch or not caps:
        return None, None
    have = {a.replace("sm_", "") for a in arch if a.startswith("sm_")}
    lacking = [(n, c) for n, c in caps if c.replace(".", "") not in have and
               not any(release(c)[0] == int(a[:-1] or 0) and int(a[-1]) <= release(c)[1] for a in have if a.isdigit())]
    return bool(lacking) == missing, (f"{lacking[0][0]} (sm_{lacking[0][1].replace('.', '')}) not in {', '.join(arch[:6])}"
                                      if lacking else f"arch list {', '.join(arch[:6])} covers the GPUs")


def _compat(f: HostFacts) -> Verdict:
    dirs = f.cuda_env.compat_lib_dirs
    ld = f.diagnosis.ld_library_path or []
    hits = list(dirs or []) + [p for p in ld if p.rstrip("/").endswith("compat")]
    if hits:
        return True, f"cuda-compat on the library path: {hits[0]}"
    return (False, "no cuda-compat directory on the library path") if dirs == [] else (None, None)


def _is_datacenter(name: str) -> bool:
    dc = load("datacenter_gpus")
    if any(w in name for w in dc["not_if"]):
        return False
    words = set(re.findall(r"[A-Za-z0-9]+", name))
    return bool(words & set(dc["name_words"])) or any(b in name for b in dc["brands"])


def _consumer(f: HostFacts, consumer: bool) -> Verdict:
    names = [g.name for g in f.gpu.gpus or [] if g.name] + list(f.torch.collect_env_gpus or [])
    if not names:
        return None, None
    dc = any(_is_datacenter(n) for n in names)
    return (not dc) == consumer, ", ".join(names[:2])


def _xid_hw(f: HostFacts) -> Verdict:
    evs = f.gpu.xid_events
    if evs is None:
        return None, None
    table = load("xid")["xid"]
    hw = [e for e in evs if not e.sxid and table.get(e.xid, {}).get("level") == "fail"]
    return bool(hw), (hw[0].line if hw else "no hardware-class Xid in the kernel log")


def _ecc_pending(f: HostFacts) -> Verdict:
    gs = f.gpu.gpus or []
    known = [g for g in gs if g.remapped_rows_pending is not None or g.retired_pages_pending is not None
             or g.ecc_uncorrected_volatile is not None]
    if not known:
        return None, None
    bad = [g for g in known if g.remapped_rows_pending or g.retired_pages_pending or g.remapped_rows_failure
           or (g.ecc_uncorrected_volatile or 0) > 0]
    return bool(bad), (f"{bad[0].label}: remap/retire pending or uncorrectable ECC" if bad else "no pending remaps")


def _throttled(f: HostFacts) -> Verdict:
    gs = f.gpu.gpus or []
    # a GPU at its "GPU Max Operating Temp" is held there by slowing down (a platform may set that limit low)
    hot = [g for g in gs if g.temperature_c is not None and g.max_operating_temp_c and g.temperature_c >= g.max_operating_temp_c - 2]
    if hot:
        return True, f"{hot[0].label}: {hot[0].temperature_c} C, its max operating temperature is {hot[0].max_operating_temp_c} C"
    known = [g for g in gs if g.throttle_reasons_active is not None or g.pcie_width_current is not None]
    if not known:
        return None, None
    # hardware/thermal slowdowns only: a narrower link than the slot's maximum is normal on some clouds
    # (the pcie_link check weighs the link)
    bad = [g for g in known if any(r for r in g.throttle_reasons_active or [] if re.search(r"HW|Thermal|Power Brake", r))]
    return bool(bad), (f"{bad[0].label}: {', '.join(bad[0].throttle_reasons_active or [])}" if bad else "no HW/thermal slowdown")


def _rm_init(f: HostFacts) -> Verdict:
    if _sig(f, "nvrm_rm_init_adapter"):
        return True, _sig(f, "nvrm_rm_init_adapter").line
    if f.gpu.kernel_log_read:
        return False, "no RmInitAdapter in the kernel log"
    return None, None


@lru_cache(maxsize=None)
def _text(pattern: str) -> Callable[[HostFacts], Verdict]:
    """Evidence read off the words of a seen message or a container launch line (`text:` in _evidence.yaml)."""
    rx = re.compile(pattern, re.I)

    def v(f: HostFacts) -> Verdict:
        hit = next((s.line for s in f.diagnosis.signatures if rx.search(s.line)), None)
        if hit is None:
            hit = next((l.line for l in f.diagnosis.launches if rx.search(l.line)), None)
        return (True, hit) if hit else (None, None)
    return v


def _libs_from_system(f: HostFacts) -> Verdict:
    libs = f.diagnosis.torch_loaded_libs
    if not libs:
        return None, None
    sysl = [l for l in libs if re.search(r"(?:=> )?/usr/local/cuda|/opt/cuda|/usr/lib/x86_64-linux-gnu/libcud", l)
            and "site-packages" not in l]
    return bool(sysl), (sysl[0] if sysl else libs[0])


_OOM = re.compile(r"([\d.]+) ([GMK]i?B) total capacity;.*?([\d.]+) ([GMK]i?B) free;.*?([\d.]+) ([GMK]i?B) reserved in total by PyTorch")
_UNIT = {"G": 2**30, "M": 2**20, "K": 2**10}


def _oom_split(f: HostFacts, others: bool) -> Verdict:
    """From torch's OOM message: who holds the memory - other processes, or this one."""
    s = _sig(f, "cuda_oom")
    m = _OOM.search(s.line) if s else None
    if not m:
        return None, None
    total, free, reserved = (float(m.group(i)) * _UNIT[m.group(i + 1)[0]] for i in (1, 3, 5))
    held_elsewhere = total - free - reserved
    if others:
        return held_elsewhere > 0.5 * total, f"{held_elsewhere / 2**30:.1f} GiB of {total / 2**30:.1f} GiB held outside this process"
    return reserved > 0.6 * total, f"this process reserved {reserved / 2**30:.1f} GiB of {total / 2**30:.1f} GiB"


def _extension(f: HostFacts) -> Verdict:
    if "extension build" in f.diagnosis.mentions or _sig(f, "extension_cuda_mismatch"):
        return True, "a CUDA extension build/load is in the report"
    return None, None


def _exclusive_mode(f: HostFacts) -> Verdict:
    modes = [getattr(g, "compute_mode", None) for g in f.gpu.gpus or []]
    if any(m and re.search(r"Exclusive|E\. Process|Prohibited", m) for m in modes):
        return True, "compute mode exclusive/prohibited"
    return None, None


def _slurm_without_gpus(f: HostFacts) -> Verdict:
    """A Slurm job (or its script) in the report that requests no GPU (no --gres=gpu / --gpus)."""
    job = _sig(f, "slurm_job")
    if job is None:
        return None, None
    if _sig(f, "slurm_gpus_requested"):
        return False, _sig(f, "slurm_gpus_requested").line
    return True, f"a Slurm job without a GPU request: {job.line}"


def _slurm_node(f: HostFacts) -> Verdict:
    """The output comes from a Slurm node: its daemon (slurmd) or a job on it."""
    s = _sig(f, "slurm_node") or _sig(f, "slurm_job")
    return (True, s.line) if s else (None, None)


def _driver_unreachable(f: HostFacts) -> Verdict:
    """nvidia-smi or torch reached no driver / no device (the messages a job without GPUs shows)."""
    s = next((_sig(f, i) for i in ("smi_cannot_communicate", "smi_no_devices", "torch_no_driver") if _sig(f, i)), None)
    return (True, s.line) if s else (None, None)


# NVML's own failures: where one is in the evidence, a GPU table beside it is from another moment
_NVML_FAILURES = ("nvml_library_mismatch", "smi_cannot_communicate", "nvml_unknown_error", "nvml_no_permission",
                  "nvml_init_failed", "nvml_lib_not_found", "smi_no_devices")


def _smi_lists_gpus(f: HostFacts) -> Verdict:
    """NVML answered with a GPU table and no NVML error is in the evidence: the driver and its libraries
    work together (a table beside 'Unknown Error' is the GPU before it was lost, not now)."""
    listed = [g for g in f.gpu.gpus or [] if not g.lost]
    if not listed or f.gpu.nvidia_smi_error or any(_sig(f, i) for i in _NVML_FAILURES):
        return None, None
    return True, f"nvidia-smi lists {len(listed)} GPU(s) with no NVML error"


EVIDENCE: dict[str, Callable[[HostFacts], Verdict]] = {
    "in_container": _in_container,
    "on_host": _on_host,
    "host_driver_works": lambda f: (None, None),
    "container_started_without_gpus": lambda f: _launches_gpu(f, False),
    "container_started_with_gpus": lambda f: _launches_gpu(f, True),
    "secure_boot_on": lambda f: _secure_boot(f, True),
    "secure_boot_off": lambda f: _secure_boot(f, False),
    "nouveau_present": _nouveau,
    "no_nvidia_on_pci": lambda f: _pci(f, False),
    "nvidia_on_pci": lambda f: _pci(f, True),
    "module_loaded": lambda f: _module_loaded(f, True),
    "module_not_loaded": lambda f: _module_loaded(f, False),
    "module_absent_for_kernel": lambda f: _module_for_kernel(f, False),
    "module_present_for_kernel": lambda f: _module_for_kernel(f, True),
    "kernel_changed": _kernel_changed,
    "driver_changed": _driver_changed,
    "versions_differ": _versions_differ,
    "uvm_node_missing": lambda f: _uvm(f, True),
    "uvm_node_present": lambda f: _uvm(f, False),
    "suspend_mentioned": _mention("suspend"),
    "wsl": lambda f: _wsl(f, True),
    "not_wsl": lambda f: _wsl(f, False),
    "open_module": _open_module,
    "pre_turing_gpu": _pre_turing,
    "nvswitch_system": lambda f: _nvswitch(f, True),
    "no_nvswitch": lambda f: _nvswitch(f, False),
    "fabricmanager_inactive": _fm_inactive,
    "mig_enabled": _mig,
    "exclusive_mode": _exclusive_mode,
    "other_processes_on_gpu": _others_on_gpu,
    "rdma_present": lambda f: _rdma(f, True),
    "no_rdma": lambda f: _rdma(f, False),
    "memlock_low": lambda f: _memlock(f, True),
    "memlock_unlimited": lambda f: _memlock(f, False),
    "shm_small": lambda f: _shm(f, True),
    "shm_large": lambda f: _shm(f, False),
    "cuda_visible_devices_bad": _cvd_bad,
    "system_cuda_on_ld_path": _system_cuda_on_ld,
    "cuda_libs_mixed": _cuda_libs_mixed,
    "cuda_unavailable": lambda f: (True, "torch.cuda.is_available() = False") if f.torch.is_available is False else (
        (True, f"cuInit: {f.torch.cu_init}") if f.torch.cu_init and not f.torch.cu_init.startswith("0 ") else (None, None)),
    "kernel_without_seccomp": lambda f: (None, None) if f.diagnosis.kernel_seccomp is None else (
        not f.diagnosis.kernel_seccomp, "CONFIG_SECCOMP " + ("set" if f.diagnosis.kernel_seccomp else "not set")),
    "pip_nvidia_wheels": _pip_nvidia,
    "several_toolkits": _several_toolkits,
    "nvcc_differs_from_torch": _nvcc_differs,
    "torch_cpu_only": lambda f: _torch_cpu(f, True),
    "torch_has_cuda": lambda f: _torch_cpu(f, False),
    "driver_too_old_for_torch": lambda f: _driver_vs_torch(f, True),
    "driver_new_enough": lambda f: _driver_vs_torch(f, False),
    "arch_missing": lambda f: _arch(f, True),
    "arch_present": lambda f: _arch(f, False),
    "compat_libs_in_use": _compat,
    "consumer_gpu": lambda f: _consumer(f, True),
    "datacenter_gpu": lambda f: _consumer(f, False),
    "extension_build": _extension,
    "daemon_reload_mentioned": _mention("daemon-reload"),
    "jupyter_mentioned": _mention("jupyter"),
    "xid_hardware": _xid_hw,
    "ecc_pending": _ecc_pending,
    "gpu_throttled_or_link_degraded": _throttled,
    "rm_init_in_log": _rm_init,
    "cuda_libs_from_system_toolkit": lambda f: _libs_from_system(f),
    "oom_others_hold": lambda f: _oom_split(f, True),
    "oom_self_holds": lambda f: _oom_split(f, False),
    "slurm_job_without_gpus": _slurm_without_gpus,
    "slurm_node": _slurm_node,
    "driver_unreachable": _driver_unreachable,
    "smi_lists_gpus": _smi_lists_gpus,
}


def _sig(f: HostFacts, sid: str):
    return next((s for s in f.diagnosis.signatures if s.id == sid), None)


def evidence(f: HostFacts, name: str) -> Verdict:
    if name.startswith("sig:"):
        s = _sig(f, name[4:])
        return (True, s.line) if s else (None, None)
    if name in EVIDENCE:
        return EVIDENCE[name](f)
    return _text(signatures().evidence[name].text)(f)


# --- reasoning ---------------------------------------------------------------------------------------

@dataclass
class Candidate:
    cause: str
    score: float = 0.0
    signatures: list[str] = field(default_factory=list)  # the message lines that proposed it
    confirmed: list[str] = field(default_factory=list)
    open: list[str] = field(default_factory=list)  # evidence names still unknown
    ruled_out: list[str] = field(default_factory=list)
    support: str = "message"  # one of SUPPORT: how the cause is known

    def stronger_support(self, other: str) -> None:
        if SUPPORT.index(other) < SUPPORT.index(self.support):
            self.support = other


@dataclass
class Diagnosis:
    ranked: list[Candidate]  # best first; empty: no failure signature
    ruled_out: list[Candidate]
    signatures: list[str]  # ids of the fault signatures seen
    # candidates an observation contradicts (CUDA works here), each with the note that replaces it
    contradicted: list[tuple[Candidate, str]] = field(default_factory=list)
    cuda_failure: str | None = None  # the meaning of a message seen that shows CUDA failing, if any
    rivals: set[str] = field(default_factory=set)  # causes offered as explanations of the same failure

    @property
    def primary(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


def _rank(kb: KnowledgeBase, names: list[str]) -> str:
    """The weakest rank among evidence names: a fact signature is only as strong as its weakest part."""
    ranks = [kb.evidence[n].rank for n in names if n in kb.evidence] or ["observed"]
    return max(ranks, key=SUPPORT.index)


def cuda_works(f: HostFacts) -> str | None:
    """The observation that CUDA works here (torch.cuda.is_available() True with a device), or None."""
    t = f.torch
    if t.is_available is True and t.device_count != 0:
        return "torch.cuda.is_available() = True" + (f" ({t.device_count} device(s))" if t.device_count else "")
    return None


def _fact_signatures(f: HostFacts, kb: KnowledgeBase) -> list[tuple[str, str, list, str]]:
    """(signature id, line, cause refs, support) that fire from facts alone (`when:`) or from the Xid table."""
    out = []
    for s in kb.signatures:
        if s.when:
            vals = [evidence(f, n) for n in s.when]
            if all(v is True for v, _ in vals):
                out.append((s.id, "; ".join(l for _, l in vals if l), s.causes, _rank(kb, s.when)))
        if s.xid_table and f.gpu.xid_events:
            table = load("xid")
            first = {}
            for e in f.gpu.xid_events:  # one per code: a code repeated 10,000 times is one piece of evidence
                first.setdefault((e.sxid, e.xid), e)
            for e in first.values():
                entry = (table["sxid"] if e.sxid else table["xid"]).get(e.xid, {})
                cls = entry.get("class", table["default_class"])
                w = 10.0 if entry.get("level") == "fail" else 4.0
                out.append((s.id, e.line, [_ref(cls, w)], "observed"))
    return out


def _ref(cause: str, w: float):
    return CauseRef(cause=cause, w=w)


def diagnose(f: HostFacts) -> Diagnosis:
    kb = signatures()
    fired: list[tuple[str, str, list, str]] = []
    for seen in f.diagnosis.signatures:
        s = kb.signature(seen.id)
        if not s.info and not s.xid_table:
            fired.append((s.id, seen.line, s.causes, "message"))
    fired += _fact_signatures(f, kb)
    cands: dict[str, Candidate] = {}
    dropped: dict[str, Candidate] = {}
    proposers: dict[str, set[str]] = {}  # cause -> signature ids: agreement counts once per signature
    for sid, line, refs, support in fired:
        for ref in refs:
            c = Candidate(ref.cause, ref.w, [line], support=support)
            if support == "observed" and kb.signature(sid).when:
                c.score += OBSERVED_BONUS
                c.confirmed.append(f"observed: {line}")
            for name in ref.rule_out:
                v, ev = evidence(f, name)
                if v:
                    c.ruled_out.append(f"{kb.evidence[name].means if name in kb.evidence else name}: {ev}")
            if c.ruled_out:
                dropped.setdefault(ref.cause, c)
                continue
            for name in ref.confirm:
                v, ev = evidence(f, name)
                if v:
                    c.score += CONFIRM_BONUS
                    c.confirmed.append(ev or name)
                elif v is None and not name.startswith("sig:"):
                    c.open.append(name)
            old = cands.get(ref.cause)
            if old is None:
                cands[ref.cause] = c
                proposers[ref.cause] = {sid}
            else:  # the same cause from another signature: the best score, plus a little for agreement
                old.score = max(old.score, c.score) + (1.0 if sid not in proposers[ref.cause] else 0.0)
                old.stronger_support(c.support)
                proposers[ref.cause].add(sid)
                old.signatures += [l for l in c.signatures if l not in old.signatures][:5 - len(old.signatures)]
                old.confirmed += [x for x in c.confirmed if x not in old.confirmed]
                old.open += [x for x in c.open if x not in old.open]
    for cause in list(dropped):
        if cause in cands:
            del dropped[cause]
    ranked = sorted(cands.values(), key=lambda c: (-c.score, SUPPORT.index(c.support)))
    contradicted = []
    works = cuda_works(f)
    if works:
        # An observation outranks an inference: a cause that keeps CUDA from working, known only from a
        # table or a hint, is at most a note where CUDA is seen working.
        for c in list(ranked):
            spec = kb.causes[c.cause]
            if spec.blocks_cuda and c.support in ("inferred", "hint"):
                ranked.remove(c)
                contradicted.append((c, spec.when_cuda_works or f"{spec.title}: inferred, but {works}"))
    # A signature whose every candidate CUDA's working contradicts, or the evidence rules out, is no longer
    # a recognised failure (the ruled-out causes are still reported, as such).
    gone = ({c.cause for c, _ in contradicted} | set(dropped)) - {c.cause for c in ranked}
    seen = [sid for sid, _, refs, _ in fired if not refs or any(r.cause not in gone for r in refs)]
    # A message shows CUDA failing when its strongest cause keeps CUDA from working and the evidence left
    # that cause standing (a "CUDA Version: N/A" whose every cause is ruled out shows nothing failing).
    cuda_failure = None
    for sid, _, refs, support in fired:
        top = max(refs, key=lambda r: r.w, default=None)
        if support == "message" and top is not None and kb.causes[top.cause].blocks_cuda and top.cause in cands:
            cuda_failure = kb.signature(sid).meaning
            break
    # the causes the evidence offers as explanations of one failure: a check naming one of them is a rival
    # of the root cause; a check failing on a cause of its own is an independent problem
    rivals = {c.cause for c in ranked} | set(dropped)
    return Diagnosis(ranked, list(dropped.values()), list(dict.fromkeys(seen)), contradicted,
                     None if works else cuda_failure, rivals)
