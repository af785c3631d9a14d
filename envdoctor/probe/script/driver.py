"""The NVIDIA driver, its kernel module and CUDA on the host: PCI devices, the kernel log, installed toolkits and
packages, what the driver API and NVML say, Secure Boot, the module files for the running kernel."""

import glob
import json
import os
import sys

from .child_scripts import CUDA_API_SCRIPT, NVML_SCRIPT
from .command import run
from .section import read, text


def pci_devices():
    """Every PCI device as `<slot> <vendor> <device> <class>` (ids in hex, no 0x) from sysfs."""
    lines = []
    for d in sorted(glob.glob("/sys/bus/pci/devices/*")):
        vals = []
        for f in ("vendor", "device", "class"):
            try:
                with open(os.path.join(d, f)) as fh:
                    vals.append(fh.read().strip().replace("0x", ""))
            except OSError:
                vals.append("?")
        extra = []
        for f in ("current_link_speed", "max_link_speed", "current_link_width", "max_link_width"):
            try:
                with open(os.path.join(d, f)) as fh:
                    extra.append("%s=%s" % (f, fh.read().strip().replace(" ", "_")))
            except OSError:
                pass
        drv = os.path.join(d, "driver")
        if os.path.islink(drv):
            extra.append("driver=" + os.path.basename(os.readlink(drv)))
        lines.append(" ".join([os.path.basename(d)] + vals + extra))
    if not os.path.isdir("/sys/bus/pci/devices"):
        return {"cmd": "ls /sys/bus/pci/devices", "rc": None, "stdout": "", "stderr": "", "secs": 0.0,
                "error": "not-found"}
    return text("ls /sys/bus/pci/devices (vendor device class per slot)", "\n".join(lines) + "\n")


def kernel_log():
    """NVIDIA lines of the kernel log: dmesg when readable, else the journal."""
    sec = run(["dmesg", "--ctime"], 15)
    if sec["error"] is None and sec["rc"] == 0:
        keep = [l for l in sec["stdout"].splitlines() if ("NVRM" in l or "nvidia" in l.lower() or "nouveau" in l
                                                         or "Xid" in l or "SXid" in l or "Lockdown" in l
                                                         or "key was rejected" in l.lower() or "required key" in l.lower())]
        sec["stdout"] = "\n".join(keep[-2000:]) + ("\n" if keep else "")
        sec["cmd"] = "dmesg --ctime | grep -E 'NVRM|Xid|nvidia|nouveau'"
        return sec
    j = run(["journalctl", "-k", "-b", "--no-pager", "-o", "short-iso", "-g", "NVRM|Xid|nvidia|nouveau|Lockdown|[Kk]ey was rejected|[Rr]equired key",
             "-n", "2000"], 20)
    if j["error"] is None and j["rc"] in (0, 1):
        return j
    return sec


def cuda_toolkits():
    """The CUDA toolkits under /usr/local and /opt, their versions, and where /usr/local/cuda points."""
    lines = []
    for d in sorted(set(glob.glob("/usr/local/cuda*") + glob.glob("/opt/cuda*") + glob.glob("/usr/lib/cuda"))):
        kind = "link -> " + os.path.realpath(d) if os.path.islink(d) else "dir"
        version = ""
        for vf in ("version.json", "version.txt"):
            p = os.path.join(d, vf)
            if os.path.isfile(p):
                try:
                    with open(p) as fh:
                        body = fh.read(4096)
                    if vf == "version.json":
                        version = json.loads(body).get("cuda", {}).get("version", "")
                    else:
                        version = body.strip().split()[-1]
                except (OSError, ValueError, IndexError):
                    pass
                break
        nvcc = os.path.join(d, "bin", "nvcc")
        lines.append("%s\t%s\tversion=%s\tnvcc=%s" % (d, kind, version or "?", "yes" if os.path.exists(nvcc) else "no"))
    return text("ls -d /usr/local/cuda* /opt/cuda* (with version.json)", "\n".join(lines) + ("\n" if lines else ""))


