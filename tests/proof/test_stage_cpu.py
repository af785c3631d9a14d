"""The whole proof path for real on this machine's CPU (no GPU here): the script shipped over stdin through
the local transport, progress streamed line by line, the result parsed and judged."""

import json

import pytest

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.hosts.targets import LOCAL
from envdoctor.hosts.transport import LocalTransport
from envdoctor.proof import SOURCE, STDIN
from envdoctor.proof.stage import parse_lines, run_proof, usable_gpu
from envdoctor.proof.verdict import judge
from tests.corpus import corpus_body

# resnet18 and batch 32: the cpu defaults. A budget this large never binds (the run ends when its steps are done):
# the steps these tests count must not depend on how busy the machine is.
SMALL = {"image_size": 32, "steps": 10, "warmup": 2, "time_budget": 300}


class RecordingTransport(LocalTransport):
    def __init__(self):
        self.calls = []

    def run(self, argv, stdin=None, timeout=60.0, on_line=None):
        self.calls.append((argv, stdin, timeout))
        return super().run(argv, stdin=stdin, timeout=timeout, on_line=on_line)


@pytest.fixture(scope="module")
def cpu_run():
    """One real CPU run shared by the tests below (the machine is small)."""
    tr = RecordingTransport()
    events = []
    proof = run_proof(LOCAL, None, device="cpu", on_progress=events.append, transport=tr, **SMALL)
    return tr, events, proof


def test_cpu_run_ships_streams_parses_and_says_no_gpu_used(cpu_run):
    tr, events, proof = cpu_run
    argv, stdin, _ = tr.calls[0]
    assert argv[1] == "-" and stdin == STDIN and SOURCE in stdin.decode()  # on stdin, nothing installed
    assert events[0]["event"] == "start"
    phases = [e.get("phase") for e in events if e["event"] == "progress"]
    assert "warmup" in phases and "timed" in phases
    timed = [e for e in events if e.get("phase") == "timed"]
    assert timed[-1]["step"] == timed[-1]["of"] == 10 and timed[-1]["img_s"] > 0

    r = proof.result
    w = r["workers"][0]
    assert r["device"] == "cpu" and r["arch"] == "resnet18" and r["image_size"] == 32
    assert w["param_device"] == "cpu" and w["batch_size"] == 32 and w["precision"] == "fp32"
    # the first step, the second (whose time sizes the CPU run: the budget is ample, so the defaults stay), the
    # warm-up and the timed steps
    assert w["phases"]["timed"]["steps"] == 10 and len(w["losses"]) == 2 + 2 + 10
    assert w["batch_size_from"] == "default" and w["threads"] >= 1 and w["cpus"] >= w["threads"]
    assert w["matmul"]["ok"]

    assert proof.status == "fail"
    assert proof.summary.startswith("no GPU was used")
    v = proof.verdict
    dev = next(c for c in v.host_checks if c.id == "proof_device")
    assert dev.status == "fail"
    correct = next(c for c in v.gpus[0].checks if c.id == "proof_correct")
    assert correct.status == "pass", correct  # the synthetic task is learnable: the loss falls


def test_allow_cpu_makes_it_a_warning(cpu_run):
    v = judge(cpu_run[2].result, allow_cpu=True)
    assert v.status == "warn" and "no GPU was used" in v.summary and "--allow-cpu" in v.summary


def test_ddp_over_gloo_with_two_processes():
    proof = run_proof(LOCAL, None, device="cpu", ddp=True, extra_args=["--procs", "2"],
                      image_size=32, steps=4, warmup=1, batch_size=8, time_budget=300)
    r = proof.result
    assert r["mode"] == "ddp" and r["world_size"] == 2
    ws = r["workers"]
    assert [w.get("backend") for w in ws] == ["gloo", "gloo"], [w.get("error") for w in ws]
    # DDP ranks agree on the step count beforehand (otherwise one would hang in all-reduce)
    assert ws[0]["phases"]["timed"]["steps"] == ws[1]["phases"]["timed"]["steps"]


