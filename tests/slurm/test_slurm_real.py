"""Against a real Slurm the tests start (tests/slurm/cluster.py: munge, slurmctld, three slurmd on this
machine): the health check drains with our reason and sinfo -R shows it, resumes what it drained and
leaves an admin's drain alone; check/proof --slurm merge the results of a real srun step."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.slurm.conftest import SITE_CHECKS

ENVDOCTOR = [sys.executable, "-m", "envdoctor"]
SLOW_OK = ["--time-bound", "150"]  # this test machine may be far busier than a compute node
FAILING = ["--checks-dir", str(SITE_CHECKS), "--only", "site_ram_1pib", "--no-torch", *SLOW_OK]
HEALTHY = ["--checks-dir", str(SITE_CHECKS), "--only", "site_ram_1mib", "--no-torch", *SLOW_OK]


def envdoctor(cluster, *args, timeout=240, **env):
    r = subprocess.run(ENVDOCTOR + list(args), env=dict(cluster.env, **env), capture_output=True, text=True,
                       timeout=timeout)
    return r


def wait_state(cluster, node, pred, limit=30.0):
    end = time.monotonic() + limit
    while True:
        state, reason = cluster.reason(node)
        if pred(state) or time.monotonic() > end:
            return state, reason
        time.sleep(0.3)


def resume(cluster, node):
    cluster.run(["scontrol", "update", f"nodename={node}", "state=resume"])
    wait_state(cluster, node, lambda s: s == "idle")


def test_health_drains_its_node_from_a_real_step_and_resumes_it(slurm_cluster, tmp_path):
    c = slurm_cluster
    prom = tmp_path / "envdoctor.prom"
    try:
        # Inside a job step Slurm itself tells the command its node ($SLURMD_NODENAME), as in a prolog.
        r = c.run(["srun", "-w", "n2", "-N1", "--job-name=health"] + ENVDOCTOR + ["health", "--prometheus", str(prom)]
                  + FAILING, timeout=120)
        assert r.returncode == 1, r.stdout + r.stderr
        assert r.stdout == ""  # HealthCheckProgram's stdout stays empty; the one line goes to stderr
        assert "drain n2" in r.stderr
        state, reason = wait_state(c, "n2", lambda s: s == "drained")
        assert state == "drained"
        assert reason.startswith("envdoctor: site_ram_1pib: ") and "less than 1 PiB" in reason
        assert len(reason) <= 100
        sinfo_r = c.run(["sinfo", "-R", "-h", "-o", "%E|%N"]).stdout
        assert f"{reason}|n2" in sinfo_r.splitlines()
        # ... and the node's metrics for the textfile collector say the same
        assert 'envdoctor_check_status{check="site_ram_1pib",host="n2"} 2.0' in prom.read_text()

        # --check says what it would do and changes nothing.
        r = envdoctor(c, "health", "--node", "n2", "--check", *HEALTHY)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("would resume n2: scontrol update nodename=n2 state=resume")
        assert c.reason("n2") == ("drained", reason)

        # Healthy again: envdoctor returns the node it drained itself.
        r = envdoctor(c, "health", "--node", "n2", *HEALTHY)
        assert r.returncode == 0, r.stderr
        assert r.stdout == ""
        state, reason = wait_state(c, "n2", lambda s: "drain" not in s)
        assert "drain" not in state and reason == "none"
    finally:
        resume(c, "n2")


def test_health_never_touches_an_admins_drain(slurm_cluster):
    c = slurm_cluster
    admin = "bad fan, ticket 4711"
    c.run(["scontrol", "update", "nodename=n3", "state=drain", f"reason={admin}"])
    try:
        assert wait_state(c, "n3", lambda s: s == "drained") == ("drained", admin)
        r = envdoctor(c, "health", "--node", "n3", "--check", *HEALTHY)
        assert r.returncode == 0
        assert "nothing to do on n3" in r.stdout and "drained by someone else" in r.stdout
        for args in (HEALTHY, FAILING):  # neither resumed nor re-labelled
            r = envdoctor(c, "health", "--node", "n3", *args)
            assert r.returncode == (1 if args is FAILING else 0), r.stderr
            assert c.reason("n3") == ("drained", admin)
    finally:
        resume(c, "n3")


ADMIN_DURING_RUN = '''
import os
import subprocess

from envdoctor.diagnosis.catalog import check, fail


@check("site_admin_drains_meanwhile", "Constructed: an admin drains the node while envdoctor runs", order=5)
def site_admin_drains_meanwhile(facts):
    """Constructed: checks run after the probe, so this is an admin's drain placed during the run."""
    subprocess.run(["scontrol", "update", "nodename=" + os.environ["ENVDOCTOR_TEST_NODE"], "state=drain",
                    "reason=" + os.environ["ENVDOCTOR_TEST_REASON"]], check=True, timeout=60)
    return fail("constructed failure found in the same run")
