"""The human report of proof-runs: per host a headline, the host's judgements, then each GPU's."""

from __future__ import annotations

import click

from envdoctor.models import CheckResult, Status
from envdoctor.proof.verdict import gpu_label
from envdoctor.report.printable import printable
from envdoctor.report.text import render_check

_HEAD = {"pass": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "unknown": ("?", "cyan"),
         "skip": ("-", None), "error": ("✗", "magenta")}


def render_proof(host: str, proof: dict, color: bool = False, verbose: bool = False) -> str:
    mark, fg = _HEAD.get(proof.get("status"), ("?", None))
    mark = click.style(mark, fg=fg, bold=True) if color and fg else mark
    # The host name, the summary, stderr and the GPUs' fields come from the target: escaped here, at the edge.
    title = f"[{mark}] {printable(host)}: proof-run {printable(proof.get('status'))}"
    lines = [click.style(title, bold=True) if color else title, f"    {printable(proof.get('summary'))}"]
    v = proof.get("verdict")
    if not v:
        if proof.get("stderr_tail"):
            lines += ["    stderr:"] + [f"      {printable(ln)}" for ln in proof["stderr_tail"].splitlines()[-8:]]
        return "\n".join(lines)
    for c in v["host_checks"]:
        lines += ["    " + ln for ln in render_check(CheckResult(**c), color, verbose)]
    for g in v["gpus"]:
        if g.get("device") == "cpu" or g.get("name") == "cpu":  # a CPU process is never "GPU 0"
            label = f"CPU process {g.get('rank')}" if len(v["gpus"]) > 1 else "CPU"
        else:  # nvidia-smi's number when the sampler matched it (CUDA_VISIBLE_DEVICES renumbers CUDA's)
            num = gpu_label(g) if g.get("nvml_index") is not None else f"GPU {g.get('device_index')}"
            label = f"{num} {g.get('name') or ''}".rstrip()
        rate = f"{g['img_s']:,.1f} img/s" if g.get("img_s") is not None else "no img/s"
        extra = f", {g.get('precision')}, batch {g.get('batch_size')}" if g.get("precision") else ""
        if g.get("ratio") is not None:
            extra += f", {g['ratio']:.2f}x published {g['baseline']['img_s']:,}"
        lines.append(printable(f"    {label}: {rate}{extra}"))
        for c in g["checks"]:
            cr = CheckResult(**c)
            if cr.status == Status.PASS and not verbose and len(v["gpus"]) > 4:
                continue  # big nodes: only what needs attention
            lines += ["      " + ln for ln in render_check(cr, color, verbose)]
    if v.get("time_to_verdict_s") is not None:
        lines.append(f"    time to verdict: {v['time_to_verdict_s']:.1f} s on the target")
    return "\n".join(lines)
