"""The verdict on result documents. GPU documents are CONSTRUCTED (tests/proof/constructed.py: no GPU on
this machine); the CPU one is produced for real in test_stage_cpu.py."""

import math
import re

import pytest

from envdoctor.diagnosis.bundle import Bundle
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.knowledge import load
from envdoctor.proof.verdict import find_baselines, judge
from tests.corpus import corpus_body
from tests.proof import constructed as C


def check(entry, cid):
    return next(c for c in entry.checks if c.id == cid)


def host_check(v, cid):
    return next(c for c in v.host_checks if c.id == cid)


@pytest.mark.parametrize("img_s,status", [(2800, "pass"), (1954, "pass"), (1900, "warn"), (1117, "warn"),
                                          (1100, "fail")])
def test_speed_against_h100_published_figure(img_s, status):
    # H100 SXM (nvidia-smi: "NVIDIA H100 80GB HBM3"): Lambda's 2,791 img/s; pass >= 0.7x, warn >= 0.4x
    v = judge(C.result([C.worker(img_s=img_s)]))
    fast = check(v.gpus[0], "proof_fast_enough")
    assert fast.status == status
    assert v.gpus[0].baseline.img_s == 2791
    assert v.gpus[0].ratio == pytest.approx(img_s / 2791, abs=1e-3)
    assert any("github.com/lambdal/deeplearning-benchmark" in e for e in fast.evidence)
    assert v.status == status


def test_all_good_gpu_passes_everything():
    v = judge(C.result([C.worker(img_s=2900)]))
    assert v.status == "pass"
    assert {c.id for c in v.gpus[0].checks} == {
        "proof_correct", "proof_gpu_used", "proof_fast_enough", "proof_utilisation", "proof_throttling"}
    assert all(c.status == "pass" for c in v.gpus[0].checks)
    assert "1.04x published" in v.summary


def test_unknown_gpu_model_is_unknown_never_pass():
    v = judge(C.result([C.worker(name="NVIDIA H100 NVL", img_s=5000)]))
    fast = check(v.gpus[0], "proof_fast_enough")
    assert fast.status == "unknown"
    assert "no published ResNet-50 figure for 'NVIDIA H100 NVL'" in fast.summary
    assert v.status == "unknown"


def test_other_arch_is_not_compared_with_resnet50_figures():
    v = judge(C.result([C.worker(img_s=9000)], arch="resnet18"))
    assert check(v.gpus[0], "proof_fast_enough").status == "unknown"


def test_non_finite_loss_fails():
    losses = [2.3, 2.1, 1.9, float("nan")] + [1.0] * 20
    v = judge(C.result([C.worker(losses=losses)]))
    c = check(v.gpus[0], "proof_correct")
    assert c.status == "fail" and "non-finite at step 3" in c.summary


def test_loss_that_does_not_fall_fails():
    v = judge(C.result([C.worker(losses=[2.30 + 0.01 * math.sin(i) for i in range(60)])]))
    c = check(v.gpus[0], "proof_correct")
    assert c.status == "fail" and "did not fall" in c.summary


def test_wrong_matmul_fails_even_if_loss_falls():
    v = judge(C.result([C.worker(matmul_ok=False)]))
    assert check(v.gpus[0], "proof_correct").status == "fail"


def test_thermal_throttling_fails_and_power_cap_alone_does_not():
    hot = C.samples(reasons=["sw_thermal_slowdown", "sw_power_cap"], temp=91, clock=1400)
    v = judge(C.result([C.worker()], gpu_samples={0: hot}))
    c = check(v.gpus[0], "proof_throttling")
    assert c.status == "fail" and "sw_thermal_slowdown" in c.summary
    assert any("temperature max 91 C" in e for e in c.evidence)
    capped = C.samples(reasons=["sw_power_cap"])
    v = judge(C.result([C.worker()], gpu_samples={0: capped}))
    c = check(v.gpus[0], "proof_throttling")
    assert c.status == "pass" and any("power cap in 100%" in e for e in c.evidence)


def test_brief_throttling_warns():
    rows = C.samples(n=40)
    rows[5]["reasons"] = ["hw_slowdown"]
    v = judge(C.result([C.worker()], gpu_samples={0: rows}))
    assert check(v.gpus[0], "proof_throttling").status == "warn"


def test_no_sampler_gives_unknown_health_not_pass():
    v = judge(C.result([C.worker()], gpu_samples={0: []}, sampler=None, sampler_error="nvidia-smi not found"))
    g = v.gpus[0]
    assert check(g, "proof_utilisation").status == "unknown"
    assert check(g, "proof_throttling").status == "unknown"
    assert check(g, "proof_gpu_used").status == "pass"  # parameters on cuda and memory allocated: direct evidence
    assert v.status == "unknown"


