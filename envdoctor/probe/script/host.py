"""The host around the GPU: the environment (secrets hidden), container and WSL markers, CDI specs, cgroup device
rules, InfiniBand devices, the tools on PATH."""

import glob
import json
import os
import shutil
import sys

from .redaction import redact_shapes, secret_name
from .section import read, text


def environment():
    keep = {}
    for k, v in os.environ.items():
        if k.startswith(("CUDA", "NVIDIA", "NCCL", "LD_", "TORCH", "PYTORCH", "CONDA", "VIRTUAL_ENV", "SLURM_JOB",
                         "KUBERNETES_SERVICE")) or k in ("PATH", "HOME", "USER", "container"):
            keep[k] = "<redacted>" if secret_name(k) else redact_shapes(v)  # a secret never leaves the target
    keep["__python__"] = sys.executable
    keep["__python_version__"] = sys.version.split()[0]
    return text("env (selected)", json.dumps(keep, indent=1, sort_keys=True) + "\n")


def container_markers():
    marks = []
    for p in ("/.dockerenv", "/run/.containerenv"):
        if os.path.exists(p):
            marks.append("exists " + p)
    try:
        with open("/proc/1/cgroup") as fh:
            marks.append("cgroup1 " + fh.read().replace("\n", " | ")[:2000])
    except OSError:
        pass
    try:
        with open("/proc/1/sched") as fh:
            marks.append("sched1 " + fh.readline().strip())
    except OSError:
        pass
    return text("container markers", "\n".join(marks) + ("\n" if marks else ""))


def cdi_specs():
    found = []
    for d in ("/etc/cdi", "/var/run/cdi"):
        found += sorted(glob.glob(os.path.join(d, "*")))
    return text("ls /etc/cdi /var/run/cdi", "\n".join(found) + ("\n" if found else ""))



def wsl_markers():
    lines = []
    for p in ("/usr/lib/wsl/lib", "/dev/dxg"):
        if os.path.exists(p):
            lines.append("exists " + p)
    if os.path.isdir("/usr/lib/wsl/lib"):
        lines += ["wsl lib " + n for n in sorted(os.listdir("/usr/lib/wsl/lib")) if n.startswith(("libcuda", "libnvidia-ml"))]
    try:
        with open("/proc/version") as fh:
            lines.append("proc_version " + fh.read().strip())
    except OSError:
        pass
    return text("ls /usr/lib/wsl/lib /dev/dxg; cat /proc/version", "\n".join(lines) + "\n")


def cgroup_devices():
    """The container's device access rules: cgroup v1 devices.list; v2 enforces them in eBPF (no list)."""
    for p in ("/sys/fs/cgroup/devices/devices.list", "/sys/fs/cgroup/devices.list"):
        if os.path.exists(p):
            return read(p, 65536)
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return text("ls /sys/fs/cgroup", "cgroup2 (device rules are eBPF programs: no list to read)\n")
    sec = text("cat /sys/fs/cgroup/devices/devices.list", "")
    sec.update(rc=None, error="not-found")
    return sec


def infiniband():
    d = "/sys/class/infiniband"
    names = sorted(os.listdir(d)) if os.path.isdir(d) else []
    return text("ls /sys/class/infiniband", "\n".join(names) + ("\n" if names else ""))


def which(names):
    return text("command -v " + " ".join(names), "\n".join("%s\t%s" % (n, shutil.which(n) or "") for n in names) + "\n")
