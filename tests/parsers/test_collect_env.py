"""collect_env parser on every real collect_env output of the corpus (old flat and new sectioned layout)."""

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts.torch import build_torch_facts
from envdoctor.parsers.collect_env import find_collect_env
from tests.corpus import corpus_body


def ce(name):
    block = find_collect_env(corpus_body(f"collect-env/{name}"))
    assert block is not None
    return block


def test_a100_healthy_old_layout():
    c = ce("a100-80gb-pcie-x8-cu124-driver-525.txt")
    assert c.torch_version == "2.6.0+cu124"
    assert c.cuda_build == "12.4" and c.cpu_only_build is False
    assert c.is_available is True
    assert c.cuda_runtime is None  # "Could not collect": unknown, not absent
    assert c.driver_version == "525.60.13"
    assert c.gpus == ["NVIDIA A100 80GB PCIe"] * 8
    assert c.value("OS") == "CentOS Linux release 7.9.2009 (Core) (x86_64)"
    assert c.value("cuDNN version") is None


def test_cpu_wheel_no_cuda():
    c = ce("cpu-wheel-2.3.1-aws-no-gpu.txt")
    assert c.torch_version == "2.3.1+cpu"
    assert c.cuda_build is None and c.cpu_only_build is True
    assert c.is_available is False
    assert c.gpus == []  # "No CUDA": known none
    assert c.driver_version is None and c.cuda_runtime is None


def test_cu102_driver_too_old_warning_before_dump():
    c = ce("cu102-build-driver-too-old-9010.txt")
    assert c.torch_version == "1.12.1+cu102"
    assert c.cuda_build == "10.2"
    assert c.is_available is None  # the excerpt ends before that line
    assert any("found version 9010" in w for w in c.warnings)


def test_rtx4090_single_line_gpu_and_cudnn_list():
    c = ce("rtx4090-2.5.1-cu121-driver-535.txt")
    assert c.torch_version == "2.5.1+cu121"
    assert c.cuda_runtime == "12.1.105"
    assert c.gpus == ["NVIDIA GeForce RTX 4090"]
    assert c.driver_version == "535.183.01"
    assert c.value("cuDNN version") == "Probably one of the following:"


def test_new_sectioned_layout():
    c = ce("rtx5080x2-2.7.0-cu128-new-format.txt")
    assert c.torch_version == "2.7.0+cu128"
    assert c.cuda_build == "12.8"
    assert c.is_available is True
    assert c.cuda_runtime == "12.8.93"
    assert c.gpus == ["NVIDIA GeForce RTX 5080", "NVIDIA GeForce RTX 5080"]
    assert c.driver_version is None  # key present, value cut off by the excerpt
    assert c.value("Libc version") == "glibc-2.35"


def test_wsl2_device_count_error():
    c = ce("wsl2-8x-rtx4000ada-cudagetdevicecount-oom.txt")
    assert c.torch_version == "2.4.0+cu121"
    assert c.is_available is False
    assert c.gpus[:6] == ["NVIDIA RTX 4000 Ada Generation"] * 6 and len(c.gpus) == 7
    assert any("Error 2: out of memory" in w for w in c.warnings)


def test_torch_facts_from_collect_env_paste():
    t = build_torch_facts(Bundle(pastes=[corpus_body("collect-env/wsl2-8x-rtx4000ada-cudagetdevicecount-oom.txt")]))
    assert t.source == "collect_env" and t.installed is True
    assert (t.version, t.cuda_build, t.is_available) == ("2.4.0+cu121", "12.1", False)
    assert t.cpu_only_build is False
    assert t.collect_env_cuda_runtime == "12.5.82"
    assert [e.kind for e in t.errors] == ["cudaGetDeviceCount"] and t.errors[0].code == 2


def test_torch_facts_cpu_wheel():
    t = build_torch_facts(Bundle(pastes=[corpus_body("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt")]))
    assert t.cpu_only_build is True and t.cuda_build is None
    assert t.collect_env_gpus == [] and t.collect_env_driver is None


def test_no_collect_env_in_unrelated_text():
    assert find_collect_env(corpus_body("errors/torch-sm120-not-compatible-leggedlab.txt")) is None


def test_relevant_libraries_section():
    # constructed: collect_env's "Versions of relevant libraries" lines appended to a real header
    # (the corpus excerpts all end before that section)
    text = corpus_body("collect-env/rtx4090-2.5.1-cu121-driver-535.txt") + (
        "\nVersions of relevant libraries:\n[pip3] numpy==1.26.4\n[pip3] torch==2.5.1\n"
        "[pip3] torchvision==0.20.1\n[conda] torchaudio                2.5.1               py310_cu121    pytorch\n")
    c = find_collect_env(text)
    assert c.packages["torchvision"] == "0.20.1" and c.packages["torchaudio"] == "2.5.1"
    t = build_torch_facts(Bundle(pastes=[text]))
    assert t.torchvision == "0.20.1"
