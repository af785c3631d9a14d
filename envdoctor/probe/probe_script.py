# envdoctor probe: stdlib only, Python >= 3.6. Run as `python3 - [--no-torch]` with this file on stdin.
# Prints one JSON document: {"probe_version": 1, "sections": {name: {cmd, rc, stdout, stderr, secs, error}}}
# (and "vocabulary_missing" when run without the vocabulary the controller writes in: see VOCABULARY).
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
# The vocabulary shared with the controller (the words of a secret name, data/secret_names.yaml): the controller
# replaces the next line with the data before sending this script (envdoctor/vocabulary.py). Left None (this
# file run as it is), every name counts as secret, and the output says why in "vocabulary_missing".
VOCABULARY = None
VOCABULARY_MISSING = ("the probe ran without the controller's vocabulary (envdoctor/vocabulary.py): every "
                      "environment value and command-line flag value is hidden")
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
def _driver_cuda():
    # torch 2.14 has no torch._C._cuda_getDriverVersion; its own reader (torch/cuda/green_contexts.py,
    # _get_driver_version) calls the driver API cuDriverGetVersion through the optional cuda-python bindings.
    # The same call through ctypes: it needs no cuInit and creates no CUDA context.
    import ctypes
    v = ctypes.c_int(0)
    rc = ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(v))
    if rc != 0:
        raise RuntimeError("cuDriverGetVersion returned CUresult %d" % rc)
    return v.value
try:
    out["driver_cuda"] = _driver_cuda() if out.get("cuda_build") else None
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
# which libcudart/libcudnn/libnvJitLink/libcublas this torch really mapped (pip wheels or a system CUDA)
try:
    with open("/proc/self/maps") as fh:
        libs = sorted({l.split()[-1] for l in fh if "/lib" in l and any(k in l for k in ("libcudart", "libcudnn", "libnvJitLink", "libcublas", "libnccl", "libcuda.so"))})
    out["loaded_libs"] = libs[:30]
except Exception:
    pass
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


