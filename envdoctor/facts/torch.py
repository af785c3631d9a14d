"""Facts about the Python environment, torch, and the CUDA toolkits (owned by the torch/CUDA domain)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TorchDevice(BaseModel):
    index: int
    name: str | None = None
    capability: str | None = None  # "8.6"
    total_memory: int | None = None
    kernel_ok: bool | None = None  # a tiny kernel ran and gave the right answer
    kernel_error: str | None = None


class TorchErrorSeen(BaseModel):
    """A torch/CUDA error or warning recognised in evidence (probe output, collect_env or a paste)."""

    kind: str  # driver_too_old, not_compiled_with_cuda, driver_insufficient, arch_not_compatible, ...
    line: str  # the line, verbatim
    code: int | None = None  # CUDA error number when the text gives one (35, 2, 802, 804, ...)
    found_version: int | None = None  # "found version 11040" -> 11040
    gpu_name: str | None = None
    capability: str | None = None  # "12.0" (from "sm_120" or "cuda capability 3.5")
    min_capability: str | None = None  # "3.7" from "The minimum cuda capability supported ... is 3.7"
    supported_arches: list[str] | None = None  # ["sm_50", ...] from "The current PyTorch install supports"


class TorchFacts(BaseModel):
    python_version: str | None = None
    python_executable: str | None = None
    installed: bool | None = None  # None: not inspected
    import_error: str | None = None
    inspect_error: str | None = None  # the inspection subprocess timed out or crashed
    version: str | None = None  # "2.5.1+cu121"
    cuda_build: str | None = None  # torch.version.cuda, "12.1"; None with installed=True -> CPU-only build
    hip_build: str | None = None
    cudnn: str | None = None
    nccl: str | None = None
    arch_list: list[str] | None = None  # ["sm_50", ..., "sm_90"]
    is_available: bool | None = None
    is_available_error: str | None = None
    device_count: int | None = None
    devices: list[TorchDevice] | None = None
    # The CUDA driver API through ctypes (probe section cuda_driver_api), independent of torch:
    driver_api_version: int | None = None  # cuDriverGetVersion, e.g. 12040
    cu_init: str | None = None  # cuInit's result, e.g. "0 CUDA_SUCCESS: no error", "802 CUDA_ERROR_SYSTEM_NOT_READY: ..."
    libcuda_error: str | None = None  # libcuda.so.1 could not be loaded (no driver user-space library)
    driver_cuda_found: int | None = None  # "found version 11040" or torch's driver API version: 11040
    warnings: list[str] = Field(default_factory=list)  # warnings torch printed (driver too old, sm_120...)
    torchvision: str | None = None
    torchvision_error: str | None = None
    errors_seen: list[str] = Field(default_factory=list)  # verbatim error lines recognised in evidence
    # Added by the torch/CUDA domain:
    cpu_only_build: bool | None = None  # +cpu / "CUDA used to build PyTorch: None" / "not compiled with CUDA"
    source: str | None = None  # where version/build came from: "probe", "collect_env" or None
    file: str | None = None  # torch/__init__.py of the inspected interpreter
    device_count_error: str | None = None
    errors: list[TorchErrorSeen] = Field(default_factory=list)  # recognised errors, classified
    collect_env_driver: str | None = None  # collect_env "Nvidia driver version: 535.183.01"
    collect_env_gpus: list[str] | None = None  # collect_env "GPU 0: NVIDIA ..." names; [] = "No CUDA"/none
    collect_env_cuda_runtime: str | None = None  # collect_env "CUDA runtime version" (a local toolkit)
    collect_env_os: str | None = None


class CudaToolkit(BaseModel):
    path: str  # "/usr/local/cuda-12.4"
    version: str | None = None  # "12.4.1"
    is_link: bool = False
    link_target: str | None = None
    has_nvcc: bool | None = None
    version_source: str | None = None  # "version file" (version.json/.txt), or "name" (from cuda-12.4)


class CudaEnvFacts(BaseModel):
    cuda_visible_devices: str | None = None  # None: unset; "" set to empty
    cuda_visible_devices_set: bool | None = None  # None: environment not known
    cuda_home: str | None = None
    path: list[str] | None = None
    ld_library_path: list[str] | None = None
    toolkits: list[CudaToolkit] | None = None
    usr_local_cuda_target: str | None = None  # where /usr/local/cuda resolves
    nvcc_path: str | None = None  # "" when looked up and not on PATH
    nvcc_version: str | None = None  # "12.4"
    libcuda_paths: list[str] | None = None  # libcuda.so* found by ldconfig
    compat_lib_dirs: list[str] | None = None  # .../compat dirs on LD_LIBRARY_PATH
    # Added by the torch/CUDA domain:
    nvidia_visible_devices: str | None = None  # container runtime's NVIDIA_VISIBLE_DEVICES
    libcudart_paths: list[str] | None = None  # libcudart.so* found by ldconfig
    nvcc_release_line: str | None = None  # "Cuda compilation tools, release 12.4, V12.4.131", verbatim
