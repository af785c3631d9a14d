# envdoctor probe: stdlib only, Python >= 3.6. Run as `python3 - [--no-torch]` with this file on stdin.
# Prints one JSON document: {"probe_version": 1, "sections": {name: {cmd, rc, stdout, stderr, secs, error}}}.
# Every command runs in its own thread with its own timeout; a missing tool is "not-found", never a crash.
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time

PROBE_VERSION = 1
MAX_OUT = 2000000  # bytes kept per stream: a runaway kernel log must not flood the controller

# The torch inspection runs in its own interpreter (this one: sys.executable) so that a broken CUDA
# install that hangs or crashes on import is evidence, not a crash of the probe.
TORCH_SCRIPT = r'''
import json, sys, warnings, traceback
out = {"python": sys.version.split()[0], "executable": sys.executable}
caught = []
def _show(message, category, filename, lineno, file=None, line=None):
    caught.append("%s: %s" % (category.__name__, message))
warnings.showwarning = _show
warnings.simplefilter("always")
try:
    import torch
except Exception as e:
    out["import_error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out)); sys.exit(0)
out["version"] = torch.__version__
out["file"] = getattr(torch, "__file__", None)
out["cuda_build"] = getattr(torch.version, "cuda", None)
out["hip_build"] = getattr(torch.version, "hip", None)
out["git_version"] = getattr(torch.version, "git_version", None)
try:
    out["cudnn"] = torch.backends.cudnn.version()
except Exception as e:
    out["cudnn_error"] = str(e)
try:
    out["arch_list"] = torch.cuda.get_arch_list()
except Exception as e:
    out["arch_list_error"] = str(e)
try:
    out["nccl"] = ".".join(map(str, torch.cuda.nccl.version())) if out.get("cuda_build") else None
except Exception as e:
    out["nccl_error"] = str(e)
try:
    out["is_available"] = bool(torch.cuda.is_available())
except Exception as e:
    out["is_available_error"] = "%s: %s" % (type(e).__name__, e)
try:
    out["device_count"] = torch.cuda.device_count()
except Exception as e:
    out["device_count_error"] = "%s: %s" % (type(e).__name__, e)
try:
    out["driver_cuda"] = torch._C._cuda_getDriverVersion() if out.get("cuda_build") else None
except Exception as e:
    out["driver_cuda_error"] = "%s: %s" % (type(e).__name__, e)
devices = []
if out.get("is_available"):
    for i in range(out.get("device_count") or 0):
        d = {"index": i}
        try:
            p = torch.cuda.get_device_properties(i)
            d.update(name=p.name, capability=[p.major, p.minor], total_memory=p.total_memory)
        except Exception as e:
            d["error"] = "%s: %s" % (type(e).__name__, e)
        # is_available() can be True while no kernel runs (arch missing): run one tiny kernel.
        try:
            x = torch.arange(8, device="cuda:%d" % i, dtype=torch.float32)
            y = (x * 2 + 1).sum().item()
            torch.cuda.synchronize(i)
            d["kernel_ok"] = (y == 64.0)
        except Exception as e:
            d["kernel_ok"] = False
            d["kernel_error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
        devices.append(d)
out["devices"] = devices
# torchvision's version read from its version.py (with the +cuXYZ tag), not by importing it: the import
# costs as much as torch's, and whether it pairs with torch follows from the versions (the proof-run
# imports it for real).
def _torchvision_version():
    import importlib.util, os, re
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.origin:
        return None
    try:
        with open(os.path.join(os.path.dirname(spec.origin), "version.py")) as fh:
            m = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)", fh.read(), re.M)
        if m:
            return m.group(1)
    except OSError:
        pass
    import torchvision
    return torchvision.__version__
try:
    out["torchvision"] = _torchvision_version()
except Exception as e:
    out["torchvision_error"] = "%s: %s" % (type(e).__name__, e)
out["warnings"] = caught
print(json.dumps(out))
'''

