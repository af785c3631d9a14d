"""`envdoctor accept` as text: per host, each figure per GPU against its bar (and the fleet median across a
fleet), the all_reduce sweep, the other checks (counters, grey failures) as the doctor report shows checks; then
the fleet's grey failures."""

from __future__ import annotations

import re

import click

from envdoctor.accept.result import figure_check_id
from envdoctor.models import AcceptFigure, Fleet, HostReport, Report, Status
from envdoctor.printable import printable as P
from envdoctor.report.text import _mark, render_check, summary_line


_WHO = re.compile(r"^(CPU process \d+|GPU \d+ \([^)]*\)): ")  # the worker a figure's summary starts with


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 10 else f"{x:,.1f}" if abs(x) < 1000 else f"{x:,.0f}"


def _bar(f: AcceptFigure) -> str:
    if f.fail_below is None and f.warn_below is None:
        return "no bar"
    return " / ".join(x for x in (f"fail <{_num(f.fail_below)}" if f.fail_below is not None else "",
                                  f"warn <{_num(f.warn_below)}" if f.warn_below is not None else "") if x)


def figure_rows(figures: list[AcceptFigure], color: bool, device: str | None = "cuda") -> list[str]:
    """One aligned row per figure: where, what, the figure, its bar, the fleet median, the verdict."""
    rows = [["", "where", "figure", "measured", "bar", "fleet median"]]
    marks = []
    for f in figures:
        unit = "GPU" if (device or "cuda") == "cuda" else "CPU proc"
        where = f"{unit} {f.gpu_index}" if f.gpu_index is not None else "node"
        rows.append(["", where, f.title, f"{_num(f.value)} {f.unit}" if f.value is not None else "not measured",
                     _bar(f), _num(f.fleet_median) if f.fleet_median is not None else "-"])
        marks.append(_mark(f.status, color))
    widths = [max(len(P(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        cells = [P(c).ljust(widths[i]) for i, c in enumerate(r)]
        cells[0] = f"[{marks[n - 1]}]" if n else "   "
        out.append("  ".join(cells).rstrip())
    return out


def render_accept_host(h: HostReport, color: bool, verbose: bool = False) -> str:
    title = f"{P(h.host)}{' (this machine, local)' if h.local else ''}: {h.status.value}"
    lines = [click.style(title, bold=True) if color else title]
    if h.error:
        return "\n".join(lines + ["  " + P(h.error)])
    a = h.accept
    lines.append(f"  Summary: {summary_line(h)}.")
    if a is not None:
        lines.append(f"  Run: on the {a.device or 'target'}{' (--quick)' if a.quick else ''}, {_num(a.elapsed_s)} s "
                     f"of a {_num(a.time_budget_s)} s budget, ended by {a.ended_by or 'no result'}"
                     + (f"; error: {P(a.error)}" if a.error else ""))
        if a.device and a.device != "cuda":
            lines.append("  Every figure is unknown: the bars are for GPUs, and this run proves the path only.")
        if a.timing:
            lines.append(f"  Timing: {P(a.timing)}")
        lines.append("")
        lines += ["  " + r for r in figure_rows(a.figures, color, a.device)]
        if a.allreduce:
            lines.append("  all_reduce sweep (nccl-tests' arithmetic: busbw = algbw x 2(n-1)/n):")
            lines += [f"    {r.bytes:>13,} B  algbw {r.algbw_gbs:8.2f} GB/s  busbw {r.busbw_gbs:8.2f} GB/s  "
                      f"({r.world} ranks)" for r in a.allreduce]
    figure_ids = {figure_check_id(f) for f in (a.figures if a else [])}
    # A figure's row above says what it is: its check is shown when it failed or warned (with the bar, its
    # source and what explains it), or with -v; the reasons figures were not judged are listed once each.
    shown = [c for c in h.checks if verbose or c.status in (Status.FAIL, Status.WARN, Status.ERROR)
             or (c.id not in figure_ids and c.status != Status.PASS)]
    unjudged: dict[str, int] = {}
    for c in h.checks:
        if c.id in figure_ids and c.status == Status.UNKNOWN and not verbose:
            why = _WHO.sub("", c.summary)
            unjudged[why] = unjudged.get(why, 0) + 1
    if unjudged:
        lines += ["", "  Not judged:"] + [f"    [{_mark(Status.UNKNOWN, color)}] {P(w)}" + (f" (x{n})" if n > 1 else "")
                                          for w, n in unjudged.items()]
    lines += [""] if shown else []
    for c in shown:
        lines += ["  " + line for line in render_check(c, color, verbose)]
    return "\n".join(lines)


def render_grey(fleet: Fleet) -> str:
    grey = fleet.grey_failures or []
    if not grey:
        return (f"Fleet: {fleet.compared or 0} hosts compared; no GPU more than 10 % below the fleet median of its "
                "SKU.")
    return "\n".join([f"Fleet: {len(grey)} figure(s) more than 10 % below the fleet median of their SKU "
                      "(grey failures):"] + [f"  [!] {P(g.summary)}" for g in grey])


def render_accept(report: Report, color: bool = False, verbose: bool = False) -> str:
    parts = [render_accept_host(h, color, verbose) for h in report.hosts]
    if report.fleet and report.fleet.grey_failures is not None:
        parts.append(render_grey(report.fleet))
    return "\n\n".join(parts)
