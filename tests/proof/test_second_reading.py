"""Regression tests for the proof-run's second reading against torch 2.14 (issue 17), one or more per item.
Runs on this machine's CPU are real (gloo); GPU result documents are CONSTRUCTED (tests/proof/constructed.py);
CUDA paths run in the SIMULATION of tests/proof/cuda_simulation (no GPU here)."""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import types

import pytest

from envdoctor.hosts.targets import LOCAL
from envdoctor.proof.script import batch_size, messages, preflight, sampler, supervisor, worker
from envdoctor.proof.stage import run_proof
from envdoctor.proof.verdict import judge, mig_profile
from tests.corpus import corpus_body
from tests.proof import constructed as C
from tests.proof.test_cuda_simulation import events, simulate  # noqa: F401 - the fixture

# Large enough never to bind unless a test says so: what they count does not depend on this machine's speed.
BUDGET = 300


def check(entry: dict, cid: str) -> dict:
    return next(c for c in entry.checks if c.id == cid)


def host_check(v: dict, cid: str) -> dict:
    return next(c for c in v.host_checks if c.id == cid)


# ---------------------------------------------------------------- 1. the parent never imports torch

def test_parent_never_imports_torch_and_keeps_every_final_result(simulate):  # noqa: F811
    # 2 CPU ranks for real, with a budget that binds (100000 steps): the workers stop short of it and send their
    # final results. The SIMULATION's sitecustomize records every process that imports torch.
    log = simulate(0)
    proof = run_proof(LOCAL, None, device="cpu", allow_cpu=True, time_budget=30, image_size=32, steps=100000,
                      warmup=1, batch_size=8, extra_args=["--procs", "2"])
    assert proof.status != "error", proof.summary  # a result came back: read its error before fields
    r = proof.result
    assert r["error"] is None, r["error"]
    importers = {e["pid"] for e in events(log) if e["event"] == "import-torch"}
    assert r["pid"] not in importers, "the proof's parent imported torch"
    assert r["parent_torch_imported"] is False
    assert len(importers) >= 1  # the control: the workers' imports were seen
    # Whoever finished its timed steps sent its final result right after: the parent must have kept it.
    for w in r["workers"]:
        if (w.get("phases") or {}).get("timed"):
            assert not w.get("error"), w.get("error")


def test_worker_messages_are_json_text():
    q = queue.Queue()
    version = type("TorchVersion", (str,), {})("2.14.1+cu130")  # a str subclass from torch, as torch.__version__
    messages.send(q, {"event": "worker_result", "rank": 0, "result": {"torch": version, "other": object()}})
    raw = q.get_nowait()
    assert type(raw) is str  # what crosses the process boundary is text: nothing of torch to unpickle
    msg = messages.receive(raw)
    assert msg["result"]["torch"] == "2.14.1+cu130" and type(msg["result"]["torch"]) is str
    assert messages.receive(b"\x80\x04junk") is None and messages.receive("[1]") is None


def test_results_already_queued_at_the_deadline_are_kept():
    # The loop may come back to its deadline check late (a slow host): what already arrived still counts.
    parent = types.SimpleNamespace(lock=threading.RLock(), results={}, final=set(), last_phase={}, emit=lambda m: None)
    q = queue.Queue()
    for rank in (0, 1):
        messages.send(q, {"event": "progress", "rank": rank, "phase": "timed"})
        messages.send(q, {"event": "worker_result", "rank": rank, "result": {"rank": rank, "img_s": 10.0}})
    supervisor.drain(q, parent, world=2)
    assert parent.final == {0, 1} and parent.results[1]["img_s"] == 10.0
    assert parent.last_phase == {0: "timed", 1: "timed"}


# ---------------------------------------------------------------- 2. every checkpoint carries what the verdict needs

def test_cut_after_the_timed_steps_without_the_last_message_is_not_failed():
    # CONSTRUCTED: an H100 at 0.97x the published figure whose final message the budget cut; its last
    # checkpoint is all there is (before the fix it had no peak memory: "torch allocated no GPU memory" -> FAIL).
    w = C.worker(img_s=0.97 * 2791)
    del w["max_memory_allocated"]
    w.update(error="no result within the time budget (60 s)", cut_by_budget=True, last_phase="timed")
    v = judge(C.result([w], timed_out=True, ended_by="deadline"))
    g = v.gpus[0]
    assert check(g, "proof_gpu_used").status == "pass", check(g, "proof_gpu_used")
    assert check(g, "proof_fast_enough").status == "pass"
    assert v.status == "warn", v.summary  # the cut itself is said, the GPU is not failed


