"""Docker knows how to give containers GPUs: the nvidia runtime or CDI specs."""

import shlex

from envdoctor.diagnosis.catalog import check, from_cause, passed, skip, unknown
from envdoctor.diagnosis.docker_daemon import docker_daemon
from envdoctor.knowledge import load
from envdoctor.models import Status
from envdoctor.parsers.docker import CONTAINER_SIGNATURES
from envdoctor.versions import release

_UNKNOWN_RUNTIME = CONTAINER_SIGNATURES[1]  # docker_unknown_runtime: the kind of its error lines


def _older(version: str | None, minimum: str) -> bool:
    have = release(version)
    return have is not None and have < release(minimum)


@check("docker_gpu_runtime", "Docker is configured to give containers GPUs", order=780,
       playbook="container-toolkit.yml")
def docker_gpu_runtime(facts):
    """Docker hands GPUs to a container through the NVIDIA runtime (`Runtimes: ... nvidia` in
    `docker info`, registered in /etc/docker/daemon.json by `nvidia-ctk runtime configure`) or through
    CDI specs (/etc/cdi, /var/run/cdi; `docker run --device nvidia.com/gpu=all`). `--gpus` needs Docker
    19.03 or newer.

    Verdict: fail when /etc/docker/daemon.json does not parse (dockerd will not start with it), when
    daemon.json declares the nvidia runtime but the running daemon does not list it, or when docker
    reported "unknown or invalid runtime name: nvidia"; warn when neither the nvidia runtime nor a CDI
    spec is present, or docker is older than 19.03; pass otherwise, naming the default runtime; unknown
    when only the docker client is there and no daemon answered (worded as the docker security checks
    word it: envdoctor/diagnosis/docker_daemon.py); skip without docker.
    Evidence: `docker info`, /etc/docker/daemon.json, /etc/cdi and /var/run/cdi."""
    c = facts.container
    if c.daemon_json_error:
        path = (c.daemon_json_path or "/etc/docker/daemon.json").replace(" (pasted)", "")
        return from_cause(Status.FAIL, f"{path} does not parse: {c.daemon_json_error}", "docker_daemon_json_invalid",
                          [f"{path}: {c.daemon_json_error}"],
                          commands=[f"python3 -m json.tool {shlex.quote(path)}", "sudo systemctl restart docker"])
    bad_runtime = [e.line for e in c.error_details if e.kind == _UNKNOWN_RUNTIME]
    if bad_runtime:
        return from_cause(Status.FAIL, "docker does not know the nvidia runtime", "runtime_unknown",
                          bad_runtime + c.docker_evidence)
    if c.docker_installed is False:
        return skip("docker is not installed")
    if c.docker_installed is None and c.docker_runtimes is None:
        return unknown("docker's configuration is not known", missing=["docker info"])
    if c.docker_server_reachable is False:
        # the same answer as the docker security checks give (envdoctor/diagnosis/docker_daemon.py)
        daemon = docker_daemon(facts)
        says = daemon.says if daemon.runs is not None else "docker info could not reach a docker daemon"
        return unknown(f"{says}, so docker's runtimes are not known",
                       evidence=[c.docker_info_error] if c.docker_info_error else [])
    declared = sorted((c.daemon_json or {}).get("runtimes", {}) or {})
    cdi = bool(c.cdi_specs) or bool(c.cdi_devices)
    ev = list(c.docker_evidence)
    if c.cdi_specs:
        ev.append("CDI specs: " + ", ".join(c.cdi_specs))
    if c.docker_runtimes is None:
        if _older(c.docker_version, load("container_limits")["docker_min_version_gpus_flag"]):
            return from_cause(Status.WARN, f"docker {c.docker_version} is too old for `--gpus` (needs 19.03+) and "
                              "lists no runtimes", "docker_engine_old", [f"Server Version: {c.docker_version}"])
        return unknown("docker's runtimes are not known", missing=["docker info (Runtimes line)"])
    if "nvidia" in c.docker_runtimes:
        default = c.docker_default_runtime or "unknown"
        tail = ("" if default == "nvidia" else
                "; use `--gpus all` or `--runtime=nvidia` (set default-runtime nvidia for tools that cannot pass it)")
        return passed(f"docker lists the nvidia runtime (default runtime: {default}){tail}", ev)
    if "nvidia" in declared:
        return from_cause(Status.FAIL, "daemon.json declares the nvidia runtime but the running docker daemon does "
                          "not list it", "docker_daemon_stale",
                          ev + [f"{c.daemon_json_path}: runtimes {declared}, default-runtime "
                                f"{(c.daemon_json or {}).get('default-runtime')}"])
    if cdi:
        return passed("no nvidia runtime, but CDI specs exist: use `docker run --device nvidia.com/gpu=all`", ev)
    if facts.gpu.pci_gpus == []:
        return skip("docker has no nvidia runtime; not needed: no NVIDIA GPU on this machine", ev)
    return from_cause(Status.WARN, "docker has neither the nvidia runtime nor a CDI spec for NVIDIA GPUs",
                      "docker_runtime_not_configured", ev, detail=f"Runtimes: {' '.join(c.docker_runtimes)}")