# NVML's own verdict (nvmlInit_v2 via ctypes): it names "driver not loaded" (9), "library version
# mismatch" (18) and "no permission" (4) exactly, in its own interpreter (a broken driver can hang it).
NVML_SCRIPT = r'''
import ctypes
try:
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
except OSError as e:
    print("libnvidia-ml: OSError: %s" % e); raise SystemExit(0)
rc = nvml.nvmlInit_v2()
nvml.nvmlErrorString.restype = ctypes.c_char_p
names = {0: "NVML_SUCCESS", 1: "NVML_ERROR_UNINITIALIZED", 2: "NVML_ERROR_INVALID_ARGUMENT", 3: "NVML_ERROR_NOT_SUPPORTED",
         4: "NVML_ERROR_NO_PERMISSION", 9: "NVML_ERROR_DRIVER_NOT_LOADED", 12: "NVML_ERROR_LIBRARY_NOT_FOUND",
         17: "NVML_ERROR_OPERATING_SYSTEM", 18: "NVML_ERROR_LIB_RM_VERSION_MISMATCH", 999: "NVML_ERROR_UNKNOWN"}
print("nvmlInit_v2: %d %s (%s)" % (rc, names.get(rc, "?"), (nvml.nvmlErrorString(rc) or b"").decode()))
if rc == 0:
    nvml.nvmlShutdown()
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


def secret_name(name):
    """Whether a variable's or flag's name holds a secret word (the controller's list, the one
    envdoctor/redact.py uses). Without the vocabulary every name is secret: hiding too much beats a leak."""
    words = (VOCABULARY or {}).get("secret_name_words")
    if words is None:
        return True
    upper = name.upper()
    return any(w in upper for w in words)


# What a secret looks like whatever its name (the controller's data/secret_shapes.yaml, as envdoctor/redact.py
# reads it): compiled once, on first use. Without the vocabulary there are none, and every value is hidden
# by name instead (secret_name). Each shape is tried only when one of its literals is in the text.
_shapes_lock = threading.Lock()
_shapes = []


def _shape_list():
    import re
    with _shapes_lock:
        if _shapes or not (VOCABULARY or {}).get("secret_shapes"):
            return _shapes
        data = VOCABULARY["secret_shapes"]

        def token(t):
            prefix, least, needs = t["prefix"], t["least"], t.get("needs") or ()

            def repl(m):
                rest = m.group(0)[len(prefix):]
                ok = len(rest) >= least and ("upper" not in needs or any(c.isupper() for c in rest)) \
                    and ("digit" not in needs or any(c.isdigit() for c in rest))
                return "<redacted>" if ok else m.group(0)
            return (prefix.lower(),), re.compile(r"(?<![A-Za-z0-9_])" + re.escape(prefix) + t["chars"] + "*"), repl

        def jwt(m):
            parts = m.group(0).split(".")
            if len(parts) >= 3 and parts[1].startswith("eyJ") and len(parts[0]) >= 11 and len(parts[1]) >= 11 \
                    and len(parts[2]) >= 8:
                return ".".join(["<redacted>"] + parts[3:])
            return m.group(0)

        def odbc_pwd(m):
            s, a, b = m.string, m.start(), m.end()
            before = s[:a].rstrip(" \t")[-1:]
            return m.group("keep") + "<redacted>" if before in (";", "{") or s[b:b + 1] == ";" else m.group(0)

        for d in data["shapes"]:
            repl = {"keep": "\\g<keep><redacted>" + d.get("after", ""), "mark": "<redacted>", "jwt": jwt,
                    "odbc_pwd": odbc_pwd}[d["replace"]]
            _shapes.append((tuple(d["literals"]), re.compile(d["pattern"]), repl))
        _shapes.extend(token(t) for t in data["tokens"])
        return _shapes


def redact_shapes(text):
    """`text` with every secret shape of the controller's list replaced by <redacted>."""
    if not text:
        return text
    lower = text.lower()
    for literals, rx, repl in _shape_list():
        if any(lit in lower for lit in literals):
            text = rx.sub(repl, text)
    return text


def _program_flags():
    """{program: flags whose value is a secret after it} (`sshpass -p`, `mysql -pVALUE`)."""
    data = (VOCABULARY or {}).get("secret_shapes") or {}
    return dict((prog, set(f["flags"])) for f in data.get("program_flags", []) for prog in f["programs"])


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


# --- evidence that tells failure causes apart (diagnosis) -------------------------------------------

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


# ==== security posture (issue 13): Jupyter servers, sshd, docker exposure. Kept together in one block. ====
# Secrets never leave the host: tokens and passwords in command lines, `jupyter server list` and
# environments are replaced by "<redacted>" here, before anything is printed.
import re as _sec_re

_SEC_FLAG_VALUE = _sec_re.compile(r"^(--?[\w.-]+)=(.*)$")  # secret when secret_name() says so of the flag
_SEC_FLAG = _sec_re.compile(r"^--?[\w.-]+$")
_SEC_TOKEN_IN_URL = _sec_re.compile(r"(token=)[^&\s\"']+")
_SEC_JUPYTER = _sec_re.compile(r"(^|/)(jupyter-(lab|notebook|server)|jupyter_server|jupyterlab|notebook)(\.py)?$")
_sec_lock = threading.Lock()
_sec_memo = {}


def _sec_once(key, fn):
    """Run fn once for the sections that share it (sshd -T, the /proc scan)."""
    with _sec_lock:
        if key not in _sec_memo:
            _sec_memo[key] = fn()
        return _sec_memo[key]


def _sec_redact_argv(argv):
    out, hide_next, program_flags, flags = [], False, _program_flags(), ()
    for a in argv:
        if hide_next:
            out.append("<redacted>" if a and not (flags and a.startswith("-")) else a)
            hide_next = False
            continue
        m = _SEC_FLAG_VALUE.match(a)
        attached = [f for f in flags if a.startswith(f + "=" if f.startswith("--") else f) and len(a) > len(f)]
        if a in flags:  # `sshpass -p VALUE`: a flag that is secret after its program
            out.append(a)
            hide_next = True
        elif attached:  # `mysql -pVALUE`, `redis-cli --pass=VALUE`
            f = attached[0] + ("=" if attached[0].startswith("--") else "")
            out.append(f + "<redacted>")
        elif m and secret_name(m.group(1)):
            v = m.group(2)
            out.append(m.group(1) + "=" + (v if v in ("", "''", '""') else "<redacted>"))
        elif _SEC_FLAG.match(a) and secret_name(a):
            out.append(a)
            hide_next = True
        else:
            out.append(redact_shapes(_SEC_TOKEN_IN_URL.sub(r"\1<redacted>", a)))
        if not a.startswith("-") and os.path.basename(a) in program_flags:
            flags = program_flags[os.path.basename(a)]  # the flags of the program named last (`sudo mysql -p..`)
    return out


def _sec_is_jupyter(argv):
    """A Jupyter *server* (lab, notebook, server), not a kernel or a `jupyter ... list`."""
    if not argv or "list" in argv[1:5] or any("ipykernel" in a for a in argv[:3]):
        return False
    # argv[0] is the program (jupyter-lab) or the interpreter running it (python .../jupyter-lab, python -m ...);
    # `jupyter lab` execs jupyter-lab, so wrappers (timeout, sh -c) are not servers themselves.
    for i, a in enumerate(argv[:2]):
        if _SEC_JUPYTER.search(a):
            return True
        if a == "-m" and i + 1 < len(argv) and argv[i + 1] in ("jupyter", "jupyterlab", "notebook", "jupyter_server"):
            return True
        if (a.endswith("/jupyter") or a == "jupyter") and i + 1 < len(argv) and argv[i + 1] in ("lab", "notebook",
                                                                                                 "server"):
            return True
    return False


def _sec_socket_inodes(pid):
    inodes = []
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.append(t[8:-1])
    except OSError:
        return None  # another user's process: only root can see its sockets
    return inodes


def _sec_environ(pid):
    try:
        with open("/proc/%d/environ" % pid, "rb") as fh:
            raw = fh.read(200000).split(b"\0")
    except OSError:
        return None
    env = {}
    for kv in raw:
        k, _, v = kv.partition(b"=")
        env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def _sec_env_flags(pid):
    """JUPYTER_TOKEN / JUPYTER_PASSWORD in a server's environment: whether set, never the value."""
    env = _sec_environ(pid)
    if env is None:
        return None
    return {k: "<set>" if env[k] else "" for k in ("JUPYTER_TOKEN", "JUPYTER_PASSWORD") if k in env}


def _sec_processes():
    """Jupyter servers, dockerd and sshd from /proc: pid, uid, redacted argv, and their sockets' inodes."""
    procs = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as fh:
                argv = [a.decode("utf-8", "replace") for a in fh.read(65536).split(b"\0") if a]
        except OSError:
            continue
        if not argv:
            continue
        base = os.path.basename(argv[0])
        # sshd's listener renames itself "sshd: /usr/sbin/sshd -D [listener] ..."; its per-connection children are skipped
        kind = ("jupyter" if _sec_is_jupyter(argv) else "dockerd" if base == "dockerd"
                else "sshd" if base == "sshd" or "[listener]" in argv[0] else None)
        if kind is None:
            continue
        uid = None
        try:
            with open("/proc/%d/status" % pid) as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        uid = int(line.split()[1])
        except OSError:
            pass
        p = {"pid": pid, "uid": uid, "kind": kind, "argv": _sec_redact_argv(argv)[:60],
             "socket_inodes": _sec_socket_inodes(pid)}
        if kind == "jupyter":
            p["env"] = _sec_env_flags(pid)
        procs.append(p)
    return procs


def _sec_listening():
    """LISTEN sockets (state 0A) of /proc/net/tcp and tcp6, with the header line."""
    out, err = [], []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as fh:
                lines = fh.read().splitlines()
        except OSError as e:
            err.append("%s: %s" % (path, e))
            continue
        out.append("# " + path)
        out += [l for l in lines[1:] if len(l.split()) > 3 and l.split()[3] == "0A"]
    return out, err


def _sec_http_status(host, port, base_url):
    """The status an unauthenticated GET of Jupyter's /api/kernels gets (200: no token, no password)."""
    import ssl
    import urllib.error
    import urllib.request
    h = "[%s]" % host if ":" in host else host
    path = "/" + (base_url or "/").strip("/") + "/api/kernels"
    path = path.replace("//", "/")
    for scheme in ("http", "https"):
        ctx = ssl._create_unverified_context() if scheme == "https" else None
        try:
            with urllib.request.urlopen("%s://%s:%d%s" % (scheme, h, port, path), timeout=3, context=ctx) as r:
                return "%s %d" % (scheme, r.status)
        except urllib.error.HTTPError as e:
            return "%s %d" % (scheme, e.code)
        except Exception as e:  # not HTTP (an https server), refused, timed out: try the other scheme
            last = "%s: %s" % (type(e).__name__, e)
    return "no answer: " + last


def _sec_jupyter_row(d, listed_by):
    if not isinstance(d, dict):
        return None
    d["token"] = "<redacted>" if d.get("token") else ""
    for k, v in list(d.items()):
        if isinstance(v, str):
            d[k] = _SEC_TOKEN_IN_URL.sub(r"\1<redacted>", v)
    d["listed_by"] = listed_by
    return d


_SEC_RUNTIME_MAX = 1 << 20  # a runtime file is a few hundred bytes


def _sec_read_owned(path, uid):
    """The file's text, only when it is a regular file owned by `uid`, opened without following a link:
    the path comes from the server's environment, which its user controls, and the probe may be root."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid:
            raise OSError("not a regular file of uid %d: %s" % (uid, path))
        data = os.read(fd, _SEC_RUNTIME_MAX + 1)
    finally:
        os.close(fd)
    if len(data) > _SEC_RUNTIME_MAX:
        raise ValueError("larger than a runtime file: " + path)
    return data.decode("utf-8")


def _sec_runtime_file(pid):
    """The server's own jpserver-PID.json (nbserver-PID.json for classic Notebook): what `jupyter server
    list` reads, found through the server's environment, so other users' servers are seen too (as root)."""
    try:
        uid = os.stat("/proc/%d" % pid).st_uid
    except OSError:
        return None
    env = _sec_environ(pid) or {}
    home = env.get("HOME") or ""
    dirs = [env.get("JUPYTER_RUNTIME_DIR"),
            os.path.join(env["JUPYTER_DATA_DIR"], "runtime") if env.get("JUPYTER_DATA_DIR") else None,
            os.path.join(env["XDG_DATA_HOME"], "jupyter", "runtime") if env.get("XDG_DATA_HOME") else None,
            os.path.join(home, ".local", "share", "jupyter", "runtime") if home else None]
    for d in [x for x in dirs if x]:
        for name in ("jpserver-%d.json" % pid, "nbserver-%d.json" % pid):
            path = os.path.join(d, name)
            try:
                return _sec_jupyter_row(json.loads(_sec_read_owned(path, uid)), "runtime file " + name)
            except (OSError, ValueError):
                continue
    return None


def _sec_jupyter_list(procs):
    """Each server's runtime file, and `jupyter server list --json` for servers without one found (it
    costs seconds: importing jupyter_server); tokens redacted."""
    rows, cmds = [], []
    for p in procs:
        row = _sec_runtime_file(p["pid"])
        if row is not None:
            rows.append(row)
    if all(any(r.get("pid") == p["pid"] for r in rows) for p in procs):
        return rows, cmds
    exes = [shutil.which("jupyter")] if shutil.which("jupyter") else []
    for p in procs:
        try:
            j = os.path.join(os.path.dirname(os.readlink("/proc/%d/exe" % p["pid"])), "jupyter")
        except OSError:
            continue
        if os.path.exists(j) and j not in exes:
            exes.append(j)
    for exe in exes[:2]:
        sec = run([exe, "server", "list", "--json"], 30)
        cmds.append("%s server list --json: %s" % (exe, sec["error"] or "rc=%s" % sec["rc"]))
        for line in sec["stdout"].splitlines():
            try:
                row = _sec_jupyter_row(json.loads(line), "jupyter server list")
            except ValueError:
                continue
            if row is not None and not any(r.get("pid") == row.get("pid") for r in rows):
                rows.append(row)
    return rows, cmds


def _sec_addr(hexaddr):
    ip, port = hexaddr.split(":")
    if len(ip) == 8:
        b = bytes.fromhex(ip)[::-1]
        return ".".join(str(x) for x in b), int(port, 16)
    import socket as _s
    b = b"".join(bytes.fromhex(ip[i:i + 8])[::-1] for i in range(0, 32, 8))
    return _s.inet_ntop(_s.AF_INET6, b), int(port, 16)


def sec_jupyter():
    """Jupyter servers: processes, their listening sockets, `jupyter server list`, and whether an
    unauthenticated request is answered. One JSON document."""
    t0 = time.time()
    procs = [p for p in _sec_once("procs", _sec_processes) if p["kind"] == "jupyter"]
    listen, _ = _sec_listening()
    by_inode = {}
    for l in listen:
        f = l.split()
        if len(f) > 9 and not l.startswith("#"):
            by_inode[f[9]] = f[1]
    rows, cmds = _sec_jupyter_list(procs) if procs else ([], [])
    probes = []
    targets = set()
    for p in procs:
        for ino in p["socket_inodes"] or []:
            if ino in by_inode:
                targets.add((by_inode[ino], p["pid"]))
    for hexaddr, pid in sorted(targets)[:16]:  # each GET may wait 2 x 3 s
        host, port = _sec_addr(hexaddr)
        conn = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        base = next((r.get("base_url") for r in rows if r.get("pid") == pid), None)
        probes.append({"pid": pid, "address": host, "port": port, "unauthenticated_get": _sec_http_status(conn, port, base)})
    # euid: with /proc mounted hidepid= (the mounts section), a non-root probe sees only its own processes
    body = {"processes": procs, "servers_listed": rows, "list_commands": cmds, "http": probes, "euid": os.geteuid()}
    sec = text("jupyter processes, jupyter server list --json, GET /api/kernels without a token",
               json.dumps(body, indent=1) + "\n")
    sec["secs"] = round(time.time() - t0, 3)
    return sec


def sec_listening():
    lines, err = _sec_listening()
    sec = text("LISTEN lines of /proc/net/tcp /proc/net/tcp6", "\n".join(lines) + "\n")
    if err and not lines:
        sec.update(rc=None, error="; ".join(err))
    return sec


def sec_daemons():
    """dockerd and sshd processes (argv, uid, socket inodes): how the daemons were started."""
    procs = [p for p in _sec_once("procs", _sec_processes) if p["kind"] in ("dockerd", "sshd")]
    return text("dockerd/sshd processes from /proc", json.dumps(procs, indent=1) + "\n")


def _sec_sshd_T():
    exe = shutil.which("sshd") or "/usr/sbin/sshd"
    return _sec_once("sshd -T", lambda: run([exe, "-T"], 10, show="sshd -T"))


def sec_login():
    """Who envdoctor runs as (the user behind sudo too), whether over SSH, and how many authorized keys
    that user has in the files sshd reads: what a hardened sshd would still let in."""
    import pwd
    name = os.environ.get("SUDO_USER") or None
    try:
        pw = pwd.getpwnam(name) if name else pwd.getpwuid(os.geteuid())
    except KeyError:
        pw = pwd.getpwuid(os.geteuid())
    files, akc = [".ssh/authorized_keys", ".ssh/authorized_keys2"], None
    t = _sec_sshd_T()
    for line in t["stdout"].splitlines():
        k, _, v = line.partition(" ")
        if k == "authorizedkeysfile" and v.strip() and v.strip() != "none":
            files = v.split()
        if k == "authorizedkeyscommand" and v.strip() != "none":
            akc = v.strip()
    found = []
    for f in files:
        f = f.replace("%%", "\0").replace("%h", pw.pw_dir).replace("%u", pw.pw_name).replace("\0", "%")
        path = f if f.startswith("/") else os.path.join(pw.pw_dir, f)
        try:
            with open(path) as fh:
                n = sum(1 for l in fh if l.strip() and not l.lstrip().startswith("#"))
            found.append({"path": path, "keys": n})
        except FileNotFoundError:
            found.append({"path": path, "keys": 0})
        except OSError as e:
            found.append({"path": path, "keys": None, "error": type(e).__name__})
    body = {"user": pw.pw_name, "uid": pw.pw_uid, "via_sudo": bool(name), "ssh_session": "SSH_CONNECTION" in os.environ,
            "authorized_keys": found, "authorized_keys_command": akc, "sshd_T_read": t["error"] is None and t["rc"] == 0}
    return text("login user and authorized keys", json.dumps(body, indent=1) + "\n")


def sec_accounts():
    """The docker group line of /etc/group, and for /etc/passwd only name:uid:gid:shell (no GECOS)."""
    out = []
    try:
        with open("/etc/group") as fh:
            out += ["group " + l.strip() for l in fh if l.startswith("docker:")]
        docker_gid = out[0].split(":")[2] if out and len(out[0].split(":")) > 2 else None
        with open("/etc/passwd") as fh:
            for l in fh:
                f = l.strip().split(":")
                # root, people (uid >= 1000, not nobody) and whoever has docker as primary group
                if len(f) >= 7 and f[2].isdigit() and (f[2] == "0" or 1000 <= int(f[2]) < 65534 or f[3] == docker_gid):
                    out.append("passwd %s:%s:%s:%s" % (f[0], f[2], f[3], f[6]))
    except OSError as e:
        sec = text("docker group, accounts", "")
        sec.update(rc=None, error=str(e))
        return sec
    return text("grep ^docker: /etc/group; cut -d: -f1,3,4,7 /etc/passwd", "\n".join(out) + "\n")


def sec_containers():
    """Running containers' privilege and mounts (`docker inspect`, reduced here: no environment, no labels)."""
    ps = run(["docker", "ps", "-q", "--no-trunc"], 10)
    if ps["error"] or ps["rc"] != 0:
        ps["cmd"] = "docker ps -q; docker inspect"
        return ps
    ids = ps["stdout"].split()[:200]
    if not ids:
        return text("docker ps -q; docker inspect", "[]\n")
    sec = run(["docker", "inspect"] + ids, 20)
    sec["cmd"] = "docker ps -q; docker inspect (privilege, mounts)"
    try:
        docs = json.loads(sec["stdout"])
    except ValueError:
        return sec
    keep = []
    for d in docs:
        hc = d.get("HostConfig") or {}
        keep.append({"id": (d.get("Id") or "")[:12], "name": (d.get("Name") or "").lstrip("/"),
                     "image": (d.get("Config") or {}).get("Image"), "privileged": hc.get("Privileged"),
                     "pid_mode": hc.get("PidMode"), "network_mode": hc.get("NetworkMode"), "cap_add": hc.get("CapAdd"),
                     "mounts": [{"source": m.get("Source"), "destination": m.get("Destination"), "type": m.get("Type")}
                                for m in d.get("Mounts") or []]})
    sec["stdout"] = json.dumps(keep, indent=1) + "\n"
    return sec


def security_jobs():
    return {
        "sec_jupyter": sec_jupyter,
        "sec_listening": sec_listening,
        "sec_daemons": sec_daemons,
        "sec_sshd_config": _sec_sshd_T,
        "sec_login": sec_login,
        "sec_accounts": sec_accounts,
        "sec_containers": sec_containers,
    }
# ==== end of the security block ====


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
    jobs.update(security_jobs())  # the security block above
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
    if VOCABULARY is None:
        doc["vocabulary_missing"] = VOCABULARY_MISSING
        sys.stderr.write("envdoctor probe: %s\n" % VOCABULARY_MISSING)
    sys.stdout.write(json.dumps(doc))
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
