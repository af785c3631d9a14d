"""The human report, in the style of `flutter doctor`: a line per check, details for each non-pass; a
proof-run's judgements (the host's, then each GPU's) in the same lines."""

from __future__ import annotations

import click

from envdoctor.fleet import render_fleet
from envdoctor.models import CheckResult, HostReport, Proof, Report, Status
from envdoctor.report.printable import printable as P

MARKS = {
    Status.PASS: ("✓", "green"),
    Status.WARN: ("!", "yellow"),
    Status.FAIL: ("✗", "red"),
    Status.UNKNOWN: ("?", "cyan"),
    Status.SKIP: ("-", None),
    Status.ERROR: ("✗", "magenta"),
}


def _mark(status: Status, color: bool) -> str:
    mark, fg = MARKS[status]
    return click.style(mark, fg=fg, bold=True) if color and fg else mark


def render_check(r: CheckResult, color: bool, verbose: bool = False) -> list[str]:
    # What a check says may quote a host or a paste: every field goes through printable (P) here, at the
    # edge, so the report's JSON keeps the raw text and our own marks and colours stay.
    lines = [f"[{_mark(r.status, color)}] {P(r.title)}: {P(r.summary)}  ({P(r.id)})"]
    if r.status == Status.PASS and not verbose:
        return lines
    if r.status == Status.SKIP and not verbose:
        return lines
    for ev in r.evidence:
        # an evidence item may span lines (a log excerpt): its lines stay under its bullet
        lines.append("      • " + P(ev, multiline=True).replace("\n", "\n        "))
    if r.cause:
        lines.append(f"      cause: {P(r.cause)}")
    if r.fix:
        lines.append(f"      fix: {P(r.fix.summary)}")
        for cmd in r.fix.commands:
            lines.append(f"        $ {P(cmd)}")
        if r.fix.playbook:
            lines.append(f"        playbook: {P(r.fix.playbook)}  (envdoctor fix applies it)")
        elif r.fix.manual:
            lines.append("        (manual: envdoctor will not apply this for you)")
    return lines


def render_proof(host: str, proof: Proof, color: bool = False, verbose: bool = False) -> str:
    """One host's proof-run: its status and summary, the host's judgements, then each GPU's figures and
    judgements (stderr's last lines when nothing could be judged)."""
    # The host name, the summary, stderr and the GPUs' fields come from the target: escaped here, at the edge.
    title = f"[{_mark(proof.status, color)}] {P(host)}: proof-run {proof.status.value}"
    lines = [click.style(title, bold=True) if color else title, f"    {P(proof.summary)}"]
    v = proof.verdict
    if not v:
        if proof.stderr_tail:
            lines += ["    stderr:"] + [f"      {P(ln)}" for ln in proof.stderr_tail.splitlines()[-8:]]
        return "\n".join(lines)
    for c in v.host_checks:
        lines += ["    " + ln for ln in render_check(c, color, verbose)]
    for g in v.gpus:
        if g.device == "cpu" or g.name == "cpu":  # a CPU process is never "GPU 0"
            label = f"CPU process {g.rank}" if len(v.gpus) > 1 else "CPU"
        else:  # nvidia-smi's number when the sampler matched it (CUDA_VISIBLE_DEVICES renumbers CUDA's)
            num = g.label if g.nvml_index is not None else f"GPU {g.device_index}"
            label = f"{num} {g.name or ''}".rstrip()
        rate = f"{g.img_s:,.1f} img/s" if g.img_s is not None else "no img/s"
        extra = f", {g.precision}, batch {g.batch_size}" if g.precision else ""
        if g.ratio is not None and g.baseline:
            extra += f", {g.ratio:.2f}x published {g.baseline.img_s:,}"
        lines.append(P(f"    {label}: {rate}{extra}"))
        for c in g.checks:
            if c.status == Status.PASS and not verbose and len(v.gpus) > 4:
                continue  # big nodes: only what needs attention
            lines += ["      " + ln for ln in render_check(c, color, verbose)]
    if v.time_to_verdict_s is not None:
        lines.append(f"    time to verdict: {v.time_to_verdict_s:.1f} s on the target")
    return "\n".join(lines)


def summary_line(h: HostReport) -> str:
    counts = {s: 0 for s in Status}
    for c in h.checks:
        counts[c.status] += 1
    parts = [f"{counts[s]} {s.value}" for s in (Status.FAIL, Status.WARN, Status.UNKNOWN, Status.ERROR, Status.PASS,
                                                 Status.SKIP) if counts[s]]
    return ", ".join(parts) if parts else "no checks ran"


def render_host(h: HostReport, color: bool, verbose: bool = False) -> str:
    title = f"{P(h.host)}{' (this machine, local)' if h.local else ''}: {h.status.value}"
    lines = [click.style(title, bold=True) if color else title]
    if h.error:
        lines.append("  " + P(h.error, multiline=True).replace("\n", "\n  "))
        return "\n".join(lines)
    folded: list[str] = []
    if h.recognised is not None:
        # A paste: what was read first, then the findings; the checks it held no evidence for, in one line.
        lines.append(f"  Read: {P(', '.join(h.recognised))}")
        lines += [f"  Note: {P(n)}" for n in h.notes]
        order = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.PASS: 3, Status.SKIP: 4, Status.UNKNOWN: 5}
        shown = sorted(h.checks, key=lambda c: (c.id != "root_cause", order[c.status]))  # the root cause first
        folded = [c.id for c in shown if c.status == Status.UNKNOWN and not verbose]
        shown = [c for c in shown if c.id not in folded]
    else:
        shown = h.checks
    for c in shown:
        lines += ["  " + line for line in render_check(c, color, verbose)]
    if folded:
        lines.append(f"  [{_mark(Status.UNKNOWN, color)}] no evidence in the paste for {len(folded)} checks: {P(', '.join(folded))}")
    if h.proof is not None:
        lines += ["  " + line for line in render_proof(h.host, h.proof, color, verbose).splitlines()]
    lines.append(f"  Summary: {summary_line(h)}.")
    if h.redacted:
        lines.append(f"  Secrets redacted (shown as <redacted>) in: {P(', '.join(h.redacted))}.")
    verdict = h.bottom_line.text if h.bottom_line else VERDICTS.get(h.status.value)
    if verdict:
        lines.append(f"  Verdict: {P(verdict)}")
    return "\n".join(lines)


VERDICTS = {
    "pass": "this host is ready to train on its GPU(s).",
    "warn": "this host can train on its GPU(s); the warnings above may cost speed or stability.",
    "fail": "this host cannot train on a GPU as it is: fix the ✗ items above, first one first.",
    "unknown": "no failure found, but some evidence could not be collected (?): not a clean bill of health.",
}


def render(report: Report, color: bool, verbose: bool = False) -> str:
    parts = [render_host(h, color, verbose) for h in report.hosts]
    if report.fleet:
        parts.append(render_fleet(report.fleet))
    return "\n\n".join(parts)
