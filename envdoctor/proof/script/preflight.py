"""What the parent checks before it starts any worker: the devices CUDA enumerates (in a child interpreter), which
requested ordinals exist, and whether torch.compile has its toolchain."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time

from .values import first_line


def compile_toolchain(environ=None, include_dir=None):
    """What Triton needs on the target to build its launcher at run time for torch.compile on CUDA (triton
    3.8 runtime/build.py: `_find_compiler` takes $CC, else gcc, else clang from PATH; `_build` adds the include
    directory of sysconfig's default scheme, posix_local read as posix_prefix, where Python.h must be)."""
    env = os.environ if environ is None else environ
    path, cc = env.get("PATH"), env.get("CC")
    if cc:
        cc_path = shutil.which(cc, path=path)
    else:
        cc_path = shutil.which("gcc", path=path) or shutil.which("clang", path=path)
    if include_dir is None:
        get_scheme = getattr(sysconfig, "get_default_scheme", None)
        scheme = get_scheme() if get_scheme else None
        if scheme == "posix_local":
            scheme = "posix_prefix"
        include_dir = (sysconfig.get_paths(scheme=scheme) if scheme else sysconfig.get_paths())["include"]
    header = os.path.join(include_dir, "Python.h")
    missing = []
    if not cc_path:
        missing.append("no C compiler (%s)" % ("$CC=%s is not a program" % cc if cc else "neither gcc nor clang on PATH"))
    if not os.path.isfile(header):
        missing.append("no Python headers (%s is missing)" % header)
    return {"cc": cc_path, "python_h": header if os.path.isfile(header) else None, "missing": missing}


# Run in a child interpreter: CUDA's own device count (cudaGetDeviceCount, which sees MIG devices and
# CUDA_VISIBLE_DEVICES as a process does), not NVML's count of physical GPUs. torch 2.14's device_count()
# returns the NVML count before CUDA is initialised (torch/cuda/__init__.py `device_count`,
# `_device_count_nvml`), so the child asks torch._C._cuda_getDeviceCount, the call is_available() makes
# without PYTORCH_NVML_BASED_CUDA_CHECK. This child may initialise CUDA: it never forks.
# torch's own reason for a count of 0 is a warning that call raises (c10/cuda/CUDAFunctions.cpp, as UserWarning
# "CUDA initialization: The NVIDIA driver on your system is too old (found version 11040)..."): recorded here.
COUNT_CODE = r'''
import json, sys, warnings
out = {}
try:
    import torch
    out["torch"] = str(torch.__version__)
    if not torch.cuda._is_compiled():
        out["error"] = "torch %s is a CPU-only build (no CUDA)" % torch.__version__
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            n = int(torch._C._cuda_getDeviceCount())
        out["warnings"] = [" ".join(str(w.message).split()) for w in caught]
        devices = []
        for i in range(n):
            d = {"index": i}
            try:
                p = torch.cuda.get_device_properties(i)
                d.update(name=p.name, sm_count=getattr(p, "multi_processor_count", None), total_memory=p.total_memory)
            except Exception as e:
                d["error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
            devices.append(d)
        out["count"], out["devices"] = n, devices
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
print(json.dumps(out))
'''


def count_cuda_devices(deadline):
    """(devices, why-not) as CUDA enumerates them, counted in a child interpreter."""
    env = dict(os.environ)
    env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    try:
        out = subprocess.run([sys.executable, "-c", COUNT_CODE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=max(0.5, deadline - time.time()), env=env)
        doc = json.loads(out.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return None, "counting CUDA devices took longer than the time budget"
    except Exception as e:
        return None, "counting CUDA devices failed: " + first_line(e)
    if doc.get("error"):
        return None, doc["error"]
    if not doc.get("count"):
        said = doc.get("warnings") or []
        return None, "torch.cuda.is_available() is False: CUDA enumerates no device" + (
            " (torch: %s)" % said[0][:400] if said else "")
    return doc["devices"], None


def plan_ordinals(requested, count):
    """The ordinals to start a worker on, and the requested ones CUDA does not have (never started)."""
    start = [i for i in requested if 0 <= i < count]
    lacking = [{"device_index": i, "reason": "CUDA enumerates %d device(s) in a process (ordinals 0..%d): there "
                "is no device %d (on a MIG host CUDA shows MIG devices, one per process, while NVML counts "
                "the physical GPUs)" % (count, count - 1, i)} for i in requested if not 0 <= i < count]
    return start, lacking
