"""NVIDIA Container Toolkit present where a container engine is, and its hook errors."""

from envdoctor.diagnosis.catalog import cause_among, check, from_cause, passed, skip, unknown
from envdoctor.knowledge import signatures
from envdoctor.models import Status


def _hook_cause(facts, sid: str) -> str | None:
    """The cause of a container error line: of the causes its signature names, the one the knowledge base
    ranks first here (its evidence rules some out), else the signature's strongest."""
    refs = sorted(signatures().signature(sid).causes, key=lambda r: -r.w)
    return cause_among(facts, {r.cause for r in refs}) or (refs[0].cause if refs else None)


def _engines(c) -> list[str]:
    return [n for n, present in (("docker", c.docker_installed), ("podman", c.podman_installed)) if present]


@check("container_toolkit", "NVIDIA Container Toolkit is installed for the container engine", order=760,
       playbook="container-toolkit.yml")
def container_toolkit(facts):
    """Containers reach the GPU through the NVIDIA Container Toolkit (`nvidia-ctk`,
    `nvidia-container-cli`, the runtime hook): without it `docker run --gpus all` fails with
    'could not select device driver "" with capabilities: [[gpu]]'. The toolkit goes on the host that
    runs the container engine.

    Verdict: fail when a pasted docker/hook error names a cause (the toolkit missing, or the host
    driver the hook could not use: libnvidia-ml.so.1 not found, driver not loaded, driver RPC error,
    CUDA unknown error, unmet CUDA requirement); pass when the toolkit is installed; warn when docker or
    podman is installed without it; skip when there is no container engine, or no NVIDIA GPU.
    Evidence: `nvidia-ctk --version`, `nvidia-container-cli --version`/`info`, PATH, pasted errors."""
    c = facts.container
    if c.error_details:
        e = c.error_details[0]
        cause = _hook_cause(facts, e.kind)
        if cause:
            return from_cause(Status.FAIL, f"a GPU container failed to start: {e.line[:120]}", cause,
                              [d.line for d in c.error_details])
    versions = [f"{n} {v}" for n, v in (("nvidia-ctk", c.nvidia_ctk_version),
                                         ("nvidia-container-cli", c.nvidia_container_cli_version),
                                         ("nvidia-container-toolkit", c.nvidia_container_toolkit_version)) if v]
    engines = _engines(c)
    if c.toolkit_installed:
        ev = versions[:]
        if c.container_cli_info and c.container_cli_info.nvrm_version:
            ev.append(f"nvidia-container-cli info: NVRM {c.container_cli_info.nvrm_version}, CUDA "
                      f"{c.container_cli_info.cuda_version}, {len(c.container_cli_info.devices)} GPU(s)")
        return passed("NVIDIA Container Toolkit installed" + (f" ({', '.join(versions)})" if versions else ""), ev)
    if c.docker_installed is False and c.podman_installed is False:
        return skip("no container engine (docker, podman) installed")
    if not engines:
        return unknown("not known whether docker or podman is installed", missing=["docker info", "command -v docker"])
    if c.toolkit_installed is None:
        return unknown(f"{' and '.join(engines)} installed; whether the NVIDIA Container Toolkit is installed is "
                       "not known", missing=["nvidia-ctk --version", "nvidia-container-cli --version"])
    ev = ["nvidia-ctk: not found", "nvidia-container-cli: not found"]
    if facts.gpu.pci_gpus == []:
        return skip(f"NVIDIA Container Toolkit not installed; not needed: no NVIDIA GPU on this machine "
                    f"({' and '.join(engines)} present)", ev)
    if "docker" in engines and c.docker_server_reachable is False:
        ev.append(f"docker: {c.docker_info_error or 'no daemon reachable'}")
        return from_cause(Status.WARN, "NVIDIA Container Toolkit not installed; docker here is a client without a "
                          "reachable daemon, so GPU containers depend on the toolkit of the host that runs dockerd",
                          "toolkit_missing", ev, detail="nvidia-ctk and nvidia-container-cli are not on this machine")
    return from_cause(Status.WARN, f"{' and '.join(engines)} installed but the NVIDIA Container Toolkit is not: "
                      "`--gpus all` will fail", "toolkit_missing", ev,
                      detail="nvidia-ctk and nvidia-container-cli are not installed")
