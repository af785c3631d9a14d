"""Facts for root-cause diagnosis: the failure signatures seen in the evidence, which blocks of a paste
were recognised, and the evidence that tells causes apart (Secure Boot, the module for the running
kernel, device nodes, NVML's init code, how a container was started, library paths, ...).

As everywhere: None = not known; False / [] = known absent."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SignatureSeen(BaseModel):
    id: str  # a signature id of envdoctor/data/signatures/*.yaml
    line: str  # the matching text, verbatim (trimmed)
    count: int = 1


class ContainerLaunch(BaseModel):
    """How a container was started, from a pasted `docker run` line, compose file or pod spec."""

    kind: str  # "docker run", "compose", "pod"
    line: str
    gpus: bool | None = None  # --gpus / --runtime=nvidia / --device nvidia.com/gpu / reservation / nvidia.com/gpu limit
    shm: bool | None = None  # --shm-size / --ipc=host / shm_size / a Memory emptyDir on /dev/shm
    ulimit_memlock: bool | None = None  # --ulimit memlock=...


class DiagnosisFacts(BaseModel):
    signatures: list[SignatureSeen] = Field(default_factory=list)
    recognised: list[str] = Field(default_factory=list)  # blocks of a paste envdoctor read ("nvidia-smi table", ...)
    scan_note: str | None = None  # e.g. "scanned the first 8 MiB of a 200 MiB paste"
    # kernel module and device
    secure_boot: bool | None = None
    secure_boot_line: str | None = None
    running_kernel: str | None = None
    module_for_kernel: bool | None = None  # an nvidia module exists for the running kernel
    module_evidence: list[str] = Field(default_factory=list)
    dkms_kernels: list[str] | None = None  # kernels dkms built nvidia for
    dev_nodes: list[str] | None = None  # /dev/nvidia* present
    uvm_loaded: bool | None = None  # nvidia_uvm module loaded / /dev/nvidia-uvm present
    kernel_seccomp: bool | None = None  # the kernel config's CONFIG_SECCOMP (or /proc/<pid>/status' Seccomp line)
    nvml_init: str | None = None  # "0 NVML_SUCCESS", "9 NVML_ERROR_DRIVER_NOT_LOADED", ...
    kernel_changed: bool | None = None
    driver_changed: bool | None = None
    # torch and CUDA libraries
    torch_loaded_libs: list[str] | None = None  # libcudart/libcudnn/libnvJitLink paths torch mapped
    ld_library_path: list[str] | None = None
    pip_nvidia_wheels: list[str] | None = None  # "nvidia-cudnn-cu12 9.1.0.70", ...
    torch_packages: list[str] | None = None  # "torch 2.3.1+cu121" lines of pip list / conda list
    cuda_visible_devices: str | None = None  # from a paste ("CUDA_VISIBLE_DEVICES=...")
    toolkit_dirs: list[str] | None = None  # cuda-* under /usr/local (ls -l /usr/local | grep cuda)
    # containers and nodes
    in_container_text: bool | None = None  # the paste shows it was made inside a container
    launches: list[ContainerLaunch] = Field(default_factory=list)
    cgroup_devices: str | None = None  # devices.list / "cgroup2 (no device list)"
    rdma_devices: list[str] | None = None  # /sys/class/infiniband entries
    mentions: list[str] = Field(default_factory=list)  # "suspend", "daemon-reload", "jupyter", "extension build", ...
