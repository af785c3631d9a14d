"""Check: torch ships kernels for every GPU's compute capability."""

from envdoctor.diagnosis.catalog import check, fail, from_cause, passed, skip, unknown
from envdoctor.diagnosis.cuda_compat import arch_coverage
from envdoctor.diagnosis.torch_evidence import gpus_seen, no_gpu_evidence, python_cmd, reinstall_command
from envdoctor.knowledge import load, signatures
from envdoctor.models import Status
from envdoctor.parsers.signatures import scan_signatures
from envdoctor.versions import release

# The signatures that say a kernel has no binary for the GPU: only these mean the wheel lacks the arch
_NO_KERNEL_SIGNATURES = {"cuda_no_kernel_image", "cuda_arch_not_in_wheel"}
_ARCH = "arch_not_in_wheel"


def _below_all(cap: str | None, arches: list[str] | None) -> bool:
    """The GPU is older than every architecture the build has kernels for."""
    nums = [int(a.split("_")[1]) for a in arches or [] if a.split("_")[-1].isdigit()]
    v = release(cap)
    return bool(nums and v and len(v) >= 2 and v[0] * 10 + v[1] < min(nums))


def _too_old(cap: str | None, min_cap: str | None) -> bool:
    return bool(release(cap) and release(min_cap) and release(cap) < release(min_cap))


def _wheel_commands(facts, caps: list[str]) -> list[str] | None:
    """This host's command for a wheel that has these GPUs' kernels; None: the knowledge base's own
    (an older release, for GPUs below every architecture of the build)."""
    if caps and all(_below_all(c, facts.torch.arch_list) for c in caps):
        return None
    need = None
    for cap in caps:
        v = release(cap)
        arch = f"sm_{v[0]}{v[1]}" if v and len(v) >= 2 else None
        c = load("torch_gpu_arch")["min_cuda_for_arch"].get(arch)
        if c and (need is None or release(c) > release(need)):
            need = c
    if need:
        tag = next((w["tag"] for w in reversed(load("torch_releases")["cuda_wheels"]) if release(w["cuda"]) >= release(need)
                    and w.get("last_torch") is None), None)
        if tag:
            return [reinstall_command(facts, tag)]
    return [f"{python_cmd(facts)} -c 'import torch; print(torch.cuda.get_arch_list())'"]


def _kernel_error_cause(error: str | None) -> str | None:
    """The knowledge base's cause of a failed test kernel: the arch for a no-kernel-image error, the
    error's own most likely cause for any other recognised one (a busy GPU), else None."""
    seen = [s.id for s in scan_signatures(error or "")]
    if any(s in _NO_KERNEL_SIGNATURES for s in seen):
        return _ARCH
    kb = signatures()
    for sid in seen:
        sig = kb.signature(sid)
        if sig.causes and not sig.info:
            return max(sig.causes, key=lambda c: c.w).cause
    return None


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
        causes = {_kernel_error_cause(d.kernel_error) for d in bad}
        summary = f"a CUDA kernel fails on {len(bad)} of {len(ran)} GPU(s)"
        if causes == {_ARCH}:
            return from_cause(Status.FAIL, summary, _ARCH, ev + ev_arch,
                              commands=_wheel_commands(facts, [d.capability for d in bad if d.capability]))
        known = sorted(c for c in causes if c and c != _ARCH)
        if len(known) == 1 and None not in causes:
            return from_cause(Status.FAIL, summary, known[0], ev + ev_arch)
        # not a missing architecture: another torch would not help, and the error names no known cause
        return fail(summary, evidence=ev + ev_arch + ["the error is not a missing-kernel-image error; its cause "
                                                      "is not determined (see root_cause)"])
    errs = [e for e in t.errors if e.kind == "cuda_arch_not_in_wheel" and (e.capability or e.supported_arches)]
    if errs and not ran:
        ev = [e.line for e in errs][:4]
        if any(e.supported_arches for e in errs) and not ev_arch:
            ev.append("torch supports: " + " ".join(next(e.supported_arches for e in errs if e.supported_arches)))
        e = next((x for x in errs if x.capability), errs[0])
        if _too_old(e.capability, e.min_capability):
            return from_cause(Status.FAIL, f"the GPU ({e.gpu_name or '?'}, capability {e.capability}) is too old for "
                              f"this torch (minimum {e.min_capability})", _ARCH, ev + ev_arch,
                              detail="this torch build dropped the GPU's architecture")
        if _below_all(e.capability, e.supported_arches or t.arch_list):
            return from_cause(Status.FAIL, f"{e.gpu_name or 'the GPU'} (capability {e.capability}) is older than every "
                              "architecture this torch was built for", _ARCH, ev + ev_arch,
                              detail="this torch build dropped the GPU's architecture")
        return from_cause(Status.FAIL, f"{e.gpu_name or 'the GPU'} (sm_{(e.capability or '?').replace('.', '')}) is "
                          "not in torch's arch list", _ARCH, ev + ev_arch,
                          commands=_wheel_commands(facts, [x.capability for x in errs if x.capability]))
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
    kernel_errs = [e.line for e in t.errors if e.kind == "cuda_no_kernel_image"]
    if none:
        return from_cause(Status.FAIL, f"torch has no kernels for {len(none)} GPU(s): " + ", ".join(
            f"{g.name} sm_{g.capability.replace('.', '')}" for g, _ in none),
            _ARCH, [l for _, l in none] + ev_arch + kernel_errs[:2],
            commands=_wheel_commands(facts, [g.capability for g, _ in none]))
    if unk:
        return unknown("compute capability of some GPUs is not known", evidence=[l for _, l in unk] + ev_arch)
    if kernel_errs:
        # torch covers the GPU: the kernel without an image is a compiled extension's
        return from_cause(Status.WARN, "torch covers the GPUs, yet a kernel had no image for this GPU",
                          "extension_build_mismatch", kernel_errs[:2] + [l for _, l in ok + ptx] + ev_arch,
                          detail="a compiled extension (not torch itself) lacks this GPU's architecture")
    if ptx:
        return from_cause(Status.WARN, "GPU(s) covered only by PTX: kernels are JIT-compiled at first use",
                          _ARCH, [l for _, l in ptx] + ev_arch,
                          detail="no cubin, only PTX the driver compiles: slow start, and it fails on a driver "
                                 "older than the build's CUDA",
                          commands=_wheel_commands(facts, [g.capability for g, _ in ptx]))
    return passed(f"torch's arch list covers all {len(ok)} GPU(s)", evidence=[l for _, l in ok] + ev_arch)
