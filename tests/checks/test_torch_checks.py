"""torch checks on facts built from real outputs (corpus) and, where labelled, constructed facts."""

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import GpuFacts, HostFacts, TorchFacts
from envdoctor.facts.gpu import GpuInfo
from envdoctor.knowledge import wheel_index
from envdoctor.models import Status
from tests.checks.support import paste, run
from tests.corpus import constructed_body

# --- driver too old (real pastes) ------------------------------------------------------------------

def test_driver_too_old_11040_with_proc_version():
    f = paste("errors/torch-driver-too-old-11040-with-proc-version.txt")
    r = run("driver_cuda_compat", f)
    assert r.status == Status.FAIL
    assert "CUDA 11.4" in r.summary
    assert any("found version 11040" in e for e in r.evidence)
    assert any("470.223.02" in e for e in r.evidence)  # the /proc/driver/nvidia/version in the same paste
    # 470 runs CUDA 11.x by minor-version compatibility: the newest wheel for it is cu118 (torch <= 2.7.1)
    assert any("whl/cu118" in c and "torch<=2.7.1" in c for c in r.fix.commands)
    a = run("torch_cuda_available", f)
    assert a.status == Status.FAIL and "driver is too old" in a.summary


def test_driver_too_old_9010_in_collect_env():
    f = paste("collect-env/cu102-build-driver-too-old-9010.txt")
    r = run("driver_cuda_compat", f)
    assert r.status == Status.FAIL
    assert "CUDA 9.1" in r.summary and "10.2" in r.summary
    assert "440.33" in r.cause  # CUDA 10.2's minimum driver from the table


def test_driver_insufficient_35():
    f = paste("errors/cuda-driver-insufficient-torch-thcgeneral.txt")
    r = run("driver_cuda_compat", f)
    assert r.status == Status.FAIL and any("insufficient" in e for e in r.evidence)


def test_minor_version_compat_a100_525_cu124_passes():
    f = paste("collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt")
    r = run("driver_cuda_compat", f)
    assert r.status == Status.PASS
    assert "minor-version compatibility" in r.summary and "12.0" in r.summary
    assert run("torch_cuda_available", f).status == Status.PASS


def test_native_rtx4090_535_cu121_passes():
    f = paste("collect-env/rtx4090-2.5.1-cu121-driver-535.txt")
    r = run("driver_cuda_compat", f)
    assert r.status == Status.PASS and "natively" in r.summary
    assert run("torch_cuda_build", f).status == Status.PASS
    # collect_env names the GPU: capability from the table, cu121 (no arch list known) -> unknown
    assert run("torch_arch_support", f).status == Status.UNKNOWN


# --- CPU-only build ---------------------------------------------------------------------------------

def test_cpu_only_wheel():
    f = paste("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt")
    r = run("torch_cuda_build", f)
    # a paste without the PCI list cannot prove the host has no GPU, so this is a fail, not the no-GPU warn
    assert r.status == Status.FAIL
    assert "CPU-only" in r.summary and any("2.3.1+cpu" in e for e in r.evidence)
    assert r.fix.commands and f"--index-url {wheel_index('cu')}" in r.fix.commands[0]
    a = run("torch_cuda_available", f)
    assert a.status == Status.FAIL and a.cause_id == "torch_cpu_only_build"  # the root cause's


def test_fix_commands_quote_the_interpreter_path():
    # regression: the target's interpreter went unquoted into the pip command; constructed path with a blank
    f = paste("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt")
    f.torch.python_executable = "/home/me/my envs/bin/python"
    r = run("torch_cuda_build", f)
    assert r.fix.commands[0].startswith("'/home/me/my envs/bin/python' -m pip install")
    assert run("driver_cuda_compat", f).status == Status.SKIP


# --- arch support -----------------------------------------------------------------------------------

def test_sm120_not_compatible_paste():
    f = paste("errors/torch-sm120-not-compatible-leggedlab.txt")
    r = run("torch_arch_support", f)
    assert r.status == Status.FAIL
    assert "RTX 5090" in r.summary and "sm_120" in r.summary
    assert any("whl/cu128" in c for c in r.fix.commands)


def test_gpu_too_old_paste():
    r = run("torch_arch_support", paste("errors/torch-old-gpu-sm35-too-old.txt"))
    assert r.status == Status.FAIL and "too old" in r.summary and "3.7" in r.summary


def test_no_kernel_image_on_supported_gpu_points_at_extension():
    # the real paste (A800, sm_80) plus constructed facts for what the thread says: torch itself covers sm_80
    f = paste("errors/no-kernel-image-extension-vs-torch-version.txt")
    f.torch.arch_list = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]
    f.torch.cuda_build = "12.1"
    f.gpu.gpus = [GpuInfo(index=0, name="NVIDIA A800 80GB PCIe")]
    r = run("torch_arch_support", f)
    assert r.status == Status.WARN and "extension" in r.cause


