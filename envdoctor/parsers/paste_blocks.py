"""Recognisers for the extra blocks users paste into bug reports (pure functions of text):
`lsmod | grep nvidia`, `modinfo nvidia`, `mokutil --sb-state`, `dkms status`, `ldd`, `ldconfig -p`,
`echo $LD_LIBRARY_PATH`, `env | grep CUDA`, `ls -l /usr/local | grep cuda`, `pip list` / `pip freeze`
/ `conda list`, `docker run` command lines, compose files, pod specs and events. Each returns what it
found, or None when the block is not in the text."""

from __future__ import annotations

import re

from envdoctor.facts.diagnosis import ContainerLaunch
from envdoctor.facts.system import ResolvedLib

_LSMOD = re.compile(r"^(nvidia\w*|nouveau)\s+\d+\s+\d+", re.M)


def lsmod_modules(text: str) -> list[str] | None:
    found = _LSMOD.findall(text)
    return found or None


_MODINFO_FILE = re.compile(r"^filename:\s+(/lib/modules/(?P<kernel>[^/\s]+)/\S*nvidia\S*\.ko\S*)", re.M)
_MODINFO_MISSING = re.compile(r"modinfo: ERROR: Module nvidia not found|Module nvidia not found in directory /lib/modules/(\S+)")


def modinfo(text: str) -> tuple[bool, str, str | None] | None:
    """(module exists, the line, kernel) from `modinfo nvidia` or modprobe's complaint."""
    m = _MODINFO_FILE.search(text)
    if m:
        return True, m.group(0).strip(), m.group("kernel")
    m = _MODINFO_MISSING.search(text)
    if m:
        kernel = m.group(1) if m.lastindex else None
        return False, m.group(0).strip(), kernel.rstrip(".") if kernel else None
    return None


_SB = re.compile(r"^\s*SecureBoot (enabled|disabled)\b", re.M | re.I)
_SB_EFIVAR = re.compile(r"^\s*Secure Boot:\s*(enabled|disabled)", re.M | re.I)  # bootctl status


def secure_boot(text: str) -> tuple[bool, str] | None:
    m = _SB.search(text) or _SB_EFIVAR.search(text)
    if m:
        return m.group(1).lower() == "enabled", m.group(0).strip()
    return None


# "nvidia/535.54.03, 5.15.0-76-generic, x86_64: installed" (dkms 3) or "nvidia, 470.57, 5.4.0-80-generic, x86_64: installed"
_DKMS = re.compile(r"^\s*nvidia(?:-srv)?[/,]\s?[\d.]+,\s*(?P<kernel>[^,\s]+),\s*\S+:\s*(?P<state>installed|built|added)", re.M)


def dkms_status(text: str) -> list[tuple[str, str]] | None:
    found = [(m.group("kernel"), m.group("state")) for m in _DKMS.finditer(text)]
    return found or None


# ldd: "libcudnn.so.8 => /usr/local/cuda-11.8/lib64/libcudnn.so.8 (0x...)"; ldconfig -p adds "(libc6,x86-64)"
_LDD = re.compile(r"^\s*(lib(?:cudart|cudnn\w*|nvJitLink|cublas\w*|cusparse\w*|cusolver\w*|cufft\w*|curand|nccl|cuda|nvrtc\w*|"
                  r"cupti|nvToolsExt|nvidia-ml)\S*\.so\S*)(?:\s+\([^)]*\))? => (\S+(?: found)?)", re.M)


def ldd_cuda_libs(text: str) -> list[str] | None:
    """`ldd`/`ldconfig -p` lines for CUDA libraries: "libcudnn.so.8 => not found", "... => /usr/local/cuda/lib64/..."."""
    found = [f"{m.group(1)} => {m.group(2)}" for m in _LDD.finditer(text)]
    return found or None


_CUDA_ROOT = re.compile(r"^(?P<root>.*?/cuda(?:-(?P<ver>\d+\.\d+))?)/(?:lib64|lib|targets)/")
_CUDA_ROOT_VERSIONED = re.compile(r"^(?P<root>.*?/(?:cuda|CUDA)/(?P<ver>\d+\.\d+))/(?:lib64|lib|targets)/")  # HPC SDK


