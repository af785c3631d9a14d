"""DDP between the workers (and nodes): the rendezvous on a TCPStore, the bounded wait of each collective, the
values every rank agrees on, the all-reduce bandwidth, the replicas' state."""

import contextlib
import os
import socket
import threading
import time

from .contract import RESERVE_S
from .messages import send


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rendezvous(torch, a, rank, world, port, deadline, backend, progress):
    """Global ranks and world size from every node's own process count: node 0's process 0 hosts a TCPStore
    at --master-addr:port, each node's process 0 puts its local count there, every process waits for all
    nodes' counts (nodes may have different GPU counts), then the process group forms on the same store."""
    import datetime
    import torch.distributed as dist
    wait = datetime.timedelta(seconds=max(5.0, deadline - RESERVE_S - time.time()))  # never past the budget
    progress("rendezvous", msg="joining %s:%s" % (a.master_addr, port))
    store = dist.TCPStore(a.master_addr, port, None, a.node_rank == 0 and rank == 0, timeout=wait,
                          wait_for_workers=False)
    keys = ["envdoctor/local_world/%d" % n for n in range(a.nnodes)]
    if rank == 0:
        store.set(keys[a.node_rank], str(world))
    store.wait(keys, wait)
    sizes = [int(store.get(k)) for k in keys]
    grank, gworld = sum(sizes[:a.node_rank]) + rank, sum(sizes)
    dist.init_process_group(backend, store=dist.PrefixStore("envdoctor/pg", store), rank=grank,
                            world_size=gworld, timeout=wait)
    return grank, gworld, sizes


class CollectiveGuard(threading.Thread):
    """The bounded wait of a worker's collectives. While the main thread waits in one (the C++ call releases the
    GIL), this thread watches the clock; past the bound (--collective-wait, and never past the worker's own
    share of the budget) it sends the worker's final result naming the collective and ends the process: a peer
    that never answers, as a P2P/IOMMU fault leaves NCCL, is named where it happened."""

    def __init__(self, q, rank, info, limit_s, worker_end):
        threading.Thread.__init__(self, daemon=True, name="proof-collective-guard")
        self.q, self.rank, self.info = q, rank, info
        self.limit_s, self.worker_end = limit_s, worker_end
        self.current = None  # (name, started)
        self.done = threading.Event()

    @contextlib.contextmanager
    def waiting_in(self, name):
        self.current = (name, time.time())
        try:
            yield
        finally:
            name, started = self.current
            self.current = None
            self.info.setdefault("collectives", []).append({"name": name, "secs": round(time.time() - started, 3)})

    def stop(self):
        self.done.set()

    def run(self):
        while not self.done.wait(0.2):
            cur = self.current
            if cur is None:
                continue
            name, started = cur
            now = time.time()
            cap = started + self.limit_s
            if now < min(cap, self.worker_end):
                continue
            at_budget_end = self.worker_end < cap
            waited = now - started
            why = ("still waiting in %s for the other processes when the time budget ended (%.0f s)" % (name, waited)
                   if at_budget_end else
                   "no answer from the other processes in %s within %.0f s: a hang between GPUs" % (name, waited))
            send(self.q, {"event": "worker_result", "rank": self.rank,
                          "result": dict(self.info, error=why, hung_collective=name, waited_s=round(waited, 1),
                                         collective_at_budget_end=at_budget_end)})
            self.q.close()
            self.q.join_thread()  # the queue's feeder thread has written the line before the process ends
            os._exit(3)


def agreed_min(torch, n, dev, cuda):
    """DDP: every rank takes the smallest value any rank can afford (steps, batch size)."""
    import torch.distributed as dist
    t = torch.tensor([n], device=dev if cuda else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def allreduce_bandwidth(torch, dist, dev, world, cuda):
    """Time an all-reduce of a large float32 tensor; bus bandwidth as nccl-tests defines it:
    algbw * 2 (n - 1) / n."""
    n_bytes = (256 if cuda else 16) << 20
    x = torch.ones(n_bytes // 4, dtype=torch.float32, device=dev)
    for _ in range(2):
        dist.all_reduce(x)
    if cuda:
        torch.cuda.synchronize(dev)
    iters = 10 if cuda else 3
    t = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(x)
    if cuda:
        torch.cuda.synchronize(dev)
    secs = (time.perf_counter() - t) / iters
    algbw = n_bytes / secs / 1e9
    return {"bytes": n_bytes, "secs": round(secs, 6), "algbw_gbs": round(algbw, 3),
            "busbw_gbs": round(algbw * 2 * (world - 1) / world, 3), "world": world}


def replica_state(torch, model, opt):
    """Sums of the parameters and of SGD's momentum buffers, in float64: DDP replicas that train in step end
    with the same sums on every rank."""
    with torch.no_grad():
        params = sum(float(p.detach().double().sum()) for p in model.parameters())
        bufs = [opt.state[p].get("momentum_buffer") for p in model.parameters() if p in opt.state]
        momentum = sum(float(b.double().sum()) for b in bufs if b is not None)
    return {"params": params, "momentum": momentum}
