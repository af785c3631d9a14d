"""A measured figure against its SKU's bar: the summary and evidence a user reads, for each outcome. The figures
are constructed (no GPU here); the bars are the table's."""

import math

import pytest

from envdoctor.accept.judge import judge_figure, pcie_below_minimum
from envdoctor.accept.models import Metric
from envdoctor.models import Status

H100 = "NVIDIA H100 80GB HBM3"
A100 = "NVIDIA A100-SXM4-80GB"


@pytest.mark.parametrize(("measured", "status"), [(800.0, Status.PASS), (595.9, Status.PASS),
                                                  (595.8, Status.FAIL), (120.0, Status.FAIL)])
def test_matmul_against_the_derived_bar(measured, status):
    j = judge_figure(Metric.MATMUL_BF16, measured, H100, gpu_count=8)
    assert j.status is status
    assert j.sku == "h100_sxm" and j.fail_below == 595.9 and j.peak == 989
    text = "\n".join([j.summary, *j.evidence])
    assert "595.9 TFLOPS" in text and "H100 SXM5 80GB" in text
    assert "published measurement 794.5 TFLOPS" in text  # the figure the bar was derived from
    assert f"{measured / 989:.0%} of it" in text  # the fraction of the datasheet peak
    # every bar shown names where it comes from and when that was read
    assert "https://github.com/stas00/ml-engineering/" in text and "read 2026-12-08" in text
    assert "https://github.com/NVIDIA/DCGM/" in text


@pytest.mark.parametrize(("measured", "status", "words"), [
    (55.0, Status.PASS, "at or above the bar of 50.4 GB/s"),
    (49.0, Status.WARN, "above the failure bar but below 50.4 GB/s"),
    (47.9, Status.FAIL, "below the bar of 48.0 GB/s"),
])
def test_pinned_copies_warn_between_the_two_bars_like_the_azure_check(measured, status, words):
    for metric in (Metric.H2D_PINNED, Metric.D2H_PINNED):
        j = judge_figure(metric, measured, H100, gpu_count=8)
        assert j.status is status and words in j.summary
        assert any("azurehpc-health-checks" in e and "nd96isr_h100_v5.conf" in e for e in j.evidence)


def test_memory_bandwidth_against_dcgms_minimum():
    assert judge_figure(Metric.MEMORY_BANDWIDTH, 1600.0, A100).status is Status.PASS
    j = judge_figure(Metric.MEMORY_BANDWIDTH, 1100.0, A100)
    assert j.status is Status.FAIL
    assert j.summary == "1,100 GB/s, below the bar of 1,173 GB/s for A100 80GB SXM4"
    assert any("20b2" in e for e in j.evidence)


def test_allreduce_on_8_gpus_against_the_node_bar():
    assert judge_figure(Metric.ALLREDUCE_8GPU, 470.0, H100, gpu_count=8).status is Status.PASS
    j = judge_figure(Metric.ALLREDUCE_8GPU, 400.0, H100, gpu_count=8)
    assert j.status is Status.FAIL and "below the bar of 460.0 GB/s" in j.summary


def test_a_gpu_the_table_does_not_know_is_unknown_never_a_pass():
    j = judge_figure(Metric.MATMUL_BF16, 5000.0, "NVIDIA L40", gpu_count=1)
    assert j.status is Status.UNKNOWN
    assert j.summary == "5,000 TFLOPS; no entry for 'NVIDIA L40' in the per-SKU table, so it is not judged"
    assert "envdoctor/data/gpu_skus.yaml" in j.evidence[-1]


def test_a_known_gpu_without_a_published_bar_is_unknown_with_its_peak():
    j = judge_figure(Metric.MATMUL_BF16, 300.0, "NVIDIA L40S")
    assert j.status is Status.UNKNOWN
    assert "no published bar for the dense bf16 matmul of L40S" in j.summary
    assert j.peak == 362 and any("83% of it" in e for e in j.evidence)


@pytest.mark.parametrize(("measured", "because", "words"), [
    (None, None, "not measured (no figure was reported)"),
    (None, "the time budget ran out before this part", "not measured (the time budget ran out before this part)"),
    (math.nan, None, "not measured (not a figure: nan)"),
])
def test_no_measurement_is_unknown_with_the_reason(measured, because, words):
    j = judge_figure(Metric.MEMORY_BANDWIDTH, measured, H100, not_measured_because=because)
    assert j.status is Status.UNKNOWN and words in j.summary and j.measured is None


def test_a_zero_or_negative_figure_is_not_judged():
    assert judge_figure(Metric.MATMUL_BF16, 0.0, H100).status is Status.UNKNOWN


def test_a_figure_measured_on_the_cpu_has_no_bar():
    j = judge_figure(Metric.MATMUL_BF16, 1.2, None, device="cpu")
    assert j.status is Status.UNKNOWN
    assert j.summary == "1.2 TFLOPS measured on the cpu: the bars are for GPUs, so it is not judged"


def test_a_mig_slice_does_not_apply_and_says_so():
    j = judge_figure(Metric.MATMUL_BF16, 100.0, "NVIDIA A100-SXM4-80GB MIG 1g.10gb")
    assert j.status is Status.SKIP
    assert j.summary.startswith("does not apply: NVIDIA A100-SXM4-80GB MIG 1g.10gb is a MIG slice "
                                "(GPU instance 1g.10gb)")


def test_allreduce_on_a_single_gpu_node_does_not_apply():
    j = judge_figure(Metric.ALLREDUCE_8GPU, None, H100, gpu_count=1)
    assert j.status is Status.SKIP
    assert j.summary == "does not apply: a single-GPU node has nothing to all-reduce across"


def test_allreduce_on_another_gpu_count_is_not_judged_against_the_8_gpu_bar():
    j = judge_figure(Metric.ALLREDUCE_8GPU, 300.0, H100, gpu_count=4)
    assert j.status is Status.UNKNOWN
    assert j.summary == "300.0 GB/s across 4 GPUs; the published bar (460.0 GB/s) is for 8, so it is not judged"


def test_a_judgement_is_a_check_the_reports_can_show():
    c = judge_figure(Metric.H2D_PINNED, 30.0, H100).as_check()
    assert c.id == "accept_h2d_pinned_gbs" and c.status is Status.FAIL
    assert c.title == "The pinned host-to-device bandwidth meets its bar"
    assert c.summary.startswith("30.0 GB/s, below the bar of 48.0 GB/s")


def test_a_link_below_the_skus_minimum_is_named_beside_a_low_copy_figure():
    ev = pcie_below_minimum(A100, 3, 8)
    assert ev[0] == "PCIe link Gen3 x8 under load, below the Gen3 x16 the pinned-copy test requires of A100 80GB SXM4"
    assert "https://github.com/NVIDIA/DCGM/" in ev[1]
    assert pcie_below_minimum(A100, 4, 16) == []
    assert pcie_below_minimum("NVIDIA A10G", 3, 8) == []  # DCGM asks x8 of an A10G
    assert pcie_below_minimum(H100, 1, 1) == []  # no minimum published for it: nothing said
    assert pcie_below_minimum(A100, None, 16) == []
