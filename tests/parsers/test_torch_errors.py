"""Values from the torch / CUDA messages the knowledge base recognises in real pasted outputs (a
TorchErrorSeen's kind is the id of the signature that matched its line)."""

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.cuda_compat import cuda_from_found
from envdoctor.diagnosis.host_facts.torch import build_torch_facts
from envdoctor.parsers.torch_errors import scan_torch_errors
from tests.corpus import corpus_body


def kinds(rel):
    return scan_torch_errors(corpus_body(rel))


def test_driver_too_old_11040_gives_driver_cuda():
    errs = kinds("errors/torch-driver-too-old-11040-with-proc-version.txt")
    assert [e.kind for e in errs] == ["torch_driver_too_old"]
    assert errs[0].found_version == 11040 and cuda_from_found(11040) == "11.4"
    t = build_torch_facts(Bundle(pastes=[corpus_body("errors/torch-driver-too-old-11040-with-proc-version.txt")]))
    assert t.driver_cuda_found == 11040
    assert t.version is None and t.is_available is None  # a warning alone says nothing of the version
    assert t.errors_seen[0].startswith("UserWarning: CUDA initialization: The NVIDIA driver")


def test_driver_too_old_other_forms():
    assert kinds("errors/torch-driver-too-old-11000-ngc-container.txt")[0].found_version == 11000
    e = kinds("errors/torch-driver-too-old-9000-assertionerror.txt")
    assert [x.kind for x in e] == ["torch_driver_too_old"] and e[0].found_version == 9000
    assert cuda_from_found(9010) == "9.1"


def test_driver_insufficient_codes():
    e = kinds("errors/cuda-driver-insufficient-deviceQuery-result-fail.txt")
    assert {x.kind for x in e} == {"torch_driver_too_old"} and e[0].code == 35
    e = kinds("errors/cuda-driver-insufficient-torch-thcgeneral.txt")
    assert e[0].kind == "torch_driver_too_old" and e[0].code == 35


def test_sm120_not_compatible_with_supported_list():
    (e,) = kinds("errors/torch-sm120-not-compatible-leggedlab.txt")
    assert e.kind == "cuda_arch_not_in_wheel"
    assert e.gpu_name == "NVIDIA GeForce RTX 5090" and e.capability == "12.0"
    assert e.supported_arches == ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]


def test_gpu_too_old():
    (e,) = kinds("errors/torch-old-gpu-sm35-too-old.txt")
    assert e.kind == "cuda_arch_not_in_wheel"
    assert (e.gpu_name, e.capability, e.min_capability) == ("GeForce GT 720", "3.5", "3.7")


def test_no_kernel_image():
    (e,) = kinds("errors/no-kernel-image-extension-vs-torch-version.txt")
    assert e.kind == "cuda_no_kernel_image"
    assert e.line == "RuntimeError: CUDA error: no kernel image is available for execution on the device"


def test_cudagetdevicecount_error_2_in_collect_env():
    (e,) = kinds("collect-env/wsl2-8x-rtx4000ada-cudagetdevicecount-oom.txt")
    assert e.kind == "cudaGetDeviceCount" and e.code == 2


def test_constructed_802_804_and_not_compiled():
    # constructed: the exact wording torch/CUDA print for these (no real paste in the corpus)
    text = ("AssertionError: Torch not compiled with CUDA enabled\n"
            "UserWarning: CUDA initialization: Unexpected error from cudaGetDeviceCount(). Did you run some cuda "
            "functions before calling NumCudaDevices() that might have already set an error? Error 804: forward "
            "compatibility was attempted on non supported HW (Triggered internally at ...)\n"
            "RuntimeError: CUDA error: system not yet initialized\n"
            "RuntimeError: Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU\n"
            "ModuleNotFoundError: No module named 'torch'\n")
    got = {(e.kind, e.code) for e in scan_torch_errors(text)}
    assert got == {("torch_not_compiled_with_cuda", None), ("cuda_forward_compat_804", 804),
                   ("cuda_system_not_ready_802", None), ("torch_no_driver", None), ("torch_not_importable", None)}


def test_new_unsupported_gpu_wording_from_torch_itself(monkeypatch):
    # The message is produced by the installed torch's own _warn_unsupported_code (torch >= 2.9 wording);
    # only the device name is stubbed, since this machine has no GPU.
    torch = __import__("pytest").importorskip("torch")
    import warnings

    if not hasattr(torch.cuda, "_warn_unsupported_code") or not torch.version.cuda:
        __import__("pytest").skip("this torch has no _warn_unsupported_code")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: "NVIDIA GeForce GTX 1080")
    code_ccs = [int(a.split("_")[1]) for a in torch.cuda.get_arch_list() if a.startswith("sm_")]
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        torch.cuda._warn_unsupported_code(0, 61, code_ccs)
    (e,) = [x for x in scan_torch_errors(str(w[0].message)) if x.kind == "cuda_arch_not_in_wheel"]
    assert (e.gpu_name, e.capability) == ("NVIDIA GeForce GTX 1080", "6.1")
    assert e.supported_arches == [a for a in torch.cuda.get_arch_list() if a.startswith("sm_")]


def test_one_huge_line_is_scanned_in_linear_time():
    # regression: a paste with one 5 MB line of non-blanks (constructed garbage) took minutes, because
    # the "sm_NN is not compatible" pattern started a lazy scan at every position of the line
    import time

    line = "A" * 1_000_000
    t0 = time.monotonic()
    assert scan_torch_errors(line + "\n") == []
    assert time.monotonic() - t0 < 5  # before the fix: 36 s for 80,000 characters, growing quadratically
    # and the real message is still found after it
    (e,) = scan_torch_errors(line + "\n" + corpus_body("errors/torch-sm120-not-compatible-leggedlab.txt"))
    assert (e.kind, e.capability) == ("cuda_arch_not_in_wheel", "12.0")
