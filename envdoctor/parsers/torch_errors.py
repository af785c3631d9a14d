"""Recognise torch / CUDA runtime error and warning messages in arbitrary text (pure).

A pasted message is evidence: "The NVIDIA driver on your system is too old (found version 11040)"
tells the driver's CUDA version (11.4) even when nothing else was collected."""

from __future__ import annotations

import re

from envdoctor.facts.torch import TorchErrorSeen

_DRIVER_TOO_OLD = re.compile(r"NVIDIA driver on your system is too old \(found version (\d+)\)")
_NOT_COMPILED = re.compile(r"Torch not compiled with CUDA enabled")
_INSUFFICIENT = re.compile(r"CUDA driver version is insufficient for CUDA runtime version")
_ARCH_NOT_COMPAT = re.compile(
    r"(?P<gpu>\S.*?) with CUDA capability sm_(?P<sm>\d+) is not compatible with the current PyTorch installation")
_SUPPORTS = re.compile(r"The current PyTorch install supports CUDA capabilities ((?:sm_\d+\w*\s*|compute_\d+\w*\s*)+)")
_NO_KERNEL = re.compile(r"no kernel image is available for execution on the device")
_FOUND_GPU = re.compile(r"Found GPU\s*(\d+) (?P<gpu>.+?) which is of cuda capability (?P<cap>\d+\.\d+)")
# torch >= 2.9 wording (torch.cuda._warn_unsupported_code), followed by "- 7.5 which supports hardware CC ..." lines
_FOUND_GPU_CC = re.compile(r"Found GPU\s*(\d+) (?P<gpu>.+?) which is of compute capability \(CC\) (?P<cap>\d+\.\d+)")
_BUILT_CC = re.compile(r"^\s*- (\d+)\.(\d+) which supports hardware CC")
_TOO_OLD_GPU = re.compile(r"PyTorch no longer supports this GPU because it is too old")
_MIN_CAP = re.compile(r"minimum cuda capability (?:that we )?support(?:ed)?(?: by this library)? is (\d+\.\d+)")
_DEVICE_COUNT = re.compile(r"Unexpected error from cudaGetDeviceCount\(\).*?Error (\d+): ([^(\n]+)")
_NOT_INITIALIZED = re.compile(r"system not yet initialized")
_FWD_COMPAT = re.compile(r"forward compatibility was attempted on non supported HW")
_NO_DRIVER = re.compile(r"Found no NVIDIA driver on your system")
_NO_GPUS = re.compile(r"No CUDA GPUs are available")
_UNKNOWN_ERROR = re.compile(r"CUDA unknown error - this may be due to an incorrectly set up environment")
_NO_TORCH = re.compile(r"No module named '?torch'?(?![\w.])")
_RUNTIME_ERR_CODE = re.compile(r"(?:cuda runtime error|cudaGetDeviceCount returned) \(?(\d+)\)?")


def _sm_to_cap(sm: str) -> str:
    return f"{sm[:-1]}.{sm[-1]}"


def scan_torch_errors(text: str) -> list[TorchErrorSeen]:
    """Every known torch/CUDA message in `text`, in order, one per kind and line."""
    out: list[TorchErrorSeen] = []
    seen: set[tuple[str, str]] = set()
    lines = text.splitlines()

    def add(kind: str, line: str, **kw) -> None:
        key = (kind, line.strip())
        if key not in seen:
            seen.add(key)
            out.append(TorchErrorSeen(kind=kind, line=line.strip(), **kw))

    for i, line in enumerate(lines):
        if m := _DRIVER_TOO_OLD.search(line):
            add("driver_too_old", line, found_version=int(m.group(1)))
        if _NOT_COMPILED.search(line):
            add("not_compiled_with_cuda", line)
        if _INSUFFICIENT.search(line):
            code = _RUNTIME_ERR_CODE.search(line)
            if code is None and i > 0:  # deviceQuery prints the code on the line before
                code = _RUNTIME_ERR_CODE.search(lines[i - 1])
            add("driver_insufficient", line, code=int(code.group(1)) if code else 35)
        # the literal first: the regex starts a lazy scan at every position of a line that lacks it
        if " with CUDA capability sm_" in line and (m := _ARCH_NOT_COMPAT.search(line)):
            sup = None
            for nxt in lines[i:i + 3]:
                if s := _SUPPORTS.search(nxt):
                    sup = s.group(1).split()
                    break
            gpu = m.group("gpu").strip()
            gpu = re.sub(r"^.*?(?:UserWarning|Warning):\s*", "", gpu)
            add("arch_not_compatible", line, gpu_name=gpu, capability=_sm_to_cap(m.group("sm")),
                supported_arches=sup)
        if m := _FOUND_GPU_CC.search(line):
            built = []
            for nxt in lines[i + 1:i + 40]:
                if b := _BUILT_CC.match(nxt):
                    built.append(f"sm_{b.group(1)}{b.group(2)}")
                elif built:
                    break
            add("arch_not_compatible", line, gpu_name=m.group("gpu").strip(), capability=m.group("cap"),
                supported_arches=built or None)
        if _NO_KERNEL.search(line):
            add("no_kernel_image", line, code=209)
        if _TOO_OLD_GPU.search(line):
            gpu = cap = mincap = None
            for near in lines[max(0, i - 2):i + 3]:
                if f := _FOUND_GPU.search(near):
                    gpu, cap = f.group("gpu").strip(), f.group("cap")
                if mc := _MIN_CAP.search(near):
                    mincap = mc.group(1)
            add("gpu_too_old", line, gpu_name=gpu, capability=cap, min_capability=mincap)
        if m := _DEVICE_COUNT.search(line):
            add("device_count_error", line, code=int(m.group(1)))
        if _NOT_INITIALIZED.search(line) and not _DEVICE_COUNT.search(line):
            add("system_not_initialized", line, code=802)
        if _FWD_COMPAT.search(line) and not _DEVICE_COUNT.search(line):
            add("forward_compat_unsupported", line, code=804)
        if _NO_DRIVER.search(line):
            add("no_driver", line)
        if _NO_GPUS.search(line):
            add("no_gpus_available", line)
        if _UNKNOWN_ERROR.search(line):
            add("cuda_unknown_error", line, code=999)
        if _NO_TORCH.search(line) and ("Error" in line or "error" in line):
            add("torch_not_installed", line)
    return out


def driver_cuda_from_errors(errors: list[TorchErrorSeen]) -> int | None:
    """The driver's CUDA version as torch reports it (11040), from "found version N" messages."""
    for e in errors:
        if e.kind == "driver_too_old" and e.found_version:
            return e.found_version
    return None
