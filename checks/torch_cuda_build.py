"""Check: the installed torch is a CUDA build, not a CPU-only wheel."""

from envdoctor.diagnosis.catalog import check, from_cause, passed, skip, unknown
from envdoctor.diagnosis.torch_evidence import no_gpu_evidence, python_cmd, wheel_suggestion
from envdoctor.knowledge import wheel_index
from envdoctor.models import Status


@check("torch_cuda_build", "PyTorch is built with CUDA", order=410)
def torch_cuda_build(facts):
    """A CPU-only torch wheel (`2.3.1+cpu`, collect_env's "CUDA used to build PyTorch: None", the
    error "Torch not compiled with CUDA enabled") cannot use any GPU, whatever the driver. pip picks
    it from PyPI on some platforms, or from the `/whl/cpu` index. The fix is to reinstall torch from
    the PyTorch index of a CUDA variant the driver runs."""
    t = facts.torch
    if t.installed is False:
        return skip("torch is not installed")
    if t.hip_build:
        return skip(f"ROCm build of torch (HIP {t.hip_build})")
    if t.cuda_build:
        return passed(f"torch {t.version or ''} is built with CUDA {t.cuda_build}".replace("  ", " "),
                      evidence=[f"torch.version.cuda = {t.cuda_build}"])
    if t.cpu_only_build is None:
        return unknown("torch's build (CPU-only or CUDA) is not known",
                       missing=["torch.version.cuda (probe) or collect_env 'CUDA used to build PyTorch'"])
    ev = []
    if t.version:
        ev.append(f"torch version: {t.version}")
    ev.append("CUDA used to build PyTorch: None")
    ev += [e.line for e in t.errors if e.kind == "torch_not_compiled_with_cuda"][:2]
    sugg = wheel_suggestion(facts)
    cmd = sugg[1] if sugg else (f"{python_cmd(facts)} -m pip install --force-reinstall torch torchvision "
                                f"--index-url {wheel_index('cu126')}")
    detail = f"{sugg[0]} runs on this driver" if sugg else None
    if no_gpu_evidence(facts):
        return from_cause(Status.WARN, "torch is a CPU-only build (and this host has no NVIDIA GPU)",
                          "torch_cpu_only_build", ev + no_gpu_evidence(facts), detail=detail, commands=[cmd])
    return from_cause(Status.FAIL, "torch is a CPU-only build: it cannot use a GPU", "torch_cpu_only_build", ev,
                      detail=detail, commands=[cmd])
