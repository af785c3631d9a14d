"""The pure parts of the Slurm mode: reading sinfo, the drain reason, what the health check decides,
and the frames a srun step's tasks print."""

import base64
import json
import zlib

import pytest

from envdoctor.models import CheckResult, Status
from envdoctor.slurm import nodes as slurm
from tests.corpus import constructed_body


def nodes():
    return {n.name: n for n in slurm.parse_sinfo_nodes(constructed_body("slurm/sinfo-nodes.txt"))}


def problem(id="gpu_present", summary="this machine has no NVIDIA GPU", status="fail"):
    return CheckResult(id=id, title="t", status=status, summary=summary)


def test_sinfo_states_and_reasons():
    n = nodes()
    assert list(n) == ["n1", "n2", "n3", "n4", "n5", "n6", "n7"]
    assert n["n1"].reason is None and n["n1"].available and not n["n1"].drained
    assert n["n2"].drained_by_us and not n["n2"].available
    assert n["n3"].drained and not n["n3"].drained_by_us
    assert not n["n4"].available and not n["n6"].available  # down, and not responding
    assert n["n5"].available
    assert n["n7"].reason == "reason with | a bar in it"


def test_unexpected_sinfo_line_is_an_error():
    with pytest.raises(slurm.SlurmError):
        slurm.parse_sinfo_nodes("garbage\n")


def test_reason_is_short_one_line_and_counts_the_rest():
    r = slurm.drain_reason([problem(summary="a\nvery " + "long " * 40), problem("x"), problem("y")])
    assert r.startswith("envdoctor: gpu_present: a very long") and r.endswith("... (+2 more)")
    assert len(r) <= slurm.REASON_MAX and "\n" not in r
    assert slurm.drain_reason([problem()]) == "envdoctor: gpu_present: this machine has no NVIDIA GPU"


def test_health_decisions():
    n = nodes()
    assert slurm.plan_health(n["n1"], [problem()]).kind == "drain"
    assert slurm.plan_health(n["n1"], []).kind == "none"
    # ours, still failing with the same reason: nothing; healthy: resume
    assert slurm.plan_health(n["n2"], [problem()]).kind == "none"
    assert slurm.plan_health(n["n2"], [problem("other", "else")]).kind == "drain"  # our reason, updated
    assert slurm.plan_health(n["n2"], []).kind == "resume"
    # an admin's drain: never resumed, never relabelled
    for probs in ([], [problem()]):
        a = slurm.plan_health(n["n3"], probs)
        assert a.kind == "none" and "someone else" in a.why
    assert "state=drain reason=\"envdoctor: gpu_present:" in slurm.plan_health(n["n1"], [problem()]).describe()
    assert slurm.drain_statuses("fail") == {Status.FAIL}
    assert Status.WARN in slurm.drain_statuses("warn")


def _frames(node, doc, chunk=10):
    blob = base64.b64encode(zlib.compress(json.dumps(doc).encode())).decode()
    parts = [blob[i:i + chunk] for i in range(0, len(blob), chunk)]
    return [f"@envdoctor-frame {node} {i + 1}/{len(parts)} {p}" for i, p in enumerate(parts)]


def test_frames_survive_interleaving_and_incomplete_tasks_are_left_out():
    a = _frames("n1", {"rc": 0, "stdout": "x" * 500, "stderr": "", "secs": 1.0, "timed_out": False})
    b = _frames("n2", {"rc": 1, "stdout": "", "stderr": "boom", "secs": 2.0, "timed_out": False})
    c = _frames("n3", {"rc": 0, "stdout": "lost", "stderr": "", "secs": 1.0, "timed_out": False})[:-1]
    mixed = [x for pair in zip(a, b) for x in pair] + a[len(b):] + b[len(a):] + c + ["srun: some message"]
    got = slurm.parse_frames("\n".join(reversed(mixed)))
    assert set(got) == {"n1", "n2"}
    assert got["n1"]["stdout"] == "x" * 500 and got["n2"]["stderr"] == "boom"


def test_srun_argv_is_one_task_per_node_with_stdin_to_all():
    argv = slurm.srun_argv(["n1", "n2"], "python3", ["--no-torch"], 100, partition="gpu")
    assert argv[:6] == ["srun", "--nodelist=n1,n2", "--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--input=all"]
    assert "--partition=gpu" in argv and "--time=3" in argv
    assert argv[-5:] == ["python3", "-c", slurm.TASK_SOURCE, "100", "--no-torch"]


def _facts(pci, module=False):
    from envdoctor.facts import HostFacts
    from envdoctor.facts.gpu import PciGpu

    f = HostFacts()
    f.gpu.pci_gpus = None if pci is None else [PciGpu(slot="0000:17:00.0", device_id="2330")] * pci
    f.gpu.kernel_module_loaded = module
    return f


def test_gpu_checks_do_not_drain_a_cpu_node_unless_required():
    found = [problem(), problem("torch_cuda_available", "False because this host has no NVIDIA GPU"),
             problem("shm_size", "/dev/shm is 64 MiB")]
    cpu = _facts(pci=0)
    assert [r.id for r in slurm.drained_problems(found, cpu, require_gpu=False)] == ["shm_size"]
    assert slurm.drained_problems(found, cpu, require_gpu=True) == found
    # A GPU on the bus, a loaded driver, or a bus that was not read: a GPU node (or not known): all drain.
    for facts in (_facts(pci=1), _facts(pci=0, module=True), _facts(pci=None), None):
        assert slurm.drained_problems(found, facts, require_gpu=False) == found


def test_gpu_checks_are_catalog_ids():
    from envdoctor.diagnosis.catalog import load_catalog

    assert slurm.GPU_CHECKS <= {c.id for c in load_catalog(())}
