"""What a user reads of a proof-run that proved nothing, through the CLI (CliRunner), on result documents recorded
from real CPU runs (tests/proof/recorded/); and how the CPU run sizes itself to reach a verdict within its budget."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import envdoctor.app.proof as proof_use_case
from envdoctor.cli import main
from envdoctor.models import Proof
from envdoctor.proof.script import batch_size
from envdoctor.proof.script.batch_size import CPU_MIN_BATCH, cpu_threads, plan_cpu_steps
from envdoctor.proof.script.contract import MIN_LOSSES, MIN_TIMED_STEPS
from envdoctor.proof.verdict import judge

RECORDED = Path(__file__).parent / "recorded"


def _proof_from(name, monkeypatch):
    """`envdoctor proof` whose run on this machine returns the recorded result document `name`."""
    result = json.loads((RECORDED / f"{name}.json").read_text())

    def recorded_run(target, facts=None, *, allow_cpu=False, **_kw):
        v = judge(result, allow_cpu=allow_cpu)
        return Proof(host=target.name, device="cpu", time_budget_s=result["time_budget_s"], status=v.status,
                     summary=v.summary, verdict=v, result=result, secs=1.0)

    monkeypatch.setattr(proof_use_case, "run_proof", recorded_run)
    return CliRunner().invoke(main, ["proof", "--device", "cpu", "--allow-cpu"])


@pytest.mark.parametrize("name,says", [
    ("cpu_no_timed_step", "before 1 of 1 process(es) completed a timed step: it proved nothing"),
    ("cpu_cut_before_model", "ended the run before any timed step"),
    ("cpu_cut_in_first_step", "ended the run before any timed step"),
])
def test_a_run_that_completed_no_timed_step_is_unknown_and_exits_3(name, says, monkeypatch):
    r = _proof_from(name, monkeypatch)
    assert r.exit_code == 3, r.output  # not a warning with exit 0: it proved nothing
    assert "proof-run unknown" in r.output and says in r.output, r.output
    assert "None" not in r.output  # no "parameters on None", no "batch None"
    assert r.output.count("(proof_ran)") == 1, r.output  # the run's judgement once; the process has its own line
    assert "CPU: no timed steps" in r.output, r.output
    if name != "cpu_no_timed_step":
        assert "(last phase reached: " in r.output  # where the process was when the budget ended it


def test_a_process_cut_before_its_batch_shows_only_what_it_had(monkeypatch):
    r = _proof_from("cpu_cut_in_first_step", monkeypatch)
    assert "CPU: no timed steps, fp32\n" in r.output and "batch" not in r.output.split("CPU: ")[1].splitlines()[0]
    assert "parameters on" not in r.output  # cut before its model was on any device


def test_cpu_plan_keeps_the_defaults_when_the_budget_is_ample():
    # resnet18 at 32x32, batch 32: a tenth of a second a step on an idle core, minutes left
    assert plan_cpu_steps(32, 0.1, 250.0, losses_so_far=2, warmup=2, steps=10) == (32, 2, 10)


def test_cpu_plan_shrinks_warmup_and_batch_until_the_verdicts_steps_fit():
    bs, warmup, steps = plan_cpu_steps(32, 1.0, 6.0, losses_so_far=2, warmup=2, steps=10)
    assert warmup == 1 and bs == 16
    assert 2 + warmup + steps >= MIN_LOSSES and steps >= MIN_TIMED_STEPS  # what the verdict needs to judge
    # the steps it needs, at the lowered batch (step time ~ batch), fit in the time left
    needed = warmup + max(MIN_TIMED_STEPS, MIN_LOSSES - 2 - warmup)
    assert 1.0 * bs / 32 * needed <= 0.7 * 6.0


def test_cpu_plan_stops_at_its_smallest_batch():
    assert plan_cpu_steps(32, 5.0, 3.0, losses_so_far=2, warmup=2, steps=10)[0] == CPU_MIN_BATCH


@pytest.mark.parametrize("load,threads", [(0.1, 2), (0.4, 2), (0.9, 1), (6.0, 1)])
def test_cpu_threads_leave_the_busy_cores_alone(load, threads, monkeypatch):
    # two CPUs; the load average says how many others keep busy
    monkeypatch.setattr(batch_size.os, "sched_getaffinity", lambda _pid: {0, 1})
    monkeypatch.setattr(batch_size.os, "getloadavg", lambda: (load, load, load))
    assert cpu_threads(1) == (threads, 2)
    assert cpu_threads(2) == (1, 2)  # two processes share the two CPUs
