"""Whether a docker daemon runs on the host: one answer for every check that speaks of docker's daemon
(its runtimes, how it listens, its containers), so that no two of them contradict each other."""

from __future__ import annotations

from dataclasses import dataclass, field

from envdoctor.facts import HostFacts

# What the docker client prints when no daemon answers on its socket (docker info, docker ps).
NO_DAEMON = "Cannot connect to the Docker daemon"


@dataclass
class DockerDaemon:
    runs: bool | None  # None: not known
    says: str  # the phrase every check uses: "no docker daemon runs here (...)", "docker is not installed"
    evidence: list[str] = field(default_factory=list)


def docker_daemon(facts: HostFacts) -> DockerDaemon:
    """A daemon runs when dockerd is in the process list, docker info reached one, or its containers were
    listed; none runs when docker is not installed, or the client could not connect, or no dockerd is among
    the processes (/proc shown in full) and the client met no other error; else not known."""
    c, d, s = facts.container, facts.security.docker, facts.security
    errors = [e for e in dict.fromkeys((c.docker_info_error, d.containers_error)) if e]
    refused = [e for e in errors if NO_DAEMON in e]
    if d.dockerd_running or c.docker_server_reachable or d.containers is not None:
        why = ("dockerd is running" if d.dockerd_running else
               "docker info reached a daemon" if c.docker_server_reachable else "docker listed its containers")
        return DockerDaemon(True, f"a docker daemon runs here ({why})")
    if c.docker_installed is False:
        return DockerDaemon(False, "docker is not installed")
    # a /proc that hides other users' processes from a probe that is not root cannot show a root dockerd
    full_view = not (s.proc_hidepid and s.probe_euid != 0)
    # any other client error (permission denied on the socket: it exists, maybe socket-activated) says nothing
    if refused or (d.dockerd_running is False and full_view and not errors):
        ver = f" {c.docker_client_version}" if c.docker_client_version else ""
        why = f"the docker{ver} client cannot connect to one" if refused else "no dockerd process"
        return DockerDaemon(False, f"no docker daemon runs here ({why})", refused)
    return DockerDaemon(None, "whether a docker daemon runs is not known", errors)
