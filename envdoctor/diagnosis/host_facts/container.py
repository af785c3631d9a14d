"""Build ContainerFacts from a bundle: docker (client, daemon, runtimes), daemon.json, the NVIDIA
Container Toolkit (nvidia-ctk, nvidia-container-cli), CDI specs, and pasted docker/hook errors.

None stays "not known": e.g. docker_installed is False only when the probe looked for docker and it was
not there; a paste without docker output leaves it None."""

from __future__ import annotations

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts.system import section_text
from envdoctor.facts.container import ContainerFacts
from envdoctor.parsers import docker

DAEMON_JSON = "/etc/docker/daemon.json"


def _tools(bundle: Bundle) -> dict[str, str] | None:
    """The probe's `tools` section: name -> path ("" when not on PATH)."""
    t = section_text(bundle, "tools")
    if t is None:
        return None
    out = {}
    for line in t.splitlines():
        name, _, path = line.partition("\t")
        if name:
            out[name.strip()] = path.strip()
    return out


def _docker(bundle: Bundle, f: ContainerFacts, tools: dict[str, str] | None) -> None:
    if tools is not None:
        f.docker_installed = bool(tools.get("docker"))
        f.podman_installed = bool(tools.get("podman"))
    sec = bundle.get("docker_info")
    info = None
    if sec is not None:
        if sec.error == "not-found":
            f.docker_installed = False
        elif sec.error is not None:
            f.docker_installed = True
            f.docker_info_error = f"docker info did not complete: {sec.error}"
        else:
            f.docker_installed = True
            info = docker.parse_docker_info(sec.text)
    if info is None:
        for p in bundle.pastes:
            info = docker.parse_docker_info(p)
            if info is not None:
                break
    if info is not None:
        f.docker_installed = True
        f.docker_server_reachable = info.server_reachable
        f.docker_client_version = info.client_version
        f.docker_version = info.server_version
        f.docker_runtimes = info.runtimes
        f.docker_default_runtime = info.default_runtime
        f.docker_info_error = info.error
        f.docker_evidence = info.lines
    if f.docker_installed is None and any("Error response from daemon" in p for p in bundle.pastes):
        f.docker_installed = True  # the docker client printed the daemon's error...
        if f.docker_server_reachable is None:
            f.docker_server_reachable = True  # ...so a daemon answered
    if f.docker_version is None:
        for p in bundle.pastes:
            v = docker.scan_docker_version(p)
            if v:
                f.docker_version = v
                f.docker_installed = True
                break


def _daemon_json(bundle: Bundle, f: ContainerFacts) -> None:
    sec = bundle.get("docker_daemon_json")
    if sec is not None:
        f.daemon_json_path = DAEMON_JSON
        if sec.error == "not-found":
            f.daemon_json_present = False
        elif sec.error is not None:
            f.daemon_json_present = True
            f.daemon_json_read_error = sec.error
        else:
            f.daemon_json_present = True
            f.daemon_json, f.daemon_json_error = docker.parse_daemon_json(sec.stdout)
        return
    for p in bundle.pastes:
        doc, err = docker.scan_daemon_json(p)
        if doc is not None or err is not None:
            f.daemon_json_path = f"{DAEMON_JSON} (pasted)"
            f.daemon_json_present = True
            f.daemon_json, f.daemon_json_error = doc, err
            return


def _toolkit(bundle: Bundle, f: ContainerFacts, tools: dict[str, str] | None) -> None:
    t = section_text(bundle, "nvidia_ctk_version", stdout_only=False)
    f.nvidia_ctk_version = docker.parse_ctk_version(t) if t else None
    t = section_text(bundle, "nvidia_container_cli_version", stdout_only=False)
    f.nvidia_container_cli_version = docker.parse_container_cli_version(t, whole_output=True) if t else None
    t = section_text(bundle, "nvidia_container_cli_info")
    f.container_cli_info = docker.parse_container_cli_info(t) if t else None
    t = section_text(bundle, "nvidia_container_toolkit_version", stdout_only=False)
    f.nvidia_container_toolkit_version = docker.parse_toolkit_version(t) if t else None
    for p in bundle.pastes:
        f.nvidia_ctk_version = f.nvidia_ctk_version or docker.parse_ctk_version(p)
        f.nvidia_container_cli_version = f.nvidia_container_cli_version or docker.parse_container_cli_version(p)
        f.nvidia_container_toolkit_version = f.nvidia_container_toolkit_version or docker.parse_toolkit_version(p)
        f.container_cli_info = f.container_cli_info or docker.parse_container_cli_info(p)
        f.cdi_devices = f.cdi_devices if f.cdi_devices is not None else docker.scan_cdi_devices(p)
    t = section_text(bundle, "cdi_specs")
    f.cdi_specs = docker.parse_cdi_spec_list(t) if t is not None else None

    hook_ran = any(e.kind not in docker.DOCKERD_KINDS for e in f.error_details)
    if (f.nvidia_ctk_version or f.nvidia_container_cli_version or f.nvidia_container_toolkit_version
            or f.container_cli_info or hook_ran):
        f.toolkit_installed = True
    elif tools is not None:
        f.toolkit_installed = bool(tools.get("nvidia-ctk") or tools.get("nvidia-container-cli"))


def build_container_facts(bundle: Bundle) -> ContainerFacts:
    f = ContainerFacts()
    tools = _tools(bundle)
    _docker(bundle, f, tools)
    _daemon_json(bundle, f)
    for text in bundle.texts("docker_info", "nvidia_container_cli_info", "nvidia_container_cli_version"):
        for e in docker.scan_container_errors(text):
            if all(e.line != d.line for d in f.error_details):
                f.error_details.append(e)
    f.errors_seen = [e.line for e in f.error_details]
    _toolkit(bundle, f, tools)
    return f
