"""SIMULATED GPUs on this CPU-only machine (tests/proof/cuda_simulation/sitecustomize.py): torch reports N GPUs,
every attempt to initialise CUDA is recorded per process, and every fork is recorded. The proof-run must reach
its workers (each attempts CUDA) and no process that attempted CUDA may fork. This complements a run on a real
GPU; it does not replace it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.hosts.targets import LOCAL
from envdoctor.proof.stage import run_proof

SIM_DIR = Path(__file__).parent / "cuda_simulation"


@pytest.fixture
def simulate(tmp_path, monkeypatch):
    log = tmp_path / "cuda-attempts.jsonl"

    def on(nvml: int, cuda: int | None = None) -> Path:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SIM_DIR), os.environ.get("PYTHONPATH", "")]))
        monkeypatch.setenv("ENVDOCTOR_SIM_LOG", str(log))
        monkeypatch.setenv("ENVDOCTOR_SIM_NVML", str(nvml))
        monkeypatch.setenv("ENVDOCTOR_SIM_CUDA", str(nvml if cuda is None else cuda))
        return log

    return on


def events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_the_detector_sees_a_fork_after_cuda(simulate):
    # The control: the reproduction (cudnn.version() reaches _lazy_init), then a fork, is caught.
    log = simulate(8)
    code = ("import os, torch\nos.environ['PYTORCH_NVML_BASED_CUDA_CHECK'] = '1'\ntry:\n"
            "    torch.backends.cudnn.version()\nexcept RuntimeError:\n    pass\n"
            "pid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    ev = events(log)
    assert [e["call"] for e in ev if e["event"] == "cuda"] == ["_lazy_init"]
    assert [e["event"] for e in ev if e["event"].startswith("fork")] == ["fork-after-cuda"]


def test_workers_reach_cuda_and_no_process_that_attempted_it_forks(simulate):
    log = simulate(2)
    proof = run_proof(LOCAL, None, device="cuda", time_budget=300)
    r = proof.result
    assert r is not None, proof.summary
    ev = events(log)
    attempted = {e["pid"] for e in ev if e["event"] == "cuda"}
    assert not [e for e in ev if e["event"] == "fork-after-cuda"], ev  # no fork of a process that touched CUDA
    assert r["pid"] not in attempted  # the parent never imported torch, let alone CUDA
    # Every worker got as far as CUDA (each in its own process): a run that never reached them proves nothing.
    set_device = {e["pid"] for e in ev if e.get("call") == "_cuda_setDevice"}
    assert len(set_device) == 2, ev
    assert {e["ppid"] for e in ev if e.get("call") == "_cuda_setDevice"} == {r["pid"]}  # spawned by the parent
    assert r["start_method"] == "spawn" and len(r["workers"]) == 2
    assert all("simulated: no NVIDIA driver" in w["error"] for w in r["workers"]), r["workers"]
    # The device count came from CUDA's own count in a child (recorded there), not from NVML in the parent.
    counted = [e for e in ev if e.get("call") == "_cuda_getDeviceCount"]
    assert counted and all(e["pid"] != r["pid"] for e in counted)
    # The script ran from a private temporary directory that is gone afterwards.
    assert r["workdir_mode"] == "0o700" and not os.path.exists(r["workdir"])


def test_mig_host_starts_workers_only_for_the_devices_cuda_has(simulate):
    # SIMULATED MIG host: NVML counts 4 physical GPUs, CUDA enumerates one MIG device in a process. The ordinals
    # nvidia-smi shows are asked for; only ordinal 0 gets a worker, the others are named, nobody waits for them.
    simulate(4, cuda=1)
    proof = run_proof(LOCAL, None, device="cuda", time_budget=300, extra_args=["--gpus", "0,1,2,3"])
    r = proof.result
    assert r is not None, proof.summary
    assert r["timed_out"] is False
    assert [w["device_index"] for w in r["workers"]] == [0]
    assert [m["device_index"] for m in r["not_started"]] == [1, 2, 3]
    assert "CUDA enumerates 1 device(s)" in r["not_started"][0]["reason"]
    ordinals = next(c for c in proof.verdict.host_checks if c.id == "proof_ordinals")
    assert ordinals.status == "warn" and "3 requested GPU ordinal(s) not started" in ordinals.summary
