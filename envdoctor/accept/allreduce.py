"""all_reduce bandwidth the way nccl-tests computes and reports it (src/all_reduce.cu, AllReduceGetBw;
doc/PERFORMANCE.md): algbw = bytes / 1e9 / seconds, busbw = algbw * 2 (n - 1) / n, where n is the number of
ranks. busbw is the figure comparable with the hardware's link bandwidth and with the published bars.
https://github.com/NVIDIA/nccl-tests/blob/master/src/all_reduce.cu"""

from __future__ import annotations

import math

from envdoctor.models import AllReduce


def busbw_factor(ranks: int) -> float:
    """2 (n - 1) / n: each rank sends and receives 2 (n - 1) / n of the buffer in an all_reduce."""
    if ranks < 1:
        raise ValueError(f"an all_reduce needs at least one rank, not {ranks}")
    return 2 * (ranks - 1) / ranks


def allreduce_bandwidth(n_bytes: int, secs: float, ranks: int) -> AllReduce:
    """algbw and busbw (GB/s, 10^9 bytes/s) of one all_reduce of `n_bytes` per rank that took `secs`."""
    if n_bytes <= 0:
        raise ValueError(f"an all_reduce of {n_bytes} bytes has no bandwidth")
    if not (secs > 0 and math.isfinite(secs)):
        raise ValueError(f"an all_reduce that took {secs} s has no bandwidth")
    algbw = n_bytes / 1e9 / secs
    return AllReduce(bytes=n_bytes, secs=secs, algbw_gbs=algbw, busbw_gbs=algbw * busbw_factor(ranks), world=ranks)


def best_busbw(sweep: list[AllReduce]) -> AllReduce | None:
    """The sweep's largest bus bandwidth: small messages measure latency, so the plateau at large sizes is the
    figure (nccl-tests prints it per size; the health checks read it at one large size)."""
    return max(sweep, key=lambda r: r.busbw_gbs, default=None)