def test_dataloader_phase_runs_with_workers():
    proof = run_proof(LOCAL, None, device="cpu", dataloader=True, extra_args=["--workers", "1"],
                      image_size=32, steps=4, warmup=1, batch_size=8, time_budget=300)
    dl = proof.result["workers"][0]["phases"]["dataloader"]
    assert dl.get("error") is None and dl["workers"] == 1 and dl["steps"] >= 3 and dl["img_s"] > 0
    dl_check = next(c for c in proof.verdict.gpus[0].checks if c.id == "proof_input_pipeline")
    assert dl_check.status == "skip"  # on the CPU the workers compete with training: measured, not judged


def test_time_budget_bounds_the_run():
    # 100000 steps would take hours: the budget ends the run, and the result comes within budget + grace however
    # busy this machine is (the script's parent stops waiting at the budget and ends its workers; the bound is
    # enforced by the script, it does not depend on how fast the steps are).
    proof = run_proof(LOCAL, None, device="cpu", time_budget=8, image_size=32, steps=100000, warmup=1, batch_size=8)
    assert proof.status != "error", proof.summary  # a result came back: read its error before fields
    r = proof.result
    assert r["error"] is None, r["error"]
    # The mechanism, not a speed: the budget ended the run, either in the workers (they stop short of it and
    # report) or at the parent's deadline; its elapsed time is a figure for benchmarks/proof.py.
    assert r["ended_by"] in ("results", "deadline"), r
    (w,) = r["workers"]
    timed = (w.get("phases") or {}).get("timed")
    if timed is not None:  # on a slow machine the budget may end the run before any timed step: that is stated
        assert timed["steps"] < 100000
    else:
        assert r["timed_out"] and "time budget" in w["error"], w
        assert "time budget" in proof.summary


def test_no_usable_gpu_in_facts_skips_without_running(monkeypatch):
    # real collect_env output of a CPU-only wheel (torch 2.3.1+cpu)
    facts = facts_from_bundle(Bundle(host="x", pastes=[corpus_body("collect-env/cpu-wheel-2.3.1-aws-no-gpu.txt")]))

    class Refuse(LocalTransport):
        def run(self, *a, **k):
            raise AssertionError("nothing may run on a host without a usable GPU")

    proof = run_proof(LOCAL, facts, transport=Refuse())
    assert proof.status == "skip"
    assert proof.reason == "torch 2.3.1+cpu is a CPU-only build"


def test_usable_gpu_reasons_from_real_outputs():
    facts = facts_from_bundle(Bundle(host="x", pastes=[
        corpus_body("collect-env/wsl2-8x-rtx4000ada-cudagetdevicecount-oom.txt")]))
    usable, why = usable_gpu(facts)
    assert usable is False and "Error 2: out of memory" in why
    assert usable_gpu(None) == (None, "no facts gathered")


def test_missing_interpreter_is_an_error_result():
    proof = run_proof(LOCAL, None, device="cpu", python="/nonexistent/python3")
    assert proof.status == "error" and "/nonexistent/python3" in proof.summary


def test_parse_lines_takes_the_result_and_ignores_noise():
    out = 'junk\n{"event": "progress", "step": 1}\n{not json\n{"event": "result", "x": 1}\n'
    result, events = parse_lines(out)
    assert result == {"event": "result", "x": 1} and events == [{"event": "progress", "step": 1}]
    assert json.loads(json.dumps(result)) == result


def test_compile_out_of_budget_is_unknown_not_a_failed_device():
    # For real: a cold torch.compile of resnet18 does not fit in 10 s here; the run ends at the budget.
    proof = run_proof(LOCAL, None, device="cpu", compile=True, allow_cpu=True, time_budget=10, image_size=32,
                      steps=5, warmup=1, batch_size=8)
    assert proof.result is not None, proof.summary
    r = proof.result
    ran = next(c for c in proof.verdict.host_checks if c.id == "proof_ran")
    if r["timed_out"]:  # (a machine fast enough to compile in 10 s would pass instead)
        assert r["ended_by"] == "deadline", r
        assert ran.status == "unknown" and "needs a larger --time-budget" in ran.summary, ran
        assert proof.status != "fail"


