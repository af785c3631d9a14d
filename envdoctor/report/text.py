"""The human report, in the style of `flutter doctor`: per host the host line, the root cause, the verdict and
the counts first; then the problems, each with its evidence and fix; then one folded line for what passed,
was skipped or had no evidence (-v unfolds it). A proof-run's judgements (the host's, then each GPU's) use
the same lines."""

from __future__ import annotations

import click

from envdoctor.hosts.fleet import hosts_by
from envdoctor.hosts.hostrange import fold
from envdoctor.models import CheckResult, Fleet, HostReport, Proof, Report, Status
from envdoctor.printable import printable as P

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
    for d in r.details if verbose else []:
        lines.append("        · " + P(d, multiline=True).replace("\n", "\n          "))
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
        rate = f"{g.img_s:,.1f} img/s" if g.img_s is not None else "no timed steps"
        # what is known only: a process cut before it chose its batch has none to show
        extra = "".join(f", {x}" for x in (g.precision, g.batch_size and f"batch {g.batch_size}") if x)
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


_ORDER = (Status.FAIL, Status.WARN, Status.UNKNOWN, Status.ERROR, Status.PASS, Status.SKIP)
_SEVERITY = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2, Status.UNKNOWN: 3, Status.PASS: 4, Status.SKIP: 5}
ROOT_CAUSE_ID = "root_cause"  # the check whose line is the root cause (envdoctor/diagnosis/conclusion.py)


def summary_line(h: HostReport) -> str:
    counts = h.status_counts()
    parts = [f"{counts[s.value]} {s.value}" for s in _ORDER if counts[s.value]]
    return ", ".join(parts) if parts else "no checks ran"


def _is_problem(c: CheckResult, paste: bool) -> bool:
    # In a paste, "unknown" means only that the paste did not show it: folded, not a problem to read.
    return c.status in (Status.FAIL, Status.ERROR, Status.WARN) or (c.status == Status.UNKNOWN and not paste)


def root_cause_line(h: HostReport) -> str | None:
    root = next((c for c in h.checks if c.id == ROOT_CAUSE_ID), None)
    return root.summary if root is not None else (h.root_cause.title if h.root_cause is not None else None)


def verdict_text(h: HostReport) -> str | None:
    return h.bottom_line.text if h.bottom_line else VERDICTS.get(h.status.value)


def _folded_line(rest: list[CheckResult], paste: bool, color: bool) -> str | None:
    """What needs no reading, in one line: how many passed, were skipped (not applicable) or had no evidence."""
    n = {s: sum(1 for c in rest if c.status == s) for s in (Status.PASS, Status.SKIP, Status.UNKNOWN)}
    parts = [f"[{_mark(Status.PASS, color)}] {n[Status.PASS]} passed" if n[Status.PASS] else "",
             f"[{_mark(Status.SKIP, color)}] {n[Status.SKIP]} not applicable" if n[Status.SKIP] else "",
             f"[{_mark(Status.UNKNOWN, color)}] {n[Status.UNKNOWN]} with no evidence in the paste" if n[Status.UNKNOWN] else ""]
    parts = [p for p in parts if p]
    return f"{', '.join(parts)}  (-v lists them)" if parts else None


