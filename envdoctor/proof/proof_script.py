# envdoctor proof-run: run by the target's own python as `python3 - [options]` with this file on stdin (its
# VOCABULARY line filled in by the controller), preceded by one line `PROOF_SOURCE = '<that text>'`. It trains
# a torchvision ResNet with that environment's torch on synthetic data and reports what it saw.
# stdout carries JSON lines only: progress events while it runs, then exactly one {"event": "result"} line.
# Self-contained on purpose (nothing of envdoctor is installed on the target): stdlib + torch + torchvision,
# and pynvml when the target has it.
#
# Process layout. This parent never imports torch, so it can never hold CUDA state. It writes itself into a
# private temporary directory (mkdtemp: mode 0700), re-executes itself from that file, counts the CUDA devices
# in a child interpreter, and starts one training worker per device with the *spawn* start method: each
# worker is a fresh interpreter that imports this file, never a fork of a process that touched CUDA.
# (torch 2.14, torch/backends/cudnn/__init__.py `_init`: cudnn.version() calls torch.cuda.is_available()
# and then get_device_capability() per device, which reaches torch.cuda._lazy_init(); after that every
# fork's CUDA call raises "Cannot re-initialize CUDA in forked subprocess" (torch/cuda/__init__.py
# `_lazy_init`, `_is_in_bad_fork`). So the cuDNN version is read inside a worker.)
# torchrun (torch.distributed.run) was not used as the launcher: the controller needs one process that
# samples NVML, streams every rank's progress, keeps each phase's partial result and ends the whole group the
# moment one rank fails or the budget is spent; the ranks meet through a TCPStore instead (see rendezvous()).
import argparse
import contextlib
import json
import math
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback

PROOF_VERSION = 2
NUM_CLASSES = 10  # a 10-way head: the synthetic task must be learned from the input, not from class priors
MAX_SAMPLES = 600  # sampler rows kept per GPU in the result
RESERVE_S = 2.0  # budget the workers keep back for sending their result
GRACE_S = 5.0  # stated grace: the result line comes at most this long after --time-budget, counted from the
# process's own start (a loaded host needs it: killing the workers, writing the line, the process ending)
HARD_STOP_S = 3.0  # after --time-budget the parent's watchdog writes the result from what it has and ends the
# process, whatever its main thread is blocked in; the rest of GRACE_S is for the line and the exit
DEFAULT_BUDGET_S = 60.0  # --time-budget
COMPILE_BUDGET_S = 300.0  # the default --time-budget with --compile (a cold compile of ResNet-50 per process)
MAX_BATCH = 2048  # per process; the published H100 runs used batches far above 256
MIN_PLANNED_STEPS = 40  # warm-up + timed steps the chosen batch must leave room for within the budget
LR = 0.02
TEMPLATE_GAIN = 1.0
DATA_SEED = 1000
WORKER_FILE = "envdoctor_proof.py"
COLLECTIVE_WAIT_S = 30.0  # the longest one collective may wait for the other ranks (--collective-wait): a 256 MiB
# all-reduce and NCCL's communicator set-up take seconds, so a longer wait is a hang between GPUs, not slowness
# The phases in which a worker waits in a collective for the other ranks (each announced before it starts).
COLLECTIVE_PHASES = ("all-reduce bandwidth", "agreeing on the batch size", "DDP broadcast", "agreeing on the step count",
                     "agreeing on the DataLoader step count")
# Allocation failures the batch search answers by halving the batch. torch raises torch.OutOfMemoryError for its
# caching allocator ("CUDA out of memory"); cuBLAS and cuDNN report their own (libtorch_cuda's
# TORCH_CUDABLAS_CHECK: "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"; cuDNN 8
# CUDNN_STATUS_ALLOC_FAILED, cuDNN 9 CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED), and a raw runtime
# call cudaErrorMemoryAllocation. A host-side allocation failure is not a batch that is too large: not retried.
ALLOCATION_FAILURES = ("out of memory", "cublas_status_alloc_failed", "cudnn_status_alloc_failed",
                       "cudnn_status_internal_error_device_allocation_failed", "cudaerrormemoryallocation")

