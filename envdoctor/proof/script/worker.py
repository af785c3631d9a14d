"""One training process (a GPU, or the CPU), started by the parent with the spawn method: it imports torch, checks
a matmul, finds a batch that fits, trains warm-up and timed steps (DDP when asked), and sends its result."""

import math
import os
import signal
import sys
import threading
import time
import traceback

from .accept_worker import run_accept_worker
from .batch_size import allocation_failure, cpu_threads, fit_batch_to_time, pick_batch_size, plan_cpu_steps, step_estimate_s
from .contract import RESERVE_S
from .dataloader import dataloader_phase
from .ddp import CollectiveGuard, agreed_min, allreduce_bandwidth, rendezvous, replica_state
from .messages import send
from .task import DATA_SEED, NUM_CLASSES, TEMPLATE_GAIN
from .values import first_line, quietly

LR = 0.02


def matmul_check(torch, dev):
    """A small fp32 matmul on the device against float64 on the CPU: wrong answers mean broken hardware
    or a broken library, whatever the loss says. On the CPU it checks fp32 BLAS against float64 only."""
    g = torch.Generator().manual_seed(7)
    a = torch.randn(256, 256, generator=g)
    b = torch.randn(256, 256, generator=g)
    ref = a.double() @ b.double()
    got = (a.to(dev) @ b.to(dev)).double().cpu()
    err = float((got - ref).abs().max() / ref.abs().max())
    return {"max_rel_err": err, "ok": bool(math.isfinite(err) and err < 1e-2), "device": str(dev)}


