"""Check: torch ships kernels for every GPU's compute capability."""

from envdoctor.catalog import check, fail, passed, skip, unknown, warn
from envdoctor.cuda_compat import arch_coverage, vtuple
from envdoctor.knowledge import load
from envdoctor.models import Fix
from envdoctor.torch_evidence import gpus_seen, no_gpu_evidence, python_cmd, reinstall_command


_OLDER_FIX = Fix(summary="Install an older torch release whose arch list still includes this GPU "
                         "(check torch.cuda.get_arch_list()), or use a newer GPU", manual=True)


def _below_all(cap: str | None, arches: list[str] | None) -> bool:
    """The GPU is older than every architecture the build has kernels for."""
    nums = [int(a.split("_")[1]) for a in arches or [] if a.split("_")[-1].isdigit()]
    v = vtuple(cap)
    return bool(nums and v and len(v) >= 2 and v[0] * 10 + v[1] < min(nums))


def _newer_wheel_fix(facts, caps: list[str]) -> Fix:
    if caps and all(_below_all(c, facts.torch.arch_list) for c in caps):
        return _OLDER_FIX
    need = None
    for cap in caps:
        v = vtuple(cap)
        arch = f"sm_{v[0]}{v[1]}" if v and len(v) >= 2 else None
        c = load("torch_gpu_arch")["min_cuda_for_arch"].get(arch)
        if c and (need is None or vtuple(c) > vtuple(need)):
            need = c
    if need:
        tag = next((w["tag"] for w in reversed(load("torch_releases")["cuda_wheels"]) if vtuple(w["cuda"]) >= vtuple(need)
                    and w.get("last_torch") is None), None)
        if tag:
            return Fix(summary=f"Install a torch wheel built with CUDA >= {need}, which includes these GPUs' kernels",
                       commands=[reinstall_command(facts, tag)], manual=True)
    return Fix(summary="Install a torch build whose arch list (torch.cuda.get_arch_list()) includes these GPUs",
               commands=[f"{python_cmd(facts)} -c 'import torch; print(torch.cuda.get_arch_list())'"], manual=True)


