"""Build DiagnosisFacts (pure): the failure signatures in every text of the bundle, the blocks of a
paste that were recognised, and the evidence that tells causes apart - from the probe's diagnosis
sections when present, otherwise from the pasted blocks."""

from __future__ import annotations

import json
import re

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.paste import scanned_with_commands
from envdoctor.facts import HostFacts
from envdoctor.facts.diagnosis import DiagnosisFacts
from envdoctor.knowledge import signatures
from envdoctor.parsers import paste_blocks as pb
from envdoctor.parsers.signatures import merge, scan_signatures

# Probe sections whose text may hold failure messages (stdout and stderr).
_MESSAGE_SECTIONS = ("torch", "cuda_driver_api", "nvidia_smi", "nvidia_smi_list", "kernel_log", "nvidia_container_cli_info",
                     "docker_info", "nvml_init", "nvidia_modinfo", "secure_boot")
# Of those, the ones where an error nothing knows means GPU work itself failing. Elsewhere (the kernel log's
# unrelated lines, docker's "Cannot connect to the Docker daemon" with no daemon running) the probe's own
# facts judge the tool's answer, and only a known failure message counts.
_ANY_ERROR_SECTIONS = ("torch", "cuda_driver_api", "nvml_init", "nvidia_smi", "nvidia_smi_list")


def _ran(s: Section | None) -> bool:
    return s is not None and s.error is None


def _signatures(bundle: Bundle, d: DiagnosisFacts) -> list[str]:
    kb = signatures()
    for name in _MESSAGE_SECTIONS:
        s = bundle.get(name)
        if _ran(s) or (s is not None and s.error == "timeout"):
            seen = scan_signatures(s.text)
            seen = [x for x in seen if not kb.signature(x.id).paste_only]
            if name not in _ANY_ERROR_SECTIONS:
                seen = [x for x in seen if not kb.signature(x.id).unrecognised]
            merge(d.signatures, seen)
    scanned = []
    for p in bundle.pastes:
        text, commands = scanned_with_commands(p)
        merge(d.signatures, scan_signatures(text, commands))
        scanned.append(text)
    return scanned


def _probe_evidence(bundle: Bundle, d: DiagnosisFacts) -> None:
    s = bundle.get("secure_boot")
    if _ran(s):
        sb = pb.secure_boot(s.text)
        if sb:
            d.secure_boot, d.secure_boot_line = sb
    u = bundle.get("uname")
    if _ran(u) and len(u.stdout.split()) >= 2:
        d.running_kernel = u.stdout.split()[1]
    files = bundle.get("nvidia_module_files")
    if _ran(files):
        ko = [l.strip() for l in files.stdout.splitlines() if l.strip()]
        d.module_for_kernel = bool(ko)
        d.module_evidence = ko[:4] or [f"no nvidia*.ko* under /lib/modules/{d.running_kernel or '$(uname -r)'}"]
    mi = bundle.get("nvidia_modinfo")
    if _ran(mi):
        r = pb.modinfo(mi.text)
        if r is not None:
            d.module_for_kernel = r[0] if d.module_for_kernel is None else d.module_for_kernel
            d.module_evidence.append(r[1])
    dk = bundle.get("dkms_status")
    if _ran(dk):
        d.dkms_kernels = [k for k, _ in pb.dkms_status(dk.stdout) or []]
    nodes = bundle.get("nvswitch_devices")  # the probe lists every /dev/nvidia* there
    if _ran(nodes):
        d.dev_nodes = [l.strip() for l in nodes.stdout.splitlines() if l.strip().startswith("/dev/nvidia")]
        if d.dev_nodes or _module_loaded_in(bundle):
            d.uvm_loaded = "/dev/nvidia-uvm" in d.dev_nodes
    nv = bundle.get("nvml_init")
    if _ran(nv):
        m = re.search(r"nvmlInit_v2: (\d+ \S+)", nv.stdout)
        d.nvml_init = m.group(1) if m else None
    w = bundle.get("wsl_markers")
    if _ran(w) and re.search(r"^exists /usr/lib/wsl/lib|^proc_version .*microsoft", w.stdout, re.M | re.I):
        d.mentions.append("wsl")
    cg = bundle.get("cgroup_devices")
    if _ran(cg):
        d.cgroup_devices = cg.stdout.strip()[:300] or None
    ib = bundle.get("infiniband")
    if _ran(ib):
        d.rdma_devices = [l.strip() for l in ib.stdout.splitlines() if l.strip()]
    t = bundle.get("torch")
    if _ran(t):
        try:
            doc = json.loads(t.stdout)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("loaded_libs"), list):
            d.torch_loaded_libs = [str(x) for x in doc["loaded_libs"]][:20]


def _module_loaded_in(bundle: Bundle) -> bool:
    m = bundle.get("proc_modules")
    return _ran(m) and bool(re.search(r"^nvidia ", m.stdout, re.M))