def test_checkpoint_memory_figures_are_plain_numbers():
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(max_memory_allocated=lambda dev: 31 << 30,
                                                            mem_get_info=lambda dev: (40 << 30, 80 << 30)))
    figs = worker.memory_figures(fake, "cuda:0")
    assert figs == {"max_memory_allocated": 31 << 30, "memory_free_after": 40 << 30}
    assert json.loads(json.dumps(figs)) == figs


# ---------------------------------------------------------------- 4. DDP replicas stay identical

def test_ddp_replicas_end_with_the_same_parameters_and_momentum():
    # For real, 2 ranks over gloo: each rank's batch search takes a step on its own data before DDP wraps the
    # model; DDP broadcasts parameters, not SGD's momentum. The replicas must end the same.
    proof = run_proof(LOCAL, None, device="cpu", ddp=True, allow_cpu=True, time_budget=BUDGET, image_size=32,
                      steps=4, warmup=1, batch_size=8, extra_args=["--procs", "2"])
    assert proof.status != "error", proof.summary
    r = proof.result
    assert r["error"] is None and not [w.get("error") for w in r["workers"] if w.get("error")], r["workers"]
    s0, s1 = (w["replica_state"] for w in r["workers"])
    assert s0["momentum"] != 0.0  # the optimizer did step: the comparison below means something
    assert s0 == s1, (s0, s1)


# ---------------------------------------------------------------- 5. the timed steps are planned after the compile

def test_step_estimate_leaves_out_the_cold_compile():
    # The simulated compile: the first warm-up step took 35 s, the compiled ones 0.11 s.
    assert batch_size.step_estimate_s([35000.0, 110.0, 112.0, 111.0]) == pytest.approx(0.111)
    assert batch_size.step_estimate_s([35000.0, 110.0]) == pytest.approx(0.110)
    # 20 s left: ~180 steps fit, not 0 (the compile's 35 s read as the step time)
    assert int(20 / batch_size.step_estimate_s([35000.0, 110.0])) >= 10
    assert batch_size.step_estimate_s([250.0]) == pytest.approx(0.25) and batch_size.step_estimate_s([]) == 1.0


# ---------------------------------------------------------------- 6. --compile needs a compiler and Python.h

def test_compile_toolchain_names_what_is_missing(tmp_path):
    empty = str(tmp_path)
    tools = preflight.compile_toolchain({"PATH": empty}, include_dir=empty)
    assert tools["cc"] is None and tools["python_h"] is None
    assert any("neither gcc nor clang" in m for m in tools["missing"])
    assert any("Python.h" in m for m in tools["missing"])
    cc = tmp_path / "gcc"
    cc.write_text("#!/bin/sh\n")
    cc.chmod(0o755)
    (tmp_path / "Python.h").write_text("")
    assert preflight.compile_toolchain({"PATH": empty}, include_dir=empty)["missing"] == []
    assert "CC=/nonexistent/cc" in preflight.compile_toolchain({"PATH": empty, "CC": "/nonexistent/cc"},
                                                        include_dir=empty)["missing"][0].replace("$", "")


def test_compile_without_a_compiler_is_unknown_not_a_failed_gpu(simulate, tmp_path, monkeypatch):  # noqa: F811
    # SIMULATED GPU host (one device) whose PATH has no compiler: nothing is started, the verdict is unknown.
    simulate(1)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    proof = run_proof(LOCAL, None, device="cuda", compile=True, python=sys.executable, time_budget=BUDGET)
    assert proof.result is not None, proof.summary
    r = proof.result
    assert "`--compile` needs gcc and Python headers on the target" in (r.get("compile_unavailable") or ""), r
    assert r["workers"] == []  # no worker was started
    ran = host_check(proof.verdict, "proof_ran")
    assert ran.status == "unknown" and "not a GPU failure" in ran.summary, ran
    assert proof.status == "unknown" and proof.summary == ran.summary  # the headline says it too


def test_triton_compiler_error_in_a_worker_is_unknown():
    # CONSTRUCTED: Triton's own message (triton 3.8 runtime/build.py _find_compiler) from a worker's first step.
    err = ("RuntimeError: Failed to find C compiler. Please specify via CC environment variable or set "
           "triton.knobs.build.impl.")
    v = judge(C.result([C.worker(error=err)], compile=True))
    assert host_check(v, "proof_ran").status == "unknown" and v.status == "unknown", v.summary


