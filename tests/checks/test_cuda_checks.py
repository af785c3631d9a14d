"""CUDA environment checks: CUDA_VISIBLE_DEVICES, toolkits, forward compatibility; and this machine."""

import sys

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.catalog import load_catalog, run_checks
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.facts import CudaEnvFacts, HostFacts, TorchFacts
from envdoctor.facts.torch import CudaToolkit
from envdoctor.models import Status
from tests.checks.support import paste, run
from tests.corpus import constructed_body, corpus_body

# --- CUDA_VISIBLE_DEVICES (real GPU lists + constructed environment) --------------------------------

@pytest.mark.parametrize("value,status", [
    (None, Status.PASS), ("", Status.FAIL), ("-1", Status.FAIL), ("1", Status.PASS), ("0,1", Status.PASS),
    ("2", Status.FAIL), ("0,2,1", Status.WARN), ("GPU-d6de6afc", Status.PASS), ("GPU-ffffffff", Status.FAIL),
])
def test_cuda_visible_devices_against_real_gpu_list(value, status):
    f = paste("nvidia-smi-misc/quadro-rtx4000-x2-list-L.txt")  # two GPUs with UUIDs
    f.cuda_env = CudaEnvFacts(cuda_visible_devices_set=value is not None, cuda_visible_devices=value)  # constructed
    r = run("cuda_visible_devices", f)
    assert r.status == status, r.summary
    if status != Status.PASS:
        assert r.fix and "unset CUDA_VISIBLE_DEVICES" in r.fix.commands


def test_cuda_visible_devices_unknown_without_evidence():
    assert run("cuda_visible_devices", HostFacts()).status == Status.UNKNOWN
    f = HostFacts(cuda_env=CudaEnvFacts(cuda_visible_devices_set=True, cuda_visible_devices="0"))
    assert run("cuda_visible_devices", f).status == Status.UNKNOWN  # no GPU list to check "0" against


# --- driver vs torch CUDA with a real nvidia-smi table ------------------------------------------------

@pytest.mark.parametrize("cuda_build,status", [("11.3", Status.PASS), ("11.8", Status.PASS), ("12.1", Status.FAIL)])
def test_driver_465_vs_torch_builds(cuda_build, status):
    f = paste("nvidia-smi-table/rtx3090-465.19.01-partial.txt")  # driver 465.19.01, CUDA 11.3
    f.torch = TorchFacts(installed=True, version=f"2.0.1+cu{cuda_build.replace('.', '')}", cuda_build=cuda_build)
    r = run("driver_cuda_compat", f)
    assert r.status == status
    if status == Status.FAIL:
        # the driver this CUDA needs is said in the cause; the fix is the knowledge base's driver_too_old
        assert r.cause_id == "driver_too_old" and "530.30.02" in r.cause and "525.60.13" in r.cause
        assert any("whl/cu118" in c for c in r.fix.commands)


def test_forward_compat_on_geforce_is_804():
    f = facts_from_bundle(Bundle(pastes=[corpus_body("collect-env/rtx4090-2.5.1-cu121-driver-535.txt")]))
    # constructed: the same host with a CUDA 13.0 torch and cuda-compat 13.0 on LD_LIBRARY_PATH
    f.torch.cuda_build, f.torch.version = "13.0", "2.9.1+cu130"
    f.cuda_env = CudaEnvFacts(compat_lib_dirs=["/usr/local/cuda-13.0/compat"], ld_library_path=["/usr/local/cuda-13.0/compat"],
                              toolkits=[])
    r = run("driver_cuda_compat", f)
    assert r.status == Status.FAIL and "804" in r.summary
    t = run("cuda_toolkits", f)
    assert t.status == Status.FAIL and "804" in t.summary


def test_forward_compat_on_a100_warns():
    f = facts_from_bundle(Bundle(pastes=[corpus_body("collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt")]))
    f.torch.cuda_build = "13.0"  # constructed: a CUDA 13 torch on this 525 host, with cuda-compat
    f.cuda_env = CudaEnvFacts(compat_lib_dirs=["/usr/local/cuda-13.0/compat"])
    r = run("driver_cuda_compat", f)
    assert r.status == Status.WARN and "forward compatibility" in r.summary


# --- toolkits (constructed sections) ----------------------------------------------------------------

def toolkit_facts(**env_over):
    b = Bundle(sections={
        "environment": Section(cmd="env", rc=0, stdout=constructed_body("torch/env-two-toolkits-compat.json")),
        "cuda_toolkits": Section(cmd="ls", rc=0, stdout=constructed_body("torch/cuda-toolkits-two.txt")),
        "ldconfig_cuda": Section(cmd="ldconfig -p", rc=0, stdout=constructed_body("torch/ldconfig-compat-libcuda.txt")),
        "nvcc_version": Section(cmd="nvcc --version", rc=0,
                                stdout="Cuda compilation tools, release 11.8, V11.8.89\n"),  # constructed
    })
    return facts_from_bundle(b)


