"""Acceptance results to what the user reads: the figures judged, the reasons figures are unknown, the sweep's busbw,
grey failures across a fleet, in the text, JSON, Prometheus and HTML reports. The GPU results are CONSTRUCTED
(tests/accept/constructed.py); the CPU result is shaped as this machine's run writes it."""

from __future__ import annotations

import json
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from envdoctor.accept.result import acceptance_of, figure_check
from envdoctor.app.accept import judge_fleet
from envdoctor.models import HostReport, Report, Status, host_status
from envdoctor.report.accept_text import render_accept
from envdoctor.report.html import render_html
from envdoctor.report.prometheus import render_prometheus
from tests.accept.constructed import node

CPU_RESULT = {  # the shape of `envdoctor accept --device cpu --quick` on this machine (values rounded)
    "event": "result", "device": "cpu", "time_budget_s": 20.0, "elapsed_s": 11.4, "ended_by": "results",
    "error": None, "timed_out": False, "world_size": 2, "gpus": [],
    "workers": [{"rank": r, "global_rank": r, "device_index": r, "name": "cpu", "accept": {
        "matmul_bf16": {"value": 0.07, "best": 0.16, "warmup_s": 1.19, "warmup_iters": 524, "batches": 41,
                        "reps_per_batch": 44},
        "memory_copy": {"cut_by_budget": True, "reason": "the time budget left 0.2 s for this part"},
        "h2d_pinned": {"not_measured": "the CPU has no device memory: host<->device copies apply to a GPU only"},
        "allreduce": {"backend": "gloo", "ranks": 2, "sweep": [
            {"bytes": 262144, "secs": 0.0032, "ranks": 2}, {"bytes": 1048576, "secs": 0.0039, "ranks": 2}]}}}
        for r in range(2)]}


def host(name: str, result: dict, quick: bool = False) -> HostReport:
    a = acceptance_of(result, quick=quick, time_budget=result["time_budget_s"])
    checks = [figure_check(f) for f in a.figures]
    return HostReport(host=name, status=host_status(checks), checks=checks, accept=a)


def test_on_the_cpu_every_figure_is_unknown_with_its_reason():
    h = host("vm", CPU_RESULT, quick=True)
    assert h.accept.figures and all(f.status == Status.UNKNOWN for f in h.accept.figures)
    text = render_accept(Report(envdoctor="t", hosts=[h]))
    assert "Every figure is unknown: the bars are for GPUs" in text
    assert "dense bf16 matmul: measured on the cpu, not judged (the bars are for GPUs; there is no CPU bar) (x2)" in text
    assert "dense TF32 matmul: not measured (not part of --quick; no CPU bar in any case) (x2)" in text
    assert "device memory bandwidth: not measured (cut by the time budget: the time budget left 0.2 s" in text
    assert "pinned host-to-device bandwidth: not measured (the CPU has no device memory" in text
    # the gloo all_reduce ran between the two processes: its busbw is computed and shown, and not judged
    assert re.search(r"1,048,576 B  algbw +0\.27 GB/s  busbw +0\.27 GB/s  \(2 ranks\)", text)
    assert "all_reduce busbw 0.269 GB/s across 2 cpu processes: measured on the cpu, not judged" in text


def test_a_part_the_budget_ended_is_unknown_not_a_pass():
    result = node()
    for w in result["workers"]:
        del w["accept"]["matmul_tf32"], w["accept"]["memory_copy"], w["accept"]["h2d_pinned"], w["accept"]["d2h_pinned"]
    result.update(ended_by="deadline", timed_out=True)
    figs = {(f.metric, f.gpu_index): f for f in host("n1", result).accept.figures}
    assert figs[("matmul_bf16_tflops", 0)].status == Status.PASS
    cut = figs[("memory_bandwidth_gbs", 3)]
    assert cut.status == Status.UNKNOWN and "the time budget ended before this part finished" in cut.summary


def test_the_sweep_gives_busbw_by_nccl_tests_arithmetic_and_is_judged_against_the_8_gpu_bar():
    h = host("n1", node(busbw=480.0))
    assert [round(r.busbw_gbs, 1) for r in h.accept.allreduce][-1] == 480.0
    (ar,) = [f for f in h.accept.figures if f.gpu_index is None]
    assert ar.status == Status.PASS and ar.fail_below == 460
    low = [f for f in host("n2", node(busbw=300.0)).accept.figures if f.gpu_index is None][0]
    assert low.status == Status.FAIL and "below the bar of 460.0 GB/s" in low.summary


def fleet(outlier: float | None = None) -> Report:
    hosts = [host(f"gpu0{i}", node()) for i in range(1, 5)]
    if outlier is not None:  # CONSTRUCTED: gpu03's GPU 5 slower than its peers, still above the 595.9 bar
        hosts[2] = host("gpu03", node([760.0] * 5 + [outlier] + [760.0] * 2))
    report = Report(envdoctor="t", hosts=hosts, fleet=judge_fleet(hosts))
    return report


