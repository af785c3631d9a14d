"""The scripts the probe runs in a child interpreter (this one: sys.executable), so that a broken CUDA install or
driver that hangs or crashes on import is evidence, not a crash of the probe: the torch inspection, the CUDA
driver API and NVML's own verdict, each through ctypes where it can."""

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