# The vocabulary shared with the controller: NVML's clock-event ("throttle") reasons, [{"bit", "key", "name",
# "problem"}] from envdoctor/data/clock_event_reasons.yaml. The controller replaces the next line with that table
# before sending this script (envdoctor/vocabulary.py); the copy written for the workers is that text too.
# Left None (this file run as it is), the reasons are not decoded and the result says why in "vocabulary_missing".
VOCABULARY = None
VOCABULARY_MISSING = ("the proof script ran without the controller's vocabulary (envdoctor/vocabulary.py): "
                      "clock-event (throttle) reasons were not decoded")


def reason_names(mask):
    """The keys of the reasons set in an NVML clock-event mask ("hw_slowdown", ...); None when the mask or the
    table is missing (unknown, never "not throttled")."""
    table = (VOCABULARY or {}).get("clock_event_reasons")
    if mask is None or table is None:
        return None
    return [r["key"] for r in table if mask & r["bit"]]


def first_line(e):
    s = str(e).strip()
    return "%s: %s" % (type(e).__name__, s.splitlines()[0] if s else "")


def send(q, msg):
    """Everything a worker sends to the parent is JSON text. Unpickling an object of torch's in the parent (the
    worker's torch.__version__ is a torch.torch_version.TorchVersion) imports all of torch there: seconds the
    parent's wait for the other results does not have. Parsed by receive()."""
    q.put(json.dumps(msg, default=str))


def receive(raw):
    """A worker's message as plain JSON types (None for anything that is not one of ours)."""
    try:
        msg = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


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


def compile_toolchain(environ=None, include_dir=None):
    """What Triton needs on the target to build its launcher at run time for torch.compile on CUDA (triton
    3.8 runtime/build.py: `_find_compiler` takes $CC, else gcc, else clang from PATH; `_build` adds the include
    directory of sysconfig's default scheme, posix_local read as posix_prefix, where Python.h must be)."""
    env = os.environ if environ is None else environ
    path, cc = env.get("PATH"), env.get("CC")
    if cc:
        cc_path = shutil.which(cc, path=path)
    else:
        cc_path = shutil.which("gcc", path=path) or shutil.which("clang", path=path)
    if include_dir is None:
        get_scheme = getattr(sysconfig, "get_default_scheme", None)
        scheme = get_scheme() if get_scheme else None
        if scheme == "posix_local":
            scheme = "posix_prefix"
        include_dir = (sysconfig.get_paths(scheme=scheme) if scheme else sysconfig.get_paths())["include"]
    header = os.path.join(include_dir, "Python.h")
    missing = []
    if not cc_path:
        missing.append("no C compiler (%s)" % ("$CC=%s is not a program" % cc if cc else "neither gcc nor clang on PATH"))
    if not os.path.isfile(header):
        missing.append("no Python headers (%s is missing)" % header)
    return {"cc": cc_path, "python_h": header if os.path.isfile(header) else None, "missing": missing}