def test_toolkits_disagree_warns():
    f = toolkit_facts()
    r = run("cuda_toolkits", f)
    assert r.status == Status.WARN
    text = r.summary + " ".join(r.evidence)
    assert "/usr/local/cuda 12.4" in text and "CUDA_HOME 11.8" in text and "nvcc 11.8" in text
    assert r.fix.playbook == "cuda-switch.yml"


def test_stray_compat_with_new_driver_and_newer_toolkit_than_driver():
    f = toolkit_facts()
    f.gpu.nvml_version, f.gpu.cuda_driver_version = "550.54.15", "12.4"  # constructed driver
    r = run("cuda_toolkits", f)
    assert r.status == Status.WARN
    assert any("not needed" in e for e in r.evidence + [r.summary])
    f.gpu.nvml_version, f.gpu.cuda_driver_version = "470.223.02", "11.4"  # constructed older driver
    # cuda-compat 12.4 bridges the 12.4 toolkit on an 11.4 driver (forward compatibility): not fatal
    assert run("cuda_toolkits", f).status == Status.WARN
    f.cuda_env.compat_lib_dirs, f.cuda_env.ld_library_path = [], ["/usr/local/cuda-11.8/lib64"]
    r = run("cuda_toolkits", f)
    assert r.status == Status.FAIL and "newer than the driver" in r.summary
    assert r.fix.commands[0] == "sudo ln -sfn /usr/local/cuda-11.8 /usr/local/cuda"  # newest the driver runs


def test_single_toolkit_passes_and_none_known_is_unknown():
    f = HostFacts(cuda_env=CudaEnvFacts(
        toolkits=[CudaToolkit(path="/usr/local/cuda", is_link=True, link_target="/usr/local/cuda-12.4"),
                  CudaToolkit(path="/usr/local/cuda-12.4", version="12.4")],
        usr_local_cuda_target="/usr/local/cuda-12.4", nvcc_path="/usr/local/cuda/bin/nvcc", nvcc_version="12.4",
        cuda_home="/usr/local/cuda", ld_library_path=[]))
    assert run("cuda_toolkits", f).status == Status.PASS
    assert run("cuda_toolkits", HostFacts()).status == Status.UNKNOWN
    assert run("cuda_toolkits", HostFacts(cuda_env=CudaEnvFacts(toolkits=[], nvcc_path=""))).status == Status.PASS


# --- this machine, for real -------------------------------------------------------------------------

def test_this_machine_tells_the_plain_truth():
    torch = pytest.importorskip("torch")
    from envdoctor.diagnosis.gather import gather
    from envdoctor.hosts.transport import LocalTransport

    f = facts_from_bundle(gather(LocalTransport(), python=sys.executable))
    results = {r.id: r for r in run_checks(f, [c for c in load_catalog() if 400 <= c.order < 700], debug=True)}
    assert all(r.status != Status.ERROR for r in results.values())
    assert results["torch_installed"].status == Status.PASS and torch.__version__ in results["torch_installed"].summary
    if torch.version.cuda:
        assert results["torch_cuda_build"].status == Status.PASS
        assert torch.version.cuda in results["torch_cuda_build"].summary
    avail = results["torch_cuda_available"]
    if torch.cuda.is_available():
        assert avail.status in (Status.PASS, Status.WARN)
    else:
        assert avail.status == Status.FAIL and avail.summary.startswith("False because ")
        if not f.gpu.pci_gpus and f.gpu.pci_gpus is not None:
            assert avail.cause_id == "no_gpu_on_bus"  # the root cause's, with its title
            assert results["torch_arch_support"].status == Status.SKIP
            assert results["driver_cuda_compat"].status == Status.SKIP


def test_driver_unknown_but_kernel_ran_passes():
    from envdoctor.facts.torch import TorchDevice

    # constructed facts: the probe's torch ran a kernel; no nvidia-smi in this container
    f = HostFacts(torch=TorchFacts(installed=True, version="2.9.1+cu128", cuda_build="12.8", is_available=True,
                                   device_count=1, devices=[TorchDevice(index=0, name="NVIDIA H100 80GB HBM3",
                                                                        capability="9.0", kernel_ok=True)]))
    assert run("driver_cuda_compat", f).status == Status.PASS
    f.torch.devices = []
    assert run("driver_cuda_compat", f).status == Status.UNKNOWN


def test_nvidia_visible_devices_void():
    # constructed facts: a container started without GPUs through the NVIDIA runtime
    f = HostFacts(cuda_env=CudaEnvFacts(cuda_visible_devices_set=False, nvidia_visible_devices="void"))
    assert run("cuda_visible_devices", f).status == Status.WARN
    f.cuda_env.nvidia_visible_devices = "all"
    assert run("cuda_visible_devices", f).status == Status.PASS
