"""SIMULATION, for tests only: this machine has no GPU. Every python process started with this directory on
PYTHONPATH imports this file at start-up (site.py) and, once torch is imported, runs the acceptance script's CUDA
calls on the CPU, so the CUDA-only paths run end to end here. It measures nothing about any GPU: the figures it
yields are the CPU's, and a test must never read them as a GPU's.

What is replaced (torch 2.14, read in its source: torch/cuda/__init__.py, torch/cuda/streams.py, torch/_tensor.py,
torch/distributed/distributed_c10d.py), each call recorded with the process id in ENVDOCTOR_SIM_LOG:
- the device count: torch._C._cuda_getDeviceCount (the preflight's child) and torch.cuda.device_count give
  ENVDOCTOR_SIM_GPUS; torch.cuda.is_available gives True;
- torch.cuda.get_device_properties: a record with ENVDOCTOR_SIM_GPU_NAME, capability 9.0, 80 GiB, a PCI bus id;
- torch.cuda.set_device and torch.cuda.synchronize: recorded, nothing else;
- torch.cuda.Event(enable_timing=True): record() takes time.perf_counter(), synchronize() returns, elapsed_time()
  gives milliseconds, as cudaEventElapsedTime does;
- tensor factories (torch.empty, randn, ones, zeros, tensor) given a CUDA device make the tensor on the CPU;
- Tensor.pin_memory returns the tensor (page-locking needs a driver) and Tensor.is_pinned then says True;
- torch.distributed.init_process_group with backend "nccl" forms a gloo group instead (NCCL needs GPUs), so
  the all_reduce sweep runs across the simulated GPUs' processes."""

import builtins
import json
import os
import sys
import time
import types

LOG = os.environ.get("ENVDOCTOR_SIM_LOG")
GPUS = int(os.environ.get("ENVDOCTOR_SIM_GPUS", "0"))
NAME = os.environ.get("ENVDOCTOR_SIM_GPU_NAME", "NVIDIA H100 80GB HBM3")
_state = {"patched": False, "pinned": set()}


def _log(call, **kw):
    if LOG:
        with open(LOG, "a") as f:
            f.write(json.dumps(dict(kw, call=call, pid=os.getpid())) + "\n")


def _on_cpu(device):
    return "cpu" if device is not None and "cuda" in str(device) else device


class SimEvent:
    def __init__(self, enable_timing=False, blocking=False, interprocess=False, external=False):
        self.t = None

    def record(self, stream=None):
        _log("Event.record")
        self.t = time.perf_counter()

    def synchronize(self):
        _log("Event.synchronize")

    def elapsed_time(self, end_event):
        _log("Event.elapsed_time")
        return (end_event.t - self.t) * 1000.0


def _patch(torch):
    def factory(original, name):
        def f(*args, **kw):
            if "device" in kw and _on_cpu(kw["device"]) != kw["device"]:
                _log("factory-on-cuda", factory=name)
                kw["device"] = "cpu"
            return original(*args, **kw)
        return f

    for name in ("empty", "randn", "ones", "zeros", "tensor"):
        setattr(torch, name, factory(getattr(torch, name), name))
    cuda = torch.cuda
    torch._C._cuda_getDeviceCount = lambda: GPUS
    cuda.is_available = lambda: True
    cuda.device_count = lambda: GPUS

    def props(i):
        _log("get_device_properties", index=i)
        return types.SimpleNamespace(name=NAME, major=9, minor=0, total_memory=80 << 30, multi_processor_count=132,
                                     uuid="GPU-simulated-%d" % i, pci_domain_id=0, pci_bus_id=0x18 + i,
                                     pci_device_id=0)

    cuda.get_device_properties = props
    cuda.set_device = lambda d: _log("set_device", device=str(d))
    cuda.synchronize = lambda d=None: _log("synchronize", device=str(d))
    cuda.Event = SimEvent

    def pin_memory(self, *a, **k):
        _log("pin_memory")
        _state["pinned"].add(id(self))
        return self

    torch.Tensor.pin_memory = pin_memory
    torch.Tensor.is_pinned = lambda self, *a, **k: id(self) in _state["pinned"]


def _patch_dist(dist):
    original = dist.init_process_group

    def init_process_group(backend=None, *a, **kw):
        _log("init_process_group", backend=backend)
        return original("gloo" if backend == "nccl" else backend, *a, **kw)

    dist.init_process_group = init_process_group


_import = builtins.__import__


def _hooked_import(name, *args, **kw):
    module = _import(name, *args, **kw)
    torch = sys.modules.get("torch")
    if torch is not None and not _state["patched"] and hasattr(torch, "matmul") and hasattr(torch, "cuda") \
            and not getattr(getattr(torch, "__spec__", None), "_initializing", False):
        _state["patched"] = True
        _patch(torch)
    dist = sys.modules.get("torch.distributed")
    if dist is not None and hasattr(dist, "init_process_group") and not getattr(dist, "_sim_patched", False) \
            and not getattr(getattr(dist, "__spec__", None), "_initializing", False):
        dist._sim_patched = True
        _patch_dist(dist)
    return module


if GPUS:
    builtins.__import__ = _hooked_import
