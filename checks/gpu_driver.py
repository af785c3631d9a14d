"""The NVIDIA kernel driver: loaded, not displaced by nouveau, and the same version as its user-space
libraries (NVML)."""

import re

from envdoctor.diagnosis.catalog import check, fail, from_cause, passed, skip, unknown
from envdoctor.models import Status
from envdoctor.parsers.driver_state import library_versions
from envdoctor.parsers.signatures import lines_of

# The signatures saying no driver answers (nvidia-smi cannot talk to it, torch finds none, no NVML library)
_NOT_REACHABLE = ("smi_cannot_communicate", "torch_no_driver", "nvml_lib_not_found")
_REINSTALL = "sudo apt-get install --reinstall nvidia-driver-<branch>   # or your distribution's driver package"


def _branch(facts) -> str | None:
    g = facts.gpu
    for v in (g.userspace_package_version, g.kernel_module_version, g.nvml_version):
        if v:
            return v.split(".")[0]
    for pkg in g.dpkg_packages or {}:
        m = re.match(r"nvidia-driver-(\d+)", pkg)
        if m:
            return m.group(1)
    return None


def _reinstall_cmd(facts) -> str:
    b = _branch(facts)
    return _REINSTALL.replace("<branch>", b) if b else _REINSTALL


def _upgrade_note(facts) -> tuple[list[str], str]:
    lines = facts.gpu.driver_upgrade_lines
    if any("unattended-upgrade" in l for l in lines):
        return lines[:4], " (the evidence shows unattended-upgrades changed the NVIDIA packages)"
    return lines[:4], ""


@check("driver_loaded", "NVIDIA kernel driver loaded", order=120)
def driver_loaded(facts):
    """Checks that the `nvidia` kernel module is loaded (/proc/driver/nvidia/version, /proc/modules)
    and that nvidia-smi can talk to it.

    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver" means the module
    is not loaded or cannot be: most often after the driver packages were upgraded underneath a
    running system (unattended-upgrades), or after a kernel update for which the module was not
    rebuilt (DKMS). Reloading the module or rebooting fixes the first; reinstalling the driver the
    second. With nouveau bound to the GPU the nvidia module cannot load (see the `nouveau` check)."""
    g = facts.gpu
    comm = lines_of(g.errors_seen, _NOT_REACHABLE)
    if comm:
        upg, note = _upgrade_note(facts)
        ev = comm[:3] + upg
        if g.nouveau_loaded:
            ev.append("nouveau is loaded")
        if g.kernel_module_version:
            ev.append(f"loaded module: {g.kernel_module_version}")
        if g.kernel_module_loaded and facts.system.in_container:
            # the host's module answers in /proc, yet nothing reaches it from here: the container has no GPU
            return from_cause(Status.FAIL, "the NVIDIA driver is not reachable from this container",
                              "container_without_gpus", ev + ["the host's nvidia module is loaded"])
        if g.nouveau_loaded:
            return from_cause(Status.FAIL, "the NVIDIA driver is not reachable", "nouveau_owns_device", ev)
        # the packages changed under the running module (observed); otherwise the root cause ranks the causes
        cause = "driver_library_mismatch" if upg or _differs(g.kernel_module_version, g.nvml_version) else None
        if cause is None:
            return fail("the NVIDIA driver is not reachable (the root cause names why, or what to run to tell)",
                        evidence=ev)
        commands = ["lsmod | grep nvidia", "sudo modprobe nvidia", "dkms status", _reinstall_cmd(facts),
                    "sudo reboot"] if cause == "module_missing_for_kernel" else None
        return from_cause(Status.FAIL, "the NVIDIA driver is not reachable", cause, ev, commands=commands,
                          detail=note.strip(" ()") if cause == "driver_library_mismatch" and note else None)
    if g.kernel_module_loaded:
        ev = []
        if g.kernel_module_version:
            ev.append(f"loaded nvidia module {g.kernel_module_version}"
                      + (" (open kernel module)" if g.kernel_module_open else ""))
        if g.nvidia_modules:
            ev.append("modules: " + ", ".join(g.nvidia_modules))
        listed = [x for x in (g.gpus or []) if not x.lost]
        if not ev and listed:
            ev.append(f"nvidia-smi lists {len(listed)} GPU(s): the module is loaded and answering")
        return passed("nvidia kernel module loaded" + (f" ({g.kernel_module_version})" if g.kernel_module_version
                                                       else ""), evidence=ev)
    if g.known_no_gpu:
        return skip("no NVIDIA GPU on this machine: no driver needed")
    if g.kernel_module_loaded is False:
        ev = ["/proc/driver/nvidia/version is absent: the nvidia module is not loaded"]
        if g.pci_gpus:
            ev.insert(0, f"{len(g.pci_gpus)} NVIDIA GPU(s) on PCI, bound to: "
                      + ", ".join(sorted({p.driver or "no driver" for p in g.pci_gpus})))
        if g.nouveau_loaded:
            ev.append("nouveau is loaded")
        if g.nvidia_smi_available is False:
            ev.append("nvidia-smi is not installed")
        if g.nouveau_loaded:
            return from_cause(Status.FAIL, "nvidia kernel module not loaded", "nouveau_owns_device", ev)
        if g.nvidia_smi_available is False:
            return from_cause(Status.FAIL, "nvidia kernel module not loaded", "driver_not_installed", ev)
        if facts.diagnosis.module_for_kernel is False:
            return from_cause(Status.FAIL, "nvidia kernel module not loaded", "module_missing_for_kernel", ev,
                              commands=["sudo modprobe nvidia", "sudo dmesg | grep -iE 'nvrm|nvidia'", "dkms status",
                                        _reinstall_cmd(facts), "sudo reboot"])
        # installed but not loaded: failed to load, refused (Secure Boot), not built for this kernel...
        return fail("nvidia kernel module not loaded (the root cause names why, or what to run to tell)", evidence=ev)
    if facts.torch.collect_env_driver:
        return passed(f"NVIDIA driver {facts.torch.collect_env_driver} answered (collect_env's nvidia-smi)",
                      evidence=[f"Nvidia driver version: {facts.torch.collect_env_driver}"])
    return unknown("whether the nvidia kernel module is loaded is not known",
                   missing=["/proc/driver/nvidia/version", "/proc/modules"])


