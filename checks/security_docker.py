"""Security: docker's daemon on TCP without TLS, the docker group, privileged or socket-mounting containers."""

from envdoctor.diagnosis.catalog import check, fail, passed, skip, unknown, warn
from envdoctor.diagnosis.docker_daemon import docker_daemon
from envdoctor.models import Fix
from envdoctor.parsers.security import is_loopback


def _no_docker(facts) -> bool:
    c, d = facts.container, facts.security.docker
    return c.docker_installed is False and not d.tcp_hosts and not d.tcp_listening


def _tcp_host(h: str) -> str:
    return h[len("tcp://"):].rsplit(":", 1)[0].strip("[]") or "0.0.0.0"


@check("security_docker_tcp", "The docker daemon is not on TCP without TLS", order=920)
def security_docker_tcp(facts):
    """A docker daemon that listens on TCP without `--tlsverify` gives root on the machine to anyone
    who can reach the port (`docker -H tcp://host:2375 run -v /:/host ...`); on loopback, to every local
    user, bypassing the docker group.

    Verdict: fail for a TCP host beyond loopback without tlsverify; warn for one on loopback only, or for a
    configured one while no daemon runs (it listens when started); pass when dockerd has no TCP host, or
    verifies client certificates; skip without docker, or when no docker daemon runs and none is configured
    for TCP (the same answer as docker_gpu_runtime and security_docker_containers: envdoctor/diagnosis/docker_daemon.py).
    Evidence: "hosts" and "tlsverify" in /etc/docker/daemon.json, dockerd's -H/--tlsverify, and the LISTEN
    sockets of dockerd (or ports 2375/2376 where dockerd's sockets cannot be read)."""
    d = facts.security.docker
    if _no_docker(facts):
        return skip("docker is not installed")
    if d.tcp_hosts is None and d.tcp_listening is None:
        return unknown("docker's listening addresses not known", missing=["/etc/docker/daemon.json", "/proc/net/tcp"])
    hosts = list(d.tcp_hosts or [])
    ev = list(d.evidence) + [f"LISTEN {s.show()} (dockerd or docker's port)" for s in d.tcp_listening or []]
    daemon = docker_daemon(facts)
    if not hosts and not d.tcp_listening:
        if daemon.runs is False:  # nothing to listen: no claim about how a daemon listens
            return skip(f"{daemon.says}: nothing listens for docker, and no tcp:// host is configured",
                        daemon.evidence + ev)
        if d.tcp_hosts is None or d.tcp_listening is None:
            return unknown("docker has no TCP socket as far as could be read", missing=[
                "/etc/docker/daemon.json" if d.tcp_hosts is None else "/proc/net/tcp"], evidence=ev)
        if daemon.runs is None:
            return passed("no tcp:// host is configured for dockerd and nothing listens on docker's ports "
                          "(2375/2376)", ev)
        return passed("dockerd listens on its unix socket only", ev)
    if d.tls_verify:
        return passed("dockerd on TCP verifies client certificates (tlsverify)", ev)
    wide = [h for h in hosts if not is_loopback(_tcp_host(h))] + \
        [s.show() for s in d.tcp_listening or [] if not s.loopback and s.port != 2376]
    fix = Fix(summary="Remove the tcp:// host (use the unix socket, or `ssh://` contexts for remote use), or "
                      "require client certificates with tlsverify on port 2376.",
              commands=["docker context create remote --docker host=ssh://USER@THIS_HOST   # remote use without TCP",
                        'sudo python3 -c \'import json; p="/etc/docker/daemon.json"; d=json.load(open(p)); '
                        'd["hosts"]=[h for h in d.get("hosts", []) if not h.startswith("tcp://")]; '
                        'json.dump(d, open(p, "w"), indent=2)\'   # and drop -H tcp://... from the unit',
                        "sudo systemctl restart docker",
                        "dockerd --tlsverify --tlscacert=ca.pem --tlscert=server-cert.pem --tlskey=server-key.pem "
                        "-H tcp://0.0.0.0:2376   # if TCP is needed"], manual=True)
    if daemon.runs is False and not d.tcp_listening:  # configured, not yet exposed
        return warn(f"{daemon.says}, but its configuration makes it listen on TCP without TLS client "
                    f"verification when it starts: {', '.join(hosts)}", daemon.evidence + ev,
                    cause="a tcp:// host in daemon.json or dockerd -H without --tlsverify", fix=fix)
    if wide:
        return fail(f"dockerd listens on TCP without TLS client verification: {', '.join(wide)} (root for anyone "
                    "who reaches it)", ev, cause="a tcp:// host in daemon.json or dockerd -H without --tlsverify",
                    fix=fix)
    if not hosts and all(s.port == 2376 for s in d.tcp_listening or []):
        return passed("only docker's TLS port (2376) listens", ev)
    return warn("dockerd listens on TCP on loopback without TLS: every local user gets root, docker group or not",
                ev, cause="a tcp://127.0.0.1 host without --tlsverify", fix=fix)


