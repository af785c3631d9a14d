# envdoctor proof-run: run by the target's own python as `python3 - [options]` with this file on stdin.
# It trains a torchvision ResNet with that environment's torch on synthetic data and reports what it saw.
# stdout carries JSON lines only: progress events while it runs, then exactly one {"event": "result"} line.
# Self-contained on purpose (nothing of envdoctor is installed on the target): stdlib + torch + torchvision,
# and pynvml when the target has it.
import argparse
import json
import math
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback

PROOF_VERSION = 1
NUM_CLASSES = 10  # a 10-way head: the synthetic task must be learned from the input, not from class priors
MAX_SAMPLES = 600  # sampler rows kept per GPU in the result
RESERVE_S = 3.0  # budget kept back for teardown and the result line
LR = 0.02
TEMPLATE_GAIN = 1.0
DATA_SEED = 1000

# NVML clock-event ("throttle") reason bits, nvml.h: NVML_CLOCKS_EVENT_REASON_* (same values as the older
# NVML_CLOCKS_THROTTLE_REASON_*). The result carries names so the controller needs no table of its own.
CLOCK_REASONS = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
]


def reason_names(mask):
    if mask is None:
        return None
    return [name for bit, name in CLOCK_REASONS if mask & bit]


def first_line(e):
    s = str(e).strip()
    return "%s: %s" % (type(e).__name__, s.splitlines()[0] if s else "")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="envdoctor-proof")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    p.add_argument("--arch", default=None, help="torchvision model (resnet50 on cuda, resnet18 on cpu)")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None, help="per process; default from free GPU memory")
    p.add_argument("--steps", type=int, default=None, help="timed steps (at most; the budget may cut them)")
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--time-budget", type=float, default=60.0)
    p.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--ddp", action="store_true", help="one DDP job over all GPUs (NCCL; gloo on cpu)")
    p.add_argument("--procs", type=int, default=None, help="processes on --device cpu (default 1)")
    p.add_argument("--gpus", default=None, help="comma-separated GPU indices (default: all)")
    p.add_argument("--dataloader", action="store_true", help="also feed the step from a DataLoader")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers per process")
    p.add_argument("--sample-period", type=float, default=0.25)
    # Multi-node: the controller starts this script on every host with the same --nnodes/--master-*.
    p.add_argument("--nnodes", type=int, default=1)
    p.add_argument("--node-rank", type=int, default=0)
    p.add_argument("--master-addr", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=None)
    p.add_argument("--iface", default=None, help="network interface for NCCL/gloo between nodes")
    return p.parse_args(argv)


