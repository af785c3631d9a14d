"""The probe's run: every section's job in its own thread, then the output trimmed, every secret shape hidden,
and one JSON document printed."""

import glob
import json
import os
import sys
import threading

from .child_scripts import TORCH_SCRIPT
from .command import run
from .driver import (apt_history, cuda_driver_api, cuda_toolkits, dpkg_nvidia, kernel_log, nvidia_module_files,
                     nvml_init, pci_devices, secure_boot)
from .host import cdi_specs, cgroup_devices, container_markers, environment, infiniband, which, wsl_markers
from .redaction import redact_shapes, vocabulary_missing
from .section import read, text
from .security_access import security_jobs

PROBE_VERSION = 1


def main(argv):
    no_torch = "--no-torch" in argv
    jobs = {}
    if not no_torch:  # first: importing torch is the longest job, so it starts before the others
        jobs["torch"] = lambda: run([sys.executable, "-c", TORCH_SCRIPT], 120,
                                   show="python -c <import torch; inspect torch.cuda>")
    jobs.update({
        "proc_driver_version": lambda: read("/proc/driver/nvidia/version"),
        "proc_modules": lambda: read("/proc/modules"),
        "sys_module_nvidia_version": lambda: read("/sys/module/nvidia/version"),
        "apt_history": apt_history,
        "cuda_driver_api": cuda_driver_api,
        "pci_devices": pci_devices,
        "nvidia_smi_xml": lambda: run(["nvidia-smi", "-q", "-x"], 30),
        "nvidia_smi": lambda: run(["nvidia-smi"], 20),
        "nvidia_smi_list": lambda: run(["nvidia-smi", "-L"], 15),
        "nvswitch_devices": lambda: text("ls /dev/nvidia*", "\n".join(sorted(glob.glob("/dev/nvidia*"))) + "\n"),
        "kernel_log": kernel_log,
        "environment": environment,
        "cuda_toolkits": cuda_toolkits,
        "nvcc_version": lambda: run(["nvcc", "--version"], 15),
        "ldconfig_cuda": lambda: run(["ldconfig", "-p"], 15),
        "limits": lambda: read("/proc/self/limits"),
        "df_shm": lambda: run(["df", "-k", "/dev/shm"], 10),
        "mounts": lambda: read("/proc/mounts"),
        "meminfo": lambda: read("/proc/meminfo", 4096),
        "cpuinfo_count": lambda: text("os.cpu_count()", "%s\n" % os.cpu_count()),
        "container_markers": container_markers,
        "docker_info": lambda: run(["docker", "info"], 15),
        "docker_daemon_json": lambda: read("/etc/docker/daemon.json"),
        "nvidia_ctk_version": lambda: run(["nvidia-ctk", "--version"], 10),
        "nvidia_container_cli_version": lambda: run(["nvidia-container-cli", "--version"], 10),
        "nvidia_container_cli_info": lambda: run(["nvidia-container-cli", "info"], 15),
        "nvidia_container_toolkit_version": lambda: run(["nvidia-container-runtime-hook", "--version"], 10),
        "cdi_specs": cdi_specs,
        "systemd_units": lambda: run(["systemctl", "show", "-p", "Id,ActiveState,UnitFileState,LoadState",
                                      "nvidia-fabricmanager.service", "nvidia-persistenced.service",
                                      "docker.service", "nvidia-dcgm.service"], 10),
        "tools": lambda: which(["nvidia-smi", "nvcc", "docker", "podman", "nvidia-ctk", "nvidia-container-cli",
                                "nvidia-container-runtime-hook", "nv-fabricmanager", "apt-get", "dnf", "yum",
                                "systemctl"]),
        "os_release": lambda: read("/etc/os-release"),
        "uname": lambda: text("uname -srm", "%s %s %s\n" % (os.uname().sysname, os.uname().release,
                                                            os.uname().machine)),
        "dpkg_nvidia": dpkg_nvidia,
        # diagnosis: the evidence that tells failure causes apart
        "nvml_init": nvml_init,
        "secure_boot": secure_boot,
        "nvidia_modinfo": lambda: run(["modinfo", "nvidia"], 10),
        "nvidia_module_files": nvidia_module_files,
        "dkms_status": lambda: run(["dkms", "status"], 15),
        "wsl_markers": wsl_markers,
        "cgroup_devices": cgroup_devices,
        "infiniband": infiniband,
    })
    jobs.update(security_jobs())
    sections = {}

    def work(name, fn):
        try:
            sections[name] = fn()
        except Exception as e:  # a probe bug must not lose the other sections
            sections[name] = {"cmd": name, "rc": None, "stdout": "", "stderr": "", "secs": 0.0,
                              "error": "probe error: %s: %s" % (type(e).__name__, e)}

    threads = [threading.Thread(target=work, args=(n, f), daemon=True) for n, f in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Drop the bulk of ldconfig: only the CUDA/NVIDIA libraries are evidence.
    ld = sections.get("ldconfig_cuda")
    if ld and ld.get("stdout"):
        ld["stdout"] = "\n".join(l for l in ld["stdout"].splitlines()
                                 if "libcuda" in l or "libnvidia" in l or "libcudart" in l) + "\n"
    # Secrets by shape (a URL's password, a token) in any output: hidden here, before anything leaves the host.
    for sec in sections.values():
        for k in ("cmd", "stdout", "stderr", "error"):
            if isinstance(sec.get(k), str):
                sec[k] = redact_shapes(sec[k])
    doc = {"probe_version": PROBE_VERSION, "sections": sections}
    missing = vocabulary_missing()
    if missing:
        doc["vocabulary_missing"] = missing
        sys.stderr.write("envdoctor probe: %s\n" % missing)
    sys.stdout.write(json.dumps(doc))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