def _paste_evidence(text: str, d: DiagnosisFacts, seen: list[str]) -> None:
    if d.secure_boot is None and (sb := pb.secure_boot(text)):
        d.secure_boot, d.secure_boot_line = sb
        seen.append("mokutil --sb-state")
    if (mi := pb.modinfo(text)) is not None:
        if d.module_for_kernel is None:
            d.module_for_kernel = mi[0]
        d.module_evidence.append(mi[1])
        seen.append("modinfo nvidia" if mi[0] else "modprobe/modinfo error")
    if d.kernel_seccomp is None and (sc := pb.kernel_seccomp(text)) is not None:
        d.kernel_seccomp = sc
        seen.append("kernel seccomp")
    if (mods := pb.lsmod_modules(text)) is not None:
        seen.append("lsmod")
        if any(m.startswith("nvidia") for m in mods) and d.uvm_loaded is None:
            d.uvm_loaded = "nvidia_uvm" in mods
    if (dk := pb.dkms_status(text)) is not None:
        d.dkms_kernels = sorted({k for k, _ in dk} | set(d.dkms_kernels or []))
        seen.append("dkms status")
    if (libs := pb.ldd_cuda_libs(text)) is not None:
        d.torch_loaded_libs = (d.torch_loaded_libs or []) + libs[:20]
        seen.append("ldd / ldconfig -p")
    if d.ld_library_path is None and (ld := pb.ld_library_path(text)) is not None:
        d.ld_library_path = ld
        seen.append("LD_LIBRARY_PATH")
    if d.cuda_visible_devices is None and (cvd := pb.cuda_visible_devices(text)) is not None:
        d.cuda_visible_devices = cvd
        seen.append("CUDA_VISIBLE_DEVICES")
    if (tk := pb.usr_local_cuda(text)) is not None:
        d.toolkit_dirs = (d.toolkit_dirs or []) + tk
        seen.append("ls -l /usr/local (cuda)")
    if (pk := pb.packages(text)) is not None:
        d.torch_packages = (d.torch_packages or []) + pk[0]
        d.pip_nvidia_wheels = (d.pip_nvidia_wheels or []) + pk[1]
        seen.append("pip/conda package list")
    launches = pb.docker_runs(text) + pb.compose_or_pod(text)
    if launches:
        d.launches += launches
        seen += sorted({l.kind for l in launches})
    if pb.in_container_text(text):
        d.in_container_text = True
    for m in pb.mentions(text):
        if m not in d.mentions:
            d.mentions.append(m)
    if "kernel upgrade" in d.mentions:
        d.kernel_changed = True
    if "driver upgrade" in d.mentions:
        d.driver_changed = True


def _blocks_from_facts(f: HostFacts) -> list[str]:
    """The blocks the other parsers read, named for the report."""
    g, t, s, c, e = f.gpu, f.torch, f.system, f.container, f.cuda_env
    out = []
    if g.gpus_source:
        out.append(g.gpus_source)
    elif g.nvml_version:
        out.append("nvidia-smi --version")
    if g.nvidia_smi_error:
        out.append("nvidia-smi error")
    if g.kernel_module_version and not g.module_version_from_log:
        out.append("/proc/driver/nvidia/version")
    if g.xid_events or g.fallen_off_bus or g.nvrm_lines:
        out.append("kernel log (NVRM)")
    if g.pci_gpus is not None:
        out.append("lspci")
    if g.dpkg_packages:
        out.append("dpkg -l")
    if g.driver_upgrade_lines:
        out.append("apt history")
    if t.source == "collect_env" or t.collect_env_driver or t.collect_env_gpus is not None:
        out.append("collect_env")
    if t.errors:
        out.append("torch/CUDA messages")
    if e.nvcc_version:
        out.append("nvcc --version")
    if s.memlock_source:
        out.append(s.memlock_source)
    if s.shm_source:
        out.append(s.shm_source)
    if c.docker_evidence or c.docker_version or c.docker_info_error:
        out.append("docker info")
    if c.daemon_json_path:
        out.append("daemon.json")
    if c.container_cli_info:
        out.append("nvidia-container-cli info")
    if c.nvidia_ctk_version or c.nvidia_container_toolkit_version or c.nvidia_container_cli_version:
        out.append("toolkit versions")
    if c.errors_seen:
        out.append("container errors")
    if s.os_name:
        out.append("OS release")
    if s.container_evidence:
        out.append("cgroup")
    return out


def build_diagnosis_facts(bundle: Bundle, facts: HostFacts) -> DiagnosisFacts:
    d = DiagnosisFacts()
    scanned = _signatures(bundle, d)
    _probe_evidence(bundle, d)
    seen: list[str] = []
    for raw, text in zip(bundle.pastes, scanned):
        _paste_evidence(text, d, seen)
        if pb.in_container_text(raw):  # before prompts/log prefixes were dropped (compose's "web_1  | ")
            d.in_container_text = True
    if bundle.pastes:
        blocks = _blocks_from_facts(facts) + seen
        d.recognised = list(dict.fromkeys(blocks))
    d.scan_note = "; ".join(getattr(bundle, "notes", []) or []) or None
    return d
