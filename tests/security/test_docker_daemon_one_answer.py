"""One answer to "does a docker daemon run here" (envdoctor/diagnosis/docker_daemon.py) drives docker_gpu_runtime,
security_docker_tcp and security_docker_containers: read in the report `check --from` prints, they never
contradict each other (issue 20: `security_docker_tcp ✓ "dockerd listens on its unix socket only"` next to
"no docker daemon runs here"). Probe sections constructed in the shapes this machine's probe records."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.diagnosis.bundle import Bundle, Section
from envdoctor.diagnosis.docker_daemon import docker_daemon
from envdoctor.diagnosis.host_facts import facts_from_bundle
from tests.checks.support import run
from tests.corpus import constructed_body

NO_DAEMON = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
CLIENT_ONLY = "Client:\n Version:    28.2.2\n Context:    default\n Debug Mode: false\n\nServer:\n"
DOCKERD_UNIX = ('[{"pid": 812, "uid": 0, "kind": "dockerd", "argv": ["/usr/bin/dockerd", "-H", "fd://"], '
                '"socket_inodes": ["31338"]}]')
CHECKS = ("docker_gpu_runtime", "security_docker_tcp", "security_docker_containers")


def s(stdout: str = "", rc: int = 0, stderr: str = "", error: str | None = None) -> Section:
    return Section(cmd="", rc=None if error else rc, stdout=stdout, stderr=stderr, error=error)


def sections(daemon: bool, daemon_json: str | None = None) -> dict[str, Section]:
    """A docker client installed; dockerd running on its unix socket, or no daemon at all (as on this machine)."""
    out = {"tools": s("docker\t/usr/bin/docker\n"), "sec_listening": s("# /proc/net/tcp\n# /proc/net/tcp6\n"),
           "docker_daemon_json": s(daemon_json) if daemon_json else s(error="not-found")}
    if daemon:
        out |= {"sec_daemons": s(DOCKERD_UNIX), "sec_containers": s("[]\n")}
    else:
        out |= {"sec_daemons": s("[]\n"), "docker_info": s(CLIENT_ONLY, 1, NO_DAEMON),
                "sec_containers": s("", 1, NO_DAEMON)}
    return out


def report_lines(tmp_path, secs: dict[str, Section]) -> dict[str, str]:
    Bundle(sections=secs).save(tmp_path / "b")
    r = CliRunner().invoke(main, ["check", "--from", str(tmp_path / "b"), "-v"])
    assert "Traceback" not in r.output, r.output
    lines = {}
    for ln in r.output.splitlines():
        for cid in CHECKS:
            if ln.rstrip().endswith(f"({cid})"):
                lines[cid] = ln.strip()
    assert set(lines) == set(CHECKS), r.output
    return lines


def test_without_a_daemon_the_three_checks_say_so_and_none_passes(tmp_path):
    lines = report_lines(tmp_path, sections(daemon=False))
    for cid, ln in lines.items():
        assert "no docker daemon runs here (the docker 28.2.2 client cannot connect to one)" in ln, ln
        assert not ln.startswith("[✓]"), ln
    assert "listens on its unix socket" not in "\n".join(lines.values())
    assert lines["security_docker_tcp"].startswith("[-]") and lines["security_docker_containers"].startswith("[-]")


def test_with_a_daemon_the_listening_claim_is_made(tmp_path):
    lines = report_lines(tmp_path, sections(daemon=True))
    assert lines["security_docker_tcp"].startswith("[✓]") and "dockerd listens on its unix socket only" in \
        lines["security_docker_tcp"]
    assert lines["security_docker_containers"].startswith("[✓]")
    assert not any("no docker daemon" in ln for ln in lines.values()), lines


def test_a_tcp_host_configured_while_no_daemon_runs_is_named_as_what_happens_when_it_starts(tmp_path):
    secs = sections(daemon=False, daemon_json=constructed_body("security/daemon-json-tcp-2375.json"))
    ln = report_lines(tmp_path, secs)["security_docker_tcp"]
    assert ln.startswith("[!]") and "no docker daemon runs here" in ln and "when it starts: tcp://0.0.0.0:2375" in ln


# Every mix of what the probe may have seen: whenever the one answer is "no daemon", none of the three passes,
# and each check that speaks of it uses the same words.
MIXES = list(itertools.product(
    ("[]\n", DOCKERD_UNIX, None),  # the process list: no dockerd, dockerd, not read
    (s(CLIENT_ONLY, 1, NO_DAEMON), s("", 1, "permission denied while trying to connect to the Docker daemon "
                                         "socket at unix:///var/run/docker.sock\n"), s(error="not-found"), None),
    (s("", 1, NO_DAEMON), s("[]\n"), None),  # docker ps
))


@pytest.mark.parametrize("daemons, info, ps", MIXES)
def test_one_answer_for_every_mix(daemons, info, ps):
    secs = {"sec_listening": s("# /proc/net/tcp\n"), "docker_daemon_json": s(error="not-found")}
    for name, v in (("sec_daemons", s(daemons) if daemons else None), ("docker_info", info), ("sec_containers", ps)):
        if v is not None:
            secs[name] = v
    f = facts_from_bundle(Bundle(sections=secs))
    daemon = docker_daemon(f)
    results = {cid: run(cid, f) for cid in CHECKS}
    if daemon.runs is False:
        assert all(r.status.value != "pass" for r in results.values()), results
        assert daemon.says in results["security_docker_tcp"].summary
        assert daemon.says in results["security_docker_containers"].summary
    if daemon.runs is not True:
        assert results["security_docker_tcp"].summary != "dockerd listens on its unix socket only"
