"""GPU configuration a training job depends on: persistence mode, NVSwitch fabric manager, MIG."""

from envdoctor.diagnosis.catalog import check, from_cause, passed, skip, unknown
from envdoctor.models import Status
from envdoctor.parsers.signatures import lines_of


def _no_gpu_list(facts):
    """skip/unknown outcome when there is no per-GPU information to judge, else None."""
    g = facts.gpu
    if g.known_no_gpu:
        return skip("no NVIDIA GPU on this machine")
    if not [x for x in (g.gpus or []) if not x.lost]:
        return unknown("no per-GPU information (nvidia-smi did not list any GPU)", missing=["nvidia-smi -q -x"])
    return None


@check("persistence_mode", "Persistence mode on data-center GPUs", order=300, playbook="persistence-mode.yml")
def persistence_mode(facts):
    """Without persistence mode the driver tears the GPU state down whenever the last process
    exits, and every new CUDA process pays a re-initialisation of up to seconds per GPU (more with
    many GPUs); on data-center GPUs NVIDIA recommends the nvidia-persistenced daemon. Desktop GPUs
    do not need it. The persistence-mode.yml playbook enables the daemon."""
    out = _no_gpu_list(facts)
    if out:
        return out
    g = facts.gpu
    gpus = [x for x in g.gpus if not x.lost]
    off_dc = [x for x in gpus if x.persistence_mode is False and x.datacenter]
    if off_dc:
        ev = [f"{x.label}: Persistence-M Off" for x in off_dc]
        if g.persistenced_state:
            ev.append(f"nvidia-persistenced.service: {g.persistenced_state}")
        return from_cause(Status.WARN, f"persistence mode is off on {len(off_dc)} data-center GPU(s)",
                          "persistence_mode_off", ev)
    if all(x.persistence_mode is None for x in gpus) and g.persistenced_active is None:
        return unknown("persistence mode not reported", missing=["nvidia-smi"])
    if not any(x.datacenter for x in gpus):
        return passed("desktop/workstation GPU(s): persistence mode not needed",
                      evidence=[f"{x.label}: Persistence-M {'On' if x.persistence_mode else 'Off'}" for x in gpus
                                if x.persistence_mode is not None])
    return passed("persistence mode is on", evidence=[f"{x.label}: Persistence-M On" for x in gpus
                                                      if x.persistence_mode])


@check("fabric_manager", "NVSwitch fabric manager running", order=160, playbook="fabricmanager.yml")
def fabric_manager(facts):
    """On HGX/DGX systems the GPUs talk through NVSwitch chips, and the nvidia-fabricmanager service
    must configure that fabric before CUDA can use the GPUs. Without it CUDA fails with error 802,
    "system not yet initialized" (cudaErrorSystemNotReady), and nvidia-smi -q shows the GPU fabric
    state as not completed. The fabricmanager package must match the driver version exactly. Systems
    without NVSwitch do not need it."""
    g = facts.gpu
    gpus = [x for x in (g.gpus or []) if not x.lost]
    pending = [x for x in gpus if x.fabric_state and x.fabric_state.lower() in ("in progress", "not started")]
    bad_status = [x for x in gpus if x.fabric_status and x.fabric_status.lower() not in ("success", "n/a")]
    err802 = lines_of(g.errors_seen, ("cuda_system_not_ready_802",))
    branch = (g.nvml_version or g.kernel_module_version or "<branch>").split(".")[0]
    commands = [f"sudo apt-get install nvidia-fabricmanager-{branch}   # same version as the driver",
                "sudo systemctl enable --now nvidia-fabricmanager",
                "journalctl -u nvidia-fabricmanager -b --no-pager | tail -20"]
    ev = []
    if g.nvswitch_count:
        ev.append(f"{g.nvswitch_count} NVSwitch device(s) found")
    if g.fabricmanager_state:
        ev.append(f"nvidia-fabricmanager.service: {g.fabricmanager_state}"
                  + ("" if g.fabricmanager_installed is not False else " (not installed)"))
    ev += [f"{x.label}: fabric state {x.fabric_state}" for x in pending]
    ev += [f"{x.label}: fabric status {x.fabric_status}" for x in bad_status]
    ev += err802[:2]
    if g.nvswitch_count and g.fabricmanager_active is False:
        state = ("not installed" if g.fabricmanager_installed is False else
                 f"{g.fabricmanager_state}; it fails to start when its version differs from the driver's")
        return from_cause(Status.FAIL, "NVSwitch system without a running fabric manager", "fabric_manager", ev,
                          detail=f"nvidia-fabricmanager: {state}", commands=commands)
    if pending or bad_status or (err802 and g.nvswitch_count != 0):
        return from_cause(Status.FAIL, "the GPU fabric is not initialised (CUDA error 802)", "fabric_manager", ev,
                          commands=commands)
    if g.nvswitch_count == 0 and not any(x.fabric_state and x.fabric_state.lower() == "completed" for x in gpus):
        return skip("no NVSwitch on this machine: fabric manager not needed")
    if g.nvswitch_count and g.fabricmanager_active:
        return passed("fabric manager is running", evidence=ev)
    done = [x for x in gpus if x.fabric_state and x.fabric_state.lower() == "completed"]
    if done:
        return passed("GPU fabric registration completed",
                      evidence=[f"{x.label}: fabric state {x.fabric_state}, status {x.fabric_status}" for x in done])
    if g.known_no_gpu:
        return skip("no NVIDIA GPU on this machine")
    return unknown("whether this machine has NVSwitch, or its fabric manager's state, is not known",
                   missing=[m for m, v in (("PCI devices", g.nvswitch_count), ("systemctl show nvidia-fabricmanager",
                                                                              g.fabricmanager_state)) if v is None])