def run_worker(rank, world, dev_index, a, q, deadline, port):
    cuda = a.device == "cuda"
    grank, gworld = a.node_rank * world + rank, a.nnodes * world  # the rendezvous corrects these for DDP
    distributed = a.ddp and gworld > 1
    info = {"rank": rank, "global_rank": grank, "device_index": dev_index, "pid": os.getpid()}

    def progress(phase, step=0, of=0, **kw):
        d = {"event": "progress", "rank": rank, "phase": phase, "step": step, "of": of}
        d.update(kw)
        send(q, d)

    memory = {}  # set once the device is: what checkpoint() adds of it

    def checkpoint():
        # What is known so far reaches the parent after each phase, with everything the verdict reads (the GPU's
        # peak memory included): a run the budget cuts after its timed steps is judged on this.
        if memory:
            info.update(memory_figures(memory["torch"], memory["dev"]))
        send(q, {"event": "worker_result", "rank": rank, "partial": True, "result": info})

    guard = CollectiveGuard(q, rank, info, a.collective_wait, deadline - RESERVE_S)

    def collective(name):
        """Each collective is a phase of its own, announced before it starts, and a bounded wait (CollectiveGuard):
        a rank that never answers is named in that collective, not in the phase before it."""
        progress(name, msg="waiting for all %d processes" % gworld)
        return guard.waiting_in(name)

    progress("importing torch")
    import torch
    if distributed:  # first, before anything slower: the other nodes wait for this one at the rendezvous
        import torch.distributed as dist
        if a.iface:
            os.environ["NCCL_SOCKET_IFNAME"] = os.environ["GLOO_SOCKET_IFNAME"] = a.iface
        if cuda:
            torch.cuda.set_device(dev_index)  # NCCL's communicator belongs to this process's GPU
        grank, gworld, info["node_sizes"] = rendezvous(torch, a, rank, world, port, deadline,
                                                       "nccl" if cuda else "gloo", progress)
        info["backend"] = dist.get_backend()
        progress("joined", grank + 1, gworld, msg="joined %d processes" % gworld)
    import torch.nn.functional as F
    import torchvision
    # str(): torch.__version__ is a TorchVersion; the result carries plain strings only.
    info.update(torch=str(torch.__version__), torchvision=str(torchvision.__version__),
                torch_cuda=quietly(lambda: str(torch.version.cuda) if torch.version.cuda else None))

    if cuda:
        torch.cuda.set_device(dev_index)
        dev = torch.device("cuda", dev_index)
        p = torch.cuda.get_device_properties(dev_index)
        info.update(name=p.name, capability="%d.%d" % (p.major, p.minor), total_memory=p.total_memory,
                    sm_count=getattr(p, "multi_processor_count", None),
                    uuid=quietly(lambda: str(p.uuid)), pci_bus_id=quietly(lambda: "%08X:%02X:%02X.0" % (
                        p.pci_domain_id, p.pci_bus_id, p.pci_device_id)))
        info["cudnn"] = quietly(torch.backends.cudnn.version)  # here, in a worker: it initialises CUDA
        torch.backends.cudnn.benchmark = True
        memory.update(torch=torch, dev=dev)
    else:
        dev = torch.device("cpu")
        threads, cpus = cpu_threads(world)
        torch.set_num_threads(threads)
        info.update(name="cpu", capability=None, threads=threads, cpus=cpus)
    precision = a.precision
    info["precision"] = precision
    info["channels_last"] = not a.no_channels_last
    info["matmul"] = matmul_check(torch, dev)
    progress("setup", msg="matmul ok" if info["matmul"]["ok"] else "matmul WRONG")

    info["global_rank"], info["world_size"] = grank, gworld
    if distributed:
        guard.start()
        checkpoint()  # the last phase before the first transfer between GPUs is known to the parent
        with collective("all-reduce bandwidth"):
            if a.inject_collective_hang == grank:  # the test hook: this rank never takes its part
                threading.Event().wait()
            info["allreduce"] = allreduce_bandwidth(torch, dist, dev, gworld, cuda)
    checkpoint()

    progress("building the model", msg=a.arch)
    torch.manual_seed(1234)  # identical initial weights on every process (DDP also broadcasts them)
    model = getattr(torchvision.models, a.arch)(weights=None, num_classes=NUM_CLASSES)
    fmt = torch.contiguous_format if a.no_channels_last else torch.channels_last
    model = model.to(dev, memory_format=fmt)
    info["param_device"] = str(next(model.parameters()).device)
    # The batch search below takes optimizer steps on each rank's own data; DDP broadcasts the parameters and
    # buffers when it wraps the model, never SGD's momentum or a GradScaler's scale. So the search's steps are
    # undone before training: the initial weights kept on the CPU, the optimizer and the scaler made anew.
    initial = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    amp = precision in ("bf16", "fp16")
    amp_dtype = torch.bfloat16 if precision == "bf16" else torch.float16

    def fresh_optimizer():
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-5)
        scaler = None
        if precision == "fp16":
            scaler = torch.amp.GradScaler(dev.type) if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler") \
                else torch.cuda.amp.GradScaler()
        return opt, scaler

    opt, scaler = fresh_optimizer()
    info["grad_scaler"] = scaler is not None
    # the batch search runs on the plain model: no rank waits in a collective
    current = {"model": model, "opt": opt, "scaler": scaler}

    def train_step(x, y):
        opt, scaler = current["opt"], current["scaler"]
        with torch.autocast(device_type=dev.type, dtype=amp_dtype, enabled=amp):
            loss = F.cross_entropy(current["model"](x), y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        return loss

    S = a.image_size
    # Low-frequency class patterns (4x4 blocks scaled up): a CNN picks them out within a few steps. The same
    # task on every process (seed 99), each with its own samples (seed by global rank).
    gen = torch.Generator(device=dev).manual_seed(99)
    coarse = torch.randn(NUM_CLASSES, 3, 4, 4, device=dev, generator=gen) * TEMPLATE_GAIN
    templates = F.interpolate(coarse, size=(S, S), mode="nearest")
    gen.manual_seed(DATA_SEED + grank)

    def make_batch(bs):
        # Learnable: each label adds its own fixed pattern to the noise, so the label is a function of x.
        y = torch.randint(0, NUM_CLASSES, (bs,), device=dev, generator=gen)
        x = torch.randn(bs, 3, S, S, device=dev, generator=gen) + templates[y]
        return x.contiguous(memory_format=fmt), y

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    bs = a.batch_size or pick_batch_size(torch, a, dev)
    info["batch_size_from"] = "option" if a.batch_size else ("free memory" if cuda else "default")
    losses = []
    pool = None
    while True:  # find a batch that fits: the first step allocates (almost) everything
        oom = False
        progress("first step", msg="batch %d" % bs)
        try:
            pool = [make_batch(bs) for _ in range(4)]
            t = time.perf_counter()
            losses.append(float(train_step(*pool[0]).item()))
            info["first_step_s"] = round(time.perf_counter() - t, 3)
            break
        except RuntimeError as e:
            oom = allocation_failure(torch, e)
            if not (cuda and oom and bs > 8 and not a.batch_size):
                raise
            failure = first_line(e)
        # outside the except block: the traceback no longer pins the failed step's tensors
        pool = None
        current["opt"].zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        info.setdefault("oom_retries", []).append(bs)
        info.setdefault("oom_errors", []).append(failure[:300])
        bs //= 2
    warmup, steps = a.warmup, a.steps
    if cuda and not a.batch_size:
        t = time.perf_counter()
        losses.append(float(train_step(*pool[1]).item()))  # the second step: past allocation and autotuning
        fitted = fit_batch_to_time(bs, time.perf_counter() - t, (deadline - RESERVE_S - time.time()) * 0.8)
        if fitted < bs:
            info["batch_size_from"] = "free memory, lowered to fit --time-budget (from %d)" % bs
            bs = fitted
    elif not a.batch_size:
        # A busy CPU can take seconds a step: the batch and the step counts are sized from the second step's time
        # so that the steps the verdict needs fit in what is left of the budget.
        t = time.perf_counter()
        losses.append(float(train_step(*pool[1]).item()))
        fitted, planned_warmup, planned_steps = plan_cpu_steps(bs, time.perf_counter() - t,
                                                               deadline - RESERVE_S - time.time(), len(losses),
                                                               warmup, steps)
        if not distributed:  # DDP ranks keep the same step counts (they step in lock-step)
            warmup, steps = planned_warmup, planned_steps
        if fitted < bs:
            info["batch_size_from"] = "default, lowered to fit --time-budget (from %d)" % bs
            bs = fitted
    if distributed:
        with collective("agreeing on the batch size"):
            agreed = agreed_min(torch, bs, dev, cuda)  # every rank trains the same batch size
        if agreed != bs:
            info["batch_size_from"] += "; agreed across ranks (this rank could take %d)" % bs
            bs = agreed
    if pool[0][0].shape[0] != bs:
        pool = [make_batch(bs) for _ in range(4)]
    info["batch_size"] = bs
    model.load_state_dict(initial)  # every rank from the same weights, momentum and scale (see `initial`)
    del initial
    current["opt"], current["scaler"] = fresh_optimizer()
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        with collective("DDP broadcast"):
            current["model"] = DDP(model, device_ids=[dev_index] if cuda else None)
    if a.compile:
        progress("compiling", msg="torch.compile")
        current["model"] = torch.compile(current["model"])

    def should_stop(i, stop_at, min_steps, next_step_s):
        # A step that would end past stop_at is not started: on a busy host one step can take seconds.
        late = i >= min_steps and time.time() + next_step_s > stop_at
        if not distributed:
            return late
        import torch.distributed as dist
        flag = torch.tensor([1 if late else 0], device=dev if cuda else "cpu")
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)  # one rank out of time stops them all, in lock-step
        return bool(flag.item())

    def run_phase(phase, n, get_batch, stop_at, min_steps=0):
        times, waits, phase_losses = [], [], []
        last = 0.0
        t_start = time.time()
        for i in range(n):
            if should_stop(i, stop_at, min_steps, times[-1] if times else 0.0):
                break
            if phase == "timed" and i == 2 and a.inject_failure == grank:  # the test hook, mid-way in lock-step
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated by --inject-failure %d)"
                                   % grank)
            t0 = time.perf_counter()
            x, y = get_batch(i)
            t1 = time.perf_counter()
            loss = float(train_step(x, y).item())  # .item() waits for the step: per-step timing
            sync()
            t2 = time.perf_counter()
            phase_losses.append(loss)
            times.append(t2 - t0)
            waits.append(t1 - t0)
            if time.time() - last > 0.5 or i == n - 1:
                last = time.time()
                done = sum(times)
                progress(phase, i + 1, n, loss=round(loss, 4), img_s=round(bs * len(times) / done, 1) if done else None,
                         batch=bs, precision=precision)
        return {"steps": len(times), "t_start": round(t_start, 3), "t_end": round(time.time(), 3),
                "secs": round(sum(times), 4), "step_ms": [round(1000 * t, 2) for t in times],
                "wait_ms": [round(1000 * w, 2) for w in waits], "losses": [round(v, 5) for v in phase_losses],
                "img_s": round(bs * len(times) / sum(times), 2) if times else None}

    synth = lambda i: pool[i % len(pool)]  # noqa: E731
    phases = {}
    info["phases"] = phases
    info["losses"] = list(losses)
    share = 0.5 if a.dataloader else 1.0  # the DataLoader test gets the other half of the time
    left = max(0.0, deadline - RESERVE_S - time.time())
    # With torch.compile the first warm-up step is the cold compile: a second one, whatever the slice, gives the
    # compiled step's time to plan the timed steps with (step_estimate_s).
    phases["warmup"] = run_phase("warmup", warmup, synth, time.time() + left * 0.4,
                                 min_steps=min(2, warmup) if a.compile else 0)
    info["losses"] = losses + phases["warmup"]["losses"]
    checkpoint()
    est = step_estimate_s(phases["warmup"]["step_ms"])
    avail = max(0.0, (deadline - RESERVE_S - time.time()) * share)
    if distributed:
        with collective("agreeing on the step count"):
            n = agreed_min(torch, max(1, min(steps, int(avail / max(est, 1e-4)))), dev, cuda)
    else:
        n = steps
    phases["timed"] = run_phase("timed", n, synth, time.time() + avail, min_steps=1 if distributed else 0)
    info["img_s"] = phases["timed"]["img_s"]
    # The synthetic task's loss curve, first step to last timed step (the DataLoader phase has its own task).
    info["losses"] = [round(v, 5) for v in losses + phases["warmup"]["losses"] + phases["timed"]["losses"]]
    if distributed:
        info["replica_state"] = replica_state(torch, model, current["opt"])
    checkpoint()

    if a.dataloader:
        phases["dataloader"] = dataloader_phase(torch, a, dev, bs, world, rank, run_phase, distributed,
                                                deadline, cuda, progress, collective)
    if memory:
        info.update(memory_figures(torch, dev))
    guard.stop()
    return info  # the process group is destroyed after the result is sent (worker_entry): it can hang on a bad link


def memory_figures(torch, dev):
    """What the verdict reads of the GPU's memory: torch's peak allocation so far and what is free now."""
    return {"max_memory_allocated": quietly(lambda: int(torch.cuda.max_memory_allocated(dev))),
            "memory_free_after": quietly(lambda: int(torch.cuda.mem_get_info(dev)[0]))}


def worker_entry(rank, world, dev_index, a, q, deadline, port):
    _die_with_parent()
    try:
        os.setpgid(0, 0)  # its own process group: the parent's cut ends its DataLoader/compile children with it
    except OSError:
        pass
    try:
        run = run_accept_worker if a.accept else run_worker
        res = run(rank, world, dev_index, a, q, deadline, port)
    except BaseException as e:  # noqa: B902 - everything a worker hits is evidence for the controller
        res = {"rank": rank, "device_index": dev_index, "error": first_line(e),
               "traceback": traceback.format_exc()[-3000:]}
    send(q, {"event": "worker_result", "rank": rank, "result": res})
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception:
            pass  # the result is out; the parent ends this process anyway


def _die_with_parent():
    """Linux: this worker gets SIGKILL when the parent dies (a killed parent must not leave GPUs busy)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass
