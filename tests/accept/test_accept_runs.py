"""The acceptance run end to end on this CPU machine: the real CPU path (`envdoctor accept --device cpu`), and the
CUDA-only paths under the labelled SIMULATION of tests/accept/cuda_simulation/ (CUDA calls run on the CPU, an NCCL
group formed as gloo): two simulated GPUs on one host, and two simulated one-GPU nodes. No figure here is a GPU's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

import envdoctor.proof
from envdoctor.accept.result import acceptance_of
from envdoctor.app.accept import AcceptOptions, run_accept
from envdoctor.app.fix import Reach
from envdoctor.cli import main
from envdoctor.hosts.targets import LOCAL
from envdoctor.models import Status
from envdoctor.proof.script.contract import GRACE_S
from envdoctor.proof.script.ddp import free_port
from envdoctor.report.accept_text import render_accept

pytestmark = pytest.mark.slow
SIM_DIR = Path(__file__).parent / "cuda_simulation"


def test_the_cpu_run_completes_within_its_budget_with_every_figure_unknown_and_its_reason():
    r = CliRunner().invoke(main, ["accept", "--device", "cpu", "--quick", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (h,) = doc["hosts"]
    a = h["accept"]
    assert a["device"] == "cpu" and a["elapsed_s"] <= a["time_budget_s"] + GRACE_S
    assert a["figures"] and {f["status"] for f in a["figures"]} == {"unknown"}
    for f in a["figures"]:
        assert "not judged" in f["summary"] or "not measured (" in f["summary"], f["summary"]
    text = CliRunner().invoke(main, ["accept", "--device", "cpu", "--quick", "--time-budget", "15"]).stdout
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
    env = simulated(1)
    port = free_port()
    argv = [sys.executable, "-", "--device", "cuda", "--accept", "--quick", "--small-sizes", "--time-budget", "30",
            "--nnodes", "2", "--master-addr", "127.0.0.1", "--master-port", str(port)]
    procs = [subprocess.Popen(argv + ["--node-rank", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env) for n in range(2)]
    with ThreadPoolExecutor(2) as pool:  # both nodes at once: node 0 waits for node 1 at the rendezvous
        outs = list(pool.map(lambda p: p.communicate(envdoctor.proof.STDIN, timeout=30 + GRACE_S + 30)[0].decode(),
                             procs))
    results = [json.loads([line for line in o.splitlines() if '"event": "result"' in line][-1]) for o in outs]
    assert [r["world_size"] for r in results] == [2, 2]
    nccl = [c for c in simulated.calls() if c["call"] == "init_process_group"]
    assert {c["backend"] for c in nccl} == {"nccl"} and len(nccl) == 2
    a = acceptance_of(results[0], quick=True, time_budget=30)
    assert a.allreduce and all(r.world == 2 and r.busbw_gbs > 0 for r in a.allreduce)
