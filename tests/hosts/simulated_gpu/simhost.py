"""SIMULATION, for tests only: a GPU host made of recorded real outputs, for the live `envdoctor check`
path (probe -> facts -> checks) on a machine without a GPU.

A `Host` says what the simulated machine answers; `build` writes it under the test's temporary folder;
`run_check` runs `envdoctor check --no-proof --json` inside a private mount namespace (enter_namespace.py)
where this machine looks like that host:

- `nvidia-smi`, `nvidia-ctk`, `dmesg` on PATH are one stub script that prints the recording for its
  arguments (stdout, stderr, exit code); an argument list with no recording answers exit 2 and says so
  on stderr ("SIMULATION: no recording ...");
- libnvidia-ml.so.1 / libcuda.so.1 are compiled here from c/*.c with the scenario's return codes, and
  found through a private /etc/ld.so.cache;
- /proc/driver/nvidia/version, /proc/modules, /sys/bus/pci/devices and the /dev/nvidia* nodes are the
  host's, bound over the real ones inside the namespace only;
- torch's CUDA view comes from torch_view/sitecustomize.py with the scenario's JSON.

Every recorded output comes from tests/data/corpus/ (each `Recording` names its file, whose header names
the source); constructed inputs come from tests/data/constructed/ and say so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.corpus import constructed_body, corpus_body

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
LABEL = ("SIMULATION for tests: not a GPU host. Recorded real outputs (tests/data/corpus) and constructed "
         "inputs (tests/data/constructed) served inside a private mount namespace.\n")

# One script for every stubbed tool: the recording for "$*" (spaces as "_"), under ../recordings/<tool>/.
STUB = r"""#!/bin/sh
# SIMULATION, for tests only: prints the recorded output of `<this tool> <arguments>` on a real host.
tool=$(basename "$0")
dir=$(dirname "$0")/../recordings/$tool
key=$(printf '%s' "$*" | tr ' ' '_')
[ -n "$key" ] || key=_noargs
[ -e "$dir/$key.rc" ] || key=_any
if [ ! -e "$dir/$key.rc" ]; then
    echo "SIMULATION: no recording of \`$tool $*\` on this simulated host" >&2
    exit 2