def test_utilisation_dips_on_gpu_resident_data_are_not_called_input_bound():
    utils = [99, 99, 20, 99, 10, 99, 99, 15] * 5
    v = judge(C.result([C.worker()], gpu_samples={0: C.samples(utils=utils)}))
    c = check(v.gpus[0], "proof_utilisation")
    assert c.status == "warn" and "dips" in c.summary
    assert "not the input pipeline" in c.cause


def _dataloader(img_s, wait_ms, workers=2):
    step = 1000.0 * 256 / img_s
    return {"workers": workers, "pin_memory": True, "cpus": 4, "shm_bytes": 64 << 20, "steps": 30,
            "t_start": C.T0 + 30, "t_end": C.T0 + 40, "step_ms": [step] * 30, "wait_ms": [wait_ms] * 30,
            "losses": [1.0] * 30, "img_s": img_s}


def test_dataloader_starving_the_gpu_is_input_bound():
    w = C.worker(img_s=2800, dataloader=_dataloader(900, wait_ms=180))
    rows = C.samples() + C.samples(utils=[95, 30, 20, 90, 25, 30] * 5, n=30, phase="dataloader")
    v = judge(C.result([w], gpu_samples={0: rows}, dataloader=True))
    c = check(v.gpus[0], "proof_input_pipeline")
    assert c.status == "warn" and c.summary.startswith("input-bound")
    assert any("/dev/shm 64 MiB" in e for e in c.evidence)
    assert check(v.gpus[0], "proof_utilisation").status == "pass"  # the on-GPU phase was steady


def test_dataloader_that_keeps_up_passes_and_one_that_crashes_fails():
    v = judge(C.result([C.worker(img_s=2800, dataloader=_dataloader(2750, wait_ms=0.3))]))
    assert check(v.gpus[0], "proof_input_pipeline").status == "pass"
    broken = {"workers": 8, "pin_memory": True, "cpus": 16, "shm_bytes": 64 << 20,
              "error": "RuntimeError: DataLoader worker (pid 77) is killed by signal: Bus error."}
    v = judge(C.result([C.worker(dataloader=broken)]))
    c = check(v.gpus[0], "proof_input_pipeline")
    assert c.status == "fail" and "Bus error" in c.summary and c.fix.playbook


def test_gpus_of_a_node_within_ten_percent():
    ok = judge(C.result([C.worker(0, img_s=2800), C.worker(1, img_s=2650)]))
    assert host_check(ok, "proof_balance").status == "pass"
    bad = judge(C.result([C.worker(0, img_s=2800), C.worker(1, img_s=2800), C.worker(2, img_s=2300)]))
    b = host_check(bad, "proof_balance")
    assert b.status == "warn" and "GPU 2 is 18% slower" in b.summary
    assert bad.img_s_total == pytest.approx(7900)


def test_ddp_balance_compares_utilisation():
    ws = [C.worker(0, img_s=2700), C.worker(1, img_s=2700)]
    v = judge(C.result(ws, mode="ddp", gpu_samples={0: C.samples(0, util=99), 1: C.samples(1, util=70)}))
    assert host_check(v, "proof_balance").status == "warn"


def test_failed_worker_and_timeout_fail_the_host():
    ws = [C.worker(0), C.worker(1, error="torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB")]
    v = judge(C.result(ws, timed_out=True))
    ran = host_check(v, "proof_ran")
    assert ran.status == "fail" and "1 of 2" in ran.summary and "time budget" in ran.summary
    assert any("out of memory" in e for e in ran.evidence)
    assert v.status == "fail"


def test_script_error_fails():
    v = judge({"event": "result", "device": "cuda", "error": "torch.cuda.is_available() is False: no usable GPU",
               "workers": []})
    assert v.status == "fail" and "could not start" in v.summary
    assert judge(None).status == "fail"


def test_fp16_gradient_scaler_run_on_v100_uses_mixed_baseline():
    v = judge(C.result([C.worker(name="Tesla V100-SXM2-16GB", precision="fp16", img_s=800)]))
    g = v.gpus[0]
    assert g.baseline.img_s == 833 and check(g, "proof_fast_enough").status == "pass"