def _origin(path: str) -> str:
    if "/site-packages/nvidia/" in path or "/dist-packages/nvidia/" in path or "/site-packages/torch/" in path:
        return "pip wheel"
    if re.search(r"/(?:ana|mini)conda\d?/|/envs/[^/]+/lib/|/opt/conda/lib/", path):
        return "conda"
    if _CUDA_ROOT.match(path) or _CUDA_ROOT_VERSIONED.match(path):
        return "system toolkit"
    if re.search(r"/lib(?:64)?/(?:x86_64|aarch64)-linux-gnu/|^/usr/lib(?:64)?/|/usr/lib/wsl/", path):
        return "driver" if re.search(r"libcuda\.so|libnvidia-ml", path) else "system"
    return "other"


_LDD_SUBJECT = re.compile(r"(?:^|[$#>]\s*)ldd\s+(?P<path>/\S+\.so\S*)\s*$", re.M)


def cuda_libs_resolved(text: str) -> list[ResolvedLib] | None:
    """Each CUDA library `ldd`/`ldconfig -p` resolved, with the toolkit its path comes from (the
    "/usr/local/cuda-11.8" of "/usr/local/cuda-11.8/lib64/libcublas.so.11"); the library `ldd` was asked
    about comes first, marked `subject`, when the command line is pasted too."""
    out, seen = [], set()
    for m in _LDD_SUBJECT.finditer(text):
        path = m.group("path")
        out.append(ResolvedLib(name=path.rsplit("/", 1)[-1], path=path, origin=_origin(path), subject=True,
                               line=m.group(0).strip()))
    for m in _LDD.finditer(text):
        name, path = m.group(1), m.group(2)
        if (name, path) in seen:
            continue
        seen.add((name, path))
        if path.startswith("not"):
            out.append(ResolvedLib(name=name, path=None, line=m.group(0).strip()))
            continue
        root = _CUDA_ROOT.match(path) or _CUDA_ROOT_VERSIONED.match(path)
        out.append(ResolvedLib(name=name, path=path, cuda_root=root.group("root") if root else None,
                               cuda_version=root.group("ver") if root else None, origin=_origin(path),
                               line=m.group(0).strip()))
    return out or None


_LD_PATH_ASSIGN = re.compile(r"^\s*(?:export\s+)?LD_LIBRARY_PATH=(\S*)", re.M)
_PATH_LIST = re.compile(r"^\s*((?:/[\w.+-]+)+/?(?::(?:/[\w.+-]+)+/?)+:?)\s*$", re.M)


_ECHO_LD_PATH = re.compile(r"echo\s+[\"']?\$\{?LD_LIBRARY_PATH\}?[\"']?\s*\n\s*((?:/[\w.+-]+)+/?(?::(?:/[\w.+-]+)+/?)*:?)\s*$", re.M)


def ld_library_path(text: str) -> list[str] | None:
    m = _LD_PATH_ASSIGN.search(text) or _ECHO_LD_PATH.search(text)
    if m:
        return [p for p in m.group(1).strip("'\"").split(":") if p]
    for m in _PATH_LIST.finditer(text):  # `echo $LD_LIBRARY_PATH` prints a bare path list
        parts = [p for p in m.group(1).split(":") if p]
        if any("lib" in p for p in parts) and not any(p.endswith("/bin") for p in parts):
            return parts
    return None


_CVD = re.compile(r"(?:^|\s|export\s)CUDA_VISIBLE_DEVICES=(\"[^\"]*\"|'[^']*'|\S*)"
                  r"|os\.environ\[[\"']CUDA_VISIBLE_DEVICES[\"']\]\s*=\s*(\"[^\"]*\"|'[^']*')", re.M)


def cuda_visible_devices(text: str) -> str | None:
    m = None
    for m in _CVD.finditer(text):  # the last assignment is the one in effect (os.environ after the shell's)
        pass
    return (m.group(1) if m.group(1) is not None else m.group(2)).strip("'\"") if m else None


_USR_LOCAL = re.compile(r"^[dl][rwxst-]{9}\S*\s+\d+\s+\S+\s+\S+\s+\d+\s+\w{3}\s+\d+\s+[\d:]+\s+(cuda(?:-[\d.]+)?)(?: -> (\S+))?\s*$", re.M)


def usr_local_cuda(text: str) -> list[str] | None:
    found = [m.group(1) + (f" -> {m.group(2)}" if m.group(2) else "") for m in _USR_LOCAL.finditer(text)]
    return found or None