@check("mig_config", "MIG configuration usable", order=170)
def mig_config(facts):
    """With MIG (Multi-Instance GPU) enabled, CUDA sees only the MIG instances created on the GPU:
    MIG mode on with no GPU/compute instance means no usable CUDA device at all. A MIG mode change
    that is "pending" takes effect only after a GPU reset or reboot."""
    out = _no_gpu_list(facts)
    if out:
        return out
    gpus = [x for x in facts.gpu.gpus if not x.lost]
    pending = [x for x in gpus if x.mig_mode_pending is not None and x.mig_mode_current is not None
               and x.mig_mode_pending != x.mig_mode_current]
    empty = [x for x in gpus if x.mig_mode_current and x.mig_devices == 0]
    if empty:
        return from_cause(Status.FAIL, f"MIG is enabled with no instance on {len(empty)} GPU(s): CUDA has no device "
                          "there", "mig_misconfigured", [f"{x.label}: MIG mode Enabled, 0 MIG devices" for x in empty])
    if pending:
        return from_cause(Status.WARN, f"a MIG mode change is pending on {len(pending)} GPU(s)", "mig_pending_reset",
                          [f"{x.label}: MIG current {'Enabled' if x.mig_mode_current else 'Disabled'}, pending "
                           f"{'Enabled' if x.mig_mode_pending else 'Disabled'}" for x in pending])
    on = [x for x in gpus if x.mig_mode_current]
    unknown_count = [x for x in on if x.mig_devices is None]
    if unknown_count:
        return unknown("MIG is enabled; the number of MIG instances is not known",
                       evidence=[f"{x.label}: MIG mode Enabled" for x in unknown_count], missing=["nvidia-smi -L"])
    # a listing without the MIG field (nvlink status, -L, an old table) says nothing about MIG
    unreported = [x for x in gpus if x.mig_mode_current is None]
    if unreported:
        return unknown(f"MIG mode not reported for {len(unreported)} GPU(s)",
                       evidence=[x.label for x in unreported], missing=["nvidia-smi -q (MIG Mode)"])
    if on:
        return passed(f"MIG enabled with instances on {len(on)} GPU(s)",
                      evidence=[f"{x.label}: {x.mig_devices} MIG device(s)" for x in on])
    return passed("MIG is not enabled", evidence=[f"{x.label}: MIG mode Disabled or N/A" for x in gpus])