@check("security_docker_group", "The docker group (root-equivalent) is not handed out on a shared machine", order=921)
def security_docker_group(facts):
    """Membership of the `docker` group is root on the machine: `docker run -v /:/host --privileged`
    needs no password. On a machine several people share, every member can read and change everything.

    Verdict: warn when the docker group has members and the machine is shared (two or more accounts
    with uid >= 1000 and a login shell, or two or more members); pass (listing them) otherwise; skip
    without a docker group. Evidence: the docker line of /etc/group and primary groups in /etc/passwd
    (accounts from LDAP/SSSD are not seen). Fix: rootless docker, or sudo for docker commands."""
    d = facts.security.docker
    if d.people is None and d.group_members is None:
        return unknown("the docker group not known", missing=["/etc/group"])
    if d.group_members is None:
        return skip("no docker group")
    members = [m for m in d.group_members if m != "root"]
    if not members:
        return passed("the docker group has no members")
    people = d.people or []
    ev = [f"docker group: {', '.join(d.group_members)}", f"accounts with a login shell (uid >= 1000): "
          f"{', '.join(people) or 'none'}"]
    if len(people) >= 2 or len(members) >= 2:
        return warn(f"{len(members)} user(s) in the docker group, root-equivalent on a shared machine: "
                    f"{', '.join(members)}", ev,
                    cause="members of the docker group can start privileged containers that mount the host",
                    fix=Fix(summary="Keep the docker group to the machine's administrators; give others rootless "
                                    "docker (or podman), or sudo rules for the docker commands they need.",
                            commands=[f"sudo gpasswd -d {members[0]} docker   # per user; takes effect at next login",
                                      "dockerd-rootless-setuptool.sh install   # as each user: rootless docker"],
                            manual=True))
    return passed(f"docker group: {', '.join(members)} (root-equivalent; one person uses this machine)", ev)


@check("security_docker_containers", "No running container is privileged or holds the docker socket", order=922)
def security_docker_containers(facts):
    """A `--privileged` container, or one that mounts /var/run/docker.sock, can take over the host:
    whoever gets a shell in it (a notebook, a web service) gets root on the machine.

    Verdict: warn for each running container that is privileged or mounts the docker socket; pass when
    none does; unknown when `docker ps`/`docker inspect` cannot be read (no permission: --become);
    skip without docker or without a docker daemon (envdoctor/diagnosis/docker_daemon.py). Evidence: `docker inspect` of the running containers (privilege, mounts)."""
    d = facts.security.docker
    daemon = docker_daemon(facts)
    if daemon.runs is False:
        return skip(daemon.says, daemon.evidence)
    if d.containers is None:
        return unknown("running containers not known" + (f": {d.containers_error}" if d.containers_error else ""),
                       missing=["docker ps; docker inspect"])
    risky = [c for c in d.containers if c.privileged or c.docker_socket_mounts]
    if not risky:
        return passed(f"{len(d.containers)} running container(s), none privileged or holding the docker socket")
    ev = []
    for c in risky:
        what = (["--privileged"] if c.privileged else []) + [f"mounts {m}" for m in c.docker_socket_mounts]
        ev.append(f"{c.name or c.id} ({c.image}): {', '.join(what)}")
    return warn(f"{len(risky)} running container(s) can take over the host: "
                f"{', '.join(c.name or c.id for c in risky)}", ev,
                cause="started with --privileged or -v /var/run/docker.sock:/var/run/docker.sock",
                fix=Fix(summary="Restart them without --privileged (GPUs need only `--gpus`), and without the docker "
                                "socket (give a CI runner its own rootless daemon).",
                        commands=["docker inspect --format '{{.Name}} {{.HostConfig.Privileged}} {{json .Mounts}}' "
                                  "$(docker ps -q)", "docker run --gpus all ...   # no --privileged needed for GPUs"],
                        manual=True))
