"""The acceptance run end to end on this CPU machine: the real CPU path (`envdoctor accept --device cpu`), and the
CUDA-only paths under the labelled SIMULATION of tests/accept/cuda_simulation/ (CUDA calls run on the CPU, an NCCL
group formed as gloo): two simulated GPUs on one host, and two simulated one-GPU nodes. No figure here is a GPU's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from envdoctor.app.accept import AcceptOptions, MultiNodeJob, run_accept
from envdoctor.app.reach import Reach
from envdoctor.cli import main
from envdoctor.hosts.targets import LOCAL, Target
from envdoctor.models import Status
from envdoctor.proof.script.contract import GRACE_S
from envdoctor.proof.script.ddp import free_port
from envdoctor.report.accept_text import render_accept

pytestmark = pytest.mark.slow
SIM_DIR = Path(__file__).parent / "cuda_simulation"


def test_the_cpu_run_completes_within_its_budget_with_every_figure_unknown_and_its_reason():
    r = CliRunner().invoke(main, ["accept", "--device", "cpu", "--quick", "--json"])
    assert r.exit_code == 3, r.output  # a run that judged nothing is no all-clear
    doc = json.loads(r.stdout)
    (h,) = doc["hosts"]
    a = h["accept"]
    assert a["device"] == "cpu" and a["elapsed_s"] <= a["time_budget_s"] + GRACE_S
    assert a["figures"] and {f["status"] for f in a["figures"]} == {"unknown"}
    for f in a["figures"]:
        assert "not judged" in f["summary"] or "not measured (" in f["summary"], f["summary"]
    r = CliRunner().invoke(main, ["accept", "--device", "cpu", "--quick", "--time-budget", "15"])
    text = r.stdout
    assert r.exit_code == 3, r.output
    assert "Every figure is unknown: the bars are for GPUs, and this run proves the path only." in text
    assert "Not judged:" in text and "no CPU bar" in text


@pytest.fixture
def simulated(tmp_path, monkeypatch):
    log = tmp_path / "sim.jsonl"

    def start(gpus: int) -> dict:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SIM_DIR), os.environ.get("PYTHONPATH", "")]),
                   ENVDOCTOR_SIM_LOG=str(log), ENVDOCTOR_SIM_GPUS=str(gpus))
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        return env

    def calls() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    start.calls = calls
    return start


def test_two_simulated_gpus_reach_the_nccl_phase_and_report_busbw(simulated):
    simulated(2)
    run = run_accept(Reach([LOCAL], quiet=True),
                     AcceptOptions(device="cuda", quick=True, time_budget=30, extra_args=("--small-sizes",)))
    (h,) = run.report.hosts
    nccl = [c for c in simulated.calls() if c["call"] == "init_process_group"]
    assert {c["backend"] for c in nccl} == {"nccl"} and len({c["pid"] for c in nccl}) == 2
    assert {c["call"] for c in simulated.calls()} >= {"Event.record", "Event.elapsed_time", "pin_memory"}
    assert h.accept.allreduce and all(r.world == 2 and r.busbw_gbs > 0 for r in h.accept.allreduce)
    text = render_accept(run.report)
    assert "all_reduce sweep (nccl-tests' arithmetic: busbw = algbw x 2(n-1)/n):" in text
    # two GPUs: the published all_reduce bar is for eight, so the figure is not judged
    (ar,) = [f for f in h.accept.figures if f.gpu_index is None]
    assert ar.status == Status.UNKNOWN and "is for 8, so it is not judged" in ar.summary


def test_two_simulated_nodes_reach_the_nccl_phase_and_report_busbw(simulated):
    simulated(1)
    nodes = [Target(name="node-a"), Target(name="node-b")]  # two runs on this machine, one simulated GPU each
    job = MultiNodeJob([t.name for t in nodes], "127.0.0.1", free_port())
    run = run_accept(Reach(nodes, quiet=True), AcceptOptions(device="cuda", quick=True, time_budget=30,
                                                              extra_args=("--small-sizes",), multi_node=job))
    nccl = [c for c in simulated.calls() if c["call"] == "init_process_group"]
    assert {c["backend"] for c in nccl} == {"nccl"} and len({c["pid"] for c in nccl}) == 2
    for h in run.report.hosts:
        assert h.accept.allreduce and all(r.world == 2 and r.busbw_gbs > 0 for r in h.accept.allreduce)
    mn = run.report.fleet.multi_node
    assert mn.joined == ["node-a", "node-b"] and mn.world_size == 2 and mn.status == Status.UNKNOWN
    assert mn.summary.startswith("all_reduce busbw ") and "across 2 ranks on 2 nodes (not judged" in mn.summary
