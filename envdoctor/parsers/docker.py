"""Docker and the NVIDIA Container Toolkit: `docker info` (new Client/Server layout, old 1.x layout without
Runtimes, client without a daemon), /etc/docker/daemon.json, `nvidia-ctk --version`,
`nvidia-container-cli --version` / `info`, `nvidia-container-toolkit --version`, `nvidia-ctk cdi list`,
and the docker/hook error messages users paste. Pure functions of text."""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from envdoctor.facts.container import ContainerCliDevice, ContainerCliInfo, ContainerError
from envdoctor.parsers.signatures import find_all


@dataclass
class DockerInfo:
    client_version: str | None = None
    server_version: str | None = None
    server_reachable: bool | None = None
    runtimes: list[str] | None = None
    default_runtime: str | None = None
    error: str | None = None  # why the client reached no daemon
    lines: list[str] = field(default_factory=list)  # verbatim runtime lines


def _no_daemon(line: str) -> str | None:
    """The docker client's own words when it reached no daemon (signature docker_daemon_unreachable)."""
    hit = find_all(line, ("docker_daemon_unreachable",))
    return line[hit[0][1]:].strip() if hit else None


def parse_docker_info(text: str) -> DockerInfo | None:
    """`docker info` (any era). None when the text holds no docker info block."""
    info = DockerInfo()
    seen = False
    section = None  # "client" / "server" in the new layout
    for line in text.splitlines():
        s = line.strip()
        if re.match(r"^Client(:|\s*:\s*Docker Engine)", line):
            section, seen = "client", True
            continue
        if re.match(r"^Server:\s*$", line):
            section, seen = "server", True
            continue
        m = re.match(r"^Version:\s*(\S+)$", s)
        if m and section == "client" and info.client_version is None:
            info.client_version = m.group(1)
        m = re.match(r"^Server Version:\s*(\S+)", s)
        if m:
            info.server_version, info.server_reachable, seen = m.group(1), True, True
        m = re.match(r"^Runtimes:\s*(.*)$", s)
        if m:
            info.runtimes, info.server_reachable, seen = m.group(1).split(), True, True
            info.lines.append(s)
        m = re.match(r"^Default Runtime:\s*(\S+)", s)
        if m:
            info.default_runtime, info.server_reachable, seen = m.group(1), True, True
            info.lines.append(s)
        err = _no_daemon(s)
        if err and info.server_version is None and info.runtimes is None:
            info.error, info.server_reachable, seen = err, False, True
    if info.server_reachable and info.runtimes is None and info.server_version:
        info.runtimes = None  # docker < 1.12 printed no Runtimes line: unknown, not empty
    return info if seen else None


# `docker --version` / `dockerd --version`: "Docker version 19.03.8, build afacb8b7f0"
def scan_docker_version(text: str) -> str | None:
    m = re.search(r"^\s*Docker version (\d[\w.+~-]*), build", text, re.MULTILINE)
    return m.group(1) if m else None


# daemon.json keys that tell a pasted JSON object is docker's daemon configuration
_DAEMON_KEYS = {"runtimes", "default-runtime", "default-shm-size", "default-ulimits", "features", "insecure-registries",
                "registry-mirrors", "data-root", "exec-opts", "log-driver", "log-opts", "storage-driver", "cdi-spec-dirs",
                "live-restore", "dns", "bip", "cgroup-parent", "experimental"}