def parse_args(argv):
    p = argparse.ArgumentParser(prog="envdoctor-proof")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--arch", default=None, help="torchvision model (resnet50 on cuda, resnet18 on cpu)")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="per process; default from free GPU memory")
    p.add_argument("--steps", type=int, default=None, help="timed steps (at most; the budget may cut them)")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--time-budget", type=float, default=None, help="seconds, start to result (60; 300 with --compile)")
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                   help="auto: fp16 with a GradScaler on cuda (what the published figures used), fp32 on cpu")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--ddp", action="store_true", help="one DDP job over all GPUs (NCCL; gloo on cpu)")
    p.add_argument("--procs", type=int, default=None, help="processes on --device cpu (default 1)")
    p.add_argument("--gpus", default=None, help="comma-separated GPU indices (default: all)")
    p.add_argument("--dataloader", action="store_true", help="also feed the step from a DataLoader")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers per process")
    p.add_argument("--prefetch-factor", type=int, default=2, help="DataLoader prefetch_factor (torch's default 2)")
    p.add_argument("--persistent-workers", action="store_true")
    p.add_argument("--no-pin-memory", action="store_true")
    p.add_argument("--transform-cost", type=int, default=0,
                   help="extra passes of a blur per DataLoader image: a heavier augmentation")
    p.add_argument("--sample-period", type=float, default=0.25)
    # Multi-node: the controller starts this script on every host with the same --nnodes/--master-*.
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--node-rank", type=int, default=0)
    p.add_argument("--master-addr", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=None)
    p.add_argument("--iface", default=None, help="network interface for NCCL/gloo between nodes")
    # Test hook, off unless given: process RANK raises a simulated out-of-memory error at its third timed step.
    p.add_argument("--inject-failure", type=int, default=None, metavar="RANK", help=argparse.SUPPRESS)
    # Test hook, off unless given: the parent's main thread blocks for good once the workers run (the watchdog's case).
    p.add_argument("--inject-parent-hang", action="store_true", help=argparse.SUPPRESS)
    # Test hook, off unless given: process RANK never takes its part in the all-reduce bandwidth test (a hung peer).
    p.add_argument("--inject-collective-hang", type=int, default=None, metavar="RANK", help=argparse.SUPPRESS)
    p.add_argument("--collective-wait", type=float, default=COLLECTIVE_WAIT_S, help=argparse.SUPPRESS)
    p.add_argument("--workdir", default=None, help=argparse.SUPPRESS)  # set by the re-exec: ours to remove
    p.add_argument("--t-start", type=float, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def resolve_defaults(a):
    cpu = a.device == "cpu"
    a.arch = a.arch or ("resnet18" if cpu else "resnet50")
    a.image_size = a.image_size or (32 if cpu else 224)
    a.steps = a.steps if a.steps is not None else (10 if cpu else 200)
    a.warmup = a.warmup if a.warmup is not None else (2 if cpu else 15)
    if a.time_budget is None:
        a.time_budget = COMPILE_BUDGET_S if a.compile else DEFAULT_BUDGET_S
    if a.nnodes > 1:
        a.ddp = True  # across nodes there is only one job
    if a.precision == "auto":
        # The published ResNet-50 figures are fp16 (cuDNN BatchNorm); torch 2.14 runs bf16 BatchNorm on its
        # native kernels (torch._C._select_batch_norm_backend), so bf16 is an option, not the verdict's default.
        # CPU autocast is slow without bf16 hardware; the CPU run proves the path only.
        a.precision = "fp32" if cpu else "fp16"
    return a


class Emitter:
    """The only writer of stdout: one JSON object per line, flushed, so the controller can stream it."""

    def __init__(self):
        self.lock = threading.Lock()

    def __call__(self, obj):
        line = json.dumps(obj, default=str)
        with self.lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


# ---------------------------------------------------------------- GPU sampler (parent process, a thread)

class Sampler(threading.Thread):
    """Reads utilisation, memory, power, SM clock, temperature and clock-event reasons of every GPU:
    through NVML (pynvml, from nvidia-ml-py) when importable, else by polling `nvidia-smi --query-gpu`."""

    SMI_FIELDS = ["index", "utilization.gpu", "memory.used", "power.draw", "clocks.sm", "temperature.gpu"]
    SMI_REASON_FIELDS = ["clocks_event_reasons.active", "clocks_throttle_reasons.active"]
    SMI_APP_FIELDS = ["gpu_uuid", "pid", "process_name", "used_memory"]

    def __init__(self, period, own_pids=None):
        threading.Thread.__init__(self, daemon=True)
        self.period = period
        self.kind = None
        self.error = None
        self.devices = []  # [{"index", "uuid", "name", "pci_bus_id"}]
        self.samples = []  # [{"t", "gpu", "util", "mem_mib", "power_w", "sm_mhz", "temp_c", "reasons"}]
        # Compute processes that were on a GPU before our workers started, by NVML index: what a slow GPU shares.
        self.others = {}  # {index: [{"pid", "name", "used_mib"}]}
        self.own_pids = own_pids or (lambda: set())
        self.ready = threading.Event()  # set once set-up (and that first look at the GPUs' processes) is done
        self.stop_event = threading.Event()
        self._handles = []
        self._smi_reason_field = None

    def setup(self):
        try:
            import pynvml
            pynvml.nvmlInit()
            handles, devices = [], []  # kept only when every device answered: a partial list would be
            for i in range(pynvml.nvmlDeviceGetCount()):  # listed again by the nvidia-smi fallback
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                handles.append(h)
                devices.append({"index": i, "uuid": _s(pynvml.nvmlDeviceGetUUID(h)),
                                "name": _s(pynvml.nvmlDeviceGetName(h)),
                                "pci_bus_id": _s(pynvml.nvmlDeviceGetPciInfo(h).busId)})
            self._handles, self.devices = handles, devices
            self._nvml = pynvml
            self.kind = "nvml"
            self.others = _try(self._nvml_processes) or {}
            return
        except Exception as e:
            self.error = "pynvml: " + first_line(e)
        smi = shutil.which("nvidia-smi")
        if not smi:
            self.error = (self.error + "; " if self.error else "") + "nvidia-smi not found"
            return
        try:
            devices = [{"index": _int(d["index"]), "uuid": d["uuid"], "name": d["name"], "pci_bus_id": d["pci.bus_id"]}
                       for d in self._smi(["index", "uuid", "name", "pci.bus_id"])]
            for field in self.SMI_REASON_FIELDS:
                try:
                    self._smi(["index", field])
                    self._smi_reason_field = field
                    break
                except Exception:
                    pass
            self.devices = devices
            self.kind = "nvidia-smi"
            self.period = max(self.period, 0.5)  # each call costs tens of ms of CPU
            self.error = None
            self.others = _try(self._smi_processes) or {}
        except Exception as e:
            self.error = (self.error + "; " if self.error else "") + "nvidia-smi: " + first_line(e)

    def _smi(self, fields, query="--query-gpu="):
        out = subprocess.run(["nvidia-smi", query + ",".join(fields), "--format=csv,noheader,nounits"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        if out.returncode != 0:
            raise RuntimeError((out.stdout + out.stderr).decode("utf-8", "replace").strip()[:200])
        return parse_smi_csv(out.stdout.decode("utf-8", "replace"), fields)

    def _nvml_processes(self):
        """NVML's compute processes per GPU (nvmlDeviceGetComputeRunningProcesses), ours left out."""
        nv, own, out = self._nvml, self.own_pids(), {}
        for d, h in zip(self.devices, self._handles):
            for p in nv.nvmlDeviceGetComputeRunningProcesses(h) or []:
                if p.pid in own:
                    continue
                used = getattr(p, "usedGpuMemory", None)
                out.setdefault(d["index"], []).append({
                    "pid": p.pid, "name": _try(lambda: _s(nv.nvmlSystemGetProcessName(p.pid))),
                    "used_mib": used // (1024 * 1024) if isinstance(used, int) else None})
        return out

    def _smi_processes(self):
        """`nvidia-smi --query-compute-apps`, by the GPU's UUID, ours left out."""
        by_uuid = {(d.get("uuid") or "").lower(): d["index"] for d in self.devices}
        own, out = self.own_pids(), {}
        for row in self._smi(self.SMI_APP_FIELDS, query="--query-compute-apps="):
            idx, pid = by_uuid.get((row.get("gpu_uuid") or "").lower()), _int(row.get("pid"))
            if idx is None or pid is None or pid in own:
                continue
            out.setdefault(idx, []).append({"pid": pid, "name": row.get("process_name"),
                                            "used_mib": _int(_value(row.get("used_memory")))})
        return out

    def read_once(self):
        t = time.time()
        if self.kind == "nvml":
            nv = self._nvml
            for i, h in enumerate(self._handles):
                row = {"t": round(t, 3), "gpu": i}
                row["util"] = _try(lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu)
                row["mem_mib"] = _try(lambda: nv.nvmlDeviceGetMemoryInfo(h).used // (1024 * 1024))
                row["power_w"] = _try(lambda: round(nv.nvmlDeviceGetPowerUsage(h) / 1000.0, 1))
                row["sm_mhz"] = _try(lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))
                row["temp_c"] = _try(lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
                fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
                    getattr(nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
                row["reasons"] = _try(lambda: reason_names(fn(h))) if fn else None
                self.samples.append(row)
        elif self.kind == "nvidia-smi":
            fields = self.SMI_FIELDS + ([self._smi_reason_field] if self._smi_reason_field else [])
            for d in self._smi(fields):
                self.samples.append(smi_sample(d, t))

    def run(self):
        try:
            self.setup()
        finally:
            self.ready.set()
        while self.kind and not self.stop_event.is_set():
            t0 = time.time()
            try:
                self.read_once()
            except Exception as e:
                self.error = first_line(e)
            self.stop_event.wait(max(0.0, self.period - (time.time() - t0)))


def parse_smi_csv(text, fields):
    """`nvidia-smi --query-gpu=FIELDS --format=csv[,noheader][,nounits]` -> one dict per GPU, by field name.
    A header line is skipped; values keep their text (units too) for smi_sample to read."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(fields) or cells[0].split(" ")[0] == fields[0]:
            continue  # a header line, or a line that is not a row of this query
        rows.append(dict(zip(fields, cells)))
    return rows


def smi_sample(d, t):
    """One sampler row from a parsed nvidia-smi row; "26 %", "83.92 W", "1320 MHz" and "[N/A]" all read."""
    mask = d.get("clocks_event_reasons.active") or d.get("clocks_throttle_reasons.active")
    return {"t": round(t, 3), "gpu": _int(d.get("index")), "util": _int(_value(d.get("utilization.gpu"))),
            "mem_mib": _int(_value(d.get("memory.used"))), "power_w": _float(_value(d.get("power.draw"))),
            "sm_mhz": _int(_value(d.get("clocks.sm") or d.get("clocks.current.sm"))),
            "temp_c": _int(_value(d.get("temperature.gpu"))),
            "reasons": reason_names(_int(mask, 16)) if mask and mask.startswith("0x") else None}


def _value(s):
    return s.split(" ")[0] if s else None


def _s(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def _try(fn):
    try:
        return fn()
    except Exception:
        return None


def _int(s, base=10):
    try:
        return int(s, base) if isinstance(s, str) else int(s)
    except (TypeError, ValueError):
        try:
            return int(float(s))
        except (TypeError, ValueError):
            return None


def _float(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- one training process (a GPU, or the CPU)

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
                torch_cuda=_try(lambda: str(torch.version.cuda) if torch.version.cuda else None))

    if cuda:
        torch.cuda.set_device(dev_index)
        dev = torch.device("cuda", dev_index)
        p = torch.cuda.get_device_properties(dev_index)
        info.update(name=p.name, capability="%d.%d" % (p.major, p.minor), total_memory=p.total_memory,
                    sm_count=getattr(p, "multi_processor_count", None),
                    uuid=_try(lambda: str(p.uuid)), pci_bus_id=_try(lambda: "%08X:%02X:%02X.0" % (
                        p.pci_domain_id, p.pci_bus_id, p.pci_device_id)))
        info["cudnn"] = _try(torch.backends.cudnn.version)  # here, in a worker: it initialises CUDA
        torch.backends.cudnn.benchmark = True
        memory.update(torch=torch, dev=dev)
    else:
        dev = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        info.update(name="cpu", capability=None)
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
    if cuda and not a.batch_size:
        t = time.perf_counter()
        losses.append(float(train_step(*pool[1]).item()))  # the second step: past allocation and autotuning
        fitted = fit_batch_to_time(bs, time.perf_counter() - t, (deadline - RESERVE_S - time.time()) * 0.8)
        if fitted < bs:
            info["batch_size_from"] = "free memory, lowered to fit --time-budget (from %d)" % bs
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

    def should_stop(i, stop_at, min_steps):
        late = i >= min_steps and time.time() > stop_at
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
            if should_stop(i, stop_at, min_steps):
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
    phases["warmup"] = run_phase("warmup", a.warmup, synth, time.time() + left * 0.4,
                                 min_steps=min(2, a.warmup) if a.compile else 0)
    info["losses"] = losses + phases["warmup"]["losses"]
    checkpoint()
    est = step_estimate_s(phases["warmup"]["step_ms"])
    avail = max(0.0, (deadline - RESERVE_S - time.time()) * share)
    if distributed:
        with collective("agreeing on the step count"):
            n = agreed_min(torch, max(1, min(a.steps, int(avail / max(est, 1e-4)))), dev, cuda)
    else:
        n = a.steps
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
    return {"max_memory_allocated": _try(lambda: int(torch.cuda.max_memory_allocated(dev))),
            "memory_free_after": _try(lambda: int(torch.cuda.mem_get_info(dev)[0]))}


def replica_state(torch, model, opt):
    """Sums of the parameters and of SGD's momentum buffers, in float64: DDP replicas that train in step end
    with the same sums on every rank."""
    with torch.no_grad():
        params = sum(float(p.detach().double().sum()) for p in model.parameters())
        bufs = [opt.state[p].get("momentum_buffer") for p in model.parameters() if p in opt.state]
        momentum = sum(float(b.double().sum()) for b in bufs if b is not None)
    return {"params": params, "momentum": momentum}


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


class SyntheticImages(object):
    """DataLoader input: uint8 images decoded from a small pool, randomly cropped and flipped, converted to
    normalised float like a torchvision pipeline. The label is the image's dominant colour (learnable).
    `cost` extra blur passes per image stand for a heavier augmentation. It holds no module object, so the
    DataLoader's worker processes can receive it by pickling."""

    def __init__(self, size, length, seed, cost=0):
        import torch
        self.size = size
        self.length = length
        self.cost = cost
        g = torch.Generator().manual_seed(seed)
        pool = 64
        self.labels = torch.randint(0, NUM_CLASSES, (pool,), generator=g)
        colours = torch.rand(NUM_CLASSES, 3, 1, 1, generator=g) * 160
        noise = torch.rand(pool, 3, size + 32, size + 32, generator=g) * 95
        self.images = (noise + colours[self.labels]).to(torch.uint8)
        self.mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1) * 255
        self.std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1) * 255

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        import torch
        import torch.nn.functional as F
        k = i % len(self.labels)
        img = self.images[k]
        y0, x0 = torch.randint(0, 33, (2,)).tolist()
        img = img[:, y0:y0 + self.size, x0:x0 + self.size]
        if torch.rand(()) < 0.5:
            img = img.flip(2)
        x = img.float()
        for _ in range(self.cost):
            x = F.avg_pool2d(x[None], 3, 1, 1)[0] * 0.5 + x * 0.5
        return (x - self.mean) / self.std, int(self.labels[k])


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
            x, y = held.pop() if held else next(it)
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


def worker_entry(rank, world, dev_index, a, q, deadline, port):
    _die_with_parent()
    try:
        os.setpgid(0, 0)  # its own process group: the parent's cut ends its DataLoader/compile children with it
    except OSError:
        pass
    try:
        res = run_worker(rank, world, dev_index, a, q, deadline, port)
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


# ---------------------------------------------------------------- the parent: start workers, sample, report

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def match_gpu(worker, devices):
    """NVML/nvidia-smi index of the GPU a worker used: by UUID, else PCI bus id (CUDA's order and
    CUDA_VISIBLE_DEVICES make plain indices unreliable)."""
    uuid = (worker.get("uuid") or "").lower()
    for d in devices:
        du = (d.get("uuid") or "").lower()
        if uuid and du and (du == uuid or du.endswith(uuid)):
            return d["index"]
    bus = (worker.get("pci_bus_id") or "").upper()
    for d in devices:
        db = (d.get("pci_bus_id") or "").upper()
        if bus and db and db.endswith(bus[-7:]):
            return d["index"]
    return None


# Run in a child interpreter: CUDA's own device count (cudaGetDeviceCount, which sees MIG devices and
# CUDA_VISIBLE_DEVICES as a process does), not NVML's count of physical GPUs. torch 2.14's device_count()
# returns the NVML count before CUDA is initialised (torch/cuda/__init__.py `device_count`,
# `_device_count_nvml`), so the child asks torch._C._cuda_getDeviceCount, the call is_available() makes
# without PYTORCH_NVML_BASED_CUDA_CHECK. This child may initialise CUDA: it never forks.
# torch's own reason for a count of 0 is a warning that call raises (c10/cuda/CUDAFunctions.cpp, as UserWarning
# "CUDA initialization: The NVIDIA driver on your system is too old (found version 11040)..."): recorded here.
COUNT_CODE = r'''
import json, sys, warnings
out = {}
try:
    import torch
    out["torch"] = str(torch.__version__)
    if not torch.cuda._is_compiled():
        out["error"] = "torch %s is a CPU-only build (no CUDA)" % torch.__version__
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            n = int(torch._C._cuda_getDeviceCount())
        out["warnings"] = [" ".join(str(w.message).split()) for w in caught]
        devices = []
        for i in range(n):
            d = {"index": i}
            try:
                p = torch.cuda.get_device_properties(i)
                d.update(name=p.name, sm_count=getattr(p, "multi_processor_count", None), total_memory=p.total_memory)
            except Exception as e:
                d["error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
            devices.append(d)
        out["count"], out["devices"] = n, devices
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0] if str(e).strip() else "")
print(json.dumps(out))
'''


def count_cuda_devices(deadline):
    """(devices, why-not) as CUDA enumerates them, counted in a child interpreter."""
    env = dict(os.environ)
    env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    try:
        out = subprocess.run([sys.executable, "-c", COUNT_CODE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=max(0.5, deadline - time.time()), env=env)
        doc = json.loads(out.stdout.decode("utf-8", "replace").strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        return None, "counting CUDA devices took longer than the time budget"
    except Exception as e:
        return None, "counting CUDA devices failed: " + first_line(e)
    if doc.get("error"):
        return None, doc["error"]
    if not doc.get("count"):
        said = doc.get("warnings") or []
        return None, "torch.cuda.is_available() is False: CUDA enumerates no device" + (
            " (torch: %s)" % said[0][:400] if said else "")
    return doc["devices"], None


def plan_ordinals(requested, count):
    """The ordinals to start a worker on, and the requested ones CUDA does not have (never started)."""
    start = [i for i in requested if 0 <= i < count]
    lacking = [{"device_index": i, "reason": "CUDA enumerates %d device(s) in a process (ordinals 0..%d): there "
                "is no device %d (on a MIG host CUDA shows MIG devices, one per process, while NVML counts "
                "the physical GPUs)" % (count, count - 1, i)} for i in requested if not 0 <= i < count]
    return start, lacking


def running_from_stdin():
    path = getattr(sys.modules["__main__"], "__file__", None)
    return not path or not os.path.isfile(path)


def reexec_from_file(argv, t_start, emit):
    """Spawned workers import the main module from its file, and stdin has none: write this script into a
    private temporary directory (mkdtemp: mode 0700, only ours) and run it from there. The new process
    removes the directory when it ends."""
    src = globals().get("PROOF_SOURCE")
    if not src:
        emit({"event": "result", "proof_version": PROOF_VERSION, "error": "the proof script came without its "
              "source line (PROOF_SOURCE): spawned workers need it as a file", "workers": [], "gpus": []})
        return 0
    d = tempfile.mkdtemp(prefix="envdoctor-proof-")
    try:
        path = os.path.join(d, WORKER_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(src)
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, path] + list(argv) + ["--workdir", d, "--t-start", repr(t_start)])
    except Exception as e:
        shutil.rmtree(d, ignore_errors=True)
        emit({"event": "result", "proof_version": PROOF_VERSION, "error": "cannot start the proof script from "
              "a temporary file: " + first_line(e), "workers": [], "gpus": []})
        return 0


def process_start_time():
    """time.time() when this process started (Linux: /proc/self/stat starttime), else now. The budget is
    counted from there: interpreter start-up and reading this script from stdin are part of it."""
    now = time.time()
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        started = int(fields[19]) / float(os.sysconf("SC_CLK_TCK"))  # field 22: clock ticks after boot
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started
        return now - age if 0.0 <= age < 600.0 else now
    except Exception:
        return now


def main(argv=None):
    t_start = process_start_time()
    argv = list(sys.argv[1:] if argv is None else argv)
    emit = Emitter()
    a = parse_args(argv)
    if a.workdir is None and running_from_stdin():
        return reexec_from_file(argv, t_start, emit)
    t_start = a.t_start or t_start
    parent = Parent(resolve_defaults(a), t_start, emit)
    threading.Thread(target=parent.watchdog, name="proof-watchdog", daemon=True).start()

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # through the finally below: workers ended, the directory removed

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        return run_parent(parent)
    finally:
        parent.end_workers()
        for p in parent.procs:
            p.join(max(0.0, min(2.0, parent.hard_stop - time.time())))
        if a.workdir:
            shutil.rmtree(a.workdir, ignore_errors=True)


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
        if VOCABULARY is None:
            self.result["vocabulary_missing"] = VOCABULARY_MISSING

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

    results, final, dead_since, last_phase = parent.results, parent.final, {}, parent.last_phase
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


def gpu_samples(sampler, workers):
    """Per GPU the worker used: its identity and the sampler rows taken during that worker's timed phases."""
    out = []
    for w in workers:
        idx = match_gpu(w, sampler.devices)
        windows = [(ph["t_start"], ph["t_end"]) for name, ph in (w.get("phases") or {}).items()
                   if name in ("timed", "dataloader") and ph.get("t_start")]
        rows = [dict(s, phase=_phase_of(s["t"], w)) for s in sampler.samples
                if s["gpu"] == idx and any(t0 <= s["t"] <= t1 for t0, t1 in windows)]
        if len(rows) > MAX_SAMPLES:
            step = len(rows) / float(MAX_SAMPLES)
            rows = [rows[int(i * step)] for i in range(MAX_SAMPLES)]
        dev = next((d for d in sampler.devices if d["index"] == idx), {})
        out.append({"rank": w.get("rank"), "nvml_index": idx, "uuid": dev.get("uuid"), "name": dev.get("name"),
                    "pci_bus_id": dev.get("pci_bus_id"), "samples": rows,
                    "other_processes": sampler.others.get(idx, []) if idx is not None else []})
    return out


def _phase_of(t, w):
    for name, ph in (w.get("phases") or {}).items():
        if ph.get("t_start") and ph["t_start"] <= t <= ph["t_end"]:
            return name
    return None


if __name__ == "__main__":
    sys.exit(main())
