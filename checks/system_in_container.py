"""Whether envdoctor runs inside a container (informational)."""

from envdoctor.diagnosis.catalog import check, passed, unknown


@check("in_container", "Inside a container or on the host", order=700)
def in_container(facts):
    """Says whether envdoctor is running inside a container and which kind (docker, podman, kubernetes,
    containerd, lxc), and whether the host is WSL. It never fails: it is context for other checks whose
    advice differs inside a container — /dev/shm and memlock are set when the container is started
    (`--shm-size`, `--ipc=host`, `--ulimit memlock=-1`), the NVIDIA driver comes from the host, and
    the NVIDIA Container Toolkit belongs on the host, not in the container.

    Evidence: /.dockerenv, /run/.containerenv, PID 1's cgroup, and the `container` and
    KUBERNETES_SERVICE_HOST environment variables."""
    s = facts.system
    wsl = " on WSL" if s.wsl else ""
    if s.in_container is None:
        return unknown("not known whether this runs inside a container", missing=["container markers"])
    if s.in_container:
        return passed(f"running inside a {s.container_kind or 'container'} container{wsl}: limits, /dev/shm and "
                      "GPU access are set by whoever starts it", s.container_evidence + s.wsl_evidence)
    return passed(f"running on the host, not in a container{wsl}", s.container_evidence + s.wsl_evidence)