'''


def test_health_keeps_an_admins_drain_placed_during_the_run(slurm_cluster, tmp_path):
    c = slurm_cluster
    (tmp_path / "admin.py").write_text(ADMIN_DURING_RUN)
    admin = "fan replaced, ticket 4712"
    try:
        assert c.reason("n1")[0] == "idle"
        r = envdoctor(c, "health", "--node", "n1", "--checks-dir", str(tmp_path), "--only",
                      "site_admin_drains_meanwhile", "--no-torch", *SLOW_OK,
                      ENVDOCTOR_TEST_NODE="n1", ENVDOCTOR_TEST_REASON=admin)
        assert r.returncode == 1, r.stderr
        assert "drained by someone else" in r.stderr, r.stderr
        assert wait_state(c, "n1", lambda s: s == "drained") == ("drained", admin)
    finally:
        resume(c, "n1")


SITE_WARNS = '''
from envdoctor.diagnosis.catalog import check, warn


@check("site_fan_noisy", "Constructed: a site check that warns", order=900)
def site_fan_noisy(facts):
    """Constructed: a warning of a site's own, so that the test does not depend on what warns here."""
    return warn("fan 3 louder than its neighbours", evidence=["fan3 7200 rpm"])
'''


def test_health_drain_on_warn_is_configurable(slurm_cluster, tmp_path):
    c = slurm_cluster
    (tmp_path / "site.py").write_text(SITE_WARNS)
    only = ["--checks-dir", str(tmp_path), "--only", "site_fan_noisy", "--no-torch", *SLOW_OK]
    r = envdoctor(c, "health", "--node", "n1", "--check", *only)
    assert r.returncode == 0 and r.stdout.startswith("nothing to do on n1: healthy"), r.stdout + r.stderr
    r = envdoctor(c, "health", "--node", "n1", "--check", "--drain-on", "warn", *only)
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith('would drain n1: scontrol update nodename=n1 state=drain '
                               'reason="envdoctor: site_fan_noisy: fan 3 louder'), r.stdout
    assert c.reason("n1")[0] == "idle"


def test_check_slurm_merges_one_real_srun_step(slurm_cluster, tmp_path):
    c = slurm_cluster
    c.run(["scontrol", "update", "nodename=n3", "state=drain", "reason=admin maintenance"])
    try:
        wait_state(c, "n3", lambda s: s == "drained")
        junit, prom = tmp_path / "r.xml", tmp_path / "r.prom"
        r = envdoctor(c, "check", "--slurm", "-p", "gpu", "-w", "n[1-3]", "--no-proof", "--json",
                      "--python", sys.executable, "--junit", str(junit), "--prometheus", str(prom))
        assert r.stderr == ""  # --json: nothing extra
        doc = json.loads(r.stdout)
        hosts = {h["host"]: h for h in doc["hosts"]}
        assert sorted(hosts) == ["n1", "n2", "n3"]
        for n in ("n1", "n2"):
            h = hosts[n]
            assert h["error"] is None, h["error"]
            assert h["status"] in ("pass", "warn", "fail", "unknown")
            assert {x["id"] for x in h["checks"]} >= {"gpu_present", "torch_installed", "shm_size"}
            assert h["headline"]["torch"] and h["gather_secs"] > 0
        assert hosts["n3"]["status"] == "unreachable"
        assert "drained" in hosts["n3"]["error"] and "admin maintenance" in hosts["n3"]["error"]
        assert [row["host"] for row in doc["fleet"]["rows"]] == ["n1", "n2", "n3"]
        assert doc["fleet"]["counts"].get("unreachable") == 1
        assert r.returncode == (1 if any(h["status"] == "fail" for h in hosts.values()) else 3)
        # One job, one step across the two available nodes (slurmctld keeps finished jobs MinJobAge=10 s).
        jobs = c.run(["scontrol", "show", "job", "-o"]).stdout.splitlines()
        ours = [j for j in jobs if "JobName=envdoctor-check" in j]
        assert len(ours) == 1 and "NumNodes=2" in ours[0] and "NodeList=n[1-2]" in ours[0], ours
        assert "testcase" in junit.read_text()
        assert any(ln.startswith("envdoctor_check_status{") and 'host="n1"' in ln for ln in prom.read_text().splitlines())
    finally:
        resume(c, "n3")

    # Text mode: a phase line per srun step on stderr, the fleet table and drift on stdout.
    r = envdoctor(c, "check", "--slurm", "-w", "n[1-2]", "--no-proof", "--python", sys.executable)
    assert "as one srun step" in r.stderr and "2/2 node(s) answered" in r.stderr
    assert "Fleet summary (2 hosts" in r.stdout and "Drift:" in r.stdout


def test_check_slurm_unknown_node_is_one_line(slurm_cluster):
    r = envdoctor(slurm_cluster, "check", "--slurm", "-w", "n[1-2],nope9", "--no-proof")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("envdoctor: error:")
    assert "Traceback" not in r.stderr


def test_proof_slurm_one_task_per_node(slurm_cluster):
    r = envdoctor(slurm_cluster, "proof", "--slurm", "-w", "n[1-2]", "--device", "cpu", "--allow-cpu",
                  "--time-budget", "30", "--python", sys.executable, "--json", timeout=300)
    doc = json.loads(r.stdout)
    assert [h["host"] for h in doc["hosts"]] == ["n1", "n2"]
    for h in doc["hosts"]:
        p = h["proof"]
        assert p["result"], p.get("summary")  # each node's own result document, from its own task
        assert p["result"]["device"] == "cpu" and p["result"]["proof_version"] and p["result"]["workers"]
        judged = {c["id"]: c for c in p["verdict"]["host_checks"]}
        # Judged by the proof's verdict like any host (whether a CPU run on this busy machine finishes its
        # steps within the budget is the verdict's business, not this test's).
        assert judged["proof_ran"]["status"] in ("pass", "warn", "unknown", "fail")  # unknown/warn: cut by the budget
        assert judged["proof_device"]["status"] == "warn" and "allowed by --allow-cpu" in judged["proof_device"]["summary"]


def test_proof_slurm_multi_node_is_one_job_across_the_nodes(slurm_cluster):
    r = envdoctor(slurm_cluster, "proof", "--slurm", "--multi-node", "-w", "n[1-2]", "--device", "cpu",
                  "--gpus-per-node", "1", "--allow-cpu", "--time-budget", "30", "--master-port", "29631",
                  "--python", sys.executable, "--json", timeout=300)
    doc = json.loads(r.stdout)
    job = doc["fleet"]["multi_node"]
    # Both tasks of the one step joined one torch.distributed group, node ranks from their node names.
    assert job["not_joined"] == [], job
    assert sorted(job["joined"]) == ["n1", "n2"] and job["world_size"] == 2
    assert job["master"] == "127.0.0.1:29631"  # the first node's Slurm NodeAddr
    ranks = sorted(h["proof"]["result"]["node_rank"] for h in doc["hosts"])
    assert ranks == [0, 1]


def test_slurmd_runs_it_as_its_health_check_program(tmp_path):
    """slurmd itself runs `envdoctor health` (HealthCheckProgram, every 5 s): the node drains, comes back
    once healthy, and an admin's drain survives the runs that follow."""
    from tests.slurm.cluster import SlurmCluster, missing_binaries

    if missing_binaries():
        pytest.skip("Slurm not installed")
    root = Path(__file__).resolve().parents[2]
    which, log = tmp_path / "which", tmp_path / "runs.log"
    which.write_text("site_ram_1pib")
    script = tmp_path / "health.sh"
    # slurmd gives its health check a bare environment: the script says where the config and envdoctor are.
    script.write_text(f"#!/bin/sh\necho run >> {log}\nexec env SLURM_CONF={tmp_path}/c/slurm.conf PYTHONPATH={root} "
                      f"{sys.executable} -m envdoctor health --no-torch --checks-dir {SITE_CHECKS} --only $(cat {which}) "
                      f"2>> {tmp_path}/health.err\n")
    script.chmod(0o755)
    runs = lambda: len(log.read_text().splitlines()) if log.exists() else 0  # noqa: E731
    with SlurmCluster(tmp_path / "c", nodes=1, extra_conf=[f"HealthCheckProgram={script}", "HealthCheckInterval=5",
                                                           "HealthCheckNodeState=ANY"]) as c:
        state, reason = wait_state(c, "n1", lambda s: s == "drained", limit=120)
        assert state == "drained" and reason.startswith("envdoctor: site_ram_1pib: "), (state, reason, c.logs())
        which.write_text("site_ram_1mib")
        state, reason = wait_state(c, "n1", lambda s: "drain" not in s, limit=120)
        assert "drain" not in state and reason == "none", (state, reason)
        c.run(["scontrol", "update", "nodename=n1", "state=drain", "reason=admin: reseat GPU 3"])
        seen = runs()
        end = time.monotonic() + 120
        # slurmd runs its health check one run after another: once a third has started, two have ended
        while runs() < seen + 3 and time.monotonic() < end:
            time.sleep(0.5)
        assert runs() >= seen + 3
        assert c.reason("n1") == ("drained", "admin: reseat GPU 3")
