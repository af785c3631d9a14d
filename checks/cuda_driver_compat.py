"""Check: the NVIDIA driver runs the CUDA runtime the installed torch was built with."""

from envdoctor.diagnosis.catalog import check, from_cause, passed, skip, unknown
from envdoctor.diagnosis.cuda_compat import forward_compat_supported, min_driver_for, minor_compat_floor
from envdoctor.diagnosis.torch_evidence import (driver_view, gpus_seen, no_driver_evidence, no_gpu_evidence,
                                                wheel_suggestion)
from envdoctor.models import Status
from envdoctor.versions import release

_TOO_OLD_KINDS = ("torch_driver_too_old",)  # signature ids (kinds of TorchErrorSeen)


def _commands(facts, d) -> list[str] | None:
    """This host's wheel for its driver, where one is known (else the knowledge base's generic commands)."""
    sugg = wheel_suggestion(facts, d)
    return ["nvidia-smi", sugg[1]] if sugg else None


def _needs(need: str | None) -> str | None:
    """What CUDA `need` asks of the driver (NVIDIA's table), said for this host."""
    if not need or not min_driver_for(need):
        return None
    floor = minor_compat_floor(need)
    return (f"CUDA {need} needs driver >= {min_driver_for(need)}"
            + (f" (or >= {floor} by minor-version compatibility)" if floor else ""))


def _too_old(facts, status, summary, ev, need, d, detail=None):
    return from_cause(status, summary, "driver_too_old", ev, detail=detail or _needs(need), commands=_commands(facts, d))


@check("driver_cuda_compat", "NVIDIA driver supports torch's CUDA version", order=420)
def driver_cuda_compat(facts):
    """torch wheels carry their own CUDA runtime (libcudart), but they need the driver's libcuda to be
    new enough. NVIDIA's table ("CUDA Toolkit and Corresponding Driver Versions") gives the driver each
    CUDA release runs natively. From CUDA 11 on, minor-version compatibility lets any driver at or
    above the family's floor (11.x: 450.80.02, 12.x: 525.60.13, 13.x: 580) run every CUDA of that major
    family, with a limited feature set (PTX newer than the driver cannot be JIT-compiled). Across
    major versions only forward compatibility (the cuda-compat package) helps, and only on data-center
    GPUs; on GeForce/RTX it fails with error 804. torch says "The NVIDIA driver on your system is too
    old (found version 11040)" when the driver is behind: 11040 means the driver runs CUDA 11.4."""
    t = facts.torch
    if t.installed is False:
        return skip("torch is not installed")
    if t.cpu_only_build and not t.cuda_build:
        return skip("torch is a CPU-only build: it has no CUDA runtime to match")
    if t.hip_build:
        return skip(f"ROCm build of torch (HIP {t.hip_build})")
    d = driver_view(facts)
    need = t.cuda_build
    ev = ([f"torch {t.version} built with CUDA {need}"] if need else []) + d.evidence
    too_old = [e.line for e in t.errors if e.kind in _TOO_OLD_KINDS]
    if too_old:
        have = f"CUDA {d.cuda}" if d.cuda else "an older CUDA"
        return _too_old(facts, Status.FAIL, f"the driver is too old for the CUDA runtime in use (driver runs {have}"
                        + (f", torch needs {need})" if need else ")"), ev + too_old[:3], need, d)
    if need is None or not release(need):
        return unknown("torch's CUDA version is not known", missing=["torch.version.cuda"], evidence=ev)
    if d.cuda is None:
        ran = [x for x in t.devices or [] if x.kernel_ok is True]
        if ran and len(ran) == len(t.devices or []):
            return passed(f"a CUDA kernel ran on every GPU: the driver runs torch's CUDA {need}",
                          evidence=ev + [f"GPU {x.index} {x.name}: kernel ok" for x in ran])
        if no_gpu_evidence(facts) or no_driver_evidence(facts):
            return skip("no NVIDIA driver here to compare with torch's CUDA " + need,
                        evidence=ev + no_gpu_evidence(facts) + no_driver_evidence(facts))
        return unknown(f"torch needs CUDA {need}; the driver's version is not known",
                       missing=["nvidia-smi / /proc/driver/nvidia/version"], evidence=ev)
    have, want = release(d.cuda)[:2], release(need)[:2]
    if have >= want:
        return passed(f"driver runs CUDA {d.cuda} natively; torch needs {need}", evidence=ev)
    floor = minor_compat_floor(need)
    if have[0] == want[0] and floor:
        if d.version is None or release(d.version) >= release(floor):
            note = (f"works by CUDA minor-version compatibility (driver >= {floor}); PTX JIT and features "
                    f"newer than CUDA {d.cuda} may fail (e.g. extensions shipping only PTX)")
            if d.version is None and want[0] == 11 and have == (11, 0):
                return _too_old(facts, Status.WARN, f"driver runs CUDA 11.0; CUDA 11.x minor-version compatibility "
                                f"needs >= {floor}", ev, need, d, detail="driver version unknown within the 11.0 branch")
            return passed(f"driver runs CUDA {d.cuda}; torch's CUDA {need} runs by minor-version compatibility",
                          evidence=ev + [note])
        return _too_old(facts, Status.FAIL, f"driver {d.version} is below the CUDA {want[0]}.x floor {floor}", ev, need,
                        d, detail=f"CUDA {need} needs driver >= {floor} (minor-version compatibility)")
    # Different major family: only forward compatibility (cuda-compat) could bridge it.
    compat = facts.cuda_env.compat_lib_dirs or []
    if compat:
        names = [g.name for g in gpus_seen(facts) or [] if g.name]
        support = [forward_compat_supported(n) for n in names]
        ev2 = ev + [f"forward-compatibility libraries on LD_LIBRARY_PATH: {', '.join(compat)}"]
        if names and all(s is True for s in support):
            return from_cause(Status.WARN, f"driver runs CUDA {d.cuda}; torch's CUDA {need} relies on forward "
                              "compatibility", "forward_compat_in_use", ev2)
        if any(s is False for s in support):
            return from_cause(Status.FAIL, f"driver runs CUDA {d.cuda}, torch needs {need}; forward compatibility does "
                              "not work on these GPUs (error 804)", "forward_compat_unsupported",
                              ev2 + [f"GPU: {n}" for n in names])
    ran = [x for x in t.devices or [] if x.kernel_ok is True]
    if ran and len(ran) == len(t.devices or []):
        # A kernel ran: something (a cuda-compat libcuda outside LD_LIBRARY_PATH) bridges the gap.
        return from_cause(Status.WARN, f"driver runs CUDA {d.cuda}, torch needs {need}, yet a test kernel ran on "
                          "every GPU", "forward_compat_in_use", ev + [f"GPU {x.index} {x.name}: kernel ok" for x in ran],
                          detail="probably: a cuda-compat libcuda outside LD_LIBRARY_PATH")
    return _too_old(facts, Status.FAIL, f"the driver is too old: it runs CUDA {d.cuda}, torch needs {need}", ev, need, d)
