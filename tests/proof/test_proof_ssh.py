"""`envdoctor proof` over SSH against a real sshd test host on loopback (the script shipped on the SSH
channel's stdin, progress streamed back), next to a target that cannot be reached."""

from __future__ import annotations

import json
import os
import sys

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.hosts.inventory import resolve
from envdoctor.proof.stage import run_proof
from tests.support.testhost import SSHD, TestHost, free_port


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists(SSHD):
        pytest.skip("needs root and openssh-server")
    h = TestHost(tmp_path_factory.mktemp("proofhost"), alias="gpu01")
    h.start()
    yield h
    h.stop()


def test_proof_over_ssh_streams_and_judges(host):
    (target,) = resolve(["gpu01"], ssh_config=host.ssh_config, python=sys.executable)  # the torch env
    events = []
    proof = run_proof(target, None, device="cpu", image_size=32, steps=6, warmup=1, batch_size=8, time_budget=300,
                      on_progress=events.append,
                      known_hosts=host.known_hosts, connect_timeout=10)
    assert proof.status == "fail" and proof.summary.startswith("no GPU was used"), proof.summary
    assert any(e.get("phase") == "timed" for e in events)  # streamed over the SSH channel as it ran
    assert proof.result["workers"][0]["phases"]["timed"]["steps"] == 6


def test_cli_reports_each_host_and_unreachable_exits_1_when_one_fails(host):
    dead = f"root@127.0.0.1:{free_port()}"
    r = CliRunner().invoke(main, ["proof", "gpu01", dead, "--device", "cpu", "--python", sys.executable,
                                  "-F", str(host.ssh_config), "--known-hosts", str(host.known_hosts), "--json",
                                  "--time-budget", "300"])
    doc = json.loads(r.stdout)
    hosts = {h["host"]: h for h in doc["hosts"]}
    assert hosts["gpu01"]["status"] == "fail" and hosts["gpu01"]["proof"]["result"]["device"] == "cpu"
    assert hosts[dead]["status"] == "unreachable" and hosts[dead]["proof"]["status"] == "error"
    assert r.exit_code == 1  # a fail wins over an unreachable host (3)
