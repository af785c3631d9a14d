"""Docker knows how to give containers GPUs: the nvidia runtime or CDI specs."""

import shlex

from packaging.version import InvalidVersion, Version

from envdoctor.catalog import check, fail, passed, skip, unknown, warn
from envdoctor.knowledge import load
from envdoctor.models import Fix

CONFIGURE = Fix(
    summary="Register the NVIDIA runtime with docker (or generate a CDI spec) and restart docker.",
    commands=["sudo nvidia-ctk runtime configure --runtime=docker",
              "sudo systemctl restart docker",
              "docker info | grep -i runtime   # expect: nvidia",
              "or CDI: sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml ; "
              "docker run --device nvidia.com/gpu=all ..."],
)


def _older(version: str | None, minimum: str) -> bool:
    try:
        return version is not None and Version(version.split("-")[0]) < Version(minimum)
    except InvalidVersion:
        return False


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
    when only the docker client is there and no daemon answered; skip without docker.
    Evidence: `docker info`, /etc/docker/daemon.json, /etc/cdi and /var/run/cdi."""
    c = facts.container
    if c.daemon_json_error:
        path = (c.daemon_json_path or "/etc/docker/daemon.json").replace(" (pasted)", "")
        return fail(f"{path} does not parse: {c.daemon_json_error}", [f"{path}: {c.daemon_json_error}"],
                    cause="dockerd refuses to start (or to reload) with a daemon.json that is not valid JSON",
                    fix=Fix(summary=f"Fix the JSON syntax of {path} (trailing commas and missing quotes are the "
                                    "usual culprits), then restart docker.",
                            commands=[f"python3 -m json.tool {shlex.quote(path)}", "sudo systemctl restart docker"]))
    bad_runtime = [e.line for e in c.error_details if e.kind == "runtime-not-registered"]
    if bad_runtime:
        return fail("docker does not know the nvidia runtime", bad_runtime + c.docker_evidence,
                    cause="`--runtime=nvidia` (or default-runtime nvidia) is used but dockerd has no such runtime",
                    fix=CONFIGURE)
    if c.docker_installed is False:
        return skip("docker is not installed")
    if c.docker_installed is None and c.docker_runtimes is None:
        return unknown("docker's configuration is not known", missing=["docker info"])
    if c.docker_server_reachable is False:
        ver = f" {c.docker_client_version}" if c.docker_client_version else ""
        return unknown(f"docker client{ver} found but no docker daemon is reachable, so its runtimes are not known",
                       evidence=[c.docker_info_error] if c.docker_info_error else [])
    declared = sorted((c.daemon_json or {}).get("runtimes", {}) or {})
    cdi = bool(c.cdi_specs) or bool(c.cdi_devices)
    ev = list(c.docker_evidence)
    if c.cdi_specs:
        ev.append("CDI specs: " + ", ".join(c.cdi_specs))
    if c.docker_runtimes is None:
        if _older(c.docker_version, load("container_limits")["docker_min_version_gpus_flag"]):
            return warn(f"docker {c.docker_version} is too old for `--gpus` (needs 19.03+) and lists no runtimes",
                        [f"Server Version: {c.docker_version}"],
                        cause="old docker engine", fix=Fix(summary="Upgrade docker to a current release, then "
                                                                   "install the NVIDIA Container Toolkit.",
                                                           commands=["docker version"]))
        return unknown("docker's runtimes are not known", missing=["docker info (Runtimes line)"])
    if "nvidia" in c.docker_runtimes:
        default = c.docker_default_runtime or "unknown"
        tail = ("" if default == "nvidia" else
                "; use `--gpus all` or `--runtime=nvidia` (set default-runtime nvidia for tools that cannot pass it)")
        return passed(f"docker lists the nvidia runtime (default runtime: {default}){tail}", ev)
    if "nvidia" in declared:
        return fail("daemon.json declares the nvidia runtime but the running docker daemon does not list it",
                    ev + [f"{c.daemon_json_path}: runtimes {declared}, default-runtime "
                          f"{(c.daemon_json or {}).get('default-runtime')}"],
                    cause="dockerd is not running with this daemon.json (not restarted since it was edited, a "
                          "docker upgrade replaced the service, or a snap/rootless docker reads another file)",
                    fix=Fix(summary="Restart docker so it reads /etc/docker/daemon.json; if it still lacks nvidia, "
                                    "re-run the toolkit's configuration.",
                            commands=["sudo systemctl restart docker", "docker info | grep -i runtime",
                                      "sudo nvidia-ctk runtime configure --runtime=docker"]))
    if cdi:
        return passed("no nvidia runtime, but CDI specs exist: use `docker run --device nvidia.com/gpu=all`", ev)
    if facts.gpu.pci_gpus == []:
        return skip("docker has no nvidia runtime; not needed: no NVIDIA GPU on this machine", ev)
    return warn("docker has neither the nvidia runtime nor a CDI spec for NVIDIA GPUs", ev,
                cause=f"Runtimes: {' '.join(c.docker_runtimes)} (no nvidia)", fix=CONFIGURE)
