"""nccl-tests' all_reduce arithmetic (src/all_reduce.cu, AllReduceGetBw): algbw = bytes / 1e9 / s and
busbw = algbw * 2 (n - 1) / n. Checked against lines all_reduce_perf printed in a published run (an 8-GPU node and
two of them; NCCL 2.28.9): size 8589934592 B, time in microseconds, algbw and busbw in GB/s."""

import math

import pytest

from envdoctor.accept.allreduce import allreduce_bandwidth, best_busbw, busbw_factor
from envdoctor.models import AllReduce

# (ranks, size in bytes, time in us, algbw, busbw) as all_reduce_perf printed them, out-of-place columns
PRINTED = [(8, 8589934592, 18006, 477.05, 834.84), (8, 8589934592, 17990, 477.49, 835.61),
           (16, 8589934592, 21012, 408.82, 766.54), (16, 17179869184, 42007, 408.98, 766.84)]


@pytest.mark.parametrize(("ranks", "size", "us", "algbw", "busbw"), PRINTED)
def test_the_figures_nccl_tests_printed_come_out_again(ranks, size, us, algbw, busbw):
    r = allreduce_bandwidth(size, us / 1e6, ranks)
    # all_reduce_perf prints the time rounded to the microsecond and the bandwidths to 10 MB/s
    assert r.algbw_gbs == pytest.approx(algbw, abs=0.02)
    assert r.busbw_gbs == pytest.approx(busbw, abs=0.05)
    assert r.world == ranks and r.bytes == size


@pytest.mark.parametrize(("ranks", "factor"), [(1, 0.0), (2, 1.0), (4, 1.5), (8, 1.75), (16, 1.875)])
def test_the_bus_factor(ranks, factor):
    assert busbw_factor(ranks) == factor


@pytest.mark.parametrize(("n_bytes", "secs", "ranks"), [(0, 1.0, 8), (1 << 20, 0.0, 8), (1 << 20, -1.0, 8),
                                                        (1 << 20, math.inf, 8), (1 << 20, math.nan, 8),
                                                        (1 << 20, 1.0, 0)])
def test_nonsense_inputs_are_refused(n_bytes, secs, ranks):
    with pytest.raises(ValueError):
        allreduce_bandwidth(n_bytes, secs, ranks)


def test_the_sweeps_plateau_is_its_figure():
    sweep = [allreduce_bandwidth(s, t, 8) for s, t in [(1 << 20, 1e-4), (1 << 30, 2.5e-3), (1 << 33, 1.8e-2)]]
    assert best_busbw(sweep) is sweep[2]
    assert best_busbw([]) is None


def test_the_result_is_the_reports_all_reduce_model():
    r = allreduce_bandwidth(1 << 30, 0.01, 2)
    assert isinstance(r, AllReduce)
    assert r.algbw_gbs == r.busbw_gbs  # two ranks: the factor is 1
