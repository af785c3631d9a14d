"""--multi-node across real network namespaces: each test host is its own network stack (a namespace with an
eth0 on a test bridge) running its own sshd, so the rendezvous, the all-reduce and the DDP step go between
separate stacks over a real link, as between machines, over gloo on the CPU."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest
from click.testing import CliRunner

from envdoctor.cli import main
from tests.support.testhost import SSHD, TestHost, fleet_files, keygen, netns_available

BUDGET_S = 30.0  # the fault cases' --time-budget: the live hosts must reach the rendezvous in it, on a busy machine


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    why = netns_available()
    if why or not os.path.exists(SSHD):
        pytest.skip(why or "needs openssh-server")
    base = tmp_path_factory.mktemp("mnode-netns")
    key = keygen(base / "id_ed25519")
    hosts = [TestHost(base / f"n{i}", alias=f"nsnode{i}", client_key=key, netns=f"n{i}") for i in range(3)]
    try:
        for h in hosts:
            h.start()
        cfg, kh = fleet_files(hosts, base / "client")
        yield hosts, cfg, kh
    finally:
        for h in hosts:
            h.stop()


def proof(cfg, kh, *args):
    r = CliRunner().invoke(main, ["proof", "--multi-node", "--device", "cpu", "--allow-cpu", "--python",
                                  sys.executable, "-F", str(cfg), "--known-hosts", str(kh), "--json", *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), r.output  # no crash of envdoctor
    return r.exit_code, json.loads(r.stdout)


def test_hosts_are_separate_network_stacks(fleet):
    hosts, _, _ = fleet
    a, b = hosts[0], hosts[1]
    for h in (a, b):
        addrs = h.run_inside(["ip", "-4", "-o", "addr", "show"]).stdout
        seen = sorted(line.split()[3] for line in addrs.splitlines())
        assert seen == sorted(["127.0.0.1/8", f"{h.addr}/24"]), addrs  # its own address only, not this machine's
        routes = h.run_inside(["ip", "-4", "route", "show"]).stdout.strip().splitlines()
        assert len(routes) == 1 and routes[0].startswith(f"{h.addr.rsplit('.', 1)[0]}.0/24 dev eth0"), routes
    assert a.addr != b.addr
    # From inside a, b's sshd answers over the bridge at b's address; a's own loopback has no sshd on 22.
    probe = ("import socket,sys\nwith socket.create_connection((sys.argv[1], 22), timeout=3) as s:\n"
             "    print(s.recv(8).decode())")
    assert a.run_inside([sys.executable, "-c", probe, b.addr]).stdout.startswith("SSH-")
    assert a.run_inside([sys.executable, "-c", probe, "127.0.0.1"]).returncode != 0


def test_two_namespaces_join_measure_allreduce_and_train_ddp(fleet):
    hosts, cfg, kh = fleet
    # The hosts' name resolves to this machine's address, which is not inside a namespace: gloo is told the
    # interface, as a user does on hosts whose name does not resolve to the address between them.
    code, doc = proof(cfg, kh, "nsnode0", "nsnode1", "--iface", "eth0", "--time-budget", "300",
                      "--master-port", "29511")
    job = doc["fleet"]["multi_node"]
    assert job["master"] == f"{hosts[0].addr}:29511"  # the first target's address as the client reaches it
    assert job["joined"] == ["nsnode0", "nsnode1"] and job["not_joined"] == [] and job["world_size"] == 2
    assert job["allreduce"]["busbw_gbs"] > 0 and job["allreduce"]["world"] == 2
    assert job["img_s_total"] and job["img_s_total"] > 0 and "all-reduce bus bandwidth" in job["summary"]
    workers = [h["proof"]["result"]["workers"][0] for h in doc["hosts"]]
    assert sorted(w["global_rank"] for w in workers) == [0, 1]
    assert all(w["backend"] == "gloo" for w in workers)
    steps = {w["phases"]["timed"]["steps"] for w in workers}
    assert len(steps) == 1 and steps.pop() > 0  # DDP across the link: the same agreed step count on both
    for h in doc["hosts"]:
        assert h["proof"]["result"]["device"] == "cpu"
        assert "no GPU was used" in h["proof"]["summary"], h["proof"]["summary"]
        assert h["status"] == "warn"  # --allow-cpu: a warning, not a failure
    assert code == 0, job


def test_a_namespace_whose_sshd_is_down_is_named_within_budget(fleet):
    hosts, cfg, kh = fleet
    down = hosts[2]
    down.stop_sshd()  # the namespace keeps its address: connections to it are refused
    t0 = time.monotonic()
    code, doc = proof(cfg, kh, "nsnode0", "nsnode1", "nsnode2", "--iface", "eth0",
                      "--time-budget", f"{BUDGET_S:g}", "--master-port", "29512", "--connect-timeout", "3")
    took = time.monotonic() - t0
    job = doc["fleet"]["multi_node"]
    assert code == 1 and job["status"] == "fail"
    assert [m["host"] for m in job["not_joined"]] == ["nsnode2"]
    assert "nsnode2" in job["summary"] and "could not join" in job["summary"]
    hosts_doc = {h["host"]: h for h in doc["hosts"]}
    assert hosts_doc["nsnode2"]["status"] == "unreachable"
    assert took < BUDGET_S + 20, took  # the others gave up at their budget, not at a transport timeout


def test_without_the_interface_the_group_does_not_form_and_says_so(fleet):
    # Between separate stacks the hosts' name resolves to an address none of the namespaces has, so gloo
    # falls back to loopback: every host reaches the rendezvous and the group still cannot form.
    hosts, cfg, kh = fleet
    t0 = time.monotonic()
    code, doc = proof(cfg, kh, "nsnode0", "nsnode1", "--time-budget", f"{BUDGET_S:g}", "--master-port", "29513")
    took = time.monotonic() - t0
    job = doc["fleet"]["multi_node"]
    assert code == 1 and job["status"] == "fail" and job["joined"] == []
    assert [m["host"] for m in job["not_joined"]] == ["nsnode0", "nsnode1"]
    assert all("--iface" in m["reason"] for m in job["not_joined"]), job["not_joined"]
    for h in doc["hosts"]:  # each host's own line says the job did not form, before its run's verdict
        assert h["proof"]["status"] == "fail"
        assert h["proof"]["summary"].startswith("reached the rendezvous"), h["proof"]["summary"]
    assert took < BUDGET_S + 20, took