def test_baseline_table_every_entry_sourced_and_valid():
    table = load("resnet_baselines")
    for b in table["baselines"]:
        src = table["sources"][b["source"]]
        assert src["url"].startswith("https://") and src["date"]
        assert b["precision"] in ("mixed", "fp32") and b["img_s"] > 0
    figures = {(b["gpu"], b["precision"], b["source"]): b["img_s"] for b in table["baselines"]}
    # the figures the issue names, as published
    assert figures[("A100 80GB SXM4", "mixed", "nvidia_dle")] == 2470
    assert figures[("H100 SXM5 80GB", "mixed", "lambda_v2")] == 2791
    assert figures[("H200 SXM 141GB", "mixed", "lambda_v2")] == 3079
    assert figures[("A100 80GB SXM4", "mixed", "lambda_v1")] == 1582
    assert figures[("GeForce RTX 4090", "mixed", "lambda_v1")] == 1301
    assert figures[("GeForce RTX 3090", "mixed", "lambda_v1")] == 905


@pytest.mark.parametrize("corpus_file,expected", [
    ("nvidia-smi-q/h100-80gb-hbm3-590.48.01.txt", 2791),
    ("nvidia-smi-table/h200-590.48.01-idle.txt", 3079),
    ("nvidia-smi-q-xml/rtx3090-525.147.05.txt", 905),
    ("collect-env/a100-80gb-pcie-x8-cu124-driver-525.txt", 1527),
    ("nvidia-smi-q-xml/a100-sxm4-80gb-mig-535.54.03.txt", 1582),
    ("nvidia-smi-table/rtx4090d-550.107.02.txt", None),  # RTX 4090 D: a different (cut-down) GPU, no figure
])
def test_real_gpu_names_match_the_right_baseline(corpus_file, expected):
    body = corpus_body(corpus_file)
    facts = facts_from_bundle(Bundle(host="x", pastes=[body]))
    names = {g.name for g in facts.gpu.gpus or [] if g.name}
    # collect_env's "GPU 0: NVIDIA A100 80GB PCIe" lines (torch's names) are not GPU facts: read them here
    names |= set(re.findall(r"^GPU \d+: (.+?)\s*$", body, re.MULTILINE))
    assert names, f"no GPU name parsed from {corpus_file}"
    for name in names:
        found = find_baselines(name, "bf16")
        assert (found[0]["img_s"] if found else None) == expected, name


def test_a_result_with_no_worker_is_not_a_pass():
    # Review regression: a result without error and without workers passed ("0 process(es) trained").
    v = judge(C.result([]))
    assert v.status == "fail" and host_check(v, "proof_ran").status == "fail"


def test_too_few_timed_steps_leave_the_speed_unjudged():
    # Review regression: 3 timed steps (the budget's floor) were enough for a speed pass.
    g = judge(C.result([C.worker(img_s=2800, steps=3)])).gpus[0]
    fast = check(g, "proof_fast_enough")
    assert fast.status == "unknown" and "too few" in fast.summary and g.ratio is None


def test_run_cut_by_the_budget_after_timed_steps_is_judged_on_them():
    # CONSTRUCTED: the budget ended the process during its DataLoader phase; its timed phase had reported.
    w = dict(C.worker(img_s=2800), error="no result within the time budget (60 s)", cut_by_budget=True)
    v = judge(C.result([w], timed_out=True))
    ran = host_check(v, "proof_ran")
    assert ran.status == "warn" and "after their timed steps" in ran.summary
    assert check(v.gpus[0], "proof_fast_enough").status == "pass"


def test_compile_that_does_not_fit_the_budget_is_unknown_not_a_failed_gpu():
    # CONSTRUCTED: torch.compile still compiling when the budget ended the run.
    w = {"rank": 0, "device_index": 0, "error": "no result within the time budget (60 s)", "cut_by_budget": True,
         "param_device": "cuda:0", "phases": {}}
    v = judge(C.result([w], compile=True, timed_out=True))
    ran = host_check(v, "proof_ran")
    assert ran.status == "unknown" and "needs a larger --time-budget" in ran.summary
    assert v.status != "fail"


def test_budget_that_ends_the_run_before_any_timed_step_is_unknown():
    # CONSTRUCTED: a busy host still importing torch when the budget ran out.
    w = {"rank": 0, "device_index": 0, "error": "no result within the time budget (8 s)", "cut_by_budget": True,
         "last_phase": "importing torch"}
    v = judge(C.result([w], timed_out=True))
    ran = host_check(v, "proof_ran")
    assert ran.status == "unknown" and "before any timed step" in ran.summary
    assert ran.evidence == ["process 0: last phase reached importing torch"]
    assert v.status == "unknown"


def test_budget_spent_before_any_worker_is_unknown_naming_the_parents_phase():
    # constructed: the parent's deadline came while it was still counting GPUs (no worker started)
    v = judge(C.result([], ended_by="deadline", timed_out=True, parent_phase="counting GPUs",
                       error="counting CUDA devices took longer than the time budget"))
    ran = next(c for c in v.host_checks if c.id == "proof_ran")
    assert ran.status == "unknown" and "counting GPUs" in ran.summary, ran
    assert v.status != "pass"
