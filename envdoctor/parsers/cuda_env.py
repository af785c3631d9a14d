"""Parse the probe's CUDA-environment sections and its torch inspection (pure).

Sections: `environment` (JSON of selected env vars), `cuda_toolkits` (one line per /usr/local/cuda*:
`path<TAB>dir|link -> target<TAB>version=X<TAB>nvcc=yes|no`), `nvcc_version` (`nvcc --version`),
`ldconfig_cuda` (`ldconfig -p`, CUDA lines only), `tools` (`name<TAB>path`), and `torch` (the JSON
printed by the probe's TORCH_SCRIPT)."""

from __future__ import annotations

import json
import re

from envdoctor.facts.torch import CudaToolkit, TorchDevice

_NVCC_RELEASE = re.compile(r"release (\d+\.\d+)")
_NAME_VERSION = re.compile(r"cuda-(\d+\.\d+)$")


def parse_environment(text: str) -> dict[str, str] | None:
    try:
        env = json.loads(text)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, dict) else None


def split_path_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [p for p in value.split(":") if p]


def parse_cuda_toolkits(text: str) -> list[CudaToolkit]:
    out = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 4:
            continue
        path, kind, ver, nvcc = parts[:4]
        is_link = kind.startswith("link -> ")
        version = ver.split("=", 1)[1] if "=" in ver else ""
        source = "version file" if version and version != "?" else None
        if not source:
            version = None
            if m := _NAME_VERSION.search(path.rstrip("/")):
                version, source = m.group(1), "name"
        out.append(CudaToolkit(path=path, version=version, is_link=is_link,
                               link_target=kind[len("link -> "):] if is_link else None,
                               has_nvcc=nvcc.endswith("yes"), version_source=source))
    return out


def parse_nvcc_version(text: str) -> tuple[str | None, str | None]:
    """("12.4", "Cuda compilation tools, release 12.4, V12.4.131") from `nvcc --version`."""
    for line in text.splitlines():
        if "release" in line and (m := _NVCC_RELEASE.search(line)):
            return m.group(1), line.strip()
    return None, None


def parse_tools(text: str) -> dict[str, str]:
    """name -> path for tools found on PATH ('' means not found)."""
    out = {}
    for line in text.splitlines():
        if "\t" in line:
            name, path = line.split("\t", 1)
            out[name.strip()] = path.strip()
    return out


def parse_ldconfig(text: str, prefix: str) -> list[str]:
    """Library paths from `ldconfig -p` lines whose soname starts with `prefix` (libcuda.so, libcudart)."""
    out = []
    for line in text.splitlines():
        if "=>" not in line:
            continue
        name, path = line.split("=>", 1)
        if name.strip().startswith(prefix + ".") or name.strip().startswith(prefix + " ") or name.strip() == prefix:
            out.append(path.strip())
    return out


def compat_dirs(ld_library_path: list[str] | None, libcuda: list[str] | None) -> list[str] | None:
    """CUDA forward-compatibility dirs in use: `.../compat` on LD_LIBRARY_PATH or holding a libcuda."""
    if ld_library_path is None and libcuda is None:
        return None
    dirs = [d for d in (ld_library_path or []) if d.rstrip("/").endswith("/compat") or "/compat/" in d]
    for p in libcuda or []:
        d = p.rsplit("/", 1)[0]
        if d.rstrip("/").endswith("/compat") and d not in dirs:
            dirs.append(d)
    return dirs


def _cudnn_str(v) -> str | None:
    """torch.backends.cudnn.version() -> "9.24.0" (cuDNN 9: M*10000+m*100+p; before: M*1000+m*100+p)."""
    if not isinstance(v, int):
        return None
    if v >= 90000:
        return f"{v // 10000}.{v % 10000 // 100}.{v % 100}"
    return f"{v // 1000}.{v % 1000 // 100}.{v % 100}"


def parse_torch_json(text: str) -> dict | None:
    """The probe's torch JSON: the last line that parses as a JSON object (torch may print first)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                return doc
    return None


def torch_fields_from_json(doc: dict) -> dict:
    """TorchFacts fields from the probe's torch JSON (only keys the probe actually reported)."""
    f: dict = {"python_version": doc.get("python"), "python_executable": doc.get("executable"), "source": "probe"}
    if "import_error" in doc:
        f.update(installed=False, import_error=doc["import_error"])
        return f
    f.update(installed=True, version=doc.get("version"), file=doc.get("file"),
             cuda_build=doc.get("cuda_build"), hip_build=doc.get("hip_build"),
             cudnn=_cudnn_str(doc.get("cudnn")), nccl=doc.get("nccl"), arch_list=doc.get("arch_list"),
             is_available=doc.get("is_available"), is_available_error=doc.get("is_available_error"),
             device_count=doc.get("device_count"), device_count_error=doc.get("device_count_error"),
             torchvision=doc.get("torchvision"), torchvision_error=doc.get("torchvision_error"),
             warnings=list(doc.get("warnings") or []))
    if isinstance(doc.get("driver_cuda"), int) and doc["driver_cuda"] > 0:
        f["driver_cuda_found"] = doc["driver_cuda"]
    devices = []
    for d in doc.get("devices") or []:
        cap = d.get("capability")
        devices.append(TorchDevice(
            index=d.get("index", len(devices)), name=d.get("name"),
            capability=f"{cap[0]}.{cap[1]}" if isinstance(cap, list) and len(cap) == 2 else None,
            total_memory=d.get("total_memory"), kernel_ok=d.get("kernel_ok"),
            kernel_error=d.get("kernel_error") or d.get("error")))
    f["devices"] = devices
    return f


_DRIVER_API = re.compile(r"^(libcuda|cuDriverGetVersion|cuInit|cuDeviceGetCount):\s*(.*)$", re.M)


def parse_cuda_driver_api(text: str) -> dict:
    """The probe's `cuda_driver_api` section: lines `cuDriverGetVersion: 12040`, `cuInit: 0 CUDA_SUCCESS: no
    error`, or `libcuda: OSError: ...` when the driver's user-space library is absent."""
    out: dict = {}
    for key, value in _DRIVER_API.findall(text or ""):
        value = value.strip()
        if key == "libcuda":
            out["libcuda_error"] = value
        elif key == "cuDriverGetVersion" and value.isdigit():
            out["driver_api_version"] = int(value)
        elif key == "cuInit":
            out["cu_init"] = value
    return out
