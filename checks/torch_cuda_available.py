"""Check: torch.cuda.is_available(), with the root cause when it is False."""

from envdoctor.catalog import check, fail, passed, skip, unknown, warn
from envdoctor.cuda_compat import minor_compat_floor, vtuple
from envdoctor.models import Fix
from envdoctor.torch_evidence import driver_view, gpus_seen, no_driver_evidence, no_gpu_evidence

# CUDA error codes whose cause comes from the failure-signature knowledge base (root_cause); error 2 at
# init has no signature of its own (it is an out-of-memory inside cudaGetDeviceCount, seen on WSL2).
_INIT_OOM = ("CUDA ran out of memory while initialising (on WSL2, often too little memory for many GPUs)",
             Fix(summary="Free GPU/host memory or expose fewer GPUs (CUDA_VISIBLE_DEVICES); on WSL2 raise the VM's "
                         "memory in .wslconfig", manual=True))


def _from_knowledge(facts, e) -> tuple[str, Fix] | None:
    """The knowledge base's most likely cause for a CUDA init error, with its fix."""
    from envdoctor.knowledge import signatures
    from envdoctor.root_cause import diagnose

    p = diagnose(facts).primary
    if p is None:
        return None
    spec = signatures().causes[p.cause]
    return spec.title, Fix(summary=spec.fix.summary, commands=spec.fix.commands, playbook=spec.fix.playbook, manual=True)


def _why(facts) -> tuple[str, list[str], Fix | None]:
    """The root cause of is_available() == False, as the other facts tell it."""
    t, ce = facts.torch, facts.cuda_env
    if t.cpu_only_build and not t.cuda_build:
        return "the torch build is CPU-only", [e.line for e in t.errors if e.kind == "not_compiled_with_cuda"][:1], \
            Fix(summary="Reinstall torch from a CUDA wheel index (see torch_cuda_build)", manual=True)
    if no_gpu_evidence(facts):
        return "this host has no NVIDIA GPU", no_gpu_evidence(facts), \
            Fix(summary="Run on a host with an NVIDIA GPU (for a VM: pass the GPU through; for a container: "
                        "--gpus all)", manual=True)
    too_old = [e.line for e in t.errors if e.kind in ("driver_too_old", "driver_insufficient")]
    d = driver_view(facts)
    if vtuple(t.cuda_build) and d.cuda and vtuple(d.cuda)[:2] < vtuple(t.cuda_build)[:2]:
        same = vtuple(d.cuda)[0] == vtuple(t.cuda_build)[0] and minor_compat_floor(t.cuda_build)
        if not same:
            too_old.append(f"driver runs CUDA {d.cuda}, torch needs {t.cuda_build}")
    if too_old:
        return "the NVIDIA driver is too old for torch's CUDA", too_old[:3], \
            Fix(summary="Upgrade the driver or install an older-CUDA torch wheel (see driver_cuda_compat)", manual=True)
    if facts.gpu.nvml_mismatch:
        return "the loaded driver module and its user-space libraries differ (Driver/library version mismatch)", \
            [f"kernel module {facts.gpu.kernel_module_version}, library {facts.gpu.nvml_version}"], \
            Fix(summary="Reboot (or reload the nvidia modules) to load the upgraded driver", manual=True)
    v = ce.cuda_visible_devices
    if ce.cuda_visible_devices_set and (v or "").strip() in ("", "-1"):
        return "CUDA_VISIBLE_DEVICES hides every GPU", [f"CUDA_VISIBLE_DEVICES={v!r}"], \
            Fix(summary="unset CUDA_VISIBLE_DEVICES", commands=["unset CUDA_VISIBLE_DEVICES"], manual=True)
    nd = no_driver_evidence(facts)
    if nd:
        return "no NVIDIA driver is loaded", nd, Fix(summary="Install/load the NVIDIA driver (see the driver checks)",
                                                     manual=True)
    for e in t.errors:
        if e.kind in ("device_count_error", "system_not_initialized", "forward_compat_unsupported", "cuda_unknown_error"):
            if e.code == 2:
                cause, fix = _INIT_OOM
                return cause, [e.line], fix
            known = _from_knowledge(facts, e) if e.code in (802, 804, 999) else None
            if known:
                return known[0], [e.line], known[1]
    for e in t.errors:
        if e.kind == "device_count_error":
            return f"CUDA initialisation failed (error {e.code})", [e.line], \
                Fix(summary="Look up the CUDA error code; check the driver and the kernel log (dmesg | grep NVRM)",
                    manual=True)
    return "", [], None


@check("torch_cuda_available", "torch.cuda.is_available() is True", order=450)
def torch_cuda_available(facts):
    """The question every user asks first. When it is False, torch usually prints a warning saying
    why (driver too old, cudaGetDeviceCount error N); envdoctor correlates it with the other facts and
    names the root cause: a CPU-only build, no GPU, a driver too old for torch's CUDA, no driver
    loaded, a driver/library mismatch, CUDA_VISIBLE_DEVICES, Fabric Manager (error 802), forward
    compatibility on an unsupported GPU (error 804)."""
    t = facts.torch
    if t.installed is False:
        return skip("torch is not installed")
    warn_lines = [w for w in t.warnings][:3]
    if t.is_available is True:
        n = t.device_count if t.device_count is not None else (
            len(t.collect_env_gpus) if t.collect_env_gpus else None)
        bad = [d for d in t.devices or [] if d.kernel_ok is False]
        ev = ([f"torch.cuda.device_count() = {t.device_count}"] if t.device_count is not None else []) + \
            [f"GPU {d.index}: {d.name}" for d in t.devices or []] + \
            ([f"collect_env GPUs: {', '.join(t.collect_env_gpus)}"] if t.collect_env_gpus and not t.devices else [])
        if bad:
            return warn(f"True ({n} GPU(s)), but a kernel fails on {len(bad)} of them (see torch_arch_support)",
                        evidence=ev + [f"GPU {d.index}: {d.kernel_error}" for d in bad])
        return passed(f"True: {n} GPU(s) usable" if n is not None else "True", evidence=ev + warn_lines)
    cause, ev, fix = _why(facts)
    if t.is_available is None:
        # A pasted warning from is_available() itself settles it.
        if any(e.kind in ("driver_too_old", "device_count_error", "no_driver", "not_compiled_with_cuda")
               for e in t.errors) and cause:
            return fail(f"False because {cause}", evidence=ev + ["(from the pasted torch message)"], cause=cause, fix=fix)
        return unknown("torch.cuda.is_available() was not evaluated", missing=["torch inspection"])
    base = ["torch.cuda.is_available() = False"] + ([f"error: {t.is_available_error}"] if t.is_available_error else [])
    if not cause:
        gpus = gpus_seen(facts)
        return fail("False; the cause is not determined from the evidence",
                    evidence=base + warn_lines + [f"GPUs named elsewhere: {', '.join(g.name or '?' for g in gpus)}"
                                                  if gpus else "no GPU list"],
                    cause="not determined", fix=Fix(summary="Run `python -c 'import torch; torch.cuda.init()'` to see CUDA's error",
                                        manual=True))
    return fail(f"False because {cause}", evidence=base + ev + warn_lines, cause=cause, fix=fix)
