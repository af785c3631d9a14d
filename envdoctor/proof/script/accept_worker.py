"""Node acceptance, one worker (a GPU, or a CPU process), started by the same parent as a training worker when the
script runs with --accept: it joins the other workers (NCCL on GPUs, gloo on the CPU), measures its device part by
part, each within its share of the budget, then all_reduce over a message-size sweep across every rank. What the
budget cut is reported as cut, and each part reaches the parent as soon as it is measured (a partial result)."""

import os
import time

from .accept_measure import MIN_PHASE_S, matmul_phase, memory_copy_phase, pinned_phase
from .batch_size import cpu_threads
from .contract import RESERVE_S
from .ddp import CollectiveGuard, agreed_min, rendezvous
from .messages import send
from .values import first_line, quietly

# Each part's share of the worker's time after start-up; --quick runs the first of each kind only.
ACCEPT_SHARES = (("matmul_bf16", 0.25), ("matmul_tf32", 0.15), ("memory_copy", 0.15), ("h2d_pinned", 0.1),
                 ("d2h_pinned", 0.1))
QUICK_PARTS = ("matmul_bf16", "memory_copy", "h2d_pinned")
ALLREDUCE_SHARE = 0.25
# all_reduce message sizes per rank: small ones measure latency, the plateau at large ones is the figure.
SWEEP_BYTES = {"cuda": [1 << 20, 4 << 20, 16 << 20, 64 << 20, 256 << 20, 1 << 30],
               "cpu": [64 << 10, 256 << 10, 1 << 20, 4 << 20]}
QUICK_SWEEP = {"cuda": [16 << 20, 256 << 20], "cpu": [256 << 10, 1 << 20]}
SWEEP_ITERS = {"cuda": 20, "cpu": 3}


