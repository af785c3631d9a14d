"""Check: CUDA_VISIBLE_DEVICES does not hide the GPUs."""

import re

from envdoctor.diagnosis.catalog import check, from_cause, passed, unknown
from envdoctor.models import Status


def _resolve(entry: str, gpus) -> bool | None:
    """Whether one CUDA_VISIBLE_DEVICES entry names a present GPU (None: cannot tell)."""
    if re.fullmatch(r"\d+", entry):
        return int(entry) < len(gpus)
    if entry.startswith(("GPU-", "MIG-")):
        uuids = [g.uuid for g in gpus if g.uuid]
        if not uuids:
            return None
        # CUDA accepts any unique prefix of a UUID; MIG-<uuid> names a MIG instance (not in GPU list).
        if entry.startswith("MIG-"):
            return None
        return sum(1 for u in uuids if u.startswith(entry)) == 1
    return False


@check("cuda_visible_devices", "CUDA_VISIBLE_DEVICES does not hide the GPUs", order=440)
def cuda_visible_devices(facts):
    """CUDA_VISIBLE_DEVICES selects the GPUs a process sees, by index or UUID (a unique prefix is
    enough). Set to an empty string or -1 it hides every GPU ("No CUDA GPUs are available"); CUDA
    stops reading the list at the first entry that names no device, so one stale index can hide the
    GPUs listed after it. Schedulers (Slurm, Kubernetes) set it for you; a value left in a shell
    profile or a Dockerfile is a common cause of a GPU that "disappears"."""
    ce = facts.cuda_env
    pasted = facts.diagnosis.cuda_visible_devices  # an `export CUDA_VISIBLE_DEVICES=...` seen in a paste
    if ce.cuda_visible_devices_set is None and pasted is None:
        return unknown("the environment was not collected", missing=["environment variables"])
    if ce.cuda_visible_devices_set is None:
        ce = ce.model_copy(update={"cuda_visible_devices_set": True, "cuda_visible_devices": pasted})
    if not ce.cuda_visible_devices_set:
        nvd = ce.nvidia_visible_devices
        if nvd is not None and nvd.strip().lower() in ("", "void", "none"):
            # The NVIDIA container runtime mounts no GPU into a container started with this value.
            return from_cause(Status.WARN, f"NVIDIA_VISIBLE_DEVICES={nvd!r}: the NVIDIA container runtime gives this "
                              "container no GPU", "container_without_gpus", [f"NVIDIA_VISIBLE_DEVICES={nvd!r}"])
        return passed("CUDA_VISIBLE_DEVICES is not set: every GPU is visible")
    value = ce.cuda_visible_devices or ""
    ev = [f"CUDA_VISIBLE_DEVICES={value!r}"]
    if value.strip() in ("", "-1", "none", "NoDevFiles"):
        return from_cause(Status.FAIL, "CUDA_VISIBLE_DEVICES hides every GPU", "cuda_visible_devices", ev)
    entries = [e.strip() for e in value.split(",")]
    gpus = facts.gpu.gpus
    if facts.torch.is_available is False and facts.torch.device_count == 0 and gpus:
        ev.append(f"torch sees 0 devices; nvidia-smi lists {len(gpus)}")
    if not gpus:
        return unknown(f"CUDA_VISIBLE_DEVICES={value} cannot be checked: the GPU list is not known",
                       missing=["nvidia-smi GPU list"], evidence=ev)
    visible = 0
    for i, e in enumerate(entries):
        ok = _resolve(e, gpus)
        if ok is None:
            return passed(f"CUDA_VISIBLE_DEVICES={value} (entries not all verifiable)", evidence=ev)
        if not ok:
            ev.append(f"entry {e!r} names no GPU present ({len(gpus)} GPU(s): indices 0..{len(gpus) - 1})")
            if visible == 0:
                return from_cause(Status.FAIL, f"CUDA_VISIBLE_DEVICES={value} names no GPU present",
                                  "cuda_visible_devices", ev, detail="CUDA stops at the first entry naming no device")
            return from_cause(Status.WARN, f"CUDA_VISIBLE_DEVICES={value}: entries from {e!r} on are ignored",
                              "cuda_visible_devices", ev, detail="CUDA stops at the first entry naming no device")
        visible += 1
    return passed(f"CUDA_VISIBLE_DEVICES={value}: {visible} of {len(gpus)} GPU(s) visible", evidence=ev)
