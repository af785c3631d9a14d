"""The parent: it never imports torch. It starts the GPU sampler and one worker per device, streams the workers'
progress, keeps each one's partial result, ends the group when one DDP rank fails or the budget is spent, and
writes the one result line (its watchdog does, whatever the main thread is blocked in)."""

import os
import queue
import shutil
import signal
import socket
import sys
import threading
import time
import traceback

from .clock_reasons import vocabulary_missing
from .contract import GRACE_S, HARD_STOP_S, PROOF_VERSION
from .ddp import free_port
from .messages import receive
from .preflight import compile_toolchain, count_cuda_devices, plan_ordinals
from .sampler import Sampler, gpu_samples
from .values import first_line
from .worker import worker_entry


class Parent:
    """What the parent knows so far, shared by its main thread and its watchdog: whichever of them reaches
    the end first writes the one result line, built from what the workers have reported."""

    def __init__(self, a, t_start, emit):
        self.a, self.t_start, self.emit = a, t_start, emit
        self.deadline = t_start + a.time_budget
        self.hard_stop = self.deadline + HARD_STOP_S
        self.lock = threading.RLock()
        self.main_ident = threading.get_ident()  # made in the main thread
        self.written = False  # the result line is out
        self.phase = "starting"  # the parent's own phase, named when the budget cuts it before any worker reports
        self.procs, self.indices, self.sampler = [], [], None
        self.results, self.final, self.last_phase = {}, set(), {}
        self.result = {"event": "result", "proof_version": PROOF_VERSION, "device": a.device, "arch": a.arch,
                       "image_size": a.image_size, "compile": a.compile, "ddp": a.ddp, "dataloader": a.dataloader,
                       "requested_precision": a.precision, "time_budget_s": a.time_budget, "grace_s": GRACE_S,
                       "python": sys.version.split()[0], "executable": sys.executable,
                       "hostname": socket.gethostname(), "start_method": "spawn", "pid": os.getpid(),
                       "workers": [], "gpus": [], "error": None, "timed_out": False, "ended_by": None}
        missing = vocabulary_missing()
        if missing:
            self.result["vocabulary_missing"] = missing

    def finish(self, ended_by, watchdog=False):
        """Write the result line once: `ended_by` is "results" (every worker reported), "failure" (a DDP rank
        failed), "deadline" (the budget ran out) or "error" (the run could not start)."""
        with self.lock:
            if self.written:
                return 0
            doc = dict(self.result, ended_by=ended_by, watchdog=watchdog, parent_phase=self.phase)
            if watchdog:
                doc["main_thread_in"] = self.main_thread_in()
            if ended_by == "deadline":
                doc["timed_out"] = True
            if ended_by != "error":
                try:
                    doc.update(self.worker_fields())
                except Exception as e:  # a report from what is known must never cost the line itself
                    doc["report_error"] = first_line(e)
            doc["elapsed_s"] = round(time.time() - self.t_start, 3)
            # Evidence that no worker's message made this process import torch (it would cost seconds here).
            doc["parent_torch_imported"] = "torch" in sys.modules
            self.written = True
        self.emit(doc)
        return 0

    def main_thread_in(self):
        """Where the main thread was when the watchdog cut: the evidence of what blocked it."""
        frame = sys._current_frames().get(self.main_ident)
        if frame is None:
            return None
        return ["%s:%d %s" % (os.path.basename(f.filename), f.lineno, f.name)
                for f in traceback.extract_stack(frame)[-4:]]

    def worker_fields(self):
        a, out = self.a, {}
        workers = []
        for r, dev_index in enumerate(self.indices):
            w = self.results.get(r) or {"rank": r, "device_index": dev_index}
            if r not in self.final and not w.get("error"):
                w = dict(w, error="no result within the time budget (%.0f s)" % a.time_budget,
                         cut_by_budget=True, last_phase=self.last_phase.get(r, "starting"))
            workers.append(w)
        out["workers"] = workers
        ok = [w for w in workers if w.get("torch")]
        if ok:
            out.update(torch=ok[0]["torch"], torchvision=ok[0].get("torchvision"),
                       torch_cuda=ok[0].get("torch_cuda"), cudnn=ok[0].get("cudnn"))
        if workers and all("No module named" in (w.get("error") or "") for w in workers):
            out["error"] = "cannot import torch/torchvision: " + workers[0]["error"]
        sizes = [w.get("world_size") for w in workers if w.get("world_size")]
        if sizes:
            out["world_size"] = sizes[0]
        if self.sampler is not None:
            out["sampler"] = self.sampler.kind
            out["sampler_error"] = self.sampler.error
            out["gpus"] = gpu_samples(self.sampler, workers)
        return out

    def end_workers(self):
        """SIGKILL every worker and its process group (its DataLoader or compile children): gone at once."""
        for p in list(self.procs):
            pid = p.pid
            try:
                if pid and os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                if p.is_alive():
                    p.kill()
            except Exception:
                pass
        if self.sampler is not None:
            self.sampler.stop_event.set()

    def watchdog(self):
        """The hard bound: at budget + HARD_STOP_S, whatever the main thread is blocked in (a worker killed
        mid-message, a join, a slow disk), end the workers, write the result from what is known, end."""
        while True:
            left = self.hard_stop - time.time()
            if left <= 0:
                break
            time.sleep(min(left, 0.5))
        self.end_workers()
        if self.lock.acquire(timeout=0.5):  # the main thread holds it only to note one message
            try:
                self.finish("deadline", watchdog=True)
            finally:
                self.lock.release()
        else:
            self.emit(dict(self.result, ended_by="deadline", watchdog=True, timed_out=True, parent_phase=self.phase,
                           elapsed_s=round(time.time() - self.t_start, 3)))
        if self.emit.lock.acquire(timeout=1.0):  # a line being written is finished first
            sys.stdout.flush()
        if self.a.workdir:
            shutil.rmtree(self.a.workdir, ignore_errors=True)
        os._exit(0)


