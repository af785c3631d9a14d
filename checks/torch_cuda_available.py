"""Check: torch.cuda.is_available(), with the root cause when it is False."""

from envdoctor.diagnosis.catalog import check, fail, from_cause, passed, skip, unknown, warn
from envdoctor.diagnosis.root_cause import diagnose
from envdoctor.diagnosis.torch_evidence import gpus_seen
from envdoctor.knowledge import signatures
from envdoctor.models import Fix, Status
from envdoctor.parsers.torch_errors import DEVICE_COUNT_CALL


# torch's own words at is_available(): a paste holding one of these shows its result was False
def _from_is_available(e) -> bool:
    return bool(e.found_version) or e.kind in ("torch_no_driver", "torch_not_compiled_with_cuda") \
        or e.kind == DEVICE_COUNT_CALL or (e.code is not None and DEVICE_COUNT_CALL in e.line)


# Not a cause: what to run when none is determined (CUDA's own error names it)
UNDETERMINED = Fix(summary="Run `python -c 'import torch; torch.cuda.init()'` to see CUDA's error", manual=True)


def _root_cause(facts) -> str | None:
    """The cause of is_available() == False is the root cause's: one reasoning path for both lines."""
    p = diagnose(facts).primary
    return p.cause if p is not None and p.cause != "healthy" else None


def _title(cause_id: str) -> str:
    return signatures().causes[cause_id].title


@check("torch_cuda_available", "torch.cuda.is_available() is True", order=450)
def torch_cuda_available(facts):
    """The question every user asks first. When it is False, torch usually prints a warning saying
    why (driver too old, cudaGetDeviceCount error N); its cause is the root cause's (the knowledge base
    reasoning over every message and fact): a CPU-only build, no GPU, a driver too old for torch's
    CUDA, no driver loaded, a driver/library mismatch, CUDA_VISIBLE_DEVICES, Fabric Manager (error
    802), forward compatibility on an unsupported GPU (error 804), ..."""
    t = facts.torch
    if t.installed is False:
        return skip("torch is not installed")
    warn_lines = list(dict.fromkeys(t.warnings))[:3]
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
    cause_id = _root_cause(facts)
    said = list(dict.fromkeys(e.line for e in t.errors))  # what torch printed, each line once
    said += [w for w in dict.fromkeys(t.warnings) if w not in said and not any(w in x or x in w for x in said)][:3]
    if t.is_available is None:
        # A pasted message from is_available() itself settles it.
        if cause_id and any(_from_is_available(e) for e in t.errors):
            return from_cause(Status.FAIL, f"False because {_title(cause_id)}", cause_id,
                              evidence=said + ["(from the pasted torch message)"])
        return unknown("torch.cuda.is_available() was not evaluated", missing=["torch inspection"])
    base = ["torch.cuda.is_available() = False"] + ([f"error: {t.is_available_error}"] if t.is_available_error else [])
    if not cause_id:
        gpus = gpus_seen(facts)
        return fail("False; the cause is not determined from the evidence",
                    evidence=base + said + [f"GPUs named elsewhere: {', '.join(g.name or '?' for g in gpus)}"
                                            if gpus else "no GPU list"],
                    cause="not determined", fix=UNDETERMINED)
    return from_cause(Status.FAIL, f"False because {_title(cause_id)}", cause_id, evidence=base + said)
