"""The proof script's process group for real on this machine's CPU (gloo): nodes with different process counts
get the right ranks and world size, all ranks agree on one batch size, and one rank's failure ends the group
at once with that rank's error. Two script runs on loopback stand for two nodes."""

from __future__ import annotations

import threading

from envdoctor.hosts.targets import LOCAL
from envdoctor.proof.stage import run_proof
from tests.support.testhost import free_port

# Never binding here (the runs end when their steps are done): nothing below depends on the machine's speed.
BUDGET = 300


def test_nodes_with_different_process_counts_get_one_world():
    port = free_port()
    proofs = [None, None]

    def node(i: int, procs: int) -> None:
        proofs[i] = run_proof(LOCAL, None, device="cpu", ddp=True, time_budget=BUDGET, image_size=32, steps=3,
                              warmup=1, batch_size=8 if i == 0 else 16,  # different wishes: one agreed batch
                              extra_args=["--procs", str(procs), "--nnodes", "2", "--node-rank", str(i),
                                          "--master-addr", "127.0.0.1", "--master-port", str(port)])

    threads = [threading.Thread(target=node, args=(0, 2)), threading.Thread(target=node, args=(1, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    workers = []
    for p in proofs:
        assert p.result is not None and p.result["error"] is None, p.summary
        assert not [w["error"] for w in p.result["workers"] if w.get("error")], p.result["workers"]
        assert p.result["world_size"] == 3
        workers += p.result["workers"]
    assert sorted(w["global_rank"] for w in workers) == [0, 1, 2]
    assert {w["world_size"] for w in workers} == {3}
    assert all(w["node_sizes"] == [2, 1] for w in workers)
    assert {w["batch_size"] for w in workers} == {8}  # the smallest any rank could take
    assert len({w["phases"]["timed"]["steps"] for w in workers}) == 1


def test_one_rank_failing_ends_the_group_with_its_error():
    proof = run_proof(LOCAL, None, device="cpu", ddp=True, time_budget=BUDGET, image_size=32, steps=50, warmup=1,
                      batch_size=8, extra_args=["--procs", "2", "--inject-failure", "1"])
    r = proof.result
    assert r is not None and r["error"] is None, proof.summary
    # Ended by the failure, not by the budget: rank 0 was stopped while it waited in a collective.
    assert r["timed_out"] is False and r["failed_rank"] == 1
    w0, w1 = r["workers"]
    assert "simulated by --inject-failure 1" in w1["error"] and "out of memory" in w1["error"]
    assert w0["stopped"] and w0["error"].startswith("stopped when process 1 failed")
    assert w0["phases"]["warmup"]["steps"] == 1  # its partial result (up to the warm-up) was kept
    ran = next(c for c in proof.verdict.host_checks if c.id == "proof_ran")
    assert ran.status == "fail" and ran.summary.startswith("process 1 (device 1) failed: RuntimeError: CUDA out")
    assert proof.summary.startswith("process 1 (device 1) failed")  # the headline names the failure
