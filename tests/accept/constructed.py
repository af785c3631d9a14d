"""CONSTRUCTED acceptance results, for tests only: documents shaped as the acceptance script writes its result line
(envdoctor/proof/script/accept_worker.py), with figures chosen by hand. No GPU measured any of them."""

from __future__ import annotations

H100 = "NVIDIA H100 80GB HBM3"


def part(value: float, warmup_s: float = 2.0) -> dict:
    return {"value": value, "best": value * 1.01, "warmup_s": warmup_s, "warmup_iters": 40, "batches": 20,
            "reps_per_batch": 10, "secs_per_call": 0.001}


def gpu_worker(rank: int, name: str = H100, bf16: float = 760.0, tf32: float = 380.0, copy: float = 2900.0,
               h2d: float = 53.0, d2h: float = 54.0, sweep: list[dict] | None = None) -> dict:
    accept = {"matmul_bf16": part(bf16), "matmul_tf32": part(tf32), "memory_copy": part(copy),
              "h2d_pinned": part(h2d), "d2h_pinned": part(d2h)}
    if sweep is not None:
        accept["allreduce"] = {"backend": "nccl", "ranks": 8, "sweep": sweep, "cut_by_budget": []}
    return {"rank": rank, "global_rank": rank, "device_index": rank, "name": name, "accept": accept}


def nccl_rows(ranks: int = 8, busbw_gbs: float = 480.0) -> list[dict]:
    """Rows whose largest size gives `busbw_gbs` by nccl-tests' arithmetic."""
    n = 1 << 30
    algbw = busbw_gbs / (2 * (ranks - 1) / ranks)
    return [{"bytes": 1 << 20, "secs": (1 << 20) / 1e9 / 20.0, "ranks": ranks},
            {"bytes": n, "secs": n / 1e9 / algbw, "ranks": ranks}]


def gpu_result(workers: list[dict], **kw) -> dict:
    doc = {"event": "result", "device": "cuda", "time_budget_s": 90.0, "elapsed_s": 84.0, "ended_by": "results",
           "error": None, "timed_out": False, "workers": workers, "world_size": len(workers), "gpus": []}
    doc.update(kw)
    return doc


def node(bf16: list[float] | None = None, busbw: float = 480.0) -> dict:
    """An 8-GPU H100 node; `bf16` gives each GPU's matmul figure."""
    bf16 = bf16 or [760.0] * 8
    return gpu_result([gpu_worker(i, bf16=bf16[i], sweep=nccl_rows(8, busbw) if i == 0 else None)
                       for i in range(8)])