def parse_daemon_json(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """(config, None), or (None, the parse error) for a file that does not parse. An empty file is {}:
    dockerd treats an empty daemon.json as no configuration."""
    if not text.strip():
        return {}, None
    try:
        doc = json.loads(text)
    except ValueError as e:
        return None, f"{type(e).__name__}: {e}"
    if not isinstance(doc, dict):
        return None, f"top level is a JSON {type(doc).__name__}, not an object"
    return doc, None


def scan_daemon_json(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """A daemon.json pasted among other output: a JSON object starting at a line's beginning that has a
    daemon.json key; or, right after a line naming daemon.json, an object that does not parse (the error)."""
    lines = text.splitlines(keepends=True)
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line)
    decoder = json.JSONDecoder()
    for i, line in enumerate(lines):
        if not line.startswith("{"):
            continue
        try:
            doc, _ = decoder.raw_decode(text[offsets[i]:])  # line numbers count from the '{'
        except ValueError as e:
            named = any("daemon.json" in l for l in lines[max(0, i - 3):i])
            if named:
                return None, f"JSONDecodeError: {e}"
            continue
        if isinstance(doc, dict) and (set(doc) & _DAEMON_KEYS):
            return doc, None
    return None, None


def parse_ctk_version(text: str) -> str | None:
    """`nvidia-ctk --version`: "NVIDIA Container Toolkit CLI version 1.12.0"."""
    m = re.search(r"NVIDIA Container Toolkit CLI version\s+v?(\d[\w.~+-]*)", text)
    return m.group(1) if m else None


def parse_toolkit_version(text: str) -> str | None:
    """`nvidia-container-toolkit --version` (the runtime hook): "NVIDIA Container Runtime Hook version 1.17.0";
    `nvidia-container-runtime --version`: "NVIDIA Container Runtime version 1.17.0"."""
    m = re.search(r"NVIDIA Container Runtime(?: Hook)? version\s+v?(\d[\w.~+-]*)", text)
    return m.group(1) if m else None


def parse_container_cli_version(text: str, whole_output: bool = False) -> str | None:
    """`nvidia-container-cli --version`: "cli-version: 1.17.0" (older: "version: 1.0.0"); its debug log
    also names the library: "initializing library context (version=1.9.0, build=...)". A bare "version:"
    is only trusted when the text is that command's whole output."""
    m = re.search(r"^\s*cli-version:\s*(\d[\w.~+-]*)", text, re.MULTILINE)
    if m:
        return m.group(1)
    if whole_output:
        m = re.search(r"^\s*version:\s*(\d[\w.~+-]*)", text, re.MULTILINE)
        if m:
            return m.group(1)
    m = re.search(r"initializing library context \(version=(\d[\w.~+-]*)", text)
    return m.group(1) if m else None


def _nullable(v: str) -> str | None:
    v = v.strip()
    return None if v in ("", "(null)", "N/A") else v


def parse_container_cli_info(text: str) -> ContainerCliInfo | None:
    """`nvidia-container-cli info`; Jetson prints "(null)" for the driver version, UUID and bus."""
    info = ContainerCliInfo()
    seen = False
    dev: ContainerCliDevice | None = None
    for line in text.splitlines():
        m = re.match(r"^(NVRM version|CUDA version|Device Index|Model|GPU UUID|Bus Location|Architecture):\s*(.*)$",
                     line.strip())
        if not m:
            continue
        key, val = m.group(1), _nullable(m.group(2))
        if key in ("Model", "GPU UUID", "Bus Location", "Architecture") and dev is None:
            continue  # docker info also has "Architecture: x86_64": only device blocks count
        seen = True
        if key == "NVRM version":
            info.nvrm_version = val
        elif key == "CUDA version":
            info.cuda_version = val
        elif key == "Device Index":
            dev = ContainerCliDevice(index=int(val) if val and val.isdigit() else None)
            info.devices.append(dev)
        elif dev is not None:
            setattr(dev, {"Model": "model", "GPU UUID": "uuid", "Bus Location": "bus_location",
                          "Architecture": "architecture"}[key], val)
    # "NVRM version: <bare version or (null)>" opens the block; /proc/driver/nvidia/version also has an
    # "NVRM version: NVIDIA UNIX ... Kernel Module ..." line, and prose may say "CUDA version: ...": neither is it
    opened = re.search(r"^\s*NVRM version:\s+(\d+(?:\.\d+)+|\(null\))\s*$", text, re.MULTILINE)
    return info if seen and opened and re.search(r"^\s*CUDA version:", text, re.MULTILINE) else None


def parse_cdi_spec_list(text: str) -> list[str]:
    """The probe's listing of /etc/cdi and /var/run/cdi: one path per line."""
    return [l.strip() for l in text.splitlines() if l.strip()]


def scan_cdi_devices(text: str) -> list[str] | None:
    """`nvidia-ctk cdi list`: "INFO[0000] Found 3 CDI devices" then "nvidia.com/gpu=0", "nvidia.com/gpu=all"."""
    found = re.search(r"Found (\d+) CDI devices?", text)
    devs = re.findall(r"^\s*(nvidia\.com/gpu=\S+)\s*$", text, re.MULTILINE)
    if found or devs:
        return devs
    return None


# Which container/toolkit error a line shows is the knowledge base's call (data/signatures/container.yaml,
# host.yaml); a line's kind is the signature's id. Order matters: the first signature matching a line names it.
CONTAINER_SIGNATURES = ("docker_no_gpu_driver", "docker_unknown_runtime", "container_cli_requirement",
                        "driver_init_timed_out", "toolkit_binary_missing", "container_cli_init_error")
# Kinds dockerd reports itself, before the toolkit's hook runs
DOCKERD_KINDS = ("docker_no_gpu_driver", "docker_unknown_runtime")
# The clause worth quoting out of docker's long, escaped one-line error
_HOOK_CLAUSE = re.compile(r"nvidia-container-cli(?:\.real)?: [a-z ]*error: [^\\\n\"]*")


def scan_container_errors(text: str) -> list[ContainerError]:
    out: list[ContainerError] = []
    rank = {sid: i for i, sid in enumerate(CONTAINER_SIGNATURES)}
    kinds: dict[int, str] = {}  # line number -> the first signature (by CONTAINER_SIGNATURES order) matching it
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    lines = text.splitlines()
    for sid, a, _ in find_all(text, CONTAINER_SIGNATURES):
        n = bisect_right(starts, a) - 1
        if n < len(lines) and (n not in kinds or rank[sid] < rank[kinds[n]]):
            kinds[n] = sid
    for n in sorted(kinds):
        kind, line = kinds[n], lines[n]
        clause = _HOOK_CLAUSE.search(line)
        quoted = clause.group(0) if clause and kind not in DOCKERD_KINDS else line.strip()
        if not any(e.line == quoted for e in out):
            out.append(ContainerError(kind=kind, line=quoted))
    return out
