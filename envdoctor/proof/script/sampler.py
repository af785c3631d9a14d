"""The GPU sampler (a thread of the parent process): NVML through pynvml when importable, else `nvidia-smi
--query-gpu`; and which of its rows belong to which worker's GPU and timed phases."""

import shutil
import subprocess
import threading
import time

from .clock_reasons import reason_names
from .values import as_float, as_int, as_str, first_line, first_word, quietly

MAX_SAMPLES = 600  # sampler rows kept per GPU in the result


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
                devices.append({"index": i, "uuid": as_str(pynvml.nvmlDeviceGetUUID(h)),
                                "name": as_str(pynvml.nvmlDeviceGetName(h)),
                                "pci_bus_id": as_str(pynvml.nvmlDeviceGetPciInfo(h).busId)})
            self._handles, self.devices = handles, devices
            self._nvml = pynvml
            self.kind = "nvml"
            self.others = quietly(self._nvml_processes) or {}
            return
        except Exception as e:
            self.error = "pynvml: " + first_line(e)
        smi = shutil.which("nvidia-smi")
        if not smi:
            self.error = (self.error + "; " if self.error else "") + "nvidia-smi not found"
            return
        try:
            devices = [{"index": as_int(d["index"]), "uuid": d["uuid"], "name": d["name"], "pci_bus_id": d["pci.bus_id"]}
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
            self.others = quietly(self._smi_processes) or {}
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
                    "pid": p.pid, "name": quietly(lambda: as_str(nv.nvmlSystemGetProcessName(p.pid))),
                    "used_mib": used // (1024 * 1024) if isinstance(used, int) else None})
        return out

    def _smi_processes(self):
        """`nvidia-smi --query-compute-apps`, by the GPU's UUID, ours left out."""
        by_uuid = {(d.get("uuid") or "").lower(): d["index"] for d in self.devices}
        own, out = self.own_pids(), {}
        for row in self._smi(self.SMI_APP_FIELDS, query="--query-compute-apps="):
            idx, pid = by_uuid.get((row.get("gpu_uuid") or "").lower()), as_int(row.get("pid"))
            if idx is None or pid is None or pid in own:
                continue
            out.setdefault(idx, []).append({"pid": pid, "name": row.get("process_name"),
                                            "used_mib": as_int(first_word(row.get("used_memory")))})
        return out

    def read_once(self):
        t = time.time()
        if self.kind == "nvml":
            nv = self._nvml
            for i, h in enumerate(self._handles):
                row = {"t": round(t, 3), "gpu": i}
                row["util"] = quietly(lambda: nv.nvmlDeviceGetUtilizationRates(h).gpu)
                row["mem_mib"] = quietly(lambda: nv.nvmlDeviceGetMemoryInfo(h).used // (1024 * 1024))
                row["power_w"] = quietly(lambda: round(nv.nvmlDeviceGetPowerUsage(h) / 1000.0, 1))
                row["sm_mhz"] = quietly(lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM))
                row["temp_c"] = quietly(lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
                fn = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
                    getattr(nv, "nvmlDeviceGetCurrentClocksThrottleReasons", None)
                row["reasons"] = quietly(lambda: reason_names(fn(h))) if fn else None
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
    return {"t": round(t, 3), "gpu": as_int(d.get("index")), "util": as_int(first_word(d.get("utilization.gpu"))),
            "mem_mib": as_int(first_word(d.get("memory.used"))), "power_w": as_float(first_word(d.get("power.draw"))),
            "sm_mhz": as_int(first_word(d.get("clocks.sm") or d.get("clocks.current.sm"))),
            "temp_c": as_int(first_word(d.get("temperature.gpu"))),
            "reasons": reason_names(as_int(mask, 16)) if mask and mask.startswith("0x") else None}


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
