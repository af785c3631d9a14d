"""The proof-run as a playbook task (the last step of onboard-node.yml), run for real over SSH on an
isolated test host, on its CPU (no GPU here): an assertion that reports ok or failed, never changed."""

import sys

import pytest

from tests.fixes.conftest import can_run_hosts

pytestmark = pytest.mark.skipif(not can_run_hosts(), reason="needs root, openssh-server and /usr/bin/python3")
torch = pytest.importorskip("torch")

PLAY = """\
- name: prove
  hosts: all
  tasks:
    - name: ResNet proof-run
      proof:
        python: {python}
        device: cpu
        arch: resnet18
        image_size: 32
        batch_size: 32
        time_budget: 40
        allow_cpu: {allow_cpu}
"""


def write_play(tmp_path, allow_cpu: bool):
    p = tmp_path / f"proof-{allow_cpu}.yml"
    p.write_text(PLAY.format(python=sys.executable, allow_cpu="true" if allow_cpu else "false"))
    return str(p)


def test_proof_task_is_ok_not_changed_and_not_run_in_check_mode(host, tmp_path):
    play = write_play(tmp_path, allow_cpu=True)
    rc, plan, r = host.play(play, "--check")
    assert rc == 0 and plan["skipped"] == 1 and plan["changed"] == 0, r.stdout
    rc, done, r = host.play(play)
    assert rc == 0, r.stdout + r.stderr
    assert done["ok"] == 1 and done["changed"] == 0 and done["failed"] == 0, r.stdout
    assert "proof-run" in r.stdout


def test_proof_task_fails_when_no_gpu_was_used(host, tmp_path):
    rc, done, r = host.play(write_play(tmp_path, allow_cpu=False))
    assert rc == 1 and done["failed"] == 1, r.stdout
    assert "no GPU" in r.stdout