fi
[ -e "$dir/$key.out" ] && cat "$dir/$key.out"
[ -e "$dir/$key.err" ] && cat "$dir/$key.err" >&2
exit "$(cat "$dir/$key.rc")"
"""


@dataclass
class Recording:
    """What a tool printed for one argument list. `source`: the corpus file it comes from, or why the
    output is what it is (e.g. "no kernel log lines")."""

    stdout: str
    source: str
    stderr: str = ""
    rc: int = 0

    @classmethod
    def corpus(cls, rel: str, rc: int = 0, stderr: bool = False) -> Recording:
        body = corpus_body(rel)
        return cls("", rel, body, rc) if stderr else cls(body, rel, "", rc)


@dataclass
class PciFunction:
    slot: str
    device: str  # hex, no 0x
    klass: str = "0x030200"  # 3D controller (0x030000 for a VGA one)
    link_speed: str | None = None  # "32.0 GT/s PCIe"
    link_width: int | None = None


@dataclass
class Host:
    name: str
    recordings: dict[str, dict[str, Recording]]  # tool -> argument key ("" no arguments, "_any") -> output
    proc_driver_version: str  # the text of /proc/driver/nvidia/version
    proc_modules: str
    pci: list[PciFunction]
    dev_nodes: list[tuple[str, int, int]]  # (name under /dev, major, minor)
    nvml_init_rc: int = 0
    cu_init_rc: int = 0
    cu_driver_version: int = 13010
    cu_device_count: int = 1
    torch: dict = field(default_factory=dict)  # torch_view/sitecustomize.py's scenario


def proc_modules(without: tuple[str, ...] = ()) -> str:
    """The constructed /proc/modules with the nvidia stack loaded, minus the modules named."""
    lines = []
    for line in constructed_body("gpu/proc-modules-nvidia.txt").splitlines():
        f = line.split()
        if f[0] in without:
            continue
        deps = ",".join(d for d in f[3].split(",") if d and d not in without)
        f[3] = deps + "," if deps else "-"
        lines.append(" ".join(f))
    return "\n".join(lines) + "\n"


# The probe's NVIDIA tools: on a machine that has them, only the simulated host's stubs may answer.
REAL_TOOLS_HIDDEN = ("nvidia-smi", "nvidia-ctk", "nvidia-container-cli", "nvidia-container-runtime-hook",
                     "nv-fabricmanager", "nvidia-modprobe")

NVIDIA_NODES = [("nvidia0", 195, 0), ("nvidiactl", 195, 255), ("nvidia-modeset", 195, 254),
                ("nvidia-uvm", 509, 0), ("nvidia-uvm-tools", 509, 1)]  # nvidia-uvm's major is dynamic


def key_of(args: str) -> str:
    return args.replace(" ", "_") if args else "_noargs"


def _compile(c_file: Path, out: Path, soname: str, defines: dict[str, int]) -> None:
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", f"-Wl,-soname,{soname}", "-o", str(out), str(c_file)]
                   + [f"-D{k}={v}" for k, v in defines.items()], check=True, capture_output=True, text=True)


def build(host: Host, base: Path) -> Path:
    """Write the simulated host under `base`; returns the namespace plan's path."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "SIMULATION.txt").write_text(LABEL + f"host: {host.name}\n")
    bin_dir, lib_dir, py_dir = base / "bin", base / "lib", base / "python"
    for d in (bin_dir, lib_dir, py_dir, base / "stage", base / "proc-driver" / "nvidia", base / "pci"):
        d.mkdir(parents=True)
    sources = []
    for tool, answers in host.recordings.items():
        stub = bin_dir / tool
        stub.write_text(STUB)
        stub.chmod(0o755)
        rec_dir = base / "recordings" / tool
        rec_dir.mkdir(parents=True)
        for args, r in answers.items():
            k = key_of(args) if args != "_any" else "_any"
            (rec_dir / f"{k}.out").write_text(r.stdout)
            (rec_dir / f"{k}.err").write_text(r.stderr)
            (rec_dir / f"{k}.rc").write_text(f"{r.rc}\n")
            sources.append(f"{tool} {args}: {r.source}")
    (base / "SOURCES.txt").write_text("\n".join(sources) + "\n")

    _compile(HERE / "c" / "libnvidia-ml.c", lib_dir / "libnvidia-ml.so.1", "libnvidia-ml.so.1",
             {"NVML_INIT_RC": host.nvml_init_rc})
    _compile(HERE / "c" / "libcuda.c", lib_dir / "libcuda.so.1", "libcuda.so.1",
             {"CU_INIT_RC": host.cu_init_rc, "CU_DRIVER_VERSION": host.cu_driver_version,
              "CU_DEVICE_COUNT": host.cu_device_count})

    (base / "proc-driver" / "nvidia" / "version").write_text(host.proc_driver_version)
    (base / "proc-modules").write_text(host.proc_modules)
    for p in host.pci:
        d = base / "pci" / p.slot
        d.mkdir()
        files = {"vendor": "0x10de", "device": "0x" + p.device, "class": p.klass}
        if p.link_speed:
            files.update(current_link_speed=p.link_speed, max_link_speed=p.link_speed)
        if p.link_width:
            files.update(current_link_width=str(p.link_width), max_link_width=str(p.link_width))
        for name, value in files.items():
            (d / name).write_text(value + "\n")
        os.symlink("../../../bus/pci/drivers/nvidia", d / "driver")  # as sysfs links it; only its name is read

    shutil.copy(HERE / "torch_view" / "sitecustomize.py", py_dir / "sitecustomize.py")
    (base / "torch-view.json").write_text(json.dumps(host.torch, indent=1))

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CUDA", "NVIDIA", "NCCL", "LD_", "TORCH", "PYTORCH", "ENVDOCTOR_SIM"))}
    env.update(PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
               PYTHONPATH=os.pathsep.join([str(py_dir), str(ROOT)]),
               ENVDOCTOR_SIM_TORCH=str(base / "torch-view.json"),
               PYTHONDONTWRITEBYTECODE="1")
    plan = {
        "stage": str(base / "stage"),
        "lib_dir": str(lib_dir),
        "dev_nodes": [{"name": n, "major": ma, "minor": mi} for n, ma, mi in host.dev_nodes],
        "binds": [[str(base / "proc-driver"), "/proc/driver", False],
                  [str(base / "proc-modules"), "/proc/modules", True],
                  [str(base / "pci"), "/sys/bus/pci/devices", False]],
        "bin_dir": str(bin_dir),
        "hide_tools": list(REAL_TOOLS_HIDDEN),
        "cwd": str(base),
        "env": env,
        "argv": [sys.executable, "-m", "envdoctor", "check", "--no-proof", "--json"],
    }
    path = base / "plan.json"
    path.write_text(json.dumps(plan, indent=1))
    return path


def in_namespace(plan: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--", sys.executable,
                           str(HERE / "enter_namespace.py"), str(plan)],
                          capture_output=True, text=True, timeout=timeout)


def run_check(host: Host, base: Path) -> dict:
    """`envdoctor check --no-proof --json` on the simulated host: the report's one host, as JSON."""
    res = in_namespace(build(host, base))
    assert res.stdout.strip(), f"no report (exit {res.returncode}): {res.stderr[-3000:]}"
    report = json.loads(res.stdout)
    (base / "report.json").write_text(res.stdout)
    return report["hosts"][0]
