"""SIMULATION, for tests only: the simulated GPU hosts. Each output is a recorded real one from the corpus
(the `Recording` names the file; its header names the thread or repository it was taken from); what is
constructed says so here and in its data file."""

from __future__ import annotations

from tests.corpus import constructed_body, corpus_body
from tests.hosts.simulated_gpu.simhost import NVIDIA_NODES, Host, PciFunction, Recording, proc_modules

H100_TABLE = "nvidia-smi-table/h100-80gb-hbm3-590.48.01-idle.txt"
H100_LIST = "nvidia-smi-misc/h100-80gb-hbm3-590.48.01-list-L.txt"
H100_Q = "nvidia-smi-q/h100-80gb-hbm3-590.48.01.txt"
NVIDIA_CTK = "container-config/nvidia-ctk-version-1.12.0.txt"
A100_EXCLUSIVE_TABLE = "nvidia-smi-table/a100-sxm4-40gb-580.126.09-exclusive-process-partial.txt"
MISMATCH_HOST = "errors/nvml-driver-library-version-mismatch-proc-version-dpkg.txt"  # nvidia-smi, /proc version
MISMATCH_PROC_VERSION = "proc-driver-version/proprietary-520.56.06-debian.txt"  # the same host (bock)
TOO_OLD_HOST = "errors/torch-driver-too-old-11040-with-proc-version.txt"  # lshw, /proc version, torch warning
UNKNOWN_ERROR_WARNING = "cases/kernel-node-nccl/suspend_resume--pytorch-88639-unknown-error-after-standby.txt"
WARNING_804 = "cases/torch-containers-healthy/forward_compat_unsupported--torchpod-gtx1650-toolkit-140.txt"
BUSY_ERROR = "cases/thin-classes/device_busy_exclusive--machin-25-apex-ddpg-exclusive-mode.txt"

NO_KERNEL_LOG = Recording("", "no NVIDIA lines in the simulated host's kernel log")


def user_warning(rel: str, needle: str) -> str:
    """The message of the first `UserWarning: ...` line of a corpus file that holds `needle`."""
    line = next(l for l in corpus_body(rel).splitlines() if needle in l and "UserWarning: " in l)
    return line.split("UserWarning: ", 1)[1].strip()


def _h100_pci() -> list[PciFunction]:
    # the H100 of the capture (nvidia-smi -q: bus 00000000:00:09.0, device 0x2330, class 0x0302, PCIe gen 5 x16)
    return [PciFunction("0000:00:09.0", "2330", "0x030200", "32.0 GT/s PCIe", 16)]


def _h100_torch(**over) -> dict:
    view = {"is_available": True, "device_count": 1, "warning": None, "kernel_error": None,
            # the capture's GPU as torch describes it: name, compute capability 9.0, 81559 MiB, 132 SMs
            "devices": [{"name": "NVIDIA H100 80GB HBM3", "major": 9, "minor": 0,
                         "total_memory": 81559 * 1024 * 1024, "multi_processor_count": 132}]}
    view.update(over)
    return view


def _h100_smi() -> dict[str, Recording]:
    return {"": Recording.corpus(H100_TABLE), "-L": Recording.corpus(H100_LIST), "-q": Recording.corpus(H100_Q)}


def healthy_h100() -> Host:
    """One H100 80GB HBM3 on driver 590.48.01 (CUDA 13.1), everything working."""
    return Host(
        name="healthy-h100",
        recordings={"nvidia-smi": _h100_smi(), "nvidia-ctk": {"--version": Recording.corpus(NVIDIA_CTK)},
                    "dmesg": {"--ctime": NO_KERNEL_LOG}},
        proc_driver_version=constructed_body("gpu/proc-driver-version-590.48.01.txt"),
        proc_modules=proc_modules(),
        pci=_h100_pci(),
        dev_nodes=NVIDIA_NODES,
        cu_driver_version=13010,
        torch=_h100_torch(),
    )


def driver_library_mismatch() -> Host:
    """The `bock` host of the mismatch thread: module 520.56.06 loaded, user space upgraded to 525.85.12.
    nvidia-smi prints the host's real message for every argument list and exits with NVML's code 18;
    NVML answers 18, cuInit 803; the libcuda (525.85.12) reports CUDA 12.0. The thread does not name the
    GPU: the PCI function is the H100's. torch's warning: the real 804 warning of WARNING_804 with
    error 803's text instead (constructed: no recorded torch warning for 803 in the corpus)."""
    smi_message = next(l for l in corpus_body(MISMATCH_HOST).splitlines() if "Failed to initialize NVML" in l)
    warning = user_warning(WARNING_804, "Error 804").replace(
        "Error 804: forward compatibility was attempted on non supported HW",
        "Error 803: system has unsupported display driver / cuda driver combination")
    return Host(
        name="driver-library-mismatch",
        recordings={"nvidia-smi": {"_any": Recording(smi_message + "\n", MISMATCH_HOST, rc=18)},
                    "nvidia-ctk": {"--version": Recording.corpus(NVIDIA_CTK)},
                    "dmesg": {"--ctime": NO_KERNEL_LOG}},
        proc_driver_version=corpus_body(MISMATCH_PROC_VERSION),
        proc_modules=proc_modules(),
        pci=_h100_pci(),
        dev_nodes=NVIDIA_NODES,
        nvml_init_rc=18,
        cu_init_rc=803,
        cu_driver_version=12000,
        torch={"is_available": False, "device_count": 0, "warning": warning, "kernel_error": None, "devices": []},
    )


