"""Node acceptance, the measurements on one device: sustained dense matmul (bf16 and TF32), device memory copy
bandwidth, pinned host<->device copies. Each runs within its share of the budget: a warm-up (excluded from the
figure, and stated) lets the clocks settle, then timed batches until the share ends; the figure is the median
batch (sustained, not the one lucky batch), the best batch is reported beside it.

Timing, read against torch 2.14's own source: on CUDA a batch is timed with torch.cuda.Event(enable_timing=True)
recorded on the current stream before and after it (Event.record: `torch.cuda.current_stream()` when no stream
is given), then end.synchronize() (cudaEventSynchronize) and start.elapsed_time(end) (milliseconds). On the CPU,
time.perf_counter() around the batch: the work is synchronous there."""

import time

# Sizes: big enough that a batch is bandwidth- or compute-bound (an H100 takes ~1.4 ms per 8192^3 bf16 matmul),
# small enough for a busy CPU to finish a few within its share. Which set a run uses is the worker's `sizes`: the
# device's own, or the CPU's under --small-sizes (a test hook: a simulation on a CPU cannot run 8192^3).
MATMUL_N = {"cuda": 8192, "cpu": 384}
COPY_BYTES = {"cuda": 1 << 30, "cpu": 32 << 20}
# AzureHPC's check_cuda_bw copies 128 MiB; 256 MiB amortises the launch the same way
PINNED_BYTES = {"cuda": 256 << 20, "cpu": 32 << 20}
BATCH_S = {"cuda": 0.2, "cpu": 0.1}  # the length of one timed batch
WARMUP_FRACTION = 0.25  # of a phase's share, for the clocks to settle (at most WARMUP_MAX_S)
WARMUP_MAX_S = 3.0
MIN_PHASE_S = 0.3  # a phase with less than this left is not started: cut by the budget


def batch_timer(torch, cuda):
    """fn, reps -> seconds for reps calls of fn, timed as the module docstring says."""
    if cuda:
        def timed(fn, reps):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
    else:
        def timed(fn, reps):
            t = time.perf_counter()
            for _ in range(reps):
                fn()
            return time.perf_counter() - t
    return timed


def sustained(torch, cuda, dev, fn, work, unit_scale, share_end):
    """Run `fn` until `share_end`: warm-up first (excluded), then timed batches. `work` is what one call does (flops
    or bytes); the figure is work / seconds * unit_scale. Returns the figure's record, or a cut one."""
    now = time.time()
    left = share_end - now
    if left < MIN_PHASE_S:
        return {"cut_by_budget": True, "reason": "the time budget left %.1f s for this part" % max(left, 0.0)}
    timed = batch_timer(torch, cuda)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    warm_end = now + min(WARMUP_MAX_S, WARMUP_FRACTION * left)
    fn()
    sync()
    warm_iters, t0 = 1, time.time()
    while time.time() < warm_end:
        fn()
        sync()
        warm_iters += 1
    per_call = max((time.time() - t0) / max(warm_iters - 1, 1), 1e-6)
    reps = max(1, int(BATCH_S["cuda" if cuda else "cpu"] / per_call))
    batches = []
    while not batches or time.time() + per_call * reps < share_end:
        batches.append(timed(fn, reps) / reps)
    batches.sort()
    median = batches[len(batches) // 2]
    return {"value": work / median * unit_scale, "best": work / batches[0] * unit_scale,
            "warmup_s": round(warm_end - now, 3), "warmup_iters": warm_iters, "batches": len(batches),
            "reps_per_batch": reps, "secs_per_call": median, "work_per_call": work}


def matmul_phase(torch, cuda, dev, dtype_name, share_end, sizes):
    """Dense matmul of two N x N matrices: 2 N^3 flops per call (TFLOPS). bf16 on a GPU; TF32 is fp32 with
    torch.backends.cuda.matmul.allow_tf32 on (set_float32_matmul_precision("high")); on the CPU the same
    shapes in the CPU's own precision (bf16 where torch runs it, else fp32), judged by no bar."""
    n = MATMUL_N[sizes]
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    if dtype_name == "tf32":
        torch.set_float32_matmul_precision("high")
    try:
        a = torch.randn(n, n, device=dev, dtype=dtype)
        b = torch.randn(n, n, device=dev, dtype=dtype)
        out = torch.empty(n, n, device=dev, dtype=dtype)
        rec = sustained(torch, cuda, dev, lambda: torch.matmul(a, b, out=out), 2.0 * n ** 3, 1e-12, share_end)
    finally:
        if dtype_name == "tf32":
            torch.set_float32_matmul_precision("highest")
    rec.update(n=n, dtype=dtype_name, unit="TFLOPS")
    return rec


def memory_copy_phase(torch, cuda, dev, share_end, sizes):
    """A device-to-device copy of COPY_BYTES: each call reads and writes the buffer, so 2 x bytes move (the
    convention of DCGM's memory bandwidth test and of STREAM's copy)."""
    n = COPY_BYTES[sizes]
    src = torch.empty(n, dtype=torch.uint8, device=dev)
    dst = torch.empty(n, dtype=torch.uint8, device=dev)
    rec = sustained(torch, cuda, dev, lambda: dst.copy_(src), 2.0 * n, 1e-9, share_end)
    rec.update(bytes=n, counted="bytes read plus bytes written", unit="GB/s")
    return rec


def pinned_phase(torch, cuda, dev, direction, share_end, sizes):
    """A copy of PINNED_BYTES between page-locked host memory (Tensor.pin_memory) and the device, asynchronous on
    the current stream (copy_(non_blocking=True)), timed by the events around the batch. The CPU has no device
    memory to copy to: not measured, with that reason."""
    if not cuda:
        return {"not_measured": "the CPU has no device memory: host<->device copies apply to a GPU only"}
    n = PINNED_BYTES[sizes]
    host = torch.empty(n, dtype=torch.uint8).pin_memory()
    devbuf = torch.empty(n, dtype=torch.uint8, device=dev)
    if direction == "h2d":
        fn = lambda: devbuf.copy_(host, non_blocking=True)  # noqa: E731
    else:
        fn = lambda: host.copy_(devbuf, non_blocking=True)  # noqa: E731
    rec = sustained(torch, cuda, dev, fn, float(n), 1e-9, share_end)
    rec.update(bytes=n, pinned=bool(host.is_pinned()), unit="GB/s")
    return rec