def run_parent(parent):
    a, result, emit = parent.a, parent.result, parent.emit
    deadline = parent.deadline
    if a.workdir:
        result["workdir"] = a.workdir
        result["workdir_mode"] = oct(os.stat(a.workdir).st_mode & 0o777)
    emit({"event": "start", "device": a.device, "arch": a.arch, "time_budget_s": a.time_budget})

    def progress(phase, **kw):
        parent.phase = phase
        emit(dict({"event": "progress", "phase": phase, "step": 0, "of": 0}, **kw))

    skipped = []
    if a.device == "cuda":
        progress("counting GPUs", msg="in a child process")
        devices, why = count_cuda_devices(deadline)
        if devices is None:
            result["error"] = why
            return parent.finish("deadline" if time.time() > deadline else "error")
        result["cuda_devices"] = devices
        requested = [int(x) for x in a.gpus.split(",")] if a.gpus else list(range(len(devices)))
        indices, skipped = plan_ordinals(requested, len(devices))
        result["not_started"] = skipped
        if not indices:
            result["error"] = skipped[0]["reason"] if skipped else "no GPU to train on"
            return parent.finish("error")
        if a.compile:
            # Triton builds a C launcher at run time: without a compiler and Python.h every worker would fail in
            # its first compiled step, which says nothing about the GPU.
            tools = result["compile_toolchain"] = compile_toolchain()
            if tools["missing"]:
                result["compile_unavailable"] = result["error"] = (
                    "`--compile` needs gcc and Python headers on the target: " + "; ".join(tools["missing"]))
                return parent.finish("error")
    else:
        indices = list(range(a.procs or 1))
    world = len(indices)
    result["local_world_size"] = world
    result["world_size"] = world * a.nnodes  # corrected from the workers' rendezvous below
    result["nnodes"], result["node_rank"] = a.nnodes, a.node_rank
    result["mode"] = "ddp" if a.ddp and world * a.nnodes > 1 else "per-process"

    import multiprocessing as mp
    ctx = mp.get_context("spawn")  # fresh interpreters: no worker inherits any process's CUDA state
    q = ctx.Queue()
    port = a.master_port or free_port()
    if a.device == "cuda":
        # Started first, and waited for (bounded), so its look at the GPUs' compute processes is taken before any
        # worker of ours has a CUDA context: whatever it finds was there already.
        parent.sampler = Sampler(a.sample_period, own_pids=lambda: {p.pid for p in parent.procs})
        parent.sampler.start()
        parent.phase = "starting the GPU sampler"
        parent.sampler.ready.wait(max(0.0, min(5.0, deadline - time.time())))
    progress("starting workers", msg="%d process(es), spawn" % world)
    parent.indices = indices
    for rank, dev_index in enumerate(indices):
        if time.time() > deadline:
            break  # the ranks not started are reported as cut in "starting"
        p = ctx.Process(target=worker_entry, args=(rank, world, dev_index, a, q, deadline, port))
        p.start()
        parent.procs.append(p)

    parent.phase = "waiting for the workers"
    if a.inject_parent_hang:
        threading.Event().wait()  # like a blocking read that never returns: only the watchdog ends this

    results, final, dead_since = parent.results, parent.final, {}
    procs = parent.procs
    failed = None  # DDP: the first rank that failed ends the group
    ended_by = "results"
    while len(final) < world:
        now = time.time()
        if now > deadline:  # the workers keep RESERVE_S back: a result still missing now will not come in time
            ended_by = "deadline"
            drain(q, parent, world)  # what already arrived is kept, however late the loop came back here
            break
        try:
            msg = receive(q.get(timeout=max(0.01, min(0.25, deadline - now))))
        except queue.Empty:
            with parent.lock:
                for rank, p in enumerate(procs):
                    if rank not in final and not p.is_alive():
                        dead_since.setdefault(rank, now)
                        if now - dead_since[rank] > 1.0:  # its result would have arrived by now
                            results[rank] = dict(results.get(rank) or {"rank": rank, "device_index": indices[rank]},
                                                 error="worker process exited with code %s" % p.exitcode)
                            final.add(rank)
                            if result["mode"] == "ddp" and failed is None:
                                failed = rank
            if failed is not None:
                break
            continue
        if msg is None:
            continue
        if note(parent, msg, world) and failed is None and result["mode"] == "ddp":
            failed = msg["rank"]
        if failed is not None:
            break

    parent.end_workers()  # SIGKILL: gone at once; they are reaped after the result line (main's finally)
    parent.phase = "reporting"
    if failed is not None:
        # One rank's error ends the group now: the others would wait in a collective until the budget.
        ended_by = "failure"
        why = results[failed].get("error")
        with parent.lock:
            for rank in range(world):
                if rank not in final:
                    results[rank] = dict(results.get(rank) or {"rank": rank, "device_index": indices[rank]},
                                         error="stopped when process %d failed (%s)" % (failed, why), stopped=True)
                    final.add(rank)
            result["failed_rank"] = failed
    return parent.finish(ended_by)


def note(parent, msg, world):
    """Keep one worker message: a result (partial or final) or a progress event, which goes out on stdout.
    True when it is a final result with an error."""
    if msg.get("event") == "worker_result":
        rank = msg.get("rank")
        if not isinstance(rank, int) or not 0 <= rank < world or not isinstance(msg.get("result"), dict):
            return False
        with parent.lock:
            parent.results[rank] = msg["result"]
            if not msg.get("partial"):
                parent.final.add(rank)
                return bool(msg["result"].get("error"))
        return False
    if msg.get("rank") is not None and msg.get("phase"):
        parent.last_phase[msg["rank"]] = msg["phase"]
    parent.emit(msg)
    return False


def drain(q, parent, world, limit_s=1.0):
    """At the deadline: the messages already in the queue, each taken without waiting for more (bounded, for a
    worker that keeps talking)."""
    end = time.time() + limit_s
    while time.time() < end:
        try:
            msg = receive(q.get_nowait())
        except queue.Empty:
            return
        except Exception:
            return  # a message cut mid-way by a killed worker: the watchdog bounds the rest
        if msg is not None:
            note(parent, msg, world)