def allreduce_sweep(torch, dist, dev, cuda, sizes, iters, end, guard, progress):
    """all_reduce of float32 buffers, one size after the other: a warm-up call (excluded), then `iters` timed
    calls with a synchronize around them. Every rank agrees (a MIN all_reduce) whether the next size fits before
    `end`, so all take the same calls. Returns the raw rows (bytes, secs per call, ranks) and what was cut:
    algbw/busbw are the controller's arithmetic (envdoctor/accept/allreduce.py)."""
    world = dist.get_world_size()
    rows, cut, estimate = [], [], 0.1

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    for i, n_bytes in enumerate(sizes):
        fits = 1 if time.time() + estimate * (iters + 1) + MIN_PHASE_S < end else 0
        with guard.waiting_in("all_reduce sweep"):
            go = agreed_min(torch, fits, dev, cuda)
            if not go:
                cut = sizes[i:]
                break
            progress("all_reduce sweep", i + 1, len(sizes), msg="%d bytes per rank" % n_bytes)
            x = torch.ones(n_bytes // 4, dtype=torch.float32, device=dev)
            dist.all_reduce(x)
            sync()
            t = time.perf_counter()
            for _ in range(iters):
                dist.all_reduce(x)
            sync()
            secs = (time.perf_counter() - t) / iters
        rows.append({"bytes": n_bytes, "secs": secs, "ranks": world, "iters": iters, "warmup_calls": 1})
        estimate = secs * (sizes[i + 1] / n_bytes if i + 1 < len(sizes) else 1)
        del x
    return {"backend": dist.get_backend(), "ranks": world, "dtype": "float32", "sweep": rows,
            "cut_by_budget": [{"bytes": b} for b in cut]}


def run_accept_worker(rank, world, dev_index, a, q, deadline, port):
    cuda = a.device == "cuda"
    gworld = a.nnodes * world
    distributed = gworld > 1
    info = {"rank": rank, "global_rank": a.node_rank * world + rank, "device_index": dev_index, "pid": os.getpid(),
            "accept": {}}
    worker_end = deadline - RESERVE_S

    def progress(phase, step=0, of=0, **kw):
        d = {"event": "progress", "rank": rank, "phase": phase, "step": step, "of": of}
        d.update(kw)
        send(q, d)

    def checkpoint():
        send(q, {"event": "worker_result", "rank": rank, "partial": True, "result": info})

    progress("importing torch")
    import torch
    guard = CollectiveGuard(q, rank, info, a.collective_wait, worker_end)
    dist = None
    if distributed:  # first: the other workers and nodes wait for this one at the rendezvous
        import torch.distributed as dist
        if a.iface:
            os.environ["NCCL_SOCKET_IFNAME"] = os.environ["GLOO_SOCKET_IFNAME"] = a.iface
        if cuda:
            torch.cuda.set_device(dev_index)
        info["global_rank"], gworld, info["node_sizes"] = rendezvous(torch, a, rank, world, port, deadline,
                                                                      "nccl" if cuda else "gloo", progress)
        info["backend"] = dist.get_backend()
        guard.start()
    info.update(torch=str(torch.__version__), world_size=gworld,
                torch_cuda=quietly(lambda: str(torch.version.cuda) if torch.version.cuda else None))
    if cuda:
        torch.cuda.set_device(dev_index)
        dev = torch.device("cuda", dev_index)
        p = torch.cuda.get_device_properties(dev_index)
        info.update(name=p.name, capability="%d.%d" % (p.major, p.minor), total_memory=p.total_memory,
                    uuid=quietly(lambda: str(p.uuid)), pci_bus_id=quietly(lambda: "%08X:%02X:%02X.0" % (
                        p.pci_domain_id, p.pci_bus_id, p.pci_device_id)))
    else:
        dev = torch.device("cpu")
        threads, cpus = cpu_threads(world)
        torch.set_num_threads(threads)
        info.update(name="cpu", threads=threads, cpus=cpus)
    checkpoint()

    sizes = "cuda" if cuda and not a.small_sizes else "cpu"
    info["sizes"] = sizes
    parts = [(name, share) for name, share in ACCEPT_SHARES if not a.quick or name in QUICK_PARTS]
    total = sum(s for _, s in parts) + (ALLREDUCE_SHARE if distributed else 0.0)
    start = time.time()
    span = max(0.0, worker_end - start)
    share_end = start
    for name, share in parts:
        share_end += span * share / total
        progress(name, msg="until %.1f s before the budget ends" % max(0.0, deadline - share_end))
        # the GPU sampler's rows inside these windows are this worker's (clocks, power, slowdowns under load)
        window = info.setdefault("phases", {}).setdefault(name, {"t_start": time.time()})
        try:
            if name.startswith("matmul_"):
                rec = matmul_phase(torch, cuda, dev, name.split("_")[1], share_end, sizes)
            elif name == "memory_copy":
                rec = memory_copy_phase(torch, cuda, dev, share_end, sizes)
            else:
                rec = pinned_phase(torch, cuda, dev, name.split("_")[0], share_end, sizes)
        except Exception as e:  # one part's failure is its figure's evidence; the others still run
            rec = {"error": first_line(e)}
        window["t_end"] = time.time()
        info["accept"][name] = rec
        checkpoint()
    if not distributed:
        info["accept"]["allreduce"] = {"not_measured": "a single process: nothing to all-reduce across"}
    else:
        sweep = (QUICK_SWEEP if a.quick else SWEEP_BYTES)[sizes]
        progress("all_reduce sweep", 0, len(sweep), msg="waiting for all %d processes" % gworld)
        try:
            info["accept"]["allreduce"] = allreduce_sweep(torch, dist, dev, cuda, sweep, SWEEP_ITERS[sizes],
                                                          worker_end, guard, progress)
        except Exception as e:
            info["accept"]["allreduce"] = {"error": first_line(e)}
        guard.stop()
    info["accept_secs"] = round(time.time() - start, 3)
    return info
