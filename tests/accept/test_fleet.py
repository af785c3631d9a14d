"""Grey failures across a fleet: each GPU's figure against the median of its SKU. The fleets are constructed
(no fleet here): a uniform one with a realistic spread, and the same fleet with one labelled outlier."""

import pytest

from envdoctor.accept.fleet import GREY_TOLERANCE, MIN_PEERS, FleetFigure, grey_failures
from envdoctor.accept.judge import judge_figure
from envdoctor.accept.models import Metric
from envdoctor.models import Status

H100 = "NVIDIA H100 80GB HBM3"
A100 = "NVIDIA A100-SXM4-80GB"
# A spread of a few percent, as GPUs of one model show (cooling, silicon): no GPU is an outlier in it.
SPREAD = [0.0, -0.02, 0.015, -0.035, 0.03, -0.01, 0.005, -0.045]


def fleet(metric=Metric.MATMUL_BF16, name=H100, base=790.0, hosts=4):
    """Constructed: `hosts` nodes of 8 GPUs, each figure within a few percent of `base`."""
    return [FleetFigure(host=f"gpu{h:02d}", gpu_index=i, gpu_name=name, metric=metric,
                        value=round(base * (1 + SPREAD[(h + i) % 8]), 1)) for h in range(hosts) for i in range(8)]


def test_a_uniform_fleet_flags_nothing():
    figures = fleet() + fleet(Metric.MEMORY_BANDWIDTH, base=2900.0) + fleet(Metric.H2D_PINNED, base=55.0)
    assert grey_failures(figures) == []


def test_a_constructed_outlier_is_flagged_with_both_figures():
    figures = fleet()
    # constructed outlier: gpu02 GPU 5 at 650 TFLOPS (above the 595.9 bar, so it passes alone; 17 % below its peers)
    figures[2 * 8 + 5] = figures[2 * 8 + 5].model_copy(update={"value": 650.0})
    found = grey_failures(figures)
    assert len(found) == 1
    g = found[0]
    assert (g.host, g.gpu_index, g.status, g.peers) == ("gpu02", 5, Status.WARN, 32)
    assert judge_figure(Metric.MATMUL_BF16, 650.0, H100).status is Status.PASS  # alone, it passes its bar
    assert g.summary == ("gpu02 GPU 5: dense bf16 matmul 650.0 TFLOPS, 17% below the fleet median of 786.0 TFLOPS "
                         "(32 H100 SXM5 80GB figures)")


def test_the_line_is_ten_percent_below_the_median():
    assert GREY_TOLERANCE == 0.10
    figures = fleet()
    figures[0] = figures[0].model_copy(update={"value": 790.0 * 0.905})  # constructed: 9.5 % below
    figures[1] = figures[1].model_copy(update={"value": 790.0 * 0.89})  # constructed: 11 % below
    assert [(g.host, g.gpu_index) for g in grey_failures(figures)] == [("gpu00", 1)]


def test_gpus_are_compared_only_with_their_own_sku():
    # constructed: an A100 node in an H100 fleet is slower, and is not a grey failure for it
    figures = fleet() + fleet(name=A100, base=265.0, hosts=1)
    assert grey_failures(figures) == []


def test_a_per_node_figure_is_compared_across_nodes():
    # constructed: 6 nodes' all_reduce bus bandwidth, one with an NVLink lane down
    nodes = [FleetFigure(host=f"gpu{h:02d}", gpu_name=H100, metric=Metric.ALLREDUCE_8GPU, value=v)
             for h, v in enumerate([478.0, 481.5, 476.2, 401.3, 480.0, 479.1])]
    (g,) = grey_failures(nodes)
    assert g.summary == ("gpu03: NCCL all_reduce bus bandwidth across 8 GPUs 401.3 GB/s, 16% below the fleet median "
                         "of 478.6 GB/s (6 H100 SXM5 80GB figures)")


def test_too_few_peers_and_missing_figures_are_not_judged():
    few = fleet()[: MIN_PEERS - 1]
    few[0] = few[0].model_copy(update={"value": 100.0})
    assert grey_failures(few) == []
    figures = fleet()
    figures[3] = figures[3].model_copy(update={"value": None})  # not measured: not an outlier
    assert grey_failures(figures) == []


def test_mig_slices_take_no_part_and_unknown_gpus_are_grouped_by_name():
    slices = [FleetFigure(host="gpu00", gpu_index=i, gpu_name=f"{A100} MIG 1g.10gb", metric=Metric.MATMUL_BF16,
                          value=v) for i, v in enumerate([38.0, 37.5, 12.0, 38.2])]
    assert grey_failures(slices) == []
    unknown = fleet(name="NVIDIA L40", base=180.0)  # not in the SKU table
    unknown[7] = unknown[7].model_copy(update={"value": 120.0})
    (g,) = grey_failures(unknown)
    assert g.group == "NVIDIA L40" and g.gpu_index == 7


@pytest.mark.parametrize("value", [0.0, -5.0])
def test_a_nonsense_figure_is_no_peer(value):
    figures = fleet()
    figures[0] = figures[0].model_copy(update={"value": value})
    assert grey_failures(figures) == []
