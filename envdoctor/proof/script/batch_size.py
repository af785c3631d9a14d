"""Choosing the batch: from free GPU memory, halved on an allocation failure, lowered to fit the time budget;
and the step time the timed steps are planned with."""

import os

from .contract import MIN_LOSSES, MIN_TIMED_STEPS

MAX_BATCH = 2048  # per process; the published H100 runs used batches far above 256
MIN_PLANNED_STEPS = 40  # warm-up + timed steps the chosen batch must leave room for within the budget
# Allocation failures the batch search answers by halving the batch. torch raises torch.OutOfMemoryError for its
# caching allocator ("CUDA out of memory"); cuBLAS and cuDNN report their own (libtorch_cuda's
# TORCH_CUDABLAS_CHECK: "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"; cuDNN 8
# CUDNN_STATUS_ALLOC_FAILED, cuDNN 9 CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED), and a raw runtime
# call cudaErrorMemoryAllocation. A host-side allocation failure is not a batch that is too large: not retried.
ALLOCATION_FAILURES = ("out of memory", "cublas_status_alloc_failed", "cudnn_status_alloc_failed",
                       "cudnn_status_internal_error_device_allocation_failed", "cudaerrormemoryallocation")


def allocation_failure(torch, e):
    """Whether a failed step ran out of GPU memory (torch's allocator, cuBLAS or cuDNN): a smaller batch may fit."""
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(e, oom):
        return True
    text = str(e).lower()
    return any(s in text for s in ALLOCATION_FAILURES)


def step_estimate_s(step_ms):
    """Seconds per step, to plan the timed steps: the median of the warm-up steps after the first. The first one
    carries torch.compile's cold compile, cuDNN's autotuning and the allocations, so it is used only alone."""
    later = sorted(step_ms[1:] or step_ms)
    return later[len(later) // 2] / 1000.0 if later else 1.0


def cpu_threads(world):
    """Intra-op threads for one CPU training process: its share of the CPUs this process may use, less what
    the load average says others keep busy. On a busy host a thread per core makes every step wait for the
    slowest core (seconds a step on two loaded cores, against a fifth of that on one thread)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        idle = int(cpus - os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):
        idle = cpus
    return max(1, min(cpus // max(1, world), idle)), cpus


CPU_MIN_BATCH = 8  # below this a step is mostly overhead, and the loss of a short run mostly noise


def plan_cpu_steps(bs, step_s, seconds_left, losses_so_far, warmup, steps):
    """The CPU run sized to give a verdict within the time left: the warm-up (one step when time is short: the
    steps so far have warmed the kernels) and the batch, halved down to CPU_MIN_BATCH (step time ~ batch), so
    that the steps the verdict needs (MIN_LOSSES losses in all, MIN_TIMED_STEPS of them timed) fit in 70% of
    it. Returns (batch, warm-up steps, timed steps)."""
    def timed(w):
        return max(MIN_TIMED_STEPS, MIN_LOSSES - losses_so_far - w)
    room = 0.7 * seconds_left
    if step_s * (warmup + timed(warmup)) > room:
        warmup = min(warmup, 1)
    while bs > CPU_MIN_BATCH and step_s * (warmup + timed(warmup)) > room:
        bs //= 2
        step_s /= 2.0
    return bs, warmup, max(steps, timed(warmup))


def pick_batch_size(torch, a, dev):
    """Largest power of two (up to MAX_BATCH) whose estimated training memory fits in 70% of the free GPU
    memory; the time budget may lower it after the first step (fit_batch_to_time)."""
    if a.device == "cpu":
        return 32  # smaller batches make the loss curve of a short CPU run too noisy to judge
    free, _total = torch.cuda.mem_get_info(dev)
    # Rough activation+workspace cost per 224x224 image, measured order of magnitude for torchvision models
    # under autocast; fp32 doubles it. Wrong by 2x is fine: an OOM halves the batch and retries.
    per_img_mib = {"resnet18": 25, "resnet34": 35, "resnet50": 80, "resnet101": 120, "resnet152": 170}.get(a.arch, 120)
    if a.precision == "fp32":
        per_img_mib *= 2
    per_img = per_img_mib * (1 << 20) * (a.image_size / 224.0) ** 2
    return pow2_at_most(int(free * 0.7 / per_img), MAX_BATCH)


def pow2_at_most(n, cap, floor=8):
    bs = floor
    while bs * 2 <= min(n, cap):
        bs *= 2
    return bs


def fit_batch_to_time(bs, step_s, seconds_left, floor=8):
    """The batch, halved until MIN_PLANNED_STEPS steps of it (step time ~ batch) fit in the time left."""
    while bs > floor and step_s * MIN_PLANNED_STEPS > seconds_left:
        bs //= 2
        step_s /= 2.0
    return bs