@check("nouveau", "nouveau is not holding the GPU", order=110, playbook="blacklist-nouveau.yml")
def nouveau(facts):
    """nouveau is the open-source kernel driver for NVIDIA GPUs. When it is loaded it takes the GPU
    and the proprietary/open `nvidia` module cannot bind to it, so CUDA is unavailable. The fix is to
    blacklist nouveau (a modprobe.d file plus a rebuilt initramfs) and reboot: the
    blacklist-nouveau.yml playbook does that."""
    g = facts.gpu
    if g.nouveau_loaded and not g.nouveau_bound and g.pci_gpus and all(p.driver == "nvidia" for p in g.pci_gpus):
        return from_cause(Status.WARN, "nouveau is loaded but holds no GPU", "nouveau_owns_device",
                          ["nouveau is in the loaded kernel modules"] + [f"GPU {p.slot} is bound to nvidia" for p in g.pci_gpus],
                          detail="not blacklisted: it may take the GPU at a boot where nvidia loads later")
    if g.nouveau_loaded or g.nouveau_bound:
        ev = [f"GPU {slot} is bound to nouveau" for slot in (g.nouveau_bound or [])]
        if g.nouveau_loaded:
            ev.append("nouveau is in the loaded kernel modules")
        return from_cause(Status.FAIL, "nouveau is loaded: the nvidia driver cannot use the GPU", "nouveau_owns_device", ev)
    if g.known_no_gpu:
        return skip("no NVIDIA GPU on this machine")
    if g.nouveau_loaded is False:
        if g.nvidia_modules is None and g.pci_gpus:  # known from the PCI bindings only
            return passed("every NVIDIA GPU is bound to nvidia, none to nouveau",
                          evidence=[f"GPU {p.slot}: driver {p.driver}" for p in g.pci_gpus])
        return passed("nouveau is not loaded")
    return unknown("whether nouveau is loaded is not known", missing=["/proc/modules"])


