"""The runner's progress without a terminal, as a log or CI job reads it: one plain line per phase on
stderr (never one per host), nothing with --json; the report on stdout is the same either way."""

from __future__ import annotations

import io
import json

from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.hosts.runner import run_hosts
from envdoctor.hosts.targets import Target
from envdoctor.models import HostReport, HostStatus
from tests.support.testhost import free_port


def _targets(n):
    return [Target(name=f"h{i}", hostname=f"h{i}") for i in range(n)]


def _ok(t):
    return HostReport(host=t.name, status=HostStatus.PASS)


def test_a_phase_is_one_plain_line_however_many_hosts():
    log = io.StringIO()  # not a terminal
    run_hosts(_targets(40), _ok, forks=8, stream=log, what="applying")
    run_hosts(_targets(40), _ok, forks=64, stream=log)
    assert log.getvalue() == ("envdoctor: applying on 40 hosts (8 at once)...\n"
                              "envdoctor: working on 40 hosts (40 at once)...\n")


def test_no_progress_asked_is_nothing():
    log = io.StringIO()
    run_hosts(_targets(5), _ok, stream=log, progress=False)
    assert log.getvalue() == ""


def test_a_fleet_check_says_its_phase_once_and_json_says_nothing(tmp_path):
    # Two hosts on ports where nothing listens: refused at once, so the run is quick and needs no sshd.
    cfg = tmp_path / "ssh_config"
    cfg.write_text("".join(f"Host {n}\n  HostName 127.0.0.1\n  Port {free_port()}\n" for n in ("a", "b")))
    (tmp_path / "known_hosts").write_text("")
    args = ["check", "a", "b", "-F", str(cfg), "--known-hosts", str(tmp_path / "known_hosts"), "--no-proof"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 3, r.output
    (line,) = r.stderr.splitlines()  # one line for the phase, not one per host
    assert line == "envdoctor: gathering facts on 2 hosts (2 at once)...", r.stderr
    assert "a: unreachable" in r.stdout and "b: unreachable" in r.stdout and "envdoctor:" not in r.stdout
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.stderr == ""
    assert [h["status"] for h in json.loads(r.stdout)["hosts"]] == ["unreachable", "unreachable"]
