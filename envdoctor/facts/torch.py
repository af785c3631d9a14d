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
    driver_cuda_found: int | None = None  # "found version 11040" or torch's driver API version: 11040
    warnings: list[str] = Field(default_factory=list)  # warnings torch printed (driver too old, sm_120...)
    torchvision: str | None = None
    torchvision_error: str | None = None
    errors_seen: list[str] = Field(default_factory=list)  # verbatim error lines recognised in evidence


class CudaToolkit(BaseModel):
    path: str  # "/usr/local/cuda-12.4"
    version: str | None = None  # "12.4.1"
    is_link: bool = False
    link_target: str | None = None
    has_nvcc: bool | None = None


class CudaEnvFacts(BaseModel):
    cuda_visible_devices: str | None = None  # None: unset; "" set to empty
    cuda_visible_devices_set: bool | None = None  # None: environment not known
    cuda_home: str | None = None
    path: list[str] | None = None
    ld_library_path: list[str] | None = None
    toolkits: list[CudaToolkit] | None = None
    usr_local_cuda_target: str | None = None  # where /usr/local/cuda resolves
    nvcc_path: str | None = None
    nvcc_version: str | None = None  # "12.4"
    libcuda_paths: list[str] | None = None  # libcuda.so* found by ldconfig
    compat_lib_dirs: list[str] | None = None  # .../compat dirs on LD_LIBRARY_PATH