def _differs(a: str | None, b: str | None) -> bool:
    return bool(a and b and a != b)


@check("nvml_version_mismatch", "NVIDIA kernel module and user-space libraries match", order=130)
def nvml_version_mismatch(facts):
    """NVML (libnvidia-ml, used by nvidia-smi, torch and containers) must be the same version as the
    loaded kernel module. When the driver packages are upgraded while the old module is still loaded
    (typically by unattended-upgrades), every new NVML client fails with "Failed to initialize NVML:
    Driver/library version mismatch" while already-running jobs keep working. The loaded version is
    in /proc/driver/nvidia/version; the library version in nvidia-smi or the installed packages.
    Rebooting (or unloading and reloading the nvidia modules when no process uses the GPU) loads the
    new module; hold the driver packages to stop it from happening again."""
    g = facts.gpu
    mod = g.kernel_module_version
    upg, note = _upgrade_note(facts)
    commands = ["cat /proc/driver/nvidia/version",
                "sudo systemctl stop nvidia-persistenced nvidia-fabricmanager 2>/dev/null; "
                "sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia && sudo modprobe nvidia",
                "sudo reboot   # if the modules are in use",
                "sudo apt-mark hold $(dpkg-query -W -f '${Package}\\n' '*nvidia*' | grep -E '[0-9]+$')"
                "   # or add them to Unattended-Upgrade::Package-Blacklist"]

    def mismatch(summary: str, ev: list[str], detail: str | None = None):
        return from_cause(Status.FAIL, summary, "driver_library_mismatch", ev, detail=detail, commands=commands)

    def versions() -> list[str]:
        ev = []
        if mod:
            ev.append(f"loaded kernel module (/proc/driver/nvidia/version): {mod}")
        if g.nvml_version:
            ev.append(f"user-space driver (nvidia-smi): {g.nvml_version}")
        if g.userspace_package_version and g.userspace_package_version != g.nvml_version:
            ev.append(f"user-space library package: {g.userspace_package_version}")
        return ev

    if g.nvml_mismatch:
        ev = lines_of(g.errors_seen, ("nvml_library_mismatch",))[:2] + versions() + upg
        detail = (f"kernel module {mod}, user-space libraries {g.userspace_package_version}"
                  if _differs(mod, g.userspace_package_version) else None)
        return mismatch("the kernel module and the driver's libraries are different versions", ev,
                        "; ".join(x for x in (detail, note.strip(" ()")) if x) or None)
    if _differs(mod, g.nvml_version):
        return mismatch(f"kernel module {mod} but user-space driver {g.nvml_version}", versions() + upg,
                        note.strip(" ()") or None)
    if mod and g.dpkg_packages:
        libs = library_versions(g.dpkg_packages)
        if libs and all(v != mod for _, v in libs) and not g.nvml_version:
            return mismatch(f"kernel module {mod} but installed libraries {libs[0][1]}",
                            versions() + [f"installed: {p} {v}" for p, v in libs[:4]] + upg,
                            "the new module loads only after a reboot" + note.replace(" (", "; ").rstrip(")"))
    if mod and g.nvml_version:
        return passed(f"kernel module and NVML are both {mod}", evidence=versions())
    if g.nvml_mismatch is False and (mod or g.nvml_version):
        return passed("NVML initialised (no version mismatch)", evidence=versions())
    if g.known_no_gpu or (g.kernel_module_loaded is False and g.nvidia_smi_available is False):
        return skip("no NVIDIA driver installed")
    return unknown("the kernel module and library versions are not both known",
                   missing=[m for m, v in (("/proc/driver/nvidia/version", mod), ("nvidia-smi", g.nvml_version)) if not v])
