"""The DataLoader test: the same training step fed by a torch DataLoader, with the time spent waiting for data."""

import os
import time

from .contract import RESERVE_S
from .ddp import agreed_min
from .task import SyntheticImages
from .values import first_line


def host_cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def dataloader_phase(torch, a, dev, bs, world, rank, run_phase, distributed, deadline, cuda, progress, collective):
    """The same training step fed by a torch DataLoader: per batch, the time spent waiting for data and the
    whole step, with the loader's settings and the host's resources, so the verdict can say what to change."""
    cpus = host_cpus()
    workers = a.workers if a.workers is not None else max(1, min(8, cpus // max(1, world)))
    pin = cuda and not a.no_pin_memory
    out = {"workers": workers, "pin_memory": pin, "cpus": cpus, "world": world,
           "prefetch_factor": a.prefetch_factor if workers > 0 else None,
           "persistent_workers": bool(a.persistent_workers and workers > 0), "transform_cost": a.transform_cost,
           "batch_bytes": bs * 3 * a.image_size * a.image_size * 4}
    try:
        shm = os.statvfs("/dev/shm")
        out["shm_bytes"] = shm.f_frsize * shm.f_blocks
        out["shm_free_bytes"] = shm.f_frsize * shm.f_bavail
    except OSError:
        out["shm_bytes"] = out["shm_free_bytes"] = None
    fmt = torch.contiguous_format if a.no_channels_last else torch.channels_last
    kw = {"num_workers": workers, "pin_memory": pin, "drop_last": True}
    if workers > 0:
        # forkserver: the loader's workers fork from a fresh server process that never touched CUDA (this
        # process has), with torch preloaded there so each worker starts fast.
        import multiprocessing as mp
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["torch"])
        kw.update(prefetch_factor=a.prefetch_factor, persistent_workers=out["persistent_workers"],
                  multiprocessing_context=ctx)
    try:
        ds = SyntheticImages(a.image_size, 1 << 30, seed=5 + rank, cost=a.transform_cost)
        loader = torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=False, **kw)
        progress("dataloader-start", msg="%d workers" % workers)
        t = time.perf_counter()
        it = iter(loader)
        first = next(it)
        out["first_batch_ms"] = round(1000 * (time.perf_counter() - t), 2)  # worker start-up included
        held = [first]

        def get_batch(i):
            x, y = held.pop() if held else next(it)  # noqa: F821 - `del it` below runs after the last batch
            return x.to(dev, non_blocking=True).contiguous(memory_format=fmt), y.to(dev, non_blocking=True)

        warm = run_phase("dataloader-warmup", 3, get_batch, deadline - RESERVE_S - 1.0)
        est = max(warm["step_ms"][-1] / 1000.0, 1e-4) if warm["step_ms"] else 1.0
        avail = max(0.0, deadline - RESERVE_S - 1.0 - time.time())
        n = max(1, min(a.steps, int(avail / est)))
        if distributed:
            with collective("agreeing on the DataLoader step count"):
                n = agreed_min(torch, n, dev, cuda)
        out.update(run_phase("dataloader", n, get_batch, time.time() + avail, min_steps=1 if distributed else 0))
        out["warmup_steps"] = warm["steps"]
        out["data_ms"] = [round(w, 2) for w in out["wait_ms"]]
        out["compute_ms"] = [round(s - w, 2) for s, w in zip(out["step_ms"], out["wait_ms"])]
        del it, loader
    except Exception as e:
        # A DataLoader that cannot start (too small /dev/shm, workers killed) is a finding, not a crash.
        out["error"] = first_line(e)
    return out