def apt_history():
    """Entries of apt's history that touched NVIDIA packages: an unattended driver upgrade is the usual
    cause of a driver/library mismatch."""
    sec = read("/var/log/apt/history.log")
    if sec["error"] is None:
        entries = sec["stdout"].split("\n\n")
        keep = [e.strip() for e in entries if "nvidia" in e.lower()]
        sec["stdout"] = "\n\n".join(keep[-20:]) + ("\n" if keep else "")
        sec["cmd"] = "grep nvidia entries of /var/log/apt/history.log"
    return sec


def cuda_driver_api():
    """cuDriverGetVersion/cuInit through ctypes, in its own interpreter (cuInit can hang on a broken
    driver). Only where an NVIDIA driver shows signs of life: elsewhere it would only say "no libcuda"."""
    if not (glob.glob("/dev/nvidia*") or os.path.exists("/proc/driver/nvidia")):
        sec = text("python -c <cuDriverGetVersion, cuInit via ctypes>", "")
        sec.update(rc=None, error="not-found")
        return sec
    return run([sys.executable, "-c", CUDA_API_SCRIPT], 30, show="python -c <cuDriverGetVersion, cuInit via ctypes>")


def dpkg_nvidia():
    """Installed NVIDIA and CUDA packages, `<package> <version> <status>` per line (one process, filtered here)."""
    sec = run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n", "*nvidia*", "cuda-*"], 15)
    if sec["error"] is None:
        keep = [l for l in sec["stdout"].splitlines() if l.endswith(" installed")]
        sec["stdout"] = "\n".join(keep[:200]) + ("\n" if keep else "")
        sec["stderr"] = ""  # "no packages found matching" is not an error here
        sec["rc"] = 0
        sec["cmd"] = "dpkg-query -W '*nvidia*' 'cuda-*' (installed only)"
    return sec


def nvml_init():
    if not (glob.glob("/dev/nvidia*") or os.path.exists("/proc/driver/nvidia")
            or glob.glob("/usr/lib*/**/libnvidia-ml.so.1", recursive=False) or glob.glob("/usr/lib/wsl/lib/libnvidia-ml*")):
        sec = text("python -c <nvmlInit_v2 via ctypes>", "")
        sec.update(rc=None, error="not-found")
        return sec
    return run([sys.executable, "-c", NVML_SCRIPT], 20, show="python -c <nvmlInit_v2 via ctypes>")


def secure_boot():
    """mokutil --sb-state, or the SecureBoot EFI variable (its last byte is 1 when enabled)."""
    sec = run(["mokutil", "--sb-state"], 10)
    if sec["error"] is None and "SecureBoot" in sec["stdout"] + sec["stderr"]:
        return sec
    for p in glob.glob("/sys/firmware/efi/efivars/SecureBoot-*"):
        try:
            with open(p, "rb") as fh:
                data = fh.read()
            return text("cat " + p, "SecureBoot %s\n" % ("enabled" if data[-1:] == b"\x01" else "disabled"))
        except OSError:
            pass
    if not os.path.isdir("/sys/firmware/efi"):
        return text("ls /sys/firmware/efi", "SecureBoot disabled (legacy BIOS boot: no EFI)\n")
    return sec


def nvidia_module_files():
    """nvidia*.ko* under /lib/modules/$(uname -r): is there a module for the running kernel at all?"""
    root = "/lib/modules/" + os.uname().release
    if not os.path.isdir(root):
        sec = text("find %s -name 'nvidia*.ko*'" % root, "")
        sec.update(rc=None, error="not-found")
        return sec
    found = []
    for d, _dirs, names in os.walk(root):
        found += [os.path.join(d, n) for n in names if n.startswith("nvidia") and ".ko" in n]
        if len(found) > 50:
            break
    return text("find %s -name 'nvidia*.ko*'" % root, "\n".join(sorted(found)) + ("\n" if found else ""))
