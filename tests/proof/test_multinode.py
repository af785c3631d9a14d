"""--multi-node: one torch.distributed job (gloo on the CPU) across real sshd test hosts on loopback. These test
hosts share this machine's network namespace, so the rendezvous runs over 127.0.0.1; the hosts are still
separate SSH targets with their own script runs. test_multinode_netns.py runs the job across hosts with
network stacks of their own."""

from __future__ import annotations

import json
import os
import sys

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from envdoctor.hosts.targets import Target
from envdoctor.models import NotJoined, Proof, Status
from envdoctor.proof.stage import multinode_summary
from tests.support.testhost import SSHD, TestHost, fleet_files, free_port, keygen


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory):
    if os.geteuid() != 0 or not os.path.exists(SSHD):
        pytest.skip("needs root and openssh-server")
    base = tmp_path_factory.mktemp("mnode")
    key = keygen(base / "id_ed25519")
    hosts = [TestHost(base / f"n{i}", alias=f"node{i}", client_key=key) for i in range(2)]
    for h in hosts:
        h.start()
    cfg, kh = fleet_files(hosts, base / "client")
    yield cfg, kh
    for h in hosts:
        h.stop()


def proof(*args):
    r = CliRunner().invoke(main, ["proof", "--multi-node", "--device", "cpu", "--allow-cpu", "--python",
                                  sys.executable, "--json", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output  # no crash of envdoctor
    return r.exit_code, json.loads(r.stdout)


def test_two_nodes_join_measure_allreduce_and_train_ddp(two_hosts):
    cfg, kh = two_hosts
    code, doc = proof("node0", "node1", "-F", str(cfg), "--known-hosts", str(kh), "--master-port",
                      str(free_port()), "--time-budget", "300")
    job = doc["fleet"]["multi_node"]
    assert job["joined"] == ["node0", "node1"] and job["not_joined"] == [] and job["world_size"] == 2
    assert job["allreduce"]["busbw_gbs"] > 0 and job["allreduce"]["world"] == 2
    ranks = sorted(h["proof"]["result"]["workers"][0]["global_rank"] for h in doc["hosts"])
    assert ranks == [0, 1]
    steps = {h["proof"]["result"]["workers"][0]["phases"]["timed"]["steps"] for h in doc["hosts"]}
    assert len(steps) == 1  # DDP across hosts: the same agreed step count everywhere
    assert all(h["proof"]["result"]["workers"][0]["backend"] == "gloo" for h in doc["hosts"])
    assert code == 0, job


def test_a_host_that_cannot_join_is_named(two_hosts):
    cfg, kh = two_hosts
    dead = f"root@127.0.0.1:{free_port()}"
    code, doc = proof("node0", dead, "-F", str(cfg), "--known-hosts", str(kh), "--master-port", str(free_port()),
                      "--time-budget", "30")  # the live host must reach the rendezvous in it, on a busy machine
    job = doc["fleet"]["multi_node"]
    assert code == 1 and job["status"] == "fail"
    assert [m["host"] for m in job["not_joined"]] == [dead]
    assert dead in job["summary"] and "could not join" in job["summary"]


def test_summary_is_pure_and_names_missing_hosts():
    ts = [Target(name="a", hostname="10.0.0.1"), Target(name="b", hostname="10.0.0.2")]
    proofs = [Proof(status=Status.FAIL, summary="timed out waiting"),
              Proof(status=Status.ERROR, summary="unreachable: refused")]
    s = multinode_summary(ts, proofs, {"a": True, "b": False}, "10.0.0.1:29500")
    assert s.not_joined == [NotJoined(host="b", reason="unreachable: refused")]
    assert s.status == Status.FAIL and "1 of 2 hosts could not join" in s.summary


def test_multi_node_usage_errors():
    r = CliRunner().invoke(main, ["proof", "--multi-node", "a", "b"])
    assert r.exit_code == 2 and "--gpus-per-node" in r.output
