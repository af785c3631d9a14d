"""The fix/play use cases (envdoctor/app/fix.py): typed results per host, the exit code read from
them, and the CLI showing exactly what they hold. Playbooks run in check mode on this machine, or
against a port nothing listens on: nothing on the machine is changed."""

from __future__ import annotations

import json

from click.testing import CliRunner

from envdoctor.app.fix import FixRun, HostFix, exit_code_of, run_play
from envdoctor.app.reach import Reach
from envdoctor.cli import main as cli
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.fixes.executor import HostRecap
from envdoctor.fixes.playbook import load_playbook
from envdoctor.fixes.session import OpenHost
from envdoctor.hosts.targets import LOCAL, Target
from envdoctor.models import HostReport


def _playbook(tmp_path, tasks: str):
    path = tmp_path / "p.yml"
    path.write_text("- name: constructed\n  hosts: all\n  gather_facts: false\n  tasks:\n" + tasks)
    return path


GUARDED = """    - name: already done
      command:
        cmd: "exit 7"
        creates: /
"""

REFUSED = """    - name: refuse
      fail:
        msg: "constructed refusal"
"""


def test_play_returns_one_typed_recap_per_host(tmp_path):
    pb = load_playbook(str(_playbook(tmp_path, GUARDED + REFUSED)))
    run = run_play(pb, Reach([LOCAL], quiet=True), load_catalog(), check=True)
    (recap,) = run.recaps
    assert isinstance(recap, HostRecap) and recap.host == LOCAL.name
    assert [(t.task, t.status) for t in recap.tasks] == [("already done", "skipped"), ("refuse", "failed")]
    assert run.exit_code == 1 and run.to_json()["hosts"][0]["failed"] == 1


def test_play_cli_shows_what_the_use_case_returns(tmp_path):
    path = _playbook(tmp_path, GUARDED)
    text = CliRunner().invoke(cli, ["play", str(path), "--check"])
    assert text.exit_code == 0, text.output
    assert "skipped   already done: / exists" in text.output
    assert "PLAY RECAP (check mode: nothing was changed)" in text.output
    doc = json.loads(CliRunner().invoke(cli, ["play", str(path), "--check", "--json"]).output)
    assert doc["mode"] == "check" and doc["hosts"][0]["skipped"] == 1


def test_a_host_whose_worker_breaks_is_a_typed_result_too():
    # A bug of ours for one host: the runner's report of it becomes this use case's result type.
    def work(target):
        raise RuntimeError("constructed")

    def lost(target, report: HostReport) -> HostRecap:
        return HostRecap(target.name, unreachable=1, error=report.error)

    result = Reach([Target(name="a", hostname="a"), LOCAL], quiet=True).fan_out(
        [Target(name="a", hostname="a"), LOCAL], work, lost)
    assert [type(r) for r in result.reports] == [HostRecap, HostRecap]
    assert result.reports[0].error == "envdoctor error: RuntimeError: constructed"
    assert exit_code_of(result.reports) == 3


def test_fix_exit_code_from_its_result():
    def host(**kw) -> HostFix:
        hf = HostFix(OpenHost(Target(name="h", hostname="h")))
        for k, v in kw.items():
            setattr(hf, k, v)
        return hf

    assert FixRun([host()], check=True, applied=False).exit_code == 0
    planned = HostRecap("h", ok=1, changed=1)
    assert FixRun([host(playbooks=["shm.yml"], plan=planned)], check=False, applied=False).exit_code == 1
    assert FixRun([host(playbooks=["shm.yml"], plan=planned)], check=True, applied=False).exit_code == 0
    assert FixRun([host(plan=HostRecap("h", failed=1))], check=True, applied=False).exit_code == 1
    assert FixRun([host(plan=HostRecap("h", unreachable=1))], check=True, applied=False).exit_code == 3
    applied = host(playbooks=["shm.yml"], plan=planned, apply=HostRecap("h", ok=1, changed=1), verify={"shm": "fail"})
    assert FixRun([applied], check=False, applied=True).exit_code == 1
    applied.verify = {"shm": "pass"}
    assert FixRun([applied], check=False, applied=True).exit_code == 0


def test_fix_cli_on_a_host_that_refuses_the_connection():
    res = CliRunner().invoke(cli, ["fix", "127.0.0.1:1", "--check", "--connect-timeout", "1"])
    assert res.exit_code == 3, res.output
    assert "HOST [127.0.0.1:1] plan: no playbook needed" in res.output
    assert "127.0.0.1:1 : ok=0 changed=0 unreachable=1 failed=0 skipped=0 ignored=0" in res.output
    assert "Traceback" not in res.output