@check("torch_arch_support", "PyTorch has kernels for the GPU's architecture", order=430)
def torch_arch_support(facts):
    """Each torch wheel carries GPU kernels for a list of architectures (`torch.cuda.get_arch_list()`,
    e.g. sm_75 ... sm_120). A GPU whose compute capability is not covered gets "sm_120 is not
    compatible with the current PyTorch installation" and then "no kernel image is available for
    execution on the device" -- while `torch.cuda.is_available()` still says True. A cubin for sm_XY
    runs on the same major version with an equal or higher minor; PTX (compute_XY) is JIT-compiled by
    the driver for newer GPUs. Old GPUs dropped from a wheel get "PyTorch no longer supports this GPU
    because it is too old". The probe runs one tiny kernel per GPU: its result is decisive."""
    t = facts.torch
    if t.installed is False:
        return skip("torch is not installed")
    if t.cpu_only_build and not t.cuda_build:
        return skip("torch is a CPU-only build (see torch_cuda_build)")
    ev_arch = [f"torch arch list: {' '.join(t.arch_list)}"] if t.arch_list else []
    devices = t.devices or []
    ran = [d for d in devices if d.kernel_ok is not None]
    bad = [d for d in ran if d.kernel_ok is False]
    if bad:
        ev = [f"GPU {d.index} {d.name} (sm_{(d.capability or '?').replace('.', '')}): {d.kernel_error}" for d in bad]
        caps = [d.capability for d in bad if d.capability]
        return fail(f"a CUDA kernel fails on {len(bad)} of {len(ran)} GPU(s)", evidence=ev + ev_arch,
                    cause="torch has no kernel for this GPU's architecture" if any(
                        "no kernel image" in (d.kernel_error or "") for d in bad) else "a test kernel failed on the GPU",
                    fix=_newer_wheel_fix(facts, caps))
    errs = [e for e in t.errors if e.kind in ("arch_not_compatible", "gpu_too_old")]
    if errs and not ran:
        ev = [e.line for e in errs][:4]
        if any(e.supported_arches for e in errs) and not ev_arch:
            ev.append("torch supports: " + " ".join(next(e.supported_arches for e in errs if e.supported_arches)))
        too_old = [e for e in errs if e.kind == "gpu_too_old"]
        if too_old:
            e = too_old[0]
            return fail(f"the GPU ({e.gpu_name or '?'}, capability {e.capability or '?'}) is too old for this torch"
                        + (f" (minimum {e.min_capability})" if e.min_capability else ""), evidence=ev + ev_arch,
                        cause="this torch build dropped kernels for the GPU's architecture", fix=_OLDER_FIX)
        e = errs[0]
        if _below_all(e.capability, e.supported_arches or t.arch_list):
            return fail(f"{e.gpu_name or 'the GPU'} (capability {e.capability}) is older than every architecture "
                        "this torch was built for", evidence=ev + ev_arch,
                        cause="this torch build dropped kernels for the GPU's architecture", fix=_OLDER_FIX)
        return fail(f"{e.gpu_name or 'the GPU'} (sm_{(e.capability or '?').replace('.', '')}) is not in torch's arch list",
                    evidence=ev + ev_arch, cause="the installed torch wheel has no kernels for this GPU's architecture",
                    fix=_newer_wheel_fix(facts, [x.capability for x in errs if x.capability]))
    if ran:
        return passed(f"a test kernel ran on all {len(ran)} GPU(s)",
                      evidence=[f"GPU {d.index} {d.name} (capability {d.capability}): kernel ok" for d in ran] + ev_arch)
    gpus = gpus_seen(facts)
    if gpus == [] or (gpus is None and no_gpu_evidence(facts)):
        return skip("no NVIDIA GPU to run torch on", evidence=no_gpu_evidence(facts) + ev_arch)
    if gpus is None:
        return unknown("the GPUs' compute capabilities are not known", missing=["nvidia-smi / torch devices"],
                       evidence=ev_arch)
    if t.arch_list is None:
        return unknown("torch's arch list is not known", missing=["torch.cuda.get_arch_list()"],
                       evidence=[f"GPU: {n} x{sum(1 for g in gpus if g.name == n)}" for n in dict.fromkeys(
                           g.name for g in gpus)])
    none, ptx, ok, unk = [], [], [], []
    for g in gpus:
        cov = arch_coverage(g.capability, t.arch_list)
        line = f"GPU {g.index if g.index is not None else '?'} {g.name} (capability {g.capability or '?'}, from {g.source})"
        {"none": none, "ptx": ptx, "sass": ok}.get(cov, unk).append((g, line))
    kernel_errs = [e.line for e in t.errors if e.kind == "no_kernel_image"]
    if none:
        return fail(f"torch has no kernels for {len(none)} GPU(s): " + ", ".join(
            f"{g.name} sm_{g.capability.replace('.', '')}" for g, _ in none),
            evidence=[l for _, l in none] + ev_arch + kernel_errs[:2],
            cause="the installed torch wheel was not built for this GPU architecture",
            fix=_newer_wheel_fix(facts, [g.capability for g, _ in none]))
    if unk:
        return unknown("compute capability of some GPUs is not known", evidence=[l for _, l in unk] + ev_arch)
    if kernel_errs:
        return warn("torch covers the GPUs, yet \"no kernel image is available\" was seen",
                    evidence=kernel_errs[:2] + [l for _, l in ok + ptx] + ev_arch,
                    cause="a compiled extension (not torch itself) was built without this GPU's architecture, "
                          "or for another torch version",
                    fix=Fix(summary="Rebuild or reinstall the CUDA extension for this torch version and GPU "
                                    "(TORCH_CUDA_ARCH_LIST set to the GPU's capability)", manual=True))
    if ptx:
        return warn("GPU(s) covered only by PTX: kernels are JIT-compiled at first use",
                    evidence=[l for _, l in ptx] + ev_arch,
                    cause="no cubin for this architecture in the torch build; the driver compiles PTX (slow start, "
                          "and it fails on a driver older than the build's CUDA)",
                    fix=_newer_wheel_fix(facts, [g.capability for g, _ in ptx]))
    return passed(f"torch's arch list covers all {len(ok)} GPU(s)", evidence=[l for _, l in ok] + ev_arch)