# The CUDA driver API itself, through ctypes: the driver's CUDA version and cuInit's verdict, independent
# of torch (cuInit names error 802 "system not yet initialized" or 804 forward compatibility directly).
CUDA_API_SCRIPT = r'''
import ctypes
try:
    cuda = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    print("libcuda: OSError: %s" % e); raise SystemExit(0)
def name(rc):
    s, d = ctypes.c_char_p(), ctypes.c_char_p()
    try:
        cuda.cuGetErrorName(rc, ctypes.byref(s)); cuda.cuGetErrorString(rc, ctypes.byref(d))
    except Exception:
        pass
    return "%d %s: %s" % (rc, (s.value or b"?").decode(), (d.value or b"?").decode())
v = ctypes.c_int(0)
rc = cuda.cuDriverGetVersion(ctypes.byref(v))
print("cuDriverGetVersion: %d" % v.value if rc == 0 else "cuDriverGetVersion: error " + name(rc))
rc = cuda.cuInit(0)
print("cuInit: " + name(rc))
if rc == 0:
    n = ctypes.c_int(0)
    rc = cuda.cuDeviceGetCount(ctypes.byref(n))
    print("cuDeviceGetCount: %d" % n.value if rc == 0 else "cuDeviceGetCount: error " + name(rc))
'''


def _trim(b):
    if b is None:
        return ""
    if len(b) > MAX_OUT:
        b = b[-MAX_OUT:]
    return b.decode("utf-8", "replace")


def run(argv, timeout, env=None, show=None):
    """Run a command; return a section dict. argv[0] missing -> error "not-found". `show` names the
    command in the bundle when argv holds an inline script."""
    t0 = time.time()
    sec = {"cmd": show or " ".join(argv), "rc": None, "stdout": "", "stderr": "", "secs": 0.0, "error": None}
    if not (os.path.isabs(argv[0]) and os.path.exists(argv[0])) and shutil.which(argv[0]) is None:
        sec["error"] = "not-found"
        return sec
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, start_new_session=True)
    except OSError as e:
        sec["error"] = "%s" % e
        return sec
    try:
        out, err = p.communicate(timeout=timeout)
        sec["rc"] = p.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, 9)
        except OSError:
            pass
        out, err = p.communicate()
        sec["error"] = "timeout"
    sec["stdout"], sec["stderr"] = _trim(out), _trim(err)
    sec["secs"] = round(time.time() - t0, 3)
    return sec


def read(path, limit=MAX_OUT):
    """Read a file as a section: "not-found" if absent, "denied" if unreadable."""
    sec = {"cmd": "cat " + path, "rc": None, "stdout": "", "stderr": "", "secs": 0.0, "error": None}
    try:
        with open(path, "rb") as f:
            sec["stdout"] = _trim(f.read(limit))
        sec["rc"] = 0
    except FileNotFoundError:
        sec["error"] = "not-found"
    except PermissionError:
        sec["error"] = "denied"
    except OSError as e:
        sec["error"] = str(e)
    return sec


def text(cmd, body):
    return {"cmd": cmd, "rc": 0, "stdout": body, "stderr": "", "secs": 0.0, "error": None}


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
                                                         or "Xid" in l or "SXid" in l)]
        sec["stdout"] = "\n".join(keep[-2000:]) + ("\n" if keep else "")
        sec["cmd"] = "dmesg --ctime | grep -E 'NVRM|Xid|nvidia|nouveau'"
        return sec
    j = run(["journalctl", "-k", "-b", "--no-pager", "-o", "short-iso", "-g", "NVRM|Xid|nvidia|nouveau",
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


# A variable whose name says it holds a secret never leaves the target (the words of envdoctor/redact.py).
SECRET_NAME_WORDS = ("TOKEN", "SECRET", "PASSW", "API_KEY", "APIKEY", "CREDENTIAL", "PRIVATE", "AUTH", "COOKIE",
                     "SESSION")


def environment():
    keep = {}
    for k, v in os.environ.items():
        if k.startswith(("CUDA", "NVIDIA", "NCCL", "LD_", "TORCH", "PYTORCH", "CONDA", "VIRTUAL_ENV", "SLURM_JOB",
                         "KUBERNETES_SERVICE")) or k in ("PATH", "HOME", "USER", "container"):
            keep[k] = "<redacted>" if any(w in k.upper() for w in SECRET_NAME_WORDS) else v
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


def which(names):
    return text("command -v " + " ".join(names), "\n".join("%s\t%s" % (n, shutil.which(n) or "") for n in names) + "\n")


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
    })
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
    sys.stdout.write(json.dumps({"probe_version": PROBE_VERSION, "sections": sections}))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