# pip list "torch  2.3.1+cu121", pip freeze "torch==2.3.1", conda list "pytorch 2.0.1 py3.10_cuda11.8_cudnn8.7.0_0 pytorch"
_PKG = re.compile(r"^\s*(?P<name>torch|torchvision|torchaudio|pytorch|pytorch-cuda|cudatoolkit|nvidia-[\w-]+)"
                  r"(?:\s*==\s*|\s+)(?P<ver>\d[\w.+!-]*)(?P<rest>[^\n]*)$", re.M)


def packages(text: str) -> tuple[list[str], list[str]] | None:
    """(torch-family package lines, nvidia-* CUDA wheels) of a pip list / freeze / conda list."""
    torch, nvidia = [], []
    for m in _PKG.finditer(text):
        line = f"{m.group('name')} {m.group('ver')}{(' ' + m.group('rest').split()[0]) if m.group('rest').split() else ''}"
        (nvidia if m.group("name").startswith("nvidia-") else torch).append(line)
    return (torch, nvidia) if torch or nvidia else None


_DOCKER_RUN = re.compile(r"(?:^|[\s`$#>])(?:sudo\s+)?(?:docker|podman|nvidia-docker)\s+(?:container\s+)?run\b(?:[^\n]*\\\n)*[^\n]*")


def docker_runs(text: str) -> list[ContainerLaunch]:
    out = []
    for m in _DOCKER_RUN.finditer(text):
        line = re.sub(r"\\\n\s*", " ", m.group(0)).strip()
        gpus = bool(re.search(r"--gpus[\s=]|--runtime[\s=]+nvidia|--device[\s=]+nvidia\.com/gpu|--device[\s=]+/dev/nvidia"
                              r"|\bnvidia-docker\b|NVIDIA_VISIBLE_DEVICES=(?!void|none)", line))
        shm = bool(re.search(r"--shm-size|--ipc[\s=]+host", line))
        ulimit = bool(re.search(r"--ulimit[\s=]+memlock", line))
        out.append(ContainerLaunch(kind="docker run", line=line[:300], gpus=gpus, shm=shm, ulimit_memlock=ulimit))
    return out


def compose_or_pod(text: str) -> list[ContainerLaunch]:
    out = []
    if re.search(r"^services:\s*$", text, re.M) and re.search(r"^\s+image:", text, re.M):
        gpus = bool(re.search(r"capabilities:\s*\[?\s*['\"]?gpu|driver:\s*['\"]?nvidia|runtime:\s*['\"]?nvidia|"
                              r"NVIDIA_VISIBLE_DEVICES|device_ids:|count:\s*(?:all|\d)", text))
        shm = bool(re.search(r"shm_size:|ipc:\s*['\"]?host", text))
        out.append(ContainerLaunch(kind="compose", line="compose file (services:)", gpus=gpus, shm=shm))
    if re.search(r"^\s*kind:\s*(?:Pod|Deployment|Job|StatefulSet|DaemonSet)\b", text, re.M) and re.search(r"^\s+containers:", text, re.M):
        gpus = bool(re.search(r"nvidia\.com/gpu:\s*['\"]?\d", text))
        shm = bool(re.search(r"medium:\s*Memory", text))
        out.append(ContainerLaunch(kind="pod", line="pod spec (kind/containers)", gpus=gpus, shm=shm))
    return out


_IN_CONTAINER = re.compile(r"^\s*root@[0-9a-f]{12}:[^\n]*[#$]|^\s*\w+@[0-9a-f]{12}:\S*\$|/\.dockerenv\b|"
                           r"\binside (?:the|a|my|of the) (?:docker |running )?container\b|\bdocker exec -\w+|^[\w.-]+[_-]\d+\s+\| ", re.M | re.I)


def in_container_text(text: str) -> bool:
    return bool(_IN_CONTAINER.search(text))