def uvm_missing() -> Host:
    """The healthy H100 host without nvidia-uvm: no /dev/nvidia-uvm*, no nvidia_uvm module; cuInit 999,
    and torch's real "CUDA unknown error" warning."""
    return Host(
        name="uvm-missing",
        recordings={"nvidia-smi": _h100_smi(), "nvidia-ctk": {"--version": Recording.corpus(NVIDIA_CTK)},
                    "dmesg": {"--ctime": NO_KERNEL_LOG}},
        proc_driver_version=constructed_body("gpu/proc-driver-version-590.48.01.txt"),
        proc_modules=proc_modules(without=("nvidia_uvm",)),
        pci=_h100_pci(),
        dev_nodes=[n for n in NVIDIA_NODES if not n[0].startswith("nvidia-uvm")],
        cu_init_rc=999,
        cu_driver_version=13010,
        torch={"is_available": False, "device_count": 0, "kernel_error": None, "devices": [],
               "warning": user_warning(UNKNOWN_ERROR_WARNING, "CUDA unknown error")},
    )


def driver_too_old() -> Host:
    """The GTX 1050 Ti host of TOO_OLD_HOST: driver 470.223.02 (CUDA 11.4, its real /proc version), and
    torch's real warning "found version 11040". The thread has no nvidia-smi output, so this host has no
    nvidia-smi (none is served rather than one invented). GPU from its lshw: GP107 at 0000:01:00.0."""
    text = corpus_body(TOO_OLD_HOST)
    proc = "".join(l + "\n" for l in text.splitlines() if l.startswith(("NVRM version:", "GCC version:")))
    return Host(
        name="driver-too-old",
        recordings={"nvidia-ctk": {"--version": Recording.corpus(NVIDIA_CTK)}, "dmesg": {"--ctime": NO_KERNEL_LOG}},
        proc_driver_version=proc,
        proc_modules=proc_modules(),
        pci=[PciFunction("0000:01:00.0", "1c82", "0x030000", "8.0 GT/s PCIe", 16)],
        dev_nodes=NVIDIA_NODES,
        cu_driver_version=11040,
        torch={"is_available": False, "device_count": 0, "kernel_error": None, "devices": [],
               "warning": user_warning(TOO_OLD_HOST, "found version 11040")},
    )


def exclusive_process_busy() -> Host:
    """The Bottlerocket A100 host whose GPUs are in compute mode "E. Process" (its real, truncated table,
    driver 580.126.09, CUDA 13.0), each GPU held by another process: CUDA enumerates them, torch sees them,
    and the first allocation fails with the real "all CUDA-capable devices are busy or unavailable"."""
    busy = corpus_body(BUSY_ERROR).strip().split("RuntimeError: ", 1)[1]
    a100 = {"name": "NVIDIA A100-SXM4-40GB", "major": 8, "minor": 0, "total_memory": 40960 * 1024 * 1024,
            "multi_processor_count": 108}
    return Host(
        name="exclusive-process-busy",
        recordings={"nvidia-smi": {"": Recording.corpus(A100_EXCLUSIVE_TABLE)},
                    "nvidia-ctk": {"--version": Recording.corpus(NVIDIA_CTK)}, "dmesg": {"--ctime": NO_KERNEL_LOG}},
        proc_driver_version=constructed_body("gpu/proc-driver-version-580.126.09.txt"),
        proc_modules=proc_modules(),
        # A100-SXM4-40GB is 10de:20b0; the slots are the table's bus ids
        pci=[PciFunction("0000:10:1c.0", "20b0", "0x030200", "16.0 GT/s PCIe", 16),
             PciFunction("0000:10:1d.0", "20b0", "0x030200", "16.0 GT/s PCIe", 16)],
        dev_nodes=NVIDIA_NODES + [("nvidia1", 195, 1)],
        cu_driver_version=13000,
        cu_device_count=2,
        torch={"is_available": True, "device_count": 2, "warning": None, "kernel_error": busy,
               "devices": [a100, a100]},
    )
