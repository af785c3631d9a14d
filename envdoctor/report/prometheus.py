"""Prometheus text exposition (format 0.0.4) for the node exporter's textfile collector: a check's
status per host, each host's status, the proof-run's img/s per GPU with the published baseline, how
long gathering took, and when envdoctor last ran. Statuses are numbers so that alerts can compare them;
the mapping is in the HELP line and in STATUS_VALUES. The exposition and the atomic write are
prometheus_client's: the report becomes a collector of gauge families in a registry of its own."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from envdoctor.atomic import write_report
from envdoctor.errors import UserError
from envdoctor.models import Report

# 0 is the only healthy value; unknown is not 0: missing evidence is never reported as healthy.
STATUS_VALUES = {"pass": 0, "warn": 1, "fail": 2, "unknown": 3, "error": 4, "skip": 5,
                 "unreachable": 6, "auth-failed": 6, "host-key-unknown": 6, "host-key-changed": 6, "timeout": 6}
_MAPPING = ", ".join(f"{v} {k}" for k, v in STATUS_VALUES.items() if v != 6) + ", 6 not reached"

# name -> (help, label names); the order here is the order in the file
METRICS = {
    "envdoctor_host_status": (f"Overall status of the host ({_MAPPING}).", ["host"]),
    "envdoctor_check_status": (f"Status of one envdoctor check on a host ({_MAPPING}).", ["host", "check"]),
    "envdoctor_gather_seconds": ("Seconds envdoctor took to gather and check the host.", ["host"]),
    "envdoctor_proof_status": (f"Status of the proof-run on the host ({_MAPPING}).", ["host"]),
    "envdoctor_proof_images_per_second": (
        "Training throughput of the proof-run (ResNet, synthetic data) on one GPU, images per second.",
        ["host", "gpu", "name"]),
    "envdoctor_proof_baseline_images_per_second": (
        "Published throughput the proof-run on that GPU is compared with, images per second.",
        ["host", "gpu", "name"]),
    "envdoctor_accept_figure": (
        "A figure of `envdoctor accept` (unit in the label): per GPU, or per node (gpu=\"node\") for all_reduce.",
        ["host", "gpu", "name", "metric", "unit"]),
    "envdoctor_accept_figure_status": (f"Status of that figure against its SKU's bar ({_MAPPING}).",
                                       ["host", "gpu", "name", "metric"]),
    "envdoctor_accept_bar_fail_below": ("The published bar the figure is judged against: below it fails.",
                                        ["host", "gpu", "name", "metric"]),
    "envdoctor_accept_fleet_median": ("The median of that figure across the fleet's GPUs of the same SKU.",
                                      ["host", "gpu", "name", "metric"]),
    "envdoctor_accept_grey_failure_below_median_ratio": (
        "A grey failure: how far below its SKU's fleet median the figure is (0.18 = 18 % below).",
        ["host", "gpu", "name", "metric"]),
    "envdoctor_last_run_timestamp_seconds": ("Unix time at which envdoctor wrote these metrics.", []),
}


def unique_hosts(names: list[str]) -> list[str]:
    """One label per host: a repeated name (two pastes both called nvidia.txt) becomes `name#2`, which
    no other host is called. The textfile collector rejects a whole file with one duplicate series."""
    taken, out = set(names), []
    seen: set[str] = set()
    for n in names:
        label, i = n, 1
        while label in seen or (label != n and label in taken):  # taken: another host's own name
            i += 1
            label = f"{n}#{i}"
        seen.add(label)
        out.append(label)
    return out


class ReportCollector(Collector):
    """The report's metrics, as gauge families; a family no host has a sample for is left out."""

    def __init__(self, report: Report, now: float | None = None):
        self.report = report
        self.now = now

    def collect(self):
        families = {name: GaugeMetricFamily(name, help_text, labels=labels)
                    for name, (help_text, labels) in METRICS.items()}

        def add(name: str, labels: list, value) -> None:
            families[name].add_metric([str(v) for v in labels], float(value))

        labels_of = unique_hosts([h.host for h in self.report.hosts])
        hosts = {h.host: label for h, label in zip(self.report.hosts, labels_of)}
        for h, host in zip(self.report.hosts, labels_of):
            add("envdoctor_host_status", [host], STATUS_VALUES.get(h.status.value, 4))
            for c in h.checks:
                add("envdoctor_check_status", [host, c.id], STATUS_VALUES[c.status.value])
            if h.gather_secs is not None:
                add("envdoctor_gather_seconds", [host], h.gather_secs)
            _add_accept(add, host, h)
            if h.proof is None:
                continue
            add("envdoctor_proof_status", [host], STATUS_VALUES[h.proof.status.value])
            for g in h.proof.verdict.gpus if h.proof.verdict else []:
                labels = [host, g.device_index, g.name or ""]
                if g.img_s is not None:
                    add("envdoctor_proof_images_per_second", labels, g.img_s)
                if g.baseline is not None:
                    add("envdoctor_proof_baseline_images_per_second", labels, g.baseline.img_s)
        for g in (self.report.fleet.grey_failures or []) if self.report.fleet else []:
            host = hosts.get(g.host, g.host)
            add("envdoctor_accept_grey_failure_below_median_ratio",
                [host, "node" if g.gpu_index is None else g.gpu_index, g.gpu_name or "", g.metric], g.below)
        add("envdoctor_last_run_timestamp_seconds", [], round(self.now if self.now is not None else time.time(), 3))
        return [f for f in families.values() if f.samples]


def _add_accept(add, host: str, h) -> None:
    """The acceptance figures of one host, each with its status, bar and fleet median where it has them."""
    for f in h.accept.figures if h.accept else []:
        labels = [host, "node" if f.gpu_index is None else f.gpu_index, f.gpu_name or "", f.metric]
        if f.value is not None:
            add("envdoctor_accept_figure", labels + [f.unit], f.value)
        add("envdoctor_accept_figure_status", labels, STATUS_VALUES[f.status.value])
        if f.fail_below is not None:
            add("envdoctor_accept_bar_fail_below", labels, f.fail_below)
        if f.fleet_median is not None:
            add("envdoctor_accept_fleet_median", labels, f.fleet_median)


def registry_of(report: Report, now: float | None = None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)  # a registry of its own, not the process-wide default
    registry.register(ReportCollector(report, now))
    return registry


def render_prometheus(report: Report, now: float | None = None) -> str:
    return generate_latest(registry_of(report, now)).decode("utf-8")


def write_prometheus(path: Path, report: Report, now: float | None = None) -> None:
    """A regular file (or a new name) is written by prometheus_client's write_to_textfile (a temporary file
    beside it, then a rename); write_report decides that, and writes through a FIFO, /dev/stdout or a
    descriptor itself: write_to_textfile would rename a plain file over them."""
    registry = registry_of(report, now)

    def to_textfile(file: Path, _text: str) -> None:
        if not file.parent.is_dir():
            raise UserError(f"{file}: its directory does not exist")
        try:
            write_to_textfile(str(file), registry)
        except OSError as e:
            raise UserError(f"{file}: cannot write there: {e.strerror}") from None

    write_report(path, generate_latest(registry).decode("utf-8"), write_file=to_textfile)