def test_rtx5080_collect_env_new_layout_cu128_covers_sm120():
    f = paste("collect-env/rtx5080x2-2.7.0-cu128-new-format.txt")
    f.torch.arch_list = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # constructed: cu128's list
    r = run("torch_arch_support", f)
    assert r.status == Status.PASS and "2 GPU" in r.summary


def test_probe_kernel_failure_is_decisive():
    b = Bundle(sections={"torch": Section(cmd="x", rc=0, stdout=constructed_body(
        "torch/probe-torch-rtx5090-cu126-no-kernel.json"))})
    f = facts_from_bundle(b)
    r = run("torch_arch_support", f)
    assert r.status == Status.FAIL and "no kernel image" in r.evidence[0]
    assert run("torch_cuda_available", f).status == Status.WARN  # True, yet unusable


def test_ptx_only_coverage_warns():
    # constructed facts: an sm_89 GPU with a build that ships sm_80 cubins and compute_80 PTX only
    f = HostFacts(torch=TorchFacts(installed=True, version="2.1.0+cu118", cuda_build="11.8",
                                   arch_list=["sm_80", "compute_80"]),
                  gpu=GpuFacts(gpus=[GpuInfo(index=0, name="NVIDIA L4", compute_capability="8.9")]))
    # sm_80 cubins run on 8.9 (same major, higher minor): that is a SASS match, a pass
    assert run("torch_arch_support", f).status == Status.PASS
    f.torch.arch_list = ["sm_70", "compute_70"]
    assert run("torch_arch_support", f).status == Status.WARN
    f.torch.arch_list = ["sm_90"]
    assert run("torch_arch_support", f).status == Status.FAIL


# --- is_available correlated ------------------------------------------------------------------------

def test_wsl2_device_count_oom():
    f = paste("collect-env/wsl2-8x-rtx4000ada-cudagetdevicecount-oom.txt")
    r = run("torch_cuda_available", f)
    # no cause of the knowledge base explains error 2 at init: said as not determined, with CUDA's own words
    assert r.status == Status.FAIL and r.cause == "not determined" and r.cause_id is None
    assert any("Error 2: out of memory" in e for e in r.evidence)


@pytest.mark.parametrize("code,words", [(802, "nvidia-fabricmanager"), (804, "forward compatibility")])
def test_constructed_802_804(code, words):
    # constructed: torch's warning wording with these CUDA error numbers (no real paste in the corpus)
    text = {802: "RuntimeError: CUDA error: system not yet initialized",
            804: "UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some "
                 "cuda functions before calling NumCudaDevices() that might have already set an error? Error 804: "
                 "forward compatibility was attempted on non supported HW"}[code]
    f = facts_from_bundle(Bundle(pastes=[text]))
    f.torch = f.torch.model_copy(update={"installed": True, "cuda_build": "12.4", "is_available": False})
    r = run("torch_cuda_available", f)
    assert r.status == Status.FAIL and words in (r.cause + " " + r.fix.summary + " ".join(r.fix.commands))


def test_constructed_no_driver_loaded():
    f = HostFacts(torch=TorchFacts(installed=True, version="2.5.1+cu121", cuda_build="12.1", is_available=False),
                  gpu=GpuFacts(kernel_module_loaded=False, pci_gpus=None))
    r = run("torch_cuda_available", f)
    # the cause is the root cause's; these facts alone give it none, so it is not determined (not guessed)
    assert r.status == Status.FAIL and r.cause == "not determined"


# --- installed / torchvision ------------------------------------------------------------------------

def test_torch_not_installed_and_unknown():
    f = HostFacts(torch=TorchFacts(installed=False, import_error="ModuleNotFoundError: No module named 'torch'",
                                   python_executable="/opt/venv/bin/python"))
    r = run("torch_installed", f)
    assert r.status == Status.FAIL and r.evidence[0].startswith("ModuleNotFoundError")
    assert r.fix.commands[0].startswith("/opt/venv/bin/python -m pip install")
    assert run("torch_installed", HostFacts()).status == Status.UNKNOWN
    assert run("torch_cuda_build", HostFacts()).status == Status.UNKNOWN
    assert run("torch_cuda_available", HostFacts()).status == Status.UNKNOWN


