"""Values from the torch / CUDA messages the knowledge base recognises in text (pure).

Which message a line is, is the signatures' call (data/signatures/cuda_torch.yaml): this module asks
them for the lines they match and takes the values those lines carry -- "found version 11040" (the
driver's CUDA), an error code, a GPU's name and compute capability, the architectures torch was built
for. A pasted message is evidence even when nothing else was collected."""

from __future__ import annotations

import bisect
import re

from envdoctor.facts.torch import TorchErrorSeen
from envdoctor.parsers.signatures import find_all

# The signatures whose lines carry torch/CUDA values; a TorchErrorSeen's kind is the signature's id.
TORCH_SIGNATURES = ("torch_driver_too_old", "torch_not_compiled_with_cuda", "cuda_arch_not_in_wheel",
                    "cuda_no_kernel_image", "cuda_system_not_ready_802", "cuda_forward_compat_804",
                    "torch_no_driver", "torch_no_gpus_available", "cuda_unknown_999", "torch_not_importable",
                    "cuda_busy_46")
# cudaGetDeviceCount's own code: a value, whichever message follows it (kind "cudaGetDeviceCount" when
# no signature knows the message)
DEVICE_COUNT_CALL = "cudaGetDeviceCount"

# Narrow value patterns, run only on lines a signature matched (or their neighbours).
_FOUND_VERSION = re.compile(r"\(found version (\d{4,6})\)")
_CODE = re.compile(r"(?:cuda runtime error|cudaGetDeviceCount returned|Error) \(?(\d+)\)?|\berror=(\d+)")
_DEVICE_COUNT = re.compile(r"cudaGetDeviceCount\(\).*?Error (\d+)")
_SM_GPU = re.compile(r"(?P<gpu>\S.*?) with CUDA capability sm_(?P<sm>\d+)")
_SUPPORTS = re.compile(r"supports CUDA capabilities ((?:sm_\d+\w*\s*|compute_\d+\w*\s*)+)")
_GPU_CAP = re.compile(r"GPU\s*\d+ (?P<gpu>.+?) which is of (?:cuda|compute) capability (?:\(CC\) )?(?P<cap>\d+\.\d+)")
_BUILT_CC = re.compile(r"^\s*- (\d+)\.(\d+) which supports hardware CC")
_MIN_CAP = re.compile(r"minimum cuda capability (?:that we )?support(?:ed)?(?: by this library)? is (\d+\.\d+)")
_WARNING_PREFIX = re.compile(r"^.*?(?:UserWarning|Warning):\s*")


def _sm_to_cap(sm: str) -> str:
    return f"{sm[:-1]}.{sm[-1]}"


def _values(kind: str, lines: list[str], i: int) -> dict:
    """The values line `i` (and, for wrapped messages, its neighbours) carries."""
    line = lines[i]
    kw: dict = {}
    if m := _FOUND_VERSION.search(line):
        kw["found_version"] = int(m.group(1))
    if m := _DEVICE_COUNT.search(line):
        kw["code"] = int(m.group(1))
    elif kind == "torch_driver_too_old" and "found_version" not in kw:
        # deviceQuery prints the code on the line before its message
        for near in (line, lines[i - 1] if i > 0 else ""):
            if m := _CODE.search(near):
                kw["code"] = int(m.group(1) or m.group(2))
                break
    if kind == "cuda_arch_not_in_wheel":
        if " with CUDA capability sm_" in line and (m := _SM_GPU.search(line)):
            kw["gpu_name"] = _WARNING_PREFIX.sub("", m.group("gpu").strip())
            kw["capability"] = _sm_to_cap(m.group("sm"))
        near = lines[max(0, i - 2):i + 3]
        for n in near:
            if (m := _GPU_CAP.search(n)) and "capability" not in kw:
                kw["gpu_name"], kw["capability"] = m.group("gpu").strip(), m.group("cap")
            if m := _MIN_CAP.search(n):
                kw["min_capability"] = m.group(1)
        for n in lines[i:i + 3]:
            if m := _SUPPORTS.search(n):
                kw["supported_arches"] = m.group(1).split()
                break
        built = []
        for n in lines[i + 1:i + 40]:  # torch >= 2.9 lists "- 7.5 which supports hardware CC ..." lines
            if b := _BUILT_CC.match(n):
                built.append(f"sm_{b.group(1)}{b.group(2)}")
            elif built:
                break
        if built and "supported_arches" not in kw:
            kw["supported_arches"] = built
    return kw


def scan_torch_errors(text: str) -> list[TorchErrorSeen]:
    """Every line of `text` a torch/CUDA signature matches, with its values, in order; one per kind and line."""
    out: list[TorchErrorSeen] = []
    seen: set[tuple[str, str]] = set()
    starts, pos = [], 0
    lines = text.splitlines()
    for ln in lines:
        starts.append(pos)
        pos += len(ln) + 1
    hits = [(sid, s) for sid, s, _ in find_all(text, TORCH_SIGNATURES)]
    hits += [(DEVICE_COUNT_CALL, m.start()) for m in _DEVICE_COUNT.finditer(text)]
    by_line: dict[int, list[str]] = {}
    for sid, s in hits:
        i = bisect.bisect_right(starts, s) - 1
        if i >= 0 and sid not in by_line.setdefault(i, []):
            by_line[i].append(sid)
    last: dict[str, tuple[int, TorchErrorSeen]] = {}  # kind -> its latest entry and line
    for i in sorted(by_line):
        kinds = by_line[i]
        if len(kinds) > 1 and DEVICE_COUNT_CALL in kinds:
            kinds.remove(DEVICE_COUNT_CALL)  # a signature knows this cudaGetDeviceCount message
        for kind in kinds:
            line = lines[i].strip()
            if (kind, line) in seen:
                continue
            seen.add((kind, line))
            values = _values(kind, lines, i)
            prev = last.get(kind)
            if prev and i - prev[0] <= 2:
                # the next line of the same message (torch prints the sm_ warning, then the arch list):
                # its values complete the message's one entry
                for k, v in values.items():
                    if getattr(prev[1], k) is None:
                        setattr(prev[1], k, v)
                last[kind] = (i, prev[1])
                continue
            e = TorchErrorSeen(kind=kind, line=line, **values)
            out.append(e)
            last[kind] = (i, e)
    return out


def driver_cuda_from_errors(errors: list[TorchErrorSeen]) -> int | None:
    """The driver's CUDA version as torch reports it (11040), from "found version N" messages."""
    return next((e.found_version for e in errors if e.found_version), None)