def render_host(h: HostReport, color: bool, verbose: bool = False) -> str:
    """The doctor's report for one host: the host line, the root cause, the verdict and the counts; then the
    problems, each with its evidence and fix; then one folded line for the rest (-v unfolds it)."""
    title = f"{P(h.host)}{' (this machine, local)' if h.local else ''}: {h.status.value}"
    lines = [click.style(title, bold=True) if color else title]
    if h.error:
        lines.append("  " + P(h.error, multiline=True).replace("\n", "\n  "))
        return "\n".join(lines)
    paste = h.recognised is not None
    root = root_cause_line(h)
    if root:
        lines.append(f"  Root cause: {P(root)}")
    verdict = verdict_text(h)
    if verdict:
        lines.append(f"  Verdict: {P(verdict)}")
    lines.append(f"  Summary: {summary_line(h)}.")
    if paste:
        lines.append(f"  Read: {P(', '.join(h.recognised))}")
    lines += [f"  Note: {P(n)}" for n in h.notes]
    # the root cause first, then the worst first; the catalog's order within a status
    ordered = sorted(h.checks, key=lambda c: (c.id != ROOT_CAUSE_ID, _SEVERITY[c.status]))
    problems = [c for c in ordered if _is_problem(c, paste)]
    rest = [c for c in ordered if not _is_problem(c, paste)]
    if problems or h.proof is not None:
        lines.append("")
    for c in problems:
        shown = c
        if c.id == ROOT_CAUSE_ID and c.cause_id:  # its whole summary is the line above: name it, then the evidence
            shown = c.model_copy(update={"summary": c.cause_id})
        lines += ["  " + line for line in render_check(shown, color, verbose)]
    if h.proof is not None:
        lines += ["  " + line for line in render_proof(h.host, h.proof, color, verbose).splitlines()]
    if verbose:
        lines += ["  " + line for c in rest for line in render_check(c, color, verbose)]
    else:
        folded = _folded_line(rest, paste, color)
        if folded:
            lines.append("  " + folded)
    if h.redacted:
        lines.append(f"  Secrets redacted (shown as <redacted>) in: {P(', '.join(h.redacted))}.")
    return "\n".join(lines)


VERDICTS = {
    "pass": "this host is ready to train on its GPU(s).",
    "warn": "this host can train on its GPU(s); the warnings below may cost speed or stability.",
    "fail": "this host cannot train on a GPU as it is: fix the ✗ items below, first one first.",
    "unknown": "no failure found, but some evidence could not be collected (?): not a clean bill of health.",
}


def render(report: Report, color: bool, verbose: bool = False) -> str:
    parts = [render_host(h, color, verbose) for h in report.hosts]
    if report.fleet:
        parts.append(render_fleet(report.fleet))
    return "\n\n".join(parts)


# A fleet: the hosts of each status folded (gpu[01-12,14]), the table of headline facts, the drift.
TITLES = {"gpu": "GPU", "gpu_count": "#", "driver": "driver", "cuda_driver": "CUDA (driver)", "torch": "torch",
          "torch_cuda": "torch CUDA", "nccl": "NCCL", "container_toolkit": "ctk"}


def folded(hosts: list[str], sep: str = ", ") -> str:
    """gpu01..gpu12, gpu14, login1 -> "gpu[01-12,14], login1" (escaped, as every host name shown)."""
    return sep.join(P(h) for h in fold(hosts))


def render_fleet(fleet: Fleet) -> str:
    """The hosts of each status, folded; the table; the drift, as text."""
    cols = ["host", "status"] + fleet.columns
    head = {"host": "host", "status": "status", **TITLES}
    cells = [[head[c] for c in cols]]
    for r in fleet.rows:
        # host names and facts come from the hosts: escaped before they are measured and shown
        values = {"host": r.host, "status": r.status.value, **{c: getattr(r, c) for c in fleet.columns}}
        cells.append(["-" if values[c] is None else P(values[c]) for c in cols])
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = [f"Fleet summary ({len(fleet.rows)} hosts: "
             + ", ".join(f"{n} {s}" for s, n in sorted(fleet.counts.items())) + ")"]
    by_status = hosts_by((r.host, r.status.value) for r in fleet.rows)
    lines += [f"  {status}: {folded(by_status[status])}" for status in sorted(by_status)]
    for n, row in enumerate(cells):
        lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    base = fleet.baseline
    against = f"golden host {P(base.host)}" if base.kind == "golden" else "the majority"
    compared = fleet.compared if fleet.compared is not None else 2
    if compared < 2:
        lines.append(f"Drift: nothing could be compared ({compared} host evaluated; drift needs two or more)."
                     if compared == 1 else "Drift: nothing could be compared (no host was evaluated).")
    elif not fleet.drift:
        lines.append(f"Drift: none (every evaluated host agrees with {against}).")
    else:
        lines.append(f"Drift (against {against}):")
        for d in fleet.drift:
            # hosts with one value are folded together: gpu[03-04]=535.104.05
            odd = ", ".join(f"{folded(hosts, ',')}={P(v) if v is not None else 'unknown'}"
                            for v, hosts in hosts_by(d.hosts.items()).items())
            exp = P(d.expected) if d.expected is not None else "unknown"
            lines.append(f"  {TITLES.get(d.fact, d.fact)}: expected {exp}; {odd}")
    return "\n".join(lines)
