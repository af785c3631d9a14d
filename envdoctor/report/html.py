"""The fleet report as one self-contained HTML file (no network needed to view it: its content security
policy forbids any fetch). For one host, or a row whose hosts are clicked, the doctor's report as the text
report reads: root cause, verdict and counts, then the problems with their evidence and fix, then one
folded line for the rest. For a fleet, a heat map of hosts x checks (summary on hover, evidence and fix on click),
the proof-run's img/s per GPU as bars against the published baseline, each GPU's utilisation over time,
the acceptance figures per GPU against their bar and the fleet median (grey failures named), and the drift
table. At a thousand hosts it stays usable: hosts whose every result is identical share
one row, and rows filter by status and name.

`page_model` (pure) turns a Report into the compact document the page's script draws; `render_html`
puts it in the page. All text reaches the page as data (textContent), never as markup."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib.resources import files

from envdoctor.hosts.fleet import hosts_by
from envdoctor.hosts.hostrange import fold
from envdoctor.models import Fleet, HostReport, Report, Status
from envdoctor.report.text import root_cause_line, summary_line, verdict_text

UTIL_POINTS = 120  # utilisation samples kept per GPU (evenly spaced), enough for a sparkline


class _Strings:
    """Each distinct string (or detail object) once; cells refer to them by index."""

    def __init__(self):
        self.items: list = []
        self.index: dict[str, int] = {}

    def add(self, value) -> int:
        key = json.dumps(value, sort_keys=True)
        if key not in self.index:
            self.index[key] = len(self.items)
            self.items.append(value)
        return self.index[key]


def _detail(r: dict) -> dict | None:
    fix = r.get("fix") or {}
    d = {"evidence": r.get("evidence") or [], "cause": r.get("cause"), "fix": fix.get("summary"),
         "commands": fix.get("commands") or [], "playbook": fix.get("playbook"), "manual": fix.get("manual"),
         "details": r.get("details") or []}
    return d if any(d[k] for k in ("evidence", "cause", "fix", "commands", "details")) else None


_NOTEWORTHY = (Status.FAIL, Status.WARN, Status.UNKNOWN)


def _proof_cell(h: HostReport) -> dict | None:
    p = h.proof
    if not p:
        return None
    ev = []
    for g in p.verdict.gpus if p.verdict else []:
        ev += [f"GPU {g.device_index}: {c.summary}" for c in g.checks if c.status in _NOTEWORTHY]
    ev += [c.summary for c in (p.verdict.host_checks if p.verdict else []) if c.status in _NOTEWORTHY]
    return {"id": "proof", "title": "Proof-run (ResNet training)", "status": p.status.value,
            "summary": p.summary, "evidence": ev, "fix": None}


def _utilisation(result: dict | None, rank) -> list[list[float]]:
    for g in (result or {}).get("gpus") or []:
        if g.get("rank") != rank:
            continue
        pts = [(s["t"], s["util"]) for s in g.get("samples") or [] if s.get("util") is not None and s.get("t") is not None]
        if not pts:
            return []
        t0 = pts[0][0]
        step = max(1, len(pts) // UTIL_POINTS)
        return [[round(t - t0, 2), u] for t, u in pts[::step]]
    return []


def _proof_entry(h: HostReport) -> dict | None:
    p = h.proof
    if not p or not p.verdict or not p.verdict.gpus:
        return None
    out = []
    for g in p.verdict.gpus:
        out.append({"index": g.device_index, "name": g.name, "img_s": g.img_s,
                    "baseline": g.baseline.img_s if g.baseline else None,
                    "baseline_gpu": g.baseline.gpu if g.baseline else None, "ratio": g.ratio,
                    "status": g.status.value if g.status else None, "util": _utilisation(p.result, g.rank)})
    return {"host": h.host, "status": p.status.value, "summary": p.summary, "gpus": out,
            "constructed": bool(p.constructed)}


def _accept_entry(h: HostReport) -> dict | None:
    """The acceptance figures of one host as the page draws them: each against its bar and the fleet median."""
    a = h.accept
    if not a or not a.figures:
        return None
    keys = ("metric", "title", "gpu_index", "gpu_name", "value", "unit", "status", "summary", "fail_below",
            "warn_below", "peak", "fleet_median")
    return {"host": h.host, "status": h.status.value, "device": a.device, "quick": a.quick,
            "figures": [{k: v for k, v in f.model_dump(mode="json").items() if k in keys} for f in a.figures]}


def _doctor(h: HostReport) -> dict:
    """The head of the doctor's report for a row: what the text report says before its problems. The
    problems themselves are the row's cells (fail, error, warn; unknown too unless it is a paste, where
    unknown means only that the paste did not show it)."""
    return {"root_cause": root_cause_line(h), "verdict": verdict_text(h), "summary": summary_line(h),
            "paste": h.recognised is not None, "read": h.recognised, "notes": h.notes}


def page_model(report: Report) -> dict:
    strings = _Strings()
    columns: list[dict] = []
    seen: dict[str, int] = {}
    per_host = []
    for h in report.hosts:
        results = [c.model_dump(mode="json") for c in h.checks]
        pc = _proof_cell(h)
        if pc:
            results.append(pc)
        for r in results:
            if r["id"] not in seen:
                seen[r["id"]] = len(columns)
                columns.append({"id": r["id"], "title": r["title"]})
        per_host.append((h, results))
    groups: dict[str, dict] = {}
    for h, results in per_host:
        cells: list = [None] * len(columns)
        for r in results:
            det = _detail(r)
            cells[seen[r["id"]]] = [r["status"], strings.add(r["summary"]), strings.add(det) if det else -1]
        doctor = strings.add(_doctor(h))
        key = json.dumps([h.status.value, h.error, cells, doctor])
        g = groups.setdefault(key, {"status": h.status.value, "error": h.error, "cells": cells, "doctor": doctor,
                                    "hosts": []})
        g["hosts"].append(h.host)
    for g in groups.values():
        g["folded"] = fold(g["hosts"])  # the row's label: gpu[04,09-10]
    counts: dict[str, int] = {}
    for h in report.hosts:
        counts[h.status.value] = counts.get(h.status.value, 0) + 1
    fleet = report.fleet or Fleet()
    # the page's script reads the fleet's parts as the JSON report writes them
    return {"envdoctor": report.envdoctor, "columns": columns, "strings": strings.items,
            "groups": list(groups.values()), "counts": counts, "hosts": len(report.hosts),
            "proof": [e for e in (_proof_entry(h) for h in report.hosts) if e],
            "drift": [_folded_drift(d.model_dump(mode="json")) for d in fleet.drift or []],
            "baseline": fleet.baseline.model_dump(mode="json") if fleet.baseline else None,
            "multi_node": fleet.multi_node.model_dump(mode="json") if fleet.multi_node else None,
            "accept": [e for e in (_accept_entry(h) for h in report.hosts) if e],
            "grey": [g.model_dump(mode="json") for g in fleet.grey_failures or []]}


def _folded_drift(d: dict) -> dict:
    """A drift entry with its hosts folded per value: "values": [[value, ["gpu[03-04]", ...], count], ...]."""
    by_value = hosts_by(d["hosts"].items())
    return {**d, "values": [[v, fold(hosts), len(hosts)] for v, hosts in by_value.items()]}


def _json_for_script(doc: dict) -> str:
    # Inside <script>, "</" and "<!--" must not appear; \u003c keeps the JSON identical once parsed.
    return json.dumps(doc, separators=(",", ":")).replace("<", "\\u003c").replace("\u2028", "\\u2028") \
        .replace("\u2029", "\\u2029")


def render_html(report: Report, generated: datetime | None = None) -> str:
    when = (generated or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    assets = files("envdoctor.report")
    page = assets.joinpath("html_page.html").read_text()
    return (page.replace("/*STYLE*/", assets.joinpath("html_page.css").read_text())
                .replace("/*SCRIPT*/", assets.joinpath("html_page.js").read_text())
                .replace("{{GENERATED}}", when)
                .replace("{{DATA}}", _json_for_script({**page_model(report), "generated": when})))
