"""TorchFacts / CudaEnvFacts from probe sections (this machine's real probe, and constructed sections)."""

import sys

import pytest

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.host_facts.torch import build_cuda_env_facts, build_torch_facts
from envdoctor.parsers.cuda_env import parse_cuda_toolkits, parse_nvcc_version
from tests.corpus import constructed_body


def sec(stdout, **kw):
    return Section(cmd="x", rc=0, stdout=stdout, **kw)


@pytest.fixture(scope="module")
def local_bundle():
    from envdoctor.diagnosis.gather import gather
    from envdoctor.hosts.transport import LocalTransport

    return gather(LocalTransport(), python=sys.executable)


def test_real_probe_torch_section_matches_torch_api(local_bundle):
    torch = pytest.importorskip("torch")
    t = build_torch_facts(local_bundle)
    assert t.source == "probe" and t.installed is True
    assert t.version == torch.__version__
    assert t.cuda_build == torch.version.cuda
    assert t.is_available == torch.cuda.is_available()
    assert t.arch_list == torch.cuda.get_arch_list()
    assert t.device_count == torch.cuda.device_count()
    assert t.cpu_only_build is (torch.version.cuda is None)
    assert t.python_executable == sys.executable
    try:
        import torchvision
        assert t.torchvision == torchvision.__version__
    except ImportError:
        assert t.torchvision is None


def test_real_probe_cuda_env(local_bundle):
    import os
    import shutil

    c = build_cuda_env_facts(local_bundle)
    assert c.cuda_visible_devices_set is ("CUDA_VISIBLE_DEVICES" in os.environ)
    assert c.cuda_home == (os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH"))
    assert c.nvcc_path == (shutil.which("nvcc") or "")
    import glob

    assert c.toolkits is not None
    assert set(glob.glob("/usr/local/cuda*")) <= {t.path for t in c.toolkits}
    if os.path.islink("/usr/local/cuda"):
        assert c.usr_local_cuda_target == os.path.realpath("/usr/local/cuda")


def test_constructed_probe_gpu_host_kernel_failure():
    b = Bundle(sections={"torch": sec(constructed_body("torch/probe-torch-rtx5090-cu126-no-kernel.json"))})
    t = build_torch_facts(b)
    assert t.cudnn == "9.5.1" and t.driver_cuda_found == 12080
    (d,) = t.devices
    assert (d.name, d.capability, d.kernel_ok) == ("NVIDIA GeForce RTX 5090", "12.0", False)
    assert "no kernel image" in d.kernel_error
    assert [e.kind for e in t.errors] == ["cuda_arch_not_in_wheel"]  # from the warning torch raised


def test_torch_import_error_and_timeout():
    # constructed: the probe's JSON when `import torch` fails, and a torch section that timed out
    t = build_torch_facts(Bundle(sections={"torch": sec(
        '{"python": "3.10.12", "executable": "/usr/bin/python3", "import_error": '
        '"ModuleNotFoundError: No module named \'torch\'"}\n')}))
    assert t.installed is False and "No module named" in t.import_error and t.cpu_only_build is None
    t = build_torch_facts(Bundle(sections={"torch": Section(cmd="x", error="timeout", stderr="")}))
    assert t.installed is None and t.inspect_error.startswith("timeout")


def test_constructed_cuda_env_sections():
    b = Bundle(sections={
        "environment": sec(constructed_body("torch/env-two-toolkits-compat.json")),
        "cuda_toolkits": sec(constructed_body("torch/cuda-toolkits-two.txt")),
        "ldconfig_cuda": sec(constructed_body("torch/ldconfig-compat-libcuda.txt")),
        "nvcc_version": Section(cmd="nvcc --version", error="not-found"),
        "tools": sec("nvcc\t\nnvidia-smi\t/usr/bin/nvidia-smi\n"),
    })
    c = build_cuda_env_facts(b)
    assert c.cuda_visible_devices == "0,3" and c.cuda_visible_devices_set is True
    assert c.cuda_home == "/usr/local/cuda-11.8"
    assert c.usr_local_cuda_target == "/usr/local/cuda-12.4"
    assert [t.version for t in c.toolkits] == ["12.4.1", "11.8.0", "12.4.1"]
    assert c.compat_lib_dirs == ["/usr/local/cuda-12.4/compat"]
    assert c.libcuda_paths == ["/usr/local/cuda-12.4/compat/libcuda.so.1", "/lib/x86_64-linux-gnu/libcuda.so.1"]
    assert c.nvcc_path == "" and c.nvcc_version is None  # known absent from PATH


def test_toolkit_version_from_dir_name_and_nvcc():
    (t,) = parse_cuda_toolkits("/usr/local/cuda-13.0\tdir\tversion=?\tnvcc=yes\n")
    assert (t.version, t.version_source) == ("13.0", "name")
    # constructed: nvcc --version's release line in its usual wording
    assert parse_nvcc_version("Cuda compilation tools, release 12.4, V12.4.131\n") == (
        "12.4", "Cuda compilation tools, release 12.4, V12.4.131")


def test_nothing_known_stays_unknown():
    t = build_torch_facts(Bundle())
    c = build_cuda_env_facts(Bundle())
    assert t.installed is None and t.cuda_build is None and t.cpu_only_build is None
    assert c.cuda_visible_devices_set is None and c.toolkits is None and c.compat_lib_dirs is None


def test_pasted_nvcc_version():
    # constructed: `nvcc --version` lines as a user pastes them
    c = build_cuda_env_facts(Bundle(pastes=["nvcc: NVIDIA (R) Cuda compiler driver\n"
                                            "Cuda compilation tools, release 11.8, V11.8.89\n"]))
    assert c.nvcc_version == "11.8" and c.toolkits is None
