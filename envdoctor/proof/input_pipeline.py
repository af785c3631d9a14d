"""The input pipeline's figures and advice (--dataloader), pure: per batch how long the step waited for data
and how long it took, and which DataLoader settings to change, each with the figures that show it."""

from __future__ import annotations

import statistics

INPUT_BOUND_RATIO = 0.9  # DataLoader img/s below 0.9x the on-GPU data's img/s: the input pipeline limits
WAIT_SHARE = 0.10  # more than 10% of the step time spent waiting for the next batch


def dataloader_figures(dl: dict, samples: list[dict], synth_img_s: float | None = None,
                       device: str | None = None) -> dict:
    """Pure: the DataLoader phase's per-batch figures (medians, ms) and the loader's settings."""
    data = dl.get("data_ms") or dl.get("wait_ms") or []
    step = dl.get("step_ms") or []
    compute = dl.get("compute_ms") or [s - d for s, d in zip(step, data)]
    utils = [s["util"] for s in samples if s.get("phase") == "dataloader" and s.get("util") is not None]
    med_data, med_step = median(data), median(step)
    return {"device": device, "batches": len(step), "data_ms": rnd(med_data), "step_ms": rnd(med_step),
            "compute_ms": rnd(median(compute)), "data_ms_p90": rnd(quantile(data, 0.9)),
            "data_share": round(sum(data) / sum(step), 3) if step and sum(step) > 0 else None,
            "img_s": dl.get("img_s"), "synthetic_img_s": synth_img_s,
            "util_median": median(utils), "util_samples": len(utils),
            "workers": dl.get("workers"), "cpus": dl.get("cpus"), "world": dl.get("world") or 1,
            "pin_memory": dl.get("pin_memory"), "persistent_workers": dl.get("persistent_workers"),
            "prefetch_factor": dl.get("prefetch_factor"), "first_batch_ms": dl.get("first_batch_ms"),
            "shm_bytes": dl.get("shm_bytes"), "batch_bytes": dl.get("batch_bytes")}


def gpu_waits_for_data(fig: dict) -> bool:
    """The step waits for its batch more than WAIT_SHARE of the time, or the loader feeds less than
    INPUT_BOUND_RATIO of what the same step trains on data already in place."""
    share = fig.get("data_share")
    slow = fig.get("img_s") and fig.get("synthetic_img_s") and fig["img_s"] / fig["synthetic_img_s"] < INPUT_BOUND_RATIO
    return bool((share is not None and share > WAIT_SHARE) or slow)


def dataloader_advice(fig: dict) -> list[dict]:
    """Pure: which DataLoader settings to change, each with the figures that show it. Empty when the GPU
    does not wait for data (a /dev/shm too small for the batches in flight is named either way)."""
    out = []
    workers, world = fig.get("workers") or 0, max(1, fig.get("world") or 1)
    cores = max(1, (fig.get("cpus") or 1) // world)
    waits = gpu_waits_for_data(fig)
    step = f"data {fig.get('data_ms')} ms of each {fig.get('step_ms')} ms step ({(fig.get('data_share') or 0):.0%})"
    if waits and workers < cores:
        out.append({"setting": "num_workers", "now": workers, "suggest": cores,
                    "because": f"{step} with num_workers={workers}; the host has {fig.get('cpus')} CPUs for "
                               f"{world} training process(es): {cores} each"})
    if waits and fig.get("device") == "cuda" and not fig.get("pin_memory"):
        out.append({"setting": "pin_memory", "now": False, "suggest": True,
                    "because": f"{step}; copies from pageable memory cannot overlap the step"})
    first = fig.get("first_batch_ms")
    if (waits and workers > 0 and not fig.get("persistent_workers") and first and fig.get("data_ms") is not None
            and first > 500 and first > 5 * max(fig["data_ms"], 1.0)):
        out.append({"setting": "persistent_workers", "now": False, "suggest": True,
                    "because": f"the first batch took {first:,.0f} ms (workers starting) against {fig['data_ms']} ms "
                               "later; without persistent_workers that start-up comes back every epoch"})
    p90, med = fig.get("data_ms_p90"), fig.get("data_ms")
    pf = fig.get("prefetch_factor") or 2
    if waits and workers > 0 and p90 is not None and med is not None and p90 > 3 * max(med, 0.5):
        out.append({"setting": "prefetch_factor", "now": pf, "suggest": pf * 2,
                    "because": f"batches arrive unevenly: median {med} ms, 90th percentile {p90} ms waiting for data"})
    shm, batch = fig.get("shm_bytes"), fig.get("batch_bytes")
    if workers > 0 and shm and batch and shm < workers * pf * batch:
        out.append({"setting": "/dev/shm size", "now": mib(shm), "suggest": f"at least {mib(2 * workers * pf * batch)}",
                    "because": f"{workers} workers x prefetch_factor {pf} x {mib(batch)} per batch = "
                               f"{mib(workers * pf * batch)} in flight in /dev/shm ({mib(shm)}); "
                               "docker run --shm-size or --ipc=host"})
    if waits and not out:
        out.append({"setting": "the transform", "now": f"num_workers={workers}", "suggest": "a lighter transform or "
                    "GPU-side decoding (DALI, torchvision.io.decode_jpeg on the device)",
                    "because": f"{step} with every core already a worker ({workers} for {cores} CPUs per process)"})
    return out


def rnd(x):
    return round(x, 2) if x is not None else None


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else None


def median(xs):
    return statistics.median(xs) if xs else None


def mib(n) -> str:
    return "?" if n is None else f"{n / (1 << 20):,.0f} MiB"