def resolve_defaults(a):
    cpu = a.device == "cpu"
    a.arch = a.arch or ("resnet18" if cpu else "resnet50")
    a.image_size = a.image_size or (32 if cpu else 224)
    a.steps = a.steps if a.steps is not None else (10 if cpu else 200)
    a.warmup = a.warmup if a.warmup is not None else (2 if cpu else 15)
    if a.nnodes > 1:
        a.ddp = True  # across nodes there is only one job
    if a.precision == "auto" and cpu:
        a.precision = "fp32"  # CPU autocast is slow without bf16 hardware; the CPU run proves the path only
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

    def __init__(self, period):
        threading.Thread.__init__(self, daemon=True)
        self.period = period
        self.kind = None
        self.error = None
        self.devices = []  # [{"index", "uuid", "name", "pci_bus_id"}]
        self.samples = []  # [{"t", "gpu", "util", "mem_mib", "power_w", "sm_mhz", "temp_c", "reasons"}]
        self.stop_event = threading.Event()
        self._handles = []
        self._smi_reason_field = None

    def setup(self):
        try:
            import pynvml
            pynvml.nvmlInit()
            n = pynvml.nvmlDeviceGetCount()
            for i in range(n):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                self._handles.append(h)
                self.devices.append({"index": i, "uuid": _s(pynvml.nvmlDeviceGetUUID(h)),
                                     "name": _s(pynvml.nvmlDeviceGetName(h)),
                                     "pci_bus_id": _s(pynvml.nvmlDeviceGetPciInfo(h).busId)})
            self._nvml = pynvml
            self.kind = "nvml"
            return
        except Exception as e:
            self.error = "pynvml: " + first_line(e)
        smi = shutil.which("nvidia-smi")
        if not smi:
            self.error = (self.error + "; " if self.error else "") + "nvidia-smi not found"
            return
        try:
            for d in self._smi(["index", "uuid", "name", "pci.bus_id"]):
                self.devices.append({"index": _int(d["index"]), "uuid": d["uuid"], "name": d["name"],
                                     "pci_bus_id": d["pci.bus_id"]})
            for field in self.SMI_REASON_FIELDS:
                try:
                    self._smi(["index", field])
                    self._smi_reason_field = field
                    break
                except Exception:
                    pass
            self.kind = "nvidia-smi"
            self.period = max(self.period, 0.5)  # each call costs tens of ms of CPU
            self.error = None
        except Exception as e:
            self.error = (self.error + "; " if self.error else "") + "nvidia-smi: " + first_line(e)

    def _smi(self, fields):
        out = subprocess.run(["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        if out.returncode != 0:
            raise RuntimeError((out.stdout + out.stderr).decode("utf-8", "replace").strip()[:200])
        return parse_smi_csv(out.stdout.decode("utf-8", "replace"), fields)

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
        while not self.stop_event.is_set():
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
    """Largest power of two whose estimated training memory fits in 70% of the free GPU memory."""
    if a.device == "cpu":
        return 32  # smaller batches make the loss curve of a short CPU run too noisy to judge
    free, _total = torch.cuda.mem_get_info(dev)
    # Rough activation+workspace cost per 224x224 image, measured order of magnitude for torchvision models
    # under autocast; fp32 doubles it. Wrong by 2x is fine: an OOM halves the batch and retries.
    per_img_mib = {"resnet18": 25, "resnet34": 35, "resnet50": 80, "resnet101": 120, "resnet152": 170}.get(a.arch, 120)
    if a.precision == "fp32":
        per_img_mib *= 2
    per_img = per_img_mib * (1 << 20) * (a.image_size / 224.0) ** 2
    n = int(free * 0.7 / per_img)
    bs = 8
    while bs * 2 <= min(n, 256):
        bs *= 2
    return bs


def matmul_check(torch, dev):
    """A small fp32 matmul on the device against float64 on the CPU: wrong answers mean broken hardware
    or a broken library, whatever the loss says."""
    g = torch.Generator().manual_seed(7)
    a = torch.randn(256, 256, generator=g)
    b = torch.randn(256, 256, generator=g)
    ref = a.double() @ b.double()
    got = (a.to(dev) @ b.to(dev)).double().cpu()
    err = float((got - ref).abs().max() / ref.abs().max())
    return {"max_rel_err": err, "ok": bool(math.isfinite(err) and err < 1e-2)}


class SyntheticImages(object):
    """DataLoader input: uint8 images decoded from a small pool, randomly cropped and flipped, converted to
    normalised float like a torchvision pipeline. The label is the image's dominant colour (learnable)."""

    def __init__(self, torch, size, length, seed):
        self.torch = torch
        self.size = size
        self.length = length
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
        torch = self.torch
        k = i % len(self.labels)
        img = self.images[k]
        y0, x0 = torch.randint(0, 33, (2,)).tolist()
        img = img[:, y0:y0 + self.size, x0:x0 + self.size]
        if torch.rand(()) < 0.5:
            img = img.flip(2)
        return (img.float() - self.mean) / self.std, int(self.labels[k])


def run_worker(rank, world, dev_index, a, q, deadline, port):
    import torch
    import torch.nn.functional as F
    import torchvision

    cuda = a.device == "cuda"
    grank, gworld = a.node_rank * world + rank, a.nnodes * world  # across nodes (== rank, world on one)
    distributed = a.ddp and gworld > 1
    info = {"rank": rank, "global_rank": grank, "device_index": dev_index, "pid": os.getpid()}

    def progress(phase, step, of, **kw):
        d = {"event": "progress", "rank": rank, "phase": phase, "step": step, "of": of}
        d.update(kw)
        q.put(d)

    if cuda:
        torch.cuda.set_device(dev_index)
        dev = torch.device("cuda", dev_index)
        p = torch.cuda.get_device_properties(dev_index)
        info.update(name=p.name, capability="%d.%d" % (p.major, p.minor), total_memory=p.total_memory,
                    uuid=_try(lambda: str(p.uuid)), pci_bus_id=_try(lambda: "%08X:%02X:%02X.0" % (
                        p.pci_domain_id, p.pci_bus_id, p.pci_device_id)))
        torch.backends.cudnn.benchmark = True
        precision = a.precision
        if precision == "auto":
            # bf16 needs Ampere (8.0) or later in hardware; before it, fp16 with a gradient scaler.
            precision = "bf16" if p.major >= 8 else "fp16"
    else:
        dev = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        precision = a.precision if a.precision != "auto" else "fp32"
        info.update(name="cpu", capability=None)
    info["precision"] = precision
    info["channels_last"] = not a.no_channels_last
    info["matmul"] = matmul_check(torch, dev)
    progress("setup", 0, 0, msg="matmul ok" if info["matmul"]["ok"] else "matmul WRONG")

    if distributed:
        import datetime
        import torch.distributed as dist
        os.environ["MASTER_ADDR"] = a.master_addr
        os.environ["MASTER_PORT"] = str(port)
        if a.iface:
            os.environ["NCCL_SOCKET_IFNAME"] = os.environ["GLOO_SOCKET_IFNAME"] = a.iface
        progress("rendezvous", 0, 0, msg="joining %s:%s" % (a.master_addr, port))
        # A node that never joins must not hold the others past the budget.
        wait = max(5.0, deadline - RESERVE_S - time.time())
        dist.init_process_group("nccl" if cuda else "gloo", rank=grank, world_size=gworld,
                                timeout=datetime.timedelta(seconds=wait))
        info["backend"] = dist.get_backend()
        progress("joined", grank + 1, gworld, msg="joined %d processes" % gworld)
        info["allreduce"] = allreduce_bandwidth(torch, dist, dev, gworld, cuda)

    torch.manual_seed(1234)  # identical initial weights on every process (DDP also broadcasts them)
    model = getattr(torchvision.models, a.arch)(weights=None, num_classes=NUM_CLASSES)
    fmt = torch.contiguous_format if a.no_channels_last else torch.channels_last
    model = model.to(dev, memory_format=fmt)
    info["param_device"] = str(next(model.parameters()).device)
    train_model = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        train_model = DDP(model, device_ids=[dev_index] if cuda else None)
    if a.compile:
        train_model = torch.compile(train_model)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=5e-5)
    amp = precision in ("bf16", "fp16")
    amp_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = None
    if precision == "fp16":
        scaler = torch.amp.GradScaler("cuda") if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler") \
            else torch.cuda.amp.GradScaler()

    def train_step(x, y):
        with torch.autocast(device_type=dev.type, dtype=amp_dtype, enabled=amp):
            loss = F.cross_entropy(train_model(x), y)
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

    bs = a.batch_size or pick_batch_size(torch, a, dev)
    info["batch_size_from"] = "option" if a.batch_size else ("free memory" if cuda else "default")
    losses = []
    pool = None
    while True:  # find a batch that fits: the first step allocates (almost) everything
        oom = False
        try:
            pool = [make_batch(bs) for _ in range(4)]
            t = time.perf_counter()
            losses.append(float(train_step(*pool[0]).item()))
            info["first_step_s"] = round(time.perf_counter() - t, 3)
            break
        except RuntimeError as e:
            oom = "out of memory" in str(e).lower()
            if not (cuda and oom and bs > 8 and not a.batch_size):
                raise
        # outside the except block: the traceback no longer pins the failed step's tensors
        pool = None
        opt.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        info.setdefault("oom_retries", []).append(bs)
        bs //= 2
    info["batch_size"] = bs

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    def run_phase(phase, n, get_batch, stop_at, min_steps=1):
        times, waits, phase_losses = [], [], []
        last = 0.0
        t_start = time.time()
        for i in range(n):
            if not distributed and i >= min_steps and time.time() > stop_at:
                break  # DDP ranks must run the same count: theirs is agreed beforehand
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
                progress(phase, i + 1, n, loss=round(loss, 4), img_s=round(bs * len(times) / done, 1) if done else None)
        return {"steps": len(times), "t_start": round(t_start, 3), "t_end": round(time.time(), 3),
                "secs": round(sum(times), 4), "step_ms": [round(1000 * t, 2) for t in times],
                "wait_ms": [round(1000 * w, 2) for w in waits], "losses": [round(v, 5) for v in phase_losses],
                "img_s": round(bs * len(times) / sum(times), 2) if times else None}

    def agreed(n):
        """DDP: every rank takes the smallest step count any rank can afford."""
        if not distributed:
            return n
        import torch.distributed as dist
        t = torch.tensor([n], device=dev if cuda else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.item())

    synth = lambda i: pool[i % len(pool)]  # noqa: E731
    phases = {}
    share = 0.5 if a.dataloader else 1.0  # the DataLoader test gets the other half of the time
    phases["warmup"] = run_phase("warmup", a.warmup, synth, deadline - RESERVE_S - 2.0)
    est = (phases["warmup"]["step_ms"][-1] / 1000.0) if phases["warmup"]["step_ms"] else 1.0
    avail = max(0.0, (deadline - RESERVE_S - time.time()) * share)
    n = agreed(max(3, min(a.steps, int(avail / max(est, 1e-4)))))
    stop = time.time() + avail
    phases["timed"] = run_phase("timed", n, synth, stop, min_steps=3)
    info["img_s"] = phases["timed"]["img_s"]

    if a.dataloader:
        phases["dataloader"] = dataloader_phase(torch, a, dev, bs, world, rank, run_phase, agreed, deadline, cuda, info)

    # The synthetic task's loss curve, first step to last timed step (the DataLoader phase has its own task).
    info["losses"] = [round(v, 5) for v in losses + phases["warmup"]["losses"] + phases["timed"]["losses"]]
    info["phases"] = phases
    if cuda:
        info["max_memory_allocated"] = torch.cuda.max_memory_allocated(dev)
        info["memory_free_after"] = _try(lambda: torch.cuda.mem_get_info(dev)[0])
    if distributed:
        import torch.distributed as dist
        dist.destroy_process_group()
    return info


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


def dataloader_phase(torch, a, dev, bs, world, rank, run_phase, agreed, deadline, cuda, info):
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = a.workers if a.workers is not None else max(1, min(8, cpus // max(1, world)))
    out = {"workers": workers, "pin_memory": cuda, "cpus": cpus}
    try:
        shm = os.statvfs("/dev/shm")
        out["shm_bytes"] = shm.f_frsize * shm.f_blocks
    except OSError:
        out["shm_bytes"] = None
    fmt = torch.contiguous_format if a.no_channels_last else torch.channels_last
    ds = SyntheticImages(torch, a.image_size, 1 << 30, seed=5 + rank)
    kw = {"num_workers": workers, "pin_memory": cuda, "drop_last": True}
    if workers > 0:
        # fork: the dataset (and this script) exist only in this process, never as an importable file
        kw.update(prefetch_factor=4, persistent_workers=False, multiprocessing_context="fork")
    try:
        loader = torch.utils.data.DataLoader(ds, batch_size=bs, shuffle=False, **kw)
        it = iter(loader)

        def get_batch(i):
            x, y = next(it)
            return x.to(dev, non_blocking=True).contiguous(memory_format=fmt), y.to(dev, non_blocking=True)

        warm = run_phase("dataloader-warmup", 3, get_batch, deadline - RESERVE_S - 1.0)
        est = max(warm["step_ms"][-1] / 1000.0, 1e-4) if warm["step_ms"] else 1.0
        avail = max(0.0, deadline - RESERVE_S - 1.0 - time.time())
        n = agreed(max(3, min(a.steps, int(avail / est))))
        out.update(run_phase("dataloader", n, get_batch, time.time() + avail, min_steps=3))
        out["warmup_steps"] = warm["steps"]
        del it, loader
    except Exception as e:
        # A DataLoader that cannot start (too small /dev/shm, workers killed) is a finding, not a crash.
        out["error"] = first_line(e)
    return out


def worker_entry(rank, world, dev_index, a, q, deadline, port):
    try:
        res = run_worker(rank, world, dev_index, a, q, deadline, port)
    except BaseException as e:  # noqa: B902 - everything a worker hits is evidence for the controller
        res = {"rank": rank, "device_index": dev_index, "error": first_line(e),
               "traceback": traceback.format_exc()[-3000:]}
    q.put({"event": "worker_result", "rank": rank, "result": res})


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


def count_gpus(torch):
    """GPUs torch can see, counted without a CUDA context in this process (the workers are forked from
    it): through NVML as torch does, else in a child interpreter. (count, why-not)."""
    if not getattr(torch.backends, "cuda", None) or not torch.cuda._is_compiled():
        return 0, "torch %s is a CPU-only build (no CUDA)" % torch.__version__
    try:
        n = torch.cuda._device_count_nvml()  # honours CUDA_VISIBLE_DEVICES; -1 when NVML cannot be used
    except Exception:
        n = -1
    if n > 0:
        return n, None
    code = "import torch, warnings\nwarnings.simplefilter('ignore')\nprint(torch.cuda.device_count())"
    try:
        out = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=120)
        n = int(out.stdout.decode().strip().splitlines()[-1])
    except Exception as e:
        return 0, "counting GPUs with torch failed: " + first_line(e)
    if n > 0:
        return n, None
    return 0, "torch.cuda.is_available() is False: torch sees no GPU"


def main(argv=None):
    t_start = time.time()
    # torch must count GPUs through NVML in this parent: a CUDA context created before fork() breaks the
    # per-GPU worker processes ("Cannot re-initialize CUDA in forked subprocess"). Read at call time.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    emit = Emitter()
    a = resolve_defaults(parse_args(sys.argv[1:] if argv is None else argv))
    deadline = t_start + a.time_budget
    result = {"event": "result", "proof_version": PROOF_VERSION, "device": a.device, "arch": a.arch,
              "image_size": a.image_size, "compile": a.compile, "ddp": a.ddp, "dataloader": a.dataloader,
              "requested_precision": a.precision, "time_budget_s": a.time_budget, "python": sys.version.split()[0],
              "executable": sys.executable, "hostname": socket.gethostname(), "workers": [], "gpus": [],
              "error": None, "timed_out": False}
    emit({"event": "start", "device": a.device, "arch": a.arch, "time_budget_s": a.time_budget})

    def finish():
        result["elapsed_s"] = round(time.time() - t_start, 3)
        emit(result)
        return 0

    try:
        import torch
        import torchvision
        result.update(torch=torch.__version__, torchvision=torchvision.__version__,
                      torch_cuda=getattr(torch.version, "cuda", None), cudnn=_try(torch.backends.cudnn.version))
    except Exception as e:
        result["error"] = "cannot import torch/torchvision: " + first_line(e)
        return finish()

    if a.device == "cuda":
        count, why = count_gpus(torch)
        if not count:
            result["error"] = why
            return finish()
        indices = [int(x) for x in a.gpus.split(",")] if a.gpus else list(range(count))
    else:
        indices = list(range(a.procs or 1))
    world = len(indices)
    result["world_size"] = world * a.nnodes
    result["local_world_size"] = world
    result["nnodes"], result["node_rank"] = a.nnodes, a.node_rank
    result["mode"] = "ddp" if a.ddp and world * a.nnodes > 1 else "per-process"

    import multiprocessing as mp
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    port = a.master_port or free_port()
    procs = []
    for rank, dev_index in enumerate(indices):
        p = ctx.Process(target=worker_entry, args=(rank, world, dev_index, a, q, deadline, port))
        p.start()
        procs.append(p)

    sampler = None
    if a.device == "cuda":
        sampler = Sampler(a.sample_period)
        sampler.setup()
        if sampler.kind:
            sampler.start()
        result["sampler"] = sampler.kind

    results = {}
    grace = 5.0
    dead_since = {}
    while len(results) < world:
        now = time.time()
        if now > deadline + grace:
            result["timed_out"] = True
            break
        try:
            msg = q.get(timeout=0.5)
        except queue.Empty:
            for rank, p in enumerate(procs):
                if rank not in results and not p.is_alive():
                    dead_since.setdefault(rank, now)
                    if now - dead_since[rank] > 2.0:  # its result would have arrived by now
                        results[rank] = {"rank": rank, "device_index": indices[rank],
                                         "error": "worker process exited with code %s" % p.exitcode}
            continue
        if msg.get("event") == "worker_result":
            results[msg["rank"]] = msg["result"]
        else:
            emit(msg)

    for p in procs:
        if p.is_alive():
            p.kill()
        p.join(2)
    if sampler is not None and sampler.kind:
        sampler.stop_event.set()
        sampler.join(2)

    workers = [results.get(r) or {"rank": r, "device_index": indices[r],
                                  "error": "no result within the time budget (%.0f s)" % a.time_budget}
               for r in range(world)]
    result["workers"] = workers
    if sampler is not None:
        result["sampler_error"] = sampler.error
        result["gpus"] = gpu_samples(sampler, workers)
    return finish()


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
                    "pci_bus_id": dev.get("pci_bus_id"), "samples": rows})
    return out


def _phase_of(t, w):
    for name, ph in (w.get("phases") or {}).items():
        if ph.get("t_start") and ph["t_start"] <= t <= ph["t_end"]:
            return name
    return None


if __name__ == "__main__":
    sys.exit(main())