def test_a_uniform_fleet_flags_no_gpu():
    report = fleet()
    assert report.fleet.grey_failures == []
    assert not [c for h in report.hosts for c in h.checks if c.status == Status.WARN or "grey" in c.id]
    text = render_accept(report)
    assert "Fleet: 4 hosts compared; no GPU more than 10 % below the fleet median of its SKU." in text
    assert "gpu01 (" not in text and "grey" not in text
    assert "envdoctor_accept_grey_failure" not in render_prometheus(report, now=0)


def test_a_constructed_outlier_is_a_warning_naming_both_figures_in_every_report():
    report = fleet(outlier=620.0)
    (g,) = report.fleet.grey_failures
    assert (g.host, g.gpu_index, g.metric) == ("gpu03", 5, "matmul_bf16_tflops")
    slow = next(h for h in report.hosts if h.host == "gpu03")
    assert slow.status == "warn"
    text = render_accept(report)
    assert ("gpu03 GPU 5: dense bf16 matmul 620.0 TFLOPS, 18% below the fleet median of 760.0 TFLOPS "
            "(32 H100 SXM5 80GB figures)") in text
    assert "Fleet: 1 figure(s) more than 10 % below the fleet median of their SKU" in text
    block = text.split("\n\ngpu03: ")[1].split("\n\ngpu04: ")[0]
    row = next(line for line in block.splitlines() if line.startswith("  [✓]  GPU 5") and "matmul" in line)
    assert "620.0 TFLOPS" in row and "fail <595.9" in row and "760.0" in row  # figure, bar, fleet median
    doc = json.loads(report.model_dump_json())
    assert doc["fleet"]["grey_failures"][0]["median"] == 760.0
    figs = [f for f in doc["hosts"][2]["accept"]["figures"] if f["metric"] == "matmul_bf16_tflops"]
    assert {f["fleet_median"] for f in figs} == {760.0}
    prom = render_prometheus(report, now=0)
    series = [(s.name, tuple(sorted(s.labels.items()))) for fam in text_string_to_metric_families(prom)
              for s in fam.samples]
    assert len(series) == len(set(series))  # the textfile collector rejects a file with a repeated series
    assert re.search(r'envdoctor_accept_grey_failure_below_median_ratio\{gpu="5",host="gpu03",'
                     r'metric="matmul_bf16_tflops",name="NVIDIA H100 80GB HBM3"\} 0\.18', prom)
    assert re.search(r'envdoctor_accept_fleet_median\{gpu="5",host="gpu03",metric="matmul_bf16_tflops",'
                     r'name="NVIDIA H100 80GB HBM3"\} 760\.0', prom)
    page = render_html(report)
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    assert data["grey"][0]["summary"].startswith("gpu03 GPU 5: dense bf16 matmul 620.0 TFLOPS")
    gpu5 = [f for a in data["accept"] if a["host"] == "gpu03" for f in a["figures"]
            if f["gpu_index"] == 5 and f["metric"] == "matmul_bf16_tflops"][0]
    assert (gpu5["value"], gpu5["fail_below"], gpu5["fleet_median"]) == (620.0, 595.9, 760.0)
    assert "Node acceptance: each figure per GPU against its bar and the fleet median" in page


@pytest.mark.parametrize("metric", ["matmul_bf16_tflops", "h2d_pinned_gbs"])
def test_a_low_figure_fails_with_its_bar_and_source(metric):
    result = node()
    part = {"matmul_bf16_tflops": "matmul_bf16", "h2d_pinned_gbs": "h2d_pinned"}[metric]
    result["workers"][2]["accept"][part]["value"] = 10.0
    h = host("n1", result)
    (c,) = [c for c in h.checks if c.id == f"accept_{metric}_gpu2"]
    assert c.status == Status.FAIL and c.summary.startswith("GPU 2 (NVIDIA H100 80GB HBM3): 10.0")
    assert any(e.startswith("source: ") for e in c.evidence)
    assert "warm-up 2.0 s (40 calls, excluded)" in " ".join(c.evidence)


def test_a_single_gpu_node_skips_the_all_reduce_and_a_mig_slice_skips_the_bars_saying_so():
    from tests.accept.constructed import gpu_result, gpu_worker

    one = gpu_worker(0)
    one["accept"]["allreduce"] = {"not_measured": "a single process: nothing to all-reduce across"}
    h = host("n1", gpu_result([one], world_size=1))
    (ar,) = [f for f in h.accept.figures if f.gpu_index is None]
    assert ar.status == Status.SKIP and "does not apply: a single-GPU node has nothing to all-reduce" in ar.summary
    mig = host("n2", gpu_result([gpu_worker(0, name="NVIDIA H100 80GB HBM3 MIG 1g.10gb")], world_size=1))
    bf16 = next(f for f in mig.accept.figures if f.metric == "matmul_bf16_tflops")
    assert bf16.status == Status.SKIP and "is a MIG slice" in bf16.summary
