"""Parse `python -m torch.utils.collect_env` output (pure), found anywhere in a text.

Two layouts exist (and older wording of the flat one: "Is CUDA available: No", "Is debug build: No"
before torch 1.6): the old flat one ("PyTorch version: 2.5.1+cu121") and the sectioned one of
torch >= 2.8 ("==== PyTorch Info ====" headers, keys padded: "PyTorch version              : 2.7.0").
Values collect_env could not get are "Could not collect", "N/A" or "No CUDA": kept apart from a real
value so that a check can tell "unknown" from "known absent"."""

from __future__ import annotations

import re

from pydantic import BaseModel

_KEY = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9 _/()\-.]*?)\s*:\s?(?P<value>.*)$")
_START = re.compile(r"^PyTorch version\s*:", re.M)
_GPU_LINE = re.compile(r"^GPU (\d+): (.+)$")
_PIP_LINE = re.compile(r"^\[(?:pip\d?|conda)\]\s+(?P<name>[A-Za-z0-9_.\-]+)(?:==|\s+)(?P<ver>\S+)")

# Keys whose value may continue on the following lines (GPU list, cuDNN candidate list).
_MULTILINE = {"GPU models and configuration", "cuDNN version"}
_KNOWN_KEYS = {
    "PyTorch version", "Is debug build", "CUDA used to build PyTorch", "ROCM used to build PyTorch", "OS",
    "GCC version", "Clang version", "CMake version", "Libc version", "Python version", "Python platform",
    "Is CUDA available", "CUDA runtime version", "CUDA_MODULE_LOADING set to", "GPU models and configuration",
    "Nvidia driver version", "cuDNN version", "HIP runtime version", "MIOpen runtime version",
    "Is XNNPACK available", "Versions of relevant libraries", "CPU",
}
NOT_COLLECTED = ("Could not collect", "N/A", "")


class CollectEnv(BaseModel):
    """What one collect_env block says. Raw strings as printed; helpers interpret them."""

    fields: dict[str, str]
    gpus: list[str] | None = None  # None: key absent or value not collected; [] : "No CUDA"
    packages: dict[str, str] = {}  # from "[pip3] torchvision==0.20.1" / "[conda] ..." lines
    warnings: list[str] = []  # lines printed before the dump (UserWarning: CUDA initialization ...)

    def value(self, key: str) -> str | None:
        """The value, or None when absent or not collected ("Could not collect", "N/A", empty)."""
        v = self.fields.get(key)
        if v is None or v.strip() in NOT_COLLECTED:
            return None
        return v.strip()

    @property
    def torch_version(self) -> str | None:
        return self.value("PyTorch version")

    @property
    def cuda_build(self) -> str | None:
        v = self.value("CUDA used to build PyTorch")
        return None if v in (None, "None") else v

    @property
    def cpu_only_build(self) -> bool | None:
        """True when collect_env says "CUDA used to build PyTorch: None"."""
        v = self.fields.get("CUDA used to build PyTorch")
        if v is None or v.strip() in NOT_COLLECTED:
            return None
        return v.strip() == "None"

    @property
    def is_available(self) -> bool | None:
        v = self.value("Is CUDA available")
        # torch < 1.6 printed "Yes"/"No"
        return {"True": True, "False": False, "Yes": True, "No": False}.get(v) if v else None

    @property
    def driver_version(self) -> str | None:
        v = self.value("Nvidia driver version")
        return None if v in (None, "No CUDA") else v

    @property
    def cuda_runtime(self) -> str | None:
        v = self.value("CUDA runtime version")
        return None if v in (None, "No CUDA") else v


def find_collect_env(text: str) -> CollectEnv | None:
    """The first collect_env block in `text`, or None when there is none."""
    m = _START.search(text)
    if not m:
        return None
    before = text[:m.start()].splitlines()
    # Warnings torch printed while collect_env imported it (kept verbatim, only the recent lines).
    warnings = [l.strip() for l in before[-12:] if "Warning" in l or "Error" in l]
    fields: dict[str, str] = {}
    gpus: list[str] | None = None
    packages: dict[str, str] = {}
    current: str | None = None
    extra: list[str] = []

    def close() -> None:
        nonlocal gpus
        if current == "GPU models and configuration":
            first = fields.get(current, "").strip()
            names = []
            for l in ([first] if first else []) + extra:
                if g := _GPU_LINE.match(l.strip()):
                    names.append(g.group(2).strip())
            if names:
                gpus = names
            elif first == "No CUDA":
                gpus = []

    # The sectioned layout prints "System Info" (OS, libc...) before the PyTorch version.
    start = m.start()
    coll = text.rfind("Collecting environment information", max(0, start - 4000), start)
    if coll >= 0:
        start = coll
    for raw in text[start:].splitlines():
        line = raw.rstrip()
        if line.startswith("====") or (line.strip() and set(line.strip()) == {"="}):
            continue
        if p := _PIP_LINE.match(line.strip()):
            packages.setdefault(p.group("name").lower(), p.group("ver"))
            continue
        km = _KEY.match(line)
        key = km.group("key").strip() if km else None
        if km and key in _KNOWN_KEYS and key not in fields:
            close()
            current, extra = key, []
            fields[key] = km.group("value").strip()
            continue
        if current in _MULTILINE and line.strip():
            extra.append(line.strip())
            continue
        if not line.strip():
            if current in _MULTILINE and extra:
                close()
                current, extra = None, []
            continue
    close()
    return CollectEnv(fields=fields, gpus=gpus, packages=packages, warnings=warnings)


# GitHub issue templates ask for the environment as Markdown bullets ("- PyTorch Version (e.g., 1.0): 1.4",
# "- **GPU**: NVIDIA GeForce RTX 5090"): the same facts as collect_env, typed by the user.
_TEMPLATE_LINE = re.compile(r"^\s*[-*]\s+(?:\*\*)?(?P<key>[A-Za-z][\w /.-]*?)(?:\*\*)?\s*(?:\([^)\n]*\))?\s*(?:\*\*)?:"
                            r"(?:\*\*)?\s*(?P<value>\S.*?)\s*$", re.M)
_TEMPLATE_KEYS = {"pytorch version": "PyTorch version", "torch version": "PyTorch version", "pytorch": "PyTorch version",
                  "gpu models and configuration": "GPU models and configuration", "gpu": "GPU models and configuration",
                  "os": "OS", "python version": "Python version"}


def find_issue_template(text: str) -> CollectEnv | None:
    """The environment bullets of an issue template, as a CollectEnv (None without a PyTorch version).
    The build comes only from the version's own label (+cu121, +cpu); a bare version tells nothing of it."""
    fields: dict[str, str] = {}
    for m in _TEMPLATE_LINE.finditer(text):
        key = _TEMPLATE_KEYS.get(m.group("key").strip().lower())
        if key and key not in fields:
            fields[key] = m.group("value").strip().strip("*`").strip()
    v = fields.get("PyTorch version", "")
    label = re.search(r"^\d+\.\d+\S*\+(cu(\d+)(\d)|cpu)\b", v)
    if not label:
        return None
    fields["CUDA used to build PyTorch"] = "None" if label.group(1) == "cpu" else f"{label.group(2)}.{label.group(3)}"
    gpu = fields.get("GPU models and configuration")
    return CollectEnv(fields=fields, gpus=[gpu] if gpu else None)
