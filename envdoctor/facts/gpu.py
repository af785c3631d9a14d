"""Facts about GPUs, the NVIDIA kernel driver and NVML (owned by the GPU/driver domain)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PciGpu(BaseModel):
    """An NVIDIA device seen on the PCI bus (whether or not a driver is bound)."""

    slot: str  # "0000:01:00.0"
    device_id: str | None = None  # "2330"
    pci_class: str | None = None  # "030200" (3D controller), "030000" (VGA), "068000" (bridge: NVSwitch)
    driver: str | None = None  # bound kernel driver: "nvidia", "nouveau", "vfio-pci", None (unbound)
    link_speed: str | None = None  # current, e.g. "32.0_GT/s_PCIe"
    max_link_speed: str | None = None
    link_width: int | None = None
    max_link_width: int | None = None


class GpuInfo(BaseModel):
    """One GPU as nvidia-smi / NVML reports it. Every field is optional: old drivers and pastes omit many."""

    index: int | None = None
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    utilization_pct: int | None = None
    temperature_c: int | None = None
    max_operating_temp_c: int | None = None  # "GPU Max Operating Temp": the GPU slows down to stay below it
    power_draw_w: float | None = None
    power_limit_w: float | None = None
    compute_capability: str | None = None  # "9.0"
    persistence_mode: bool | None = None
    mig_mode_current: bool | None = None
    mig_mode_pending: bool | None = None
    mig_devices: int | None = None  # MIG instances on this GPU (None = unknown)
    ecc_mode_current: bool | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    throttle_reasons_active: list[str] | None = None  # e.g. ["HW Slowdown", "SW Thermal Slowdown"]
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None  # max the GPU and slot support together (nvidia-smi "Device Current"/"Max")
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    lost: bool = False  # nvidia-smi shows "GPU is lost" / "Unable to determine the device handle"
    # Added by the GPU domain (all optional):
    product_brand: str | None = None  # "Tesla", "GeForce", "NVIDIA" (-q / XML)
    architecture: str | None = None  # "Hopper"
    datacenter: bool | None = None  # a data-center GPU (Tesla/A100/H100/L40S...): persistence, cuda-compat apply
    pci_device_id: str | None = None  # "2330" (from "0x233010DE")
    performance_state: str | None = None  # "P0" (busy) .. "P8"/"P12" (idle): the PCIe link gen drops at idle
    pcie_gen_host_max: int | None = None
    mig_instances: list[str] | None = None  # "MIG 3g.40gb Device 0" lines from nvidia-smi -L
    ecc_uncorrected_volatile_lines: list[str] | None = None  # which counters were non-zero, for evidence
    retired_pages_dbe: int | None = None  # pages retired for double-bit errors (pre-Ampere)
    fabric_state: str | None = None  # NVLink fabric registration (-q "Fabric State"): "Completed", "In Progress"
    fabric_status: str | None = None  # "Success" or the failure NVML reports
    source: str | None = None  # which output this came from: "nvidia-smi -q -x", "nvidia-smi", "csv", "-L"
    driver_model: str | None = None  # Windows only: "WDDM" or "TCC" (the table's TCC/WDDM column, -q "Driver Model")
    throttle_reasons_mask: str | None = None  # clocks_event_reasons.active as printed ("0x0000000000000008")
    throttle_reasons_unknown_bits: str | None = None  # bits of that mask NVML's table does not name ("0x800")


    @property
    def label(self) -> str:
        """'GPU 0 (NVIDIA H100 80GB HBM3, 00000000:00:09.0)' for summaries and evidence."""
        bits = [b for b in (self.name, self.pci_bus_id) if b]
        head = f"GPU {self.index}" if self.index is not None else "GPU"
        return f"{head} ({', '.join(bits)})" if bits else head


class XidEvent(BaseModel):
    xid: int
    pci: str | None = None
    time: str | None = None
    line: str  # the kernel log line, verbatim
    sxid: bool = False  # NVSwitch SXid rather than GPU Xid


class GpuFacts(BaseModel):
    pci_gpus: list[PciGpu] | None = None  # None: the PCI bus was not read
    nvswitch_count: int | None = None  # NVSwitch bridges on PCI (or /dev/nvidia-nvswitch*)
    kernel_module_loaded: bool | None = None  # "nvidia" in /proc/modules
    nouveau_loaded: bool | None = None
    kernel_module_version: str | None = None  # from /proc/driver/nvidia/version: the loaded module
    kernel_module_open: bool | None = None  # "Open Kernel Module"
    nvml_version: str | None = None  # user-space driver library version (nvidia-smi "Driver Version")
    userspace_package_version: str | None = None  # from dpkg/rpm or a paste, when known
    cuda_driver_version: str | None = None  # "CUDA Version" in nvidia-smi: the driver's CUDA API, "12.4"
    nvidia_smi_available: bool | None = None  # the binary exists
    nvidia_smi_error: str | None = None  # the first error line nvidia-smi printed (couldn't communicate...)
    nvml_mismatch: bool | None = None  # "Driver/library version mismatch" seen
    gpus: list[GpuInfo] | None = None  # None: no nvidia-smi evidence at all
    xid_events: list[XidEvent] | None = None  # None: kernel log not readable
    fallen_off_bus: list[str] | None = None  # kernel log lines saying a GPU fell off the bus
    fabricmanager_active: bool | None = None
    fabricmanager_installed: bool | None = None
    persistenced_active: bool | None = None
    errors_seen: list[str] = Field(default_factory=list)  # verbatim error lines recognised in evidence
    # Added by the GPU domain (all optional):
    nvidia_smi_version: str | None = None  # "NVIDIA-SMI 590.48.01" header / --version
    attached_gpus: int | None = None  # "Attached GPUs" of -q / XML (may exceed the GPU blocks a paste kept)
    gpus_source: str | None = None  # where `gpus` came from: "nvidia-smi -q -x", "nvidia-smi -q", "nvidia-smi", ...
    nvidia_smi_rc: int | None = None  # exit status of the probe's nvidia-smi
    kernel_log_read: bool | None = None  # the kernel log (dmesg/journal) was readable
    kernel_log_source: str | None = None  # the command that read it
    nvrm_lines: list[str] | None = None  # notable NVRM lines (API mismatch, probe failures, RmInitAdapter...)
    module_version_from_log: str | None = None  # "NVRM: loading ... Kernel Module 570.158.01" in the kernel log
    nvidia_modules: list[str] | None = None  # nvidia* kernel modules loaded (/proc/modules)
    nouveau_bound: list[str] | None = None  # PCI slots whose GPU is bound to nouveau
    dpkg_packages: dict[str, str] | None = None  # NVIDIA/CUDA packages installed -> version (dpkg)
    fabricmanager_state: str | None = None  # systemd ActiveState of nvidia-fabricmanager ("active", "failed")
    persistenced_state: str | None = None
    nvswitch_dev_nodes: list[str] | None = None  # /dev/nvidia-nvswitch*
    driver_upgrade_lines: list[str] = Field(default_factory=list)  # apt history lines upgrading NVIDIA packages
    cuda_802_seen: bool | None = None  # CUDA error 802 "system not yet initialized" in the evidence

    @property
    def known_no_gpu(self) -> bool:
        """The PCI bus was read and holds no NVIDIA GPU, and NVML lists none either."""
        return self.pci_gpus == [] and not self.gpus
