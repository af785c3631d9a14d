"""/dev/shm size vs what PyTorch DataLoader workers need."""

from envdoctor.diagnosis.catalog import check, from_cause, passed, unknown
from envdoctor.knowledge import load
from envdoctor.models import Status

SHM_SIGNATURE = "shm_bus_error"

GiB = 1024**3
MiB = 1024**2


def _size(n: int) -> str:
    return f"{n / GiB:.1f} GiB" if n >= GiB else f"{n / MiB:.0f} MiB"


def _cause(in_container: bool | None) -> str:
    """A container's /dev/shm is set where it starts (--shm-size); a host's is its tmpfs."""
    return "shm_host_too_small" if in_container is False else "shm_too_small"


def _commands(in_container: bool | None) -> list[str] | None:
    if in_container is False:
        return None
    return ["docker run --shm-size=8g ...", "docker run --ipc=host ...",
            'sudo python3 -c \'import json,os; p="/etc/docker/daemon.json"; '
            'd=json.load(open(p)) if os.path.exists(p) else {}; d["default-shm-size"]="8G"; '
            'json.dump(d, open(p, "w"), indent=2)\' && sudo systemctl restart docker   # every container of this host']


@check("shm_size", "Shared memory (/dev/shm) is large enough for DataLoader workers", order=720, playbook="shm.yml")
def shm_size(facts):
    """PyTorch DataLoader workers (num_workers > 0) hand every batch to the main process through shared
    memory in /dev/shm. When it is full a worker dies with "Unexpected bus error encountered in worker.
    This might be caused by insufficient shared memory (shm)".

    Docker gives each container a 64 MiB /dev/shm unless it is started with --shm-size or --ipc=host:
    a 64 MiB (or smaller) /dev/shm inside a container, or in a paste, fails. Otherwise the check warns
    below min(8 GiB, half of RAM). Why 8 GiB: with 8 workers and the default prefetch_factor of 2, sixteen
    batches can be in flight; one ImageNet-size batch (256 x 3 x 224 x 224 float32) is about 154 MB, so
    about 2.5 GiB, and larger images or batches quickly need more: 8 GiB leaves headroom for common
    training jobs. Half of RAM caps it because that is what a tmpfs gets by default and shared memory is
    RAM. A pasted bus-error message fails whatever the size.

    Evidence: `df -k /dev/shm` (or /proc/mounts), pasted `df -h`, and pasted DataLoader errors.
    Fix: `docker run --shm-size=8g` or `--ipc=host`, docker's `default-shm-size`, or a bigger tmpfs."""
    s = facts.system
    data = load("container_limits")
    # the knowledge base recognises the messages (signature shm_bus_error); the check reports the lines
    errors = list(dict.fromkeys(x.line for x in facts.diagnosis.signatures if x.id == SHM_SIGNATURE))
    size = s.shm_size_bytes
    in_ctr = s.in_container
    if in_ctr is None and s.shm_filesystem == "shm":
        in_ctr = True  # docker and podman name the tmpfs they mount on /dev/shm "shm"
    where = "inside a container" if in_ctr else ("on the host" if in_ctr is False else "")
    if errors:
        ev = errors[:3] + s.shm_evidence
        sized = f" /dev/shm is {_size(size)}." if size is not None else ""
        return from_cause(Status.FAIL, f"shared memory ran out (a bus error in DataLoader workers or NCCL).{sized}",
                          _cause(in_ctr), ev, commands=_commands(in_ctr),
                          detail="Docker's 64 MiB default" if size and size <= data["docker_default_shm_bytes"] else None)
    if size is None:
        ev = s.container_shm_mounts[:2] if s.container_shm_mounts else []
        if ev:
            ev = ["this docker host's containers have their own small /dev/shm:"] + ev
        return unknown("size of /dev/shm not known", missing=["df -k /dev/shm"], evidence=ev)
    need = data["shm_recommended_bytes"]
    if facts.system.mem_total_bytes:
        need = min(need, int(facts.system.mem_total_bytes * data["shm_recommended_ram_fraction"]))
    ev = list(s.shm_evidence)
    if size <= data["docker_default_shm_bytes"] and in_ctr is not False:
        return from_cause(Status.FAIL, f"/dev/shm is only {_size(size)} {where}".rstrip() + ": DataLoader workers "
                          "will crash with a bus error", "shm_too_small", ev, commands=_commands(in_ctr),
                          detail="started without --shm-size or --ipc=host: Docker's 64 MiB default")
    if size < need:
        return from_cause(Status.WARN, f"/dev/shm is {_size(size)} {where}".rstrip() + f", below the {_size(need)} "
                          "recommended for DataLoader workers", _cause(in_ctr), ev, commands=_commands(in_ctr),
                          detail="it limits num_workers x prefetch_factor x batch size")
    return passed(f"/dev/shm is {_size(size)} {where}".rstrip() + f" (at least {_size(need)})", ev)