_MENTIONS = [
    ("wsl", re.compile(r"microsoft-standard|/usr/lib/wsl/|\bWSL2?\b|/mnt/c/|\\\\wsl", re.I)),
    ("suspend", re.compile(r"\b(?:suspend|resume[ds]? from|hibernat\w*|wak(?:e|ing) (?:up|from)|(?:after|from) (?:a |the )?sleep|"
                           r"wak(?:e|ing) (?:the |my |a )?(?:laptop|computer|machine|pc|system) (?:up|from))\b(?!\()", re.I)),
    ("daemon-reload", re.compile(r"daemon-reload|after (?:a while|some time|some hours|a few hours|several hours)", re.I)),
    ("jupyter", re.compile(r"jupyter|ipykernel|notebook|\bIn \[\d+\]:|ipython|vscode|pycharm|spyder", re.I)),
    ("extension build", re.compile(r"setup\.py|cpp_extension|building wheel|build_ext|\bnvcc\b|pip install .*(?:flash.attn|apex|"
                                   r"mmcv|deepspeed|xformers|detectron2|bitsandbytes|vllm)|CUDAExtension|\.cu\b", re.I)),
    ("kernel upgrade", re.compile(r"linux-image-\S+|kernel (?:update|upgrade)|(?:updated|upgraded) (?:the |my )?kernel|new kernel|"
                                  r"linux-headers-\S+|kernel \d+\.\d+\S* (?:to|->) \d", re.I)),
    ("driver upgrade", re.compile(r"(?:Upgrade|Install):.*nvidia|unattended-upgrade|(?:updated|upgraded|installed|reinstalled) "
                                  r"(?:the |my |a )?(?:new |nvidia )?(?:nvidia )?driver", re.I)),
]


def mentions(text: str) -> list[str]:
    return [name for name, pat in _MENTIONS if pat.search(text)]


# Where the pasted commands ran. Windows: its prompts (PowerShell "PS C:\\x>", cmd "C:\\Users\\x>"), the
# nvidia-smi table's driver-model column, collect_env's OS/platform lines, Windows paths of python/CUDA.
_WINDOWS = [
    re.compile(r"^\s*(?:\([\w.-]+\)\s*)?PS [A-Za-z]:\\[^>\n]*>", re.M),
    re.compile(r"^\s*(?:\([\w.-]+\)\s*)?[A-Za-z]:\\[^<>:\"|?*\n]*>\s*\S", re.M),  # no nested repeat: linear
    re.compile(r"^\|\s*GPU\s+Name\s+(?:TCC/WDDM|Driver-Model)\s*\|", re.M),
    re.compile(r"^\|\s*\d+\s+.+?\s(?:WDDM|TCC)\s+\|", re.M),
    re.compile(r"^OS:\s*Microsoft Windows.*$|^Python platform:\s*Windows-.*$", re.M),
    re.compile(r"^.*\b[A-Za-z]:\\(?:Users|Program Files|ProgramData|Windows|Python\d*|Anaconda\d?|Miniconda\d?)\\.*$", re.M),
]
_LINUX = [
    re.compile(r"^Python platform:\s*Linux-.*$|^OS:\s*(?:Ubuntu|Debian|CentOS|Red Hat|Rocky|AlmaLinux|Fedora|Arch|openSUSE|SUSE|Amazon Linux).*$", re.M),
    re.compile(r"^Linux \S+ \d+\.\d+\.\d+\S* .*GNU/Linux$", re.M),  # uname -a
    re.compile(r"^NVRM version: NVIDIA UNIX .*$", re.M),  # /proc/driver/nvidia/version
]


def os_family(text: str) -> tuple[str, list[str]] | None:
    """("windows" | "linux", evidence lines) for a paste, or None when it does not tell. A paste from WSL
    runs Linux even where it shows Windows paths or a WDDM driver model: Linux markers win."""
    for pat in _LINUX:
        if m := pat.search(text):
            return "linux", [m.group(0).strip()[:200]]
    if mentions_wsl(text):
        return None
    ev: list[str] = []
    for pat in _WINDOWS:
        if m := pat.search(text):
            a, b = text.rfind("\n", 0, m.start()) + 1, text.find("\n", m.start())
            line = text[a:b if b >= 0 else None].strip()[:200]  # the whole line: a prompt with its command
            if line not in ev:
                ev.append(line)
    return ("windows", ev[:3]) if ev else None


def mentions_wsl(text: str) -> bool:
    return bool(_MENTIONS[0][1].search(text))


_SECCOMP = re.compile(r"^\s*(?:(?P<on>CONFIG_SECCOMP=y)|(?P<off># CONFIG_SECCOMP is not set)|Seccomp:\s+(?P<mode>\d))\s*$", re.M)


def kernel_seccomp(text: str) -> bool | None:
    """`grep SECCOMP /boot/config-$(uname -r)` or `grep Seccomp /proc/self/status`: does the kernel have it."""
    m = _SECCOMP.search(text)
    if not m:
        return None
    return bool(m.group("on") or m.group("mode"))
