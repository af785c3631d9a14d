"""Docker exposure checks on probe sections: LISTEN sockets read live from this machine's /proc/net/tcp{,6}
by the probe, and labelled constructed inputs (tests/data/constructed/security/) for daemon.json hosts,
dockerd's command line, the docker group and running containers."""

from __future__ import annotations

import socket

from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.parsers.security import dockerd_hosts, parse_proc_net_tcp
from tests.checks.support import run, sec
from tests.corpus import constructed_body
from tests.support.sent_scripts import sent_probe


def probe():
    return sent_probe("envdoctor_probe_for_test")


def c(name: str) -> str:
    return constructed_body(f"security/{name}")


# constructed: the probe's sec_daemons for a dockerd on its unix socket only (systemd's fd://)
DOCKERD_UNIX = ('[{"pid": 812, "uid": 0, "kind": "dockerd", "argv": ["/usr/bin/dockerd", "-H", "fd://"], '
                '"socket_inodes": ["31338"]}]')


def facts(**sections):
    b = Bundle(sections={k: (v if isinstance(v, Section) else sec(v)) for k, v in sections.items()})
    return facts_from_bundle(b)


def test_listening_sockets_read_live_by_the_probe():
    v4 = socket.socket()
    v4.bind(("127.0.0.1", 0))
    v4.listen(1)
    socks = [v4]
    want = {("127.0.0.1", v4.getsockname()[1])}
    if socket.has_ipv6:
        try:
            v6 = socket.socket(socket.AF_INET6)
            v6.bind(("::1", 0))
            v6.listen(1)
            socks.append(v6)
            want.add(("::1", v6.getsockname()[1]))
        except OSError:
            pass  # no IPv6 loopback here
    try:
        section = probe().sec_listening()
    finally:
        for s in socks:
            s.close()
    seen = {(s.address, s.port): s for s in parse_proc_net_tcp(section["stdout"])}
    assert want <= set(seen)
    assert all(seen[w].loopback and seen[w].inode for w in want)


def test_daemon_json_tcp_host_without_tls_fails():
    f = facts(docker_daemon_json=c("daemon-json-tcp-2375.json"), sec_listening=c("proc-net-tcp-docker-2375.txt"),
              sec_daemons="[]")
    assert f.security.docker.tcp_hosts == ["tcp://0.0.0.0:2375"]
    r = run("security_docker_tcp", f)
    assert r.status.value == "fail" and "0.0.0.0" in r.summary
    assert '/etc/docker/daemon.json "hosts": tcp://0.0.0.0:2375' in r.evidence


def test_tlsverify_passes():
    f = facts(docker_daemon_json=c("daemon-json-tls.json"), sec_listening="# /proc/net/tcp\n", sec_daemons="[]")
    assert run("security_docker_tcp", f).status.value == "pass"


def test_dockerd_loopback_tcp_from_its_command_line_warns_and_its_own_sockets_are_used():
    assert dockerd_hosts(["/usr/bin/dockerd", "-H", "fd://", "--host=tcp://10.0.0.5:2375", "--tlsverify"]) == (
        ["fd://", "tcp://10.0.0.5:2375"], True)
    f = facts(docker_daemon_json=sec(error="not-found"), sec_listening=c("proc-net-tcp-docker-2375.txt"),
              sec_daemons=c("daemons-dockerd.json"))
    d = f.security.docker
    assert d.tcp_hosts == ["tcp://127.0.0.1:2375"] and [s.show() for s in d.tcp_listening] == ["127.0.0.1:2375"]
    r = run("security_docker_tcp", f)
    assert r.status.value == "warn" and "every local user gets root" in r.summary


def test_unix_socket_only_passes_and_no_docker_skips():
    f = facts(docker_daemon_json=sec(error="not-found"), sec_listening="# /proc/net/tcp\n", sec_daemons=DOCKERD_UNIX)
    r = run("security_docker_tcp", f)
    assert r.status.value == "pass" and r.summary == "dockerd listens on its unix socket only"
    # the process list was not read: nothing is claimed about how a daemon listens, only what was seen
    f = facts(docker_daemon_json=sec(error="not-found"), sec_listening="# /proc/net/tcp\n")
    r = run("security_docker_tcp", f)
    assert r.status.value == "pass" and "nothing listens on docker's ports" in r.summary
    f = facts(docker_info=sec(error="not-found"), tools="docker\t\npodman\t\n", sec_listening="# /proc/net/tcp\n")
    assert run("security_docker_tcp", f).status.value == "skip"
    assert run("security_docker_tcp", facts_from_bundle(Bundle())).status.value == "unknown"


def test_docker_group_on_a_shared_machine_warns_with_primary_group_members():
    r = run("security_docker_group", facts(sec_accounts=c("accounts-shared.txt")))
    assert r.status.value == "warn" and "alice, bob, carol" in r.summary
    r = run("security_docker_group", facts(sec_accounts=c("accounts-single.txt")))
    assert r.status.value == "pass" and "alice" in r.summary
    assert run("security_docker_group", facts(sec_accounts="passwd root:0:0:/bin/bash\n")).status.value == "skip"
    assert run("security_docker_group", facts_from_bundle(Bundle())).status.value == "unknown"


def test_privileged_and_socket_mounting_containers_warn():
    f = facts(sec_containers=c("containers-privileged-socket.json"))
    r = run("security_docker_containers", f)
    assert r.status.value == "warn" and "notebook" in r.summary and "ci-runner" in r.summary
    assert "train" not in r.summary
    assert any("--privileged" in e for e in r.evidence)
    assert any("/var/run/docker.sock -> /var/run/docker.sock" in e for e in r.evidence)


def test_containers_unreadable_is_unknown_and_no_daemon_skips():
    denied = sec("", rc=1)
    denied.stderr = ("permission denied while trying to connect to the Docker daemon socket at "
                     "unix:///var/run/docker.sock\n")
    r = run("security_docker_containers", facts(sec_containers=denied, sec_daemons="[]"))
    assert r.status.value == "unknown" and "permission denied" in r.summary
    down = sec("", rc=1)
    down.stderr = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
    assert run("security_docker_containers", facts(sec_containers=down, sec_daemons="[]")).status.value == "skip"
