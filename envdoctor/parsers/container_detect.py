"""Whether the probe ran inside a container, and which kind, from the probe's `container_markers`
section (/.dockerenv, /run/.containerenv, PID 1's cgroup) and its `environment` section (a JSON of
selected environment variables: `container=`, KUBERNETES_SERVICE_HOST). Pure."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

# cgroup path fragments -> the engine that made them (checked in this order)
_CGROUP_KINDS = [
    ("kubernetes", re.compile(r"kubepods")),
    ("podman", re.compile(r"libpod")),
    ("docker", re.compile(r"/docker[/-]|docker-[0-9a-f]{12,}\.scope")),
    ("containerd", re.compile(r"containerd")),
    ("lxc", re.compile(r"/lxc[/.]|lxc\.payload")),
]
# Which kind wins when several markers agree on "a container": the orchestrator first.
_PRIORITY = ["kubernetes", "podman", "docker", "containerd", "lxc", "container"]


@dataclass
class ContainerDetection:
    in_container: bool | None = None
    kind: str | None = None
    evidence: list[str] = field(default_factory=list)


def _cgroup_kinds(cgroup_text: str) -> list[str]:
    return [kind for kind, pat in _CGROUP_KINDS if pat.search(cgroup_text)]


def detect(markers: str | None, environment: str | None) -> ContainerDetection:
    """`markers`: the container_markers section text (None: not collected); `environment`: the environment
    section's JSON text (None: not collected). Known absent only when the markers section was read."""
    kinds: list[str] = []
    ev: list[str] = []
    if markers is not None:
        for line in markers.splitlines():
            if line == "exists /.dockerenv":
                kinds.append("docker")
                ev.append("/.dockerenv exists")
            elif line == "exists /run/.containerenv":
                kinds.append("podman")
                ev.append("/run/.containerenv exists")
            elif line.startswith("cgroup1 "):
                found = _cgroup_kinds(line)
                if found:
                    kinds += found
                    ev.append("PID 1 cgroup: " + line[len("cgroup1 "):].split(" | ")[0].strip())
    if environment:
        try:
            env = json.loads(environment)
        except ValueError:
            env = {}
        if isinstance(env, dict):
            c = env.get("container")
            if c:
                kinds.append({"oci": "container"}.get(c, c))
                ev.append(f"environment: container={c}")
            if env.get("KUBERNETES_SERVICE_HOST"):
                kinds.append("kubernetes")
                ev.append("environment: KUBERNETES_SERVICE_HOST is set")
    if kinds:
        kind = min(kinds, key=lambda k: _PRIORITY.index(k) if k in _PRIORITY else len(_PRIORITY))
        return ContainerDetection(True, kind, ev)
    if markers is not None:
        return ContainerDetection(False, None, ["no /.dockerenv, no /run/.containerenv, no container cgroup for PID 1"])
    return ContainerDetection()


# A pasted `cat /proc/1/cgroup` (or /proc/self/cgroup) line: "12:devices:/docker/3f2a..."
_PASTED_CGROUP = re.compile(r"^\s*\d+:[\w,=]*:(/\S+)\s*$")


def scan_pasted_cgroup(text: str) -> ContainerDetection:
    for line in text.splitlines():
        m = _PASTED_CGROUP.match(line)
        if m:
            found = _cgroup_kinds(m.group(1))
            if found:
                return ContainerDetection(True, found[0], ["cgroup: " + line.strip()])
    return ContainerDetection()
