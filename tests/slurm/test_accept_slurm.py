"""`envdoctor accept --slurm` against the real Slurm the tests start (tests/slurm/cluster.py): the GPU counters,
the acceptance script and the counters again, each one srun step with a task per node; every node reported, each
with its own figures (on the CPU: every one unknown with its reason), and the fleet's section across them."""

import json
import sys

from tests.slurm.test_slurm_real import envdoctor, resume, wait_state

QUICK_CPU = ["--device", "cpu", "--quick", "--time-budget", "20", "--python", sys.executable]


def test_accept_slurm_one_task_per_node_and_a_fleet(slurm_cluster, tmp_path):
    c = slurm_cluster
    c.run(["scontrol", "update", "nodename=n3", "state=drain", "reason=admin maintenance"])
    try:
        wait_state(c, "n3", lambda s: s == "drained")
        prom = tmp_path / "r.prom"
        r = envdoctor(c, "accept", "--slurm", "-p", "gpu", "-w", "n[1-3]", *QUICK_CPU, "--json",
                      "--prometheus", str(prom), timeout=400)
        assert r.stderr == "", r.stderr  # --json: nothing but the document
        doc = json.loads(r.stdout)
        hosts = {h["host"]: h for h in doc["hosts"]}
        assert [h["host"] for h in doc["hosts"]] == ["n1", "n2", "n3"]
        for n in ("n1", "n2"):
            a = hosts[n]["accept"]
            assert hosts[n]["error"] is None and a["error"] is None, (a["error"], hosts[n]["checks"])
            assert a["device"] == "cpu" and a["figures"]
            assert {f["status"] for f in a["figures"]} == {"unknown"}
            for f in a["figures"]:
                assert "not judged" in f["summary"] or "not measured (" in f["summary"], f["summary"]
            assert "does not apply: the run was on the CPU" in {x["id"]: x for x in hosts[n]["checks"]}[
                "accept_counters"]["summary"]
        assert hosts["n3"]["status"] == "unreachable" and "admin maintenance" in hosts["n3"]["error"]
        assert doc["fleet"]["compared"] == 2 and doc["fleet"]["grey_failures"] == []
        assert r.returncode == 3  # a node could not be reached; nothing failed
        # The readings were srun steps of one name, each across the two available nodes.
        jobs = [j for j in c.run(["scontrol", "show", "job", "-o"]).stdout.splitlines() if "JobName=envdoctor-accept" in j]
        assert jobs and all("NumNodes=2" in j and "NodeList=n[1-2]" in j for j in jobs), jobs
        assert any(ln.startswith("envdoctor_") and 'host="n1"' in ln for ln in prom.read_text().splitlines())
    finally:
        resume(c, "n3")

    # Text: a line per srun step on stderr; each node's figures, and the fleet's line, on stdout.
    r = envdoctor(c, "accept", "--slurm", "-w", "n[1-2]", *QUICK_CPU, timeout=400)
    assert r.returncode == 3, r.stdout + r.stderr  # every figure unknown: a run that judged nothing
    assert "the acceptance script (--device cpu" in r.stderr and "2/2 node(s) answered" in r.stderr
    for n in ("n1", "n2"):
        assert n in r.stdout
    assert "Every figure is unknown" in r.stdout and "no CPU bar" in r.stdout
    assert "Fleet: 2 hosts compared" in r.stdout


def test_accept_slurm_unknown_node_is_one_line(slurm_cluster):
    r = envdoctor(slurm_cluster, "accept", "--slurm", "-w", "n[1-2],nope9", "--device", "cpu")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("envdoctor: error:") and "nope9" in r.stderr
    assert "Traceback" not in r.stderr
