"""SIMULATION, for tests only: torch's view of CUDA on a simulated GPU host. The machine running the tests
has no GPU; every python process started with this directory on PYTHONPATH imports this file at start-up
(site.py), and when ENVDOCTOR_SIM_TORCH names a scenario file (JSON), torch answers as a host of that
scenario would, once `import torch` has finished:

- torch.cuda.is_available() / device_count(): the scenario's answer; the scenario's CUDA-initialisation
  warning (a real torch warning, recorded) is emitted once, the way torch's C++ side warns once;
- torch.cuda.get_device_properties(i) / get_device_name / get_device_capability: the scenario's devices;
- a factory call with device="cuda:N" (the probe's test kernel: torch.arange(8, device="cuda:0")) is
  computed on the CPU, or raises the scenario's recorded CUDA error (a busy exclusive-process GPU);
  torch.cuda.synchronize() does nothing.

Everything else in torch is the real installed torch: its version, CUDA build, arch list, cuDNN and NCCL.
It is a test double, not a GPU."""

import importlib.abc
import importlib.machinery
import json
import os
import sys
import types
import warnings

VIEW = os.environ.get("ENVDOCTOR_SIM_TORCH")


def _index(device):
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    idx = getattr(device, "index", None)
    if idx is not None:
        return idx
    s = str(device)
    return int(s.split(":", 1)[1]) if ":" in s else 0


def _install(torch):
    with open(VIEW) as fh:
        view = json.load(fh)
    cuda = torch.cuda
    warned = []

    def warn_once():
        if view.get("warning") and not warned:
            warned.append(True)
            warnings.warn(view["warning"], UserWarning, stacklevel=3)

    def is_available():
        warn_once()
        return bool(view["is_available"])

    def device_count():
        warn_once()
        return int(view["device_count"]) if view["is_available"] else 0

    def get_device_properties(device=None):
        if not view["is_available"]:
            raise RuntimeError("simulated: CUDA is not available on this simulated host")
        d = view["devices"][_index(device)]
        return types.SimpleNamespace(name=d["name"], major=d["major"], minor=d["minor"],
                                     total_memory=d["total_memory"],
                                     multi_processor_count=d.get("multi_processor_count", 0))

    cuda.is_available = is_available
    cuda.device_count = device_count
    cuda.get_device_properties = get_device_properties
    cuda.get_device_name = lambda device=None: get_device_properties(device).name
    cuda.get_device_capability = lambda device=None: (get_device_properties(device).major,
                                                      get_device_properties(device).minor)
    cuda.synchronize = lambda device=None: None

    from torch.overrides import TorchFunctionMode

    class CudaFactoriesOnCpu(TorchFunctionMode):
        """device="cuda..." in a torch call: the scenario's CUDA error, or the same call on the CPU."""

        def __torch_function__(self, func, types_, args=(), kwargs=None):
            kwargs = dict(kwargs or {})
            dev = kwargs.get("device")
            if dev is not None and str(dev).startswith("cuda"):
                if view.get("kernel_error"):
                    raise RuntimeError(view["kernel_error"])
                kwargs["device"] = "cpu"
            return func(*args, **kwargs)

    CudaFactoriesOnCpu().__enter__()  # for the whole process


class _AfterTorchImport(importlib.abc.MetaPathFinder):
    """Installs the view right after `import torch` has run (torch is not imported early by this file)."""

    def find_spec(self, name, path, target=None):
        if name != "torch":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        original = spec.loader.exec_module

        def exec_module(module):
            original(module)
            _install(module)

        spec.loader.exec_module = exec_module
        return spec


if VIEW:
    sys.meta_path.insert(0, _AfterTorchImport())
