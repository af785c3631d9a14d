"""--dataloader: per-batch data and step times, GPU utilisation, and which settings to change when the GPU
waits for data. The advice logic is pure: tested on CONSTRUCTED figures (labelled below) and, for real, on
figures measured here on the CPU from a DataLoader that is slow by design (num_workers=0 and a costly
transform). No assertion depends on speed."""

from __future__ import annotations

import pytest

from envdoctor.hosts.targets import LOCAL
from envdoctor.proof.input_pipeline import dataloader_advice, dataloader_figures, gpu_waits_for_data
from envdoctor.proof.stage import run_proof


def constructed(**kw) -> dict:
    """CONSTRUCTED figures of one GPU's DataLoader phase: the numbers are chosen for each case."""
    fig = {"device": "cuda", "batches": 40, "data_ms": 60.0, "step_ms": 100.0, "compute_ms": 40.0,
           "data_ms_p90": 70.0, "data_share": 0.6, "img_s": 1000.0, "synthetic_img_s": 2600.0,
           "util_median": 35, "util_samples": 40, "workers": 2, "cpus": 32, "world": 4, "pin_memory": True,
           "persistent_workers": False, "prefetch_factor": 2, "first_batch_ms": 300.0,
           "shm_bytes": 64 << 30, "batch_bytes": 256 * 3 * 224 * 224 * 4}
    fig.update(kw)
    return fig


def settings(advice):
    return {a["setting"]: a for a in advice}


def test_constructed_gpu_waiting_gets_num_workers_from_the_cores():
    a = settings(dataloader_advice(constructed()))
    assert a["num_workers"]["now"] == 2 and a["num_workers"]["suggest"] == 8  # 32 CPUs / 4 processes
    assert "data 60.0 ms of each 100.0 ms step (60%)" in a["num_workers"]["because"]


def test_constructed_unpinned_slow_start_and_uneven_batches():
    a = settings(dataloader_advice(constructed(pin_memory=False, first_batch_ms=9000.0, data_ms_p90=400.0)))
    assert a["pin_memory"]["suggest"] is True
    assert a["persistent_workers"]["suggest"] is True and "9,000 ms" in a["persistent_workers"]["because"]
    assert a["prefetch_factor"]["now"] == 2 and a["prefetch_factor"]["suggest"] == 4
    assert "90th percentile 400.0 ms" in a["prefetch_factor"]["because"]


def test_constructed_small_shm_is_named_even_when_the_gpu_keeps_up():
    fig = constructed(data_ms=1.0, step_ms=100.0, compute_ms=99.0, data_share=0.01, img_s=2590.0,
                      shm_bytes=64 << 20, workers=8)
    assert not gpu_waits_for_data(fig)
    a = settings(dataloader_advice(fig))
    assert list(a) == ["/dev/shm size"] and a["/dev/shm size"]["now"] == "64 MiB"


def test_constructed_pipeline_that_keeps_up_needs_nothing():
    assert dataloader_advice(constructed(data_ms=0.5, data_share=0.005, img_s=2580.0)) == []


def test_constructed_every_core_busy_points_at_the_transform():
    a = settings(dataloader_advice(constructed(workers=8, cpus=32, world=4)))
    assert list(a) == ["the transform"]


@pytest.fixture(scope="module")
def slow_loader():
    # Real: a DataLoader in the training process itself (num_workers=0) with 40 blur passes per image.
    return run_proof(LOCAL, None, device="cpu", dataloader=True, time_budget=300, image_size=32, steps=5, warmup=1,
                     batch_size=8, extra_args=["--workers", "0", "--transform-cost", "40"])


def test_measured_figures_per_batch_and_advice_from_them(slow_loader):
    proof = slow_loader
    assert proof.result is not None and proof.result["error"] is None, proof.summary
    (w,) = proof.result["workers"]
    assert w.get("error") is None, w
    dl = w["phases"]["dataloader"]
    assert dl.get("error") is None and dl["workers"] == 0 and dl["transform_cost"] == 40
    assert len(dl["data_ms"]) == len(dl["compute_ms"]) == len(dl["step_ms"]) == dl["steps"] >= 1
    assert all(d >= 0 for d in dl["data_ms"]) and all(c >= 0 for c in dl["compute_ms"])
    (g,) = proof.verdict.gpus
    info = g.dataloader
    fig = info.figures
    assert fig == dataloader_figures(dl, [], w["img_s"], "cpu")  # the verdict's figures are the measured ones
    assert [a.model_dump() for a in info.advice] == dataloader_advice(fig)  # and its advice follows from them
    assert info.gpu_waits_for_data == gpu_waits_for_data(fig)
    # With no workers at all, a pipeline that makes the step wait is told to use the host's cores.
    named = {a.setting for a in info.advice}
    assert ("num_workers" in named) == (info.gpu_waits_for_data and fig["cpus"] > 0)
    check = next(c for c in g.checks if c.id == "proof_input_pipeline")
    assert check.status == "skip"  # measured, not judged, on the CPU
    assert any(e.startswith("per batch: data ") and " ms, step " in e for e in check.evidence)
    assert any("num_workers=0" in e for e in check.evidence)