@pytest.mark.parametrize("torch_v,tv,status", [
    ("2.5.1+cu121", "0.20.1+cu121", Status.PASS),
    ("2.5.1+cu121", "0.19.0+cu121", Status.FAIL),
    ("2.5.1+cu121", "0.20.1+cpu", Status.FAIL),
    ("2.14.1+cu130", "0.29.1+cu130", Status.PASS),  # beyond the table: the 2.x -> 0.(x+15) rule
    ("1.12.1+cu102", "0.13.1+cu102", Status.PASS),
    ("1.1.0", "0.2.0", Status.PASS),  # torchvision before 0.3 has no compiled operators
    ("1.1.0", "0.4.0", Status.FAIL),
])
def test_torchvision_pairs(torch_v, tv, status):
    f = HostFacts(torch=TorchFacts(installed=True, version=torch_v, torchvision=tv, source="probe"))
    r = run("torchvision_match", f)
    assert r.status == status
    if status == Status.FAIL:
        assert "pip install" in r.fix.commands[0]


def test_old_gpu_below_every_arch_gets_older_release_fix():
    # constructed facts: a GTX 1080 (6.1) under a build starting at sm_75
    f = HostFacts(torch=TorchFacts(installed=True, version="2.9.1+cu130", cuda_build="13.0",
                                   arch_list=["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]),
                  gpu=GpuFacts(gpus=[GpuInfo(index=0, name="NVIDIA GeForce GTX 1080")]))
    r = run("torch_arch_support", f)
    assert r.status == Status.FAIL and "older torch release" in r.fix.summary


def test_devicequery_insufficient_driver_is_not_torch_evidence():
    f = paste("errors/cuda-driver-insufficient-deviceQuery-result-fail.txt")
    assert f.torch.installed is None  # deviceQuery is not torch
    assert run("torch_installed", f).status == Status.UNKNOWN
    r = run("driver_cuda_compat", f)
    assert r.status == Status.FAIL and any("cudaGetDeviceCount returned 35" in e or "insufficient" in e
                                           for e in r.evidence)


def test_constructed_cuda_visible_devices_empty_is_the_cause():
    from envdoctor.facts import CudaEnvFacts

    # constructed facts: a 2-GPU host (real nvidia-smi -L) with CUDA_VISIBLE_DEVICES="" and torch seeing nothing
    f = paste("nvidia-smi-misc/quadro-rtx4000-x2-list-L.txt")
    f.torch = TorchFacts(installed=True, version="2.5.1+cu121", cuda_build="12.1", is_available=False, device_count=0)
    f.cuda_env = CudaEnvFacts(cuda_visible_devices_set=True, cuda_visible_devices="")
    r = run("torch_cuda_available", f)
    assert r.status == Status.FAIL
    assert r.cause_id in ("cuda_visible_devices", None)  # the root cause's; see cuda_visible_devices for the value
    assert run("cuda_visible_devices", f).cause_id == "cuda_visible_devices"


# --- one reasoning path (issue 17 items 3 and 10) ---------------------------------------------------

def _kernel_failed(error: str) -> HostFacts:
    # constructed facts: the probe's test kernel failed on an H100 under a cu130 wheel that covers sm_90
    from envdoctor.facts.torch import TorchDevice

    return HostFacts(torch=TorchFacts(installed=True, version="2.9.1+cu130", cuda_build="13.0", source="probe",
                                      arch_list=["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"],
                                      is_available=True, device_count=1,
                                      devices=[TorchDevice(index=0, name="NVIDIA H100 80GB HBM3", capability="9.0",
                                                           kernel_ok=False, kernel_error=error)]))


def test_busy_gpu_gets_no_other_torch():
    # CUDA's own wording for error 46
    r = run("torch_arch_support", _kernel_failed(
        "CUDA error: CUDA-capable device(s) is/are busy or unavailable"))
    assert r.status == Status.FAIL and r.cause_id == "device_busy_exclusive"
    assert not any("pip install" in c for c in r.fix.commands)


def test_unknown_kernel_error_gets_no_other_torch():
    r = run("torch_arch_support", _kernel_failed("CUDA error: an illegal memory access was encountered"))
    assert r.status == Status.FAIL and r.cause_id != "arch_not_in_wheel" and r.fix is None


def test_no_kernel_image_is_the_missing_arch():
    r = run("torch_arch_support", _kernel_failed("CUDA error: no kernel image is available for execution on the device"))
    assert r.status == Status.FAIL and r.cause_id == "arch_not_in_wheel"


def test_torch_cuda_available_lists_a_warning_once():
    # the probe records torch's warning both as a warning and as a recognised message
    w = "UserWarning: CUDA initialization: The NVIDIA driver on your system is too old (found version 11040)."
    f = facts_from_bundle(Bundle(pastes=[w]))
    f.torch = f.torch.model_copy(update={"installed": True, "cuda_build": "12.4", "is_available": False,
                                         "warnings": [w, w]})
    r = run("torch_cuda_available", f)
    assert sum(w in e for e in r.evidence) == 1