# ---------------------------------------------------------------- 7. a hung collective is named

def test_a_collective_that_never_completes_is_named_within_its_bound():
    # For real, 2 ranks over gloo: rank 1 never takes its part in the all-reduce bandwidth test (a test hook);
    # rank 0 waits in it. The bounded wait (3 s here) ends the run with that collective named, long before the budget.
    events = []
    proof = run_proof(LOCAL, None, device="cpu", ddp=True, allow_cpu=True, time_budget=BUDGET, image_size=32,
                      steps=4, warmup=1, batch_size=8, on_progress=events.append,
                      extra_args=["--procs", "2", "--inject-collective-hang", "1", "--collective-wait", "3"])
    assert proof.status != "error", proof.summary
    r = proof.result
    assert r["error"] is None, r["error"]
    assert r["ended_by"] == "failure" and r["timed_out"] is False, r
    hung = [w for w in r["workers"] if w.get("hung_collective")]
    assert hung and {w["hung_collective"] for w in hung} == {"all-reduce bandwidth"}, r["workers"]
    assert all(w["collective_at_budget_end"] is False for w in hung)
    assert "all-reduce bandwidth" in [e.get("phase") for e in events if e.get("event") == "progress"]
    ran = host_check(proof.verdict, "proof_ran")
    assert ran.status == "fail" and "all-reduce bandwidth" in ran.summary, ran
    assert "hang between GPUs" in ran.summary and "P2P" in ran.cause


def test_budget_cut_in_a_collective_names_it():
    # CONSTRUCTED: both ranks cut by the budget while in the all-reduce bandwidth phase (their last progress event).
    ws = [{"rank": r, "device_index": r, "error": "no result within the time budget (60 s)", "cut_by_budget": True,
           "last_phase": "all-reduce bandwidth"} for r in (0, 1)]
    ran = host_check(judge(C.result(ws, mode="ddp", timed_out=True, ended_by="deadline")), "proof_ran")
    assert "waiting in all-reduce bandwidth" in ran.summary and "P2P/IOMMU" in ran.summary, ran


# ---------------------------------------------------------------- 8. MIG compute-instance profiles

def test_mig_compute_instance_is_judged_against_its_share():
    # CONSTRUCTED: a compute instance with 1 of the 3 compute slices of a 3g.40gb GPU instance (the real H100
    # capture's 3g.40gb has 60 SMs: test_mig.py), i.e. 20 SMs.
    name = "NVIDIA H100 80GB HBM3 MIG 1c.3g.40gb"
    assert mig_profile(name) == "1c.3g.40gb" and mig_profile("NVIDIA H100 80GB HBM3 MIG 3g.40gb") == "3g.40gb"
    expected = 2791 * 20 / 132
    w = C.worker(name=name, img_s=round(expected * 0.9), precision="fp16", batch=32)
    w["sm_count"] = 20
    g = judge(C.result([w])).gpus[0]
    fast = check(g, "proof_fast_enough")
    assert fast.status == "pass" and g.ratio == pytest.approx(0.9, abs=0.01), fast
    assert g.baseline.mig_profile == "1c.3g.40gb"
    assert any("compute instance 1c of GPU instance 3g.40gb" in e for e in fast.evidence)


# ---------------------------------------------------------------- 9. nvidia-smi's index, not CUDA's ordinal

def test_balance_names_the_nvml_index_under_cuda_visible_devices():
    # CONSTRUCTED: CUDA_VISIBLE_DEVICES=2,3: CUDA ordinals 0 and 1 are NVML's GPUs 2 and 3; ordinal 1 is slow.
    ws = [C.worker(rank=0, img_s=2800.0), C.worker(rank=1, img_s=2000.0)]
    doc = C.result(ws)
    for g, nvml in zip(doc["gpus"], (2, 3)):
        g["nvml_index"] = nvml
    bal = host_check(judge(doc), "proof_balance")
    assert bal.status == "warn" and bal.summary.startswith("GPU 3 (CUDA device 1)"), bal
    assert "nvidia-smi -q -i 3 -d PERFORMANCE,TEMPERATURE,CLOCK" in bal.fix.commands
    assert any(e.startswith("GPU 2 (CUDA device 0)") for e in bal.evidence)


# ---------------------------------------------------------------- 10. smaller

