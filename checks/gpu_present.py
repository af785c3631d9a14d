"""Is there an NVIDIA GPU, and can the driver (NVML, nvidia-smi) see every one on the PCI bus?"""

from envdoctor.catalog import check, fail, passed, unknown, warn
from envdoctor.models import Fix
from envdoctor.parsers.nvidia_smi import normalize_bus_id


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
        return fail("this machine has no NVIDIA GPU",
                    evidence=["no NVIDIA (vendor 10de) display/3D controller on the PCI bus"] + err,
                    cause="no NVIDIA GPU is attached to this machine (or passed through to this VM)",
                    fix=Fix(summary="run on a machine (or cloud instance type) with an NVIDIA GPU; "
                                    "for a VM, pass the GPU through to it", manual=True))
    if lost:
        return fail(f"{len(lost)} GPU(s) lost by the driver",
                    evidence=[f"{x.label}: NVML cannot reach it" for x in lost] + err + (g.fallen_off_bus or [])[:3],
                    cause="the GPU stopped responding (see xid_errors: Xid 79 / fallen off the bus)",
                    fix=Fix(summary="reboot the machine (or reset the GPU); if it recurs, check power, cooling "
                                    "and seating, and contact the vendor",
                            commands=["sudo nvidia-smi -r -i <bus id>  # only with no process on the GPU",
                                      "sudo reboot"], manual=True))
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
                return warn(f"{len(smi_gpus)} of {len(g.pci_gpus)} GPUs visible in this container", evidence=ev,
                            cause="the container was given only some GPUs (docker --gpus / NVIDIA_VISIBLE_DEVICES)",
                            fix=Fix(summary="start the container with the GPUs it needs (e.g. --gpus all)",
                                    manual=True))
            if any(p.driver and p.driver != "nvidia" for p in missing):
                cause = "the GPU is bound to another kernel driver: " + ", ".join(
                    sorted({p.driver for p in missing if p.driver and p.driver != "nvidia"}))
            elif g.nvidia_smi_available is False:
                cause = "nvidia-smi (the driver's user-space part) is not installed"
            elif g.kernel_module_loaded is False:
                cause = "the nvidia kernel module is not loaded (see driver_loaded)"
            else:
                cause = "the NVIDIA driver cannot reach the GPU (see driver_loaded, nvml_version_mismatch, xid_errors)"
            return fail(f"NVIDIA GPU on the PCI bus but not visible to the driver ({len(smi_gpus)} of "
                        f"{len(g.pci_gpus)} listed)", evidence=ev, cause=cause,
                        fix=Fix(summary="install/load the NVIDIA driver, then re-run envdoctor check",
                                commands=["nvidia-smi", "lsmod | grep -E 'nvidia|nouveau'"], manual=True))
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
        if g.nvml_mismatch:
            cause = "NVML cannot initialise: the driver's module and libraries differ (see nvml_version_mismatch)"
        elif g.nvidia_smi_available is False:
            cause = "the NVIDIA driver is not installed (no nvidia-smi)"
        else:
            cause = "the NVIDIA driver is not working (see driver_loaded)"
        return fail("no GPU visible to the driver (NVML lists none)",
                    evidence=err or ["nvidia-smi is not installed"], cause=cause,
                    fix=Fix(summary="install/load the NVIDIA driver", commands=["nvidia-smi"], manual=True))
    return unknown("whether an NVIDIA GPU is present is not known",
                   missing=["PCI devices (lspci -nn)", "nvidia-smi output"])
