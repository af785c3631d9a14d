"""Prometheus text exposition (format 0.0.4) for the node exporter's textfile collector: a check's
status per host, each host's status, the proof-run's img/s per GPU with the published baseline, how
long gathering took, and when envdoctor last ran. Statuses are numbers so that alerts can compare them;
the mapping is in the HELP line and in STATUS_VALUES."""

from __future__ import annotations

import time

from envdoctor.models import Report

# 0 is the only healthy value; unknown is not 0: missing evidence is never reported as healthy.
STATUS_VALUES = {"pass": 0, "warn": 1, "fail": 2, "unknown": 3, "error": 4, "skip": 5,
                 "unreachable": 6, "auth-failed": 6, "host-key-unknown": 6, "host-key-changed": 6, "timeout": 6}
_MAPPING = ", ".join(f"{v} {k}" for k, v in STATUS_VALUES.items() if v != 6) + ", 6 not reached"


def _label(v) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**kv) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in kv.items()) + "}"


class _Families:
    def __init__(self):
        self.order: list[str] = []
        self.meta: dict[str, tuple[str, str]] = {}
        self.samples: dict[str, list[str]] = {}

    def add(self, name: str, kind: str, help_text: str, labels: dict, value) -> None:
        if name not in self.meta:
            self.order.append(name)
            self.meta[name] = (kind, help_text)
            self.samples[name] = []
        self.samples[name].append(f"{name}{_labels(**labels) if labels else ''} {_number(value)}")

    def text(self) -> str:
        out = []
        for name in self.order:
            kind, help_text = self.meta[name]
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"] + self.samples[name]
        return "\n".join(out) + "\n"


def _number(v) -> str:
    if isinstance(v, float):
        return repr(v) if v == v else "NaN"
    return str(v)


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


def render_prometheus(report: Report, now: float | None = None) -> str:
    f = _Families()
    labels_of = unique_hosts([h.host for h in report.hosts])
    for h, host in zip(report.hosts, labels_of):
        f.add("envdoctor_host_status", "gauge", f"Overall status of the host ({_MAPPING}).",
              {"host": host}, STATUS_VALUES.get(h.status.value, 4))
        for c in h.checks:
            f.add("envdoctor_check_status", "gauge", f"Status of one envdoctor check on a host ({_MAPPING}).",
                  {"host": host, "check": c.id}, STATUS_VALUES[c.status.value])
        if h.gather_secs is not None:
            f.add("envdoctor_gather_seconds", "gauge", "Seconds envdoctor took to gather and check the host.",
                  {"host": host}, float(h.gather_secs))
        proof = h.proof or {}
        if proof.get("status"):
            f.add("envdoctor_proof_status", "gauge", f"Status of the proof-run on the host ({_MAPPING}).",
                  {"host": host}, STATUS_VALUES.get(proof["status"], 4))
        for g in (proof.get("verdict") or {}).get("gpus") or []:
            labels = {"host": host, "gpu": g.get("device_index"), "name": g.get("name") or ""}
            if g.get("img_s") is not None:
                f.add("envdoctor_proof_images_per_second", "gauge",
                      "Training throughput of the proof-run (ResNet, synthetic data) on one GPU, images per second.",
                      labels, float(g["img_s"]))
            base = g.get("baseline") or {}
            if base.get("img_s") is not None:
                f.add("envdoctor_proof_baseline_images_per_second", "gauge",
                      "Published throughput the proof-run on that GPU is compared with, images per second.",
                      labels, float(base["img_s"]))
    f.add("envdoctor_last_run_timestamp_seconds", "gauge", "Unix time at which envdoctor wrote these metrics.",
          {}, float(round(now if now is not None else time.time(), 3)))
    return f.text()