@pytest.fixture
def cpu_hogs():
    """Busy-looping processes, one per core (at least two), for the duration of one test: a loaded machine."""
    import os
    import subprocess
    import sys

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(2, os.cpu_count() or 2))]
    yield hogs
    for h in hogs:
        h.kill()
        h.wait()


def _cut_run(**kw):
    # 2 s: the workers keep RESERVE_S (2 s) back, so none can import torch, build the model and report before the
    # parent's deadline: the deadline ends the run, however fast or busy the machine.
    proof = run_proof(LOCAL, None, device="cpu", allow_cpu=True, time_budget=2, image_size=32, steps=100000,
                      warmup=1, batch_size=8, **kw)
    assert proof.status != "error", proof.summary  # a result came back: read its error before fields
    r = proof.result
    assert r["error"] is None, r["error"]
    assert r["ended_by"] == "deadline" and r["timed_out"], r  # the parent's own record of why it stopped
    (w,) = r["workers"]
    assert w["cut_by_budget"] and "time budget" in w["error"] and w["last_phase"], w
    ran = next(c for c in proof.verdict.host_checks if c.id == "proof_ran")
    assert ran.status == "unknown" and "before any timed step" in ran.summary, ran
    assert f"last phase reached {w['last_phase']}" in ran.evidence[0], ran
    return r


def test_deadline_ends_the_run_with_a_verdict_under_a_cpu_hog(cpu_hogs):
    _cut_run()
    assert all(h.poll() is None for h in cpu_hogs)  # the machine stayed busy the whole run


def test_watchdog_writes_the_result_when_the_parents_main_thread_hangs():
    # The test hook blocks the parent's main thread for good once the workers run: only the watchdog can end
    # the workers and write the verdict document.
    r = _cut_run(extra_args=["--inject-parent-hang"])
    assert r["watchdog"] is True and r["parent_phase"] == "waiting for the workers"
    assert any("run_parent" in f for f in r["main_thread_in"]), r["main_thread_in"]  # where it was blocked


def test_proof_runs_with_an_interpreter_of_two_words():
    # `ansible_python_interpreter="/usr/bin/env python3"` / --python "/usr/bin/env python3": two argv words,
    # for real here (that python3 is the one on PATH, which has torch).
    tr = RecordingTransport()
    proof = run_proof(LOCAL, None, device="cpu", allow_cpu=True, python="/usr/bin/env python3", transport=tr,
                      image_size=32, steps=2, warmup=1, batch_size=8, time_budget=300)
    argv = tr.calls[0][0]
    assert argv[:3] == ["/usr/bin/env", "python3", "-"], argv[:3]
    assert proof.status != "error", proof.summary
    r = proof.result
    assert r["error"] is None and r["workers"][0].get("error") is None, r["workers"]
    assert r["ended_by"] == "results" and proof.status == "warn", proof.summary


def test_proof_playbook_task_runs_its_interpreter_as_words():
    from envdoctor.fixes.modules.proof import Proof, ProofArgs

    plan = Proof().plan(ProofArgs(python="/usr/bin/env python3", device="cpu"), None)
    (op,) = plan.ops
    assert op.argv[:3] == ["/usr/bin/env", "python3", "-"], op.argv[:3]


def test_controller_cuts_a_target_that_never_answers_and_says_so():
    # A "python" that hangs without a word (a shell sleeping): the controller waits the budget, the script's grace
    # and the transport's allowance, then cuts the command and says what it waited for.
    proof = run_proof(LOCAL, None, device="cpu", python="sh -c 'sleep 120' sh", time_budget=1)
    assert proof.status == "error" and proof.result is None
    assert "the controller cut the proof script" in proof.summary, proof.summary
    assert "grace" in proof.summary and "transport" in proof.summary
