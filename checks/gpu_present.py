"""Is there an NVIDIA GPU, and can the driver (NVML, nvidia-smi) see every one on the PCI bus?"""

from envdoctor.diagnosis.catalog import check, fail, from_cause, passed, unknown
from envdoctor.models import Status
from envdoctor.parsers.nvidia_smi import normalize_bus_id


def _without_gpus(facts) -> bool:
    """Inside a container while the host's module is loaded (or not known): the container got no GPU."""
    return bool(facts.system.in_container) and facts.gpu.kernel_module_loaded is not False


def _not_visible(facts, summary: str, ev: list[str]):
    """The fail for GPUs NVML does not list, with the cause the evidence supports (none: the root cause tells)."""
    g = facts.gpu
    if _without_gpus(facts):
        return from_cause(Status.FAIL, summary, "container_without_gpus", ev)
    if g.nvml_mismatch:
        return from_cause(Status.FAIL, summary, "driver_library_mismatch", ev)
    others = sorted({p.driver for p in g.pci_gpus or [] if p.driver and p.driver != "nvidia"})
    if others:  # nouveau, nova_core, vfio-pci...: another driver holds it
        return from_cause(Status.FAIL, summary, "nouveau_owns_device", ev, detail="bound to " + ", ".join(others))
    if g.nvidia_smi_available is False and g.kernel_module_loaded is not True:
        return from_cause(Status.FAIL, summary, "driver_not_installed", ev)
    # the driver does not list the GPU, for a reason this check does not see: the root cause ranks them
    return fail(summary + " (the root cause names why, or what to run to tell)", evidence=ev)


@check("gpu_present", "NVIDIA GPU present and visible to the driver", order=100)
def gpu_present(facts):
    """Compares the NVIDIA GPUs on the PCI bus (vendor 10de, class 0300/0302, read from sysfs or
    `lspci -nn`) with the GPUs the driver's management library (NVML, as shown by nvidia-smi) lists.

    No NVIDIA GPU on the bus means this machine cannot run CUDA at all. A GPU on the bus that NVML
    does not list (or lists as lost) points at the driver: not loaded, wrong version, or a GPU that
    fell off the bus; the other checks (driver_loaded, nvml_version_mismatch, xid_errors) name which.
    Inside a container, only the GPUs handed to it are visible, so fewer GPUs there is a warning."""
    g = facts.gpu
    smi_gpus = [x for x in (g.gpus or []) if not x.lost]
    lost = [x for x in (g.gpus or []) if x.lost]
    err = [g.nvidia_smi_error] if g.nvidia_smi_error else []

    if g.pci_gpus == [] and not smi_gpus:
        return from_cause(Status.FAIL, "this machine has no NVIDIA GPU", "no_gpu_on_bus",
                          ["no NVIDIA (vendor 10de) display/3D controller on the PCI bus"] + err)
    if lost:
        return from_cause(Status.FAIL, f"{len(lost)} GPU(s) lost by the driver", "gpu_hardware_xid",
                          [f"{x.label}: NVML cannot reach it" for x in lost] + err + (g.fallen_off_bus or [])[:3],
                          commands=["sudo nvidia-smi -r -i <bus id>  # only with no process on the GPU", "sudo reboot"])
    if g.pci_gpus and g.gpus is not None:
        seen = {normalize_bus_id(x.pci_bus_id) for x in smi_gpus if x.pci_bus_id}
        missing = [p for p in g.pci_gpus if normalize_bus_id(p.slot) not in seen] if seen else []
        if not smi_gpus or missing or len(smi_gpus) < len(g.pci_gpus):
            missing = missing or g.pci_gpus[len(smi_gpus):]
            ev = [f"on PCI: {len(g.pci_gpus)} NVIDIA GPU(s); listed by nvidia-smi: {len(smi_gpus)}"]
            ev += [f"not visible to NVML: {p.slot} (device 10de:{p.device_id}, driver {p.driver or 'none'})"
                   for p in missing]
            ev += err + (g.nvrm_lines or [])[:3]
            if facts.system.in_container and smi_gpus:
                return from_cause(Status.WARN, f"{len(smi_gpus)} of {len(g.pci_gpus)} GPUs visible in this container",
                                  "container_some_gpus", ev)
            return _not_visible(facts, f"NVIDIA GPU on the PCI bus but not visible to the driver ({len(smi_gpus)} of "
                                f"{len(g.pci_gpus)} listed)", ev)
        return passed(f"{len(smi_gpus)} NVIDIA GPU(s), all visible to the driver",
                      evidence=[x.label for x in smi_gpus])
    if smi_gpus:
        ev = [x.label for x in smi_gpus]
        if g.attached_gpus and g.attached_gpus > len(smi_gpus):
            ev.append(f"nvidia-smi reports {g.attached_gpus} attached GPUs; the evidence holds {len(smi_gpus)}")
        return passed(f"{len(smi_gpus)} NVIDIA GPU(s) visible to the driver", evidence=ev)
    ce = facts.torch.collect_env_gpus
    if g.gpus is None and ce:
        # collect_env lists the GPUs nvidia-smi showed it
        return passed(f"{len(ce)} NVIDIA GPU(s) listed by collect_env (from nvidia-smi)", evidence=list(ce))
    if g.gpus == [] and g.pci_gpus is None:
        return _not_visible(facts, "no GPU visible to the driver (NVML lists none)", err or ["nvidia-smi is not installed"])
    return unknown("whether an NVIDIA GPU is present is not known",
                   missing=["PCI devices (lspci -nn)", "nvidia-smi output"])
