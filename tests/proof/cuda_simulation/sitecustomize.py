"""SIMULATION, for tests only: this CPU machine has no GPU. Every python process started with this directory
on PYTHONPATH imports this file at start-up (site.py), and then:

- torch reports ENVDOCTOR_SIM_NVML GPUs through NVML (torch.cuda._device_count_nvml, so is_available() is
  True under PYTORCH_NVML_BASED_CUDA_CHECK=1) and ENVDOCTOR_SIM_CUDA through the CUDA runtime's count
  (torch._C._cuda_getDeviceCount; fewer than NVML on a MIG host);
- every call that initialises CUDA in torch 2.14 is recorded with the process id in ENVDOCTOR_SIM_LOG and
  then fails as it would without a driver: torch.cuda._lazy_init (reached by get_device_properties,
  get_device_capability, mem_get_info, cudnn.version's _init), torch._C._cuda_init, torch._C._cuda_setDevice
  (torch.cuda.set_device calls it directly, without _lazy_init), torch._C._cuda_getDeviceCount (cuInit);
- os.register_at_fork records every fork, and marks one made by a process that had attempted CUDA;
- every import of torch is recorded with the process id (the proof-run's parent must never import it);
- with ENVDOCTOR_SIM_CUDA_WARNING set, the runtime's device count raises that text as a UserWarning, as torch's
  C++ TORCH_WARN reaches Python when cudaGetDeviceCount fails (e.g. a driver too old for the wheel).

It is a test double, not a GPU: it shows which process would touch CUDA and which process forks after it."""

import importlib.abc
import importlib.machinery
import json
import os
import sys

LOG = os.environ.get("ENVDOCTOR_SIM_LOG")
NVML = int(os.environ.get("ENVDOCTOR_SIM_NVML", "0"))
CUDA = int(os.environ.get("ENVDOCTOR_SIM_CUDA", str(NVML)))
CUDA_WARNING = os.environ.get("ENVDOCTOR_SIM_CUDA_WARNING")
_attempted = []


def _log(**kw):
    with open(LOG, "a") as f:
        f.write(json.dumps(dict(kw, pid=os.getpid(), ppid=os.getppid(), argv=sys.argv[:2])) + "\n")


def _attempt(call):
    _attempted.append(call)
    _log(event="cuda", call=call)


def _before_fork():
    _log(event="fork-after-cuda" if _attempted else "fork", calls=list(_attempted))


def _patch(cuda):
    import torch

    def failing(call):
        def f(*a, **k):
            _attempt(call)
            raise RuntimeError("simulated: no NVIDIA driver on this machine (%s)" % call)
        return f

    def device_count_runtime():
        _attempt("_cuda_getDeviceCount")
        if CUDA_WARNING:
            import warnings

            warnings.warn(CUDA_WARNING, UserWarning)
        return CUDA

    cuda._device_count_nvml = lambda: NVML
    cuda._raw_device_count_nvml = lambda: NVML
    cuda._lazy_init = failing("_lazy_init")
    torch._C._cuda_init = failing("_cuda_init")
    torch._C._cuda_setDevice = failing("_cuda_setDevice")
    torch._C._cuda_getDeviceCount = device_count_runtime


class _PatchTorchCuda(importlib.abc.MetaPathFinder):
    """Patches torch.cuda right after it is imported (torch itself is not imported early by this file)."""

    def find_spec(self, name, path, target=None):
        if name == "torch":
            _log(event="import-torch")  # then the normal import goes on
        if name != "torch.cuda":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


if LOG:
    os.register_at_fork(before=_before_fork)
    sys.meta_path.insert(0, _PatchTorchCuda())