def test_mig_without_nvml_utilisation_is_not_too_short_a_run():
    # CONSTRUCTED: NVML answers no utilisation on a MIG device; 40 samples were taken during the timed steps.
    name = "NVIDIA H100 80GB HBM3 MIG 3g.40gb"
    w = C.worker(name=name, img_s=1200.0)
    w["sm_count"] = 60
    rows = C.samples()
    for s in rows:
        s["util"] = None
    util = check(judge(C.result([w], gpu_samples={0: rows})).gpus[0], "proof_utilisation")
    assert util.status == "unknown" and "too short" not in util.summary, util
    assert "NVML reports no utilisation for MIG devices" in util.summary


def test_gpu_count_keeps_torchs_own_warning(simulate, monkeypatch):  # noqa: F811
    # SIMULATED: NVML sees a GPU, CUDA none; the runtime's count raises torch's real warning (recorded text).
    text = corpus_body("errors/torch-driver-too-old-11040-with-proc-version.txt")
    warning = next(ln for ln in text.splitlines() if "found version 11040" in ln).split("UserWarning: ", 1)[1]
    simulate(1, cuda=0)
    monkeypatch.setenv("ENVDOCTOR_SIM_CUDA_WARNING", warning)
    proof = run_proof(LOCAL, None, device="cuda", time_budget=BUDGET)
    assert proof.result is not None, proof.summary
    err = proof.result["error"]
    assert "CUDA enumerates no device" in err and "found version 11040" in err, err
    assert "found version 11040" in host_check(proof.verdict, "proof_ran").summary


@pytest.mark.parametrize("message,retried", [
    ("CUDA out of memory. Tried to allocate 2.00 GiB", True),
    ("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`", True),
    ("cuDNN error: CUDNN_STATUS_ALLOC_FAILED", True),
    ("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED", True),
    ("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED", False),  # host memory: a batch won't help
    ("CUDA error: an illegal memory access was encountered", False),
])
def test_allocation_failures_of_cublas_and_cudnn_are_retried(message, retried):
    # The strings are libtorch_cuda's and cuDNN 9's own (read from the installed 2.14.1 wheel's libraries).
    fake_torch = types.SimpleNamespace(OutOfMemoryError=MemoryError)
    assert batch_size.allocation_failure(fake_torch, RuntimeError(message)) is retried


def test_torchs_out_of_memory_error_is_retried_whatever_its_text():
    torch = pytest.importorskip("torch")
    assert batch_size.allocation_failure(torch, torch.OutOfMemoryError("allocator said no"))


def test_slow_gpu_names_the_compute_processes_already_on_it():
    # CONSTRUCTED: a slow H100 with another process that held 20 GiB on it before the proof started.
    doc = C.result([C.worker(img_s=1500.0)])
    doc["gpus"][0]["other_processes"] = [{"pid": 4242, "name": "python3", "used_mib": 20480}]
    v = judge(doc)
    fast = check(v.gpus[0], "proof_fast_enough")
    assert fast.status == "warn" and "pid 4242 (python3, 20,480 MiB)" in fast.summary, fast
    assert "another compute process" in fast.cause


def test_sampler_lists_other_compute_processes_but_not_ours(monkeypatch):
    # SIMULATED pynvml: one GPU with two compute processes, one of them a worker of ours.
    class FakeNvml(types.ModuleType):
        NVML_CLOCK_SM = 1
        NVML_TEMPERATURE_GPU = 0

        def nvmlInit(self):
            pass

        def nvmlDeviceGetCount(self):
            return 1

        def nvmlDeviceGetHandleByIndex(self, i):
            return i

        def nvmlDeviceGetUUID(self, h):
            return "GPU-aaaa"

        def nvmlDeviceGetName(self, h):
            return "NVIDIA H100 80GB HBM3"

        def nvmlDeviceGetPciInfo(self, h):
            return types.SimpleNamespace(busId=b"00000000:19:00.0")

        def nvmlDeviceGetComputeRunningProcesses(self, h):
            return [types.SimpleNamespace(pid=4242, usedGpuMemory=20 << 30),
                    types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=1 << 30)]

        def nvmlSystemGetProcessName(self, pid):
            return b"python3"

    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml("pynvml"))
    s = sampler.Sampler(0.25, own_pids=lambda: {os.getpid()})
    s.setup()
    assert s.kind == "nvml"
    assert s.others == {0: [{"pid": 4242, "name": "python3", "used_mib": 20480}]}
    w = {"rank": 0, "uuid": "aaaa", "phases": {}}
    assert sampler.gpu_samples(s, [w])[0]["other_processes"] == s.others[0]
