"""CONSTRUCTED result documents of GPU proof-runs: this machine has no GPU, so the GPU cases of the verdict
are tested on documents shaped exactly like the script's (envdoctor/proof/script: supervisor.py, worker.py), with the
numbers chosen for each case. Nothing here was recorded on a real GPU."""

from __future__ import annotations

import math

T0 = 1_800_000_000.0


def worker(rank=0, name="NVIDIA H100 80GB HBM3", img_s=2800.0, precision="bf16", batch=256, steps=100,
           losses=None, matmul_ok=True, error=None, dataloader=None):
    if error:
        return {"rank": rank, "device_index": rank, "error": error,
                "traceback": "Traceback (most recent call last):\n  ...\n" + error}
    step_ms = 1000.0 * batch / img_s
    if losses is None:
        losses = [2.3 * math.exp(-i / 20) + 0.01 for i in range(steps + 16)]  # a loss that falls
    w = {"rank": rank, "device_index": rank, "name": name, "capability": "9.0", "precision": precision,
         "channels_last": True, "uuid": f"00000000-0000-0000-0000-00000000000{rank}",
         "matmul": {"max_rel_err": 2e-7 if matmul_ok else 0.7, "ok": matmul_ok},
         "param_device": f"cuda:{rank}", "batch_size": batch, "batch_size_from": "free memory", "img_s": img_s,
         "losses": losses, "max_memory_allocated": 30 << 30,
         "phases": {"warmup": {"steps": 15, "t_start": T0, "t_end": T0 + 3, "step_ms": [step_ms] * 15,
                               "wait_ms": [0.0] * 15, "losses": losses[1:16], "img_s": img_s},
                    "timed": {"steps": steps, "t_start": T0 + 3, "t_end": T0 + 3 + steps * step_ms / 1000,
                              "secs": steps * step_ms / 1000, "step_ms": [step_ms] * steps,
                              "wait_ms": [0.01] * steps, "losses": losses[16:], "img_s": img_s}}}
    if dataloader is not None:
        w["phases"]["dataloader"] = dataloader
    return w


def samples(rank=0, n=40, util=99, reasons=(), temp=70, clock=1980, phase="timed", utils=None):
    t0 = T0 + 3.5
    out = []
    for i in range(n):
        out.append({"t": t0 + 0.25 * i, "gpu": rank, "util": (utils[i] if utils else util), "mem_mib": 32000,
                    "power_w": 650.0, "sm_mhz": clock, "temp_c": temp, "reasons": list(reasons), "phase": phase})
    return out


def result(workers, gpu_samples=None, sampler="nvml", mode="per-process", arch="resnet50", image_size=224, **kw):
    gpus = []
    for w in workers:
        gpus.append({"rank": w["rank"], "nvml_index": w["rank"], "uuid": "GPU-" + (w.get("uuid") or ""),
                     "name": w.get("name"), "samples": (gpu_samples or {}).get(w["rank"], samples(w["rank"]))})
    doc = {"event": "result", "proof_version": 1, "device": "cuda", "arch": arch, "image_size": image_size,
           "compile": False, "ddp": mode == "ddp", "dataloader": False, "time_budget_s": 60.0,
           "workers": workers, "gpus": gpus, "sampler": sampler, "sampler_error": None, "error": None,
           "timed_out": False, "world_size": len(workers), "mode": mode, "elapsed_s": 41.2,
           "torch": "2.14.1+cu130"}
    doc.update(kw)
    return doc
