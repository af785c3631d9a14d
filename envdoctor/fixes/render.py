"""Text output of fix/play: task lines, diffs, and the PLAY RECAP."""

from __future__ import annotations

import click

from envdoctor.fixes.executor import HostRecap, TaskRecord
from envdoctor.redact import redact

_COLORS = {"ok": "green", "changed": "yellow", "failed": "red", "skipped": "cyan", "unreachable": "red"}


def task_lines(rec: TaskRecord, show_diff: bool, color: bool) -> list[str]:
    status = rec.status + (" (ignored)" if rec.ignored else "")
    mark = click.style(status.ljust(9), fg=_COLORS.get(rec.status)) if color else status.ljust(9)
    kind = "handler " if rec.handler else ""
    lines = [f"  {mark} {kind}{rec.task}: {redact(rec.msg)}"]
    if show_diff:
        for d in rec.diffs:
            for ln in d.unified().splitlines():
                if color and ln.startswith("+") and not ln.startswith("+++"):
                    ln = click.style(ln, fg="green")
                elif color and ln.startswith("-") and not ln.startswith("---"):
                    ln = click.style(ln, fg="red")
                lines.append("      " + ln)
    return lines


def host_block(recap: HostRecap, show_diff: bool, color: bool, title: str = "") -> list[str]:
    out = [f"HOST [{recap.host}]" + (f" {title}" if title else "")]
    if recap.unreachable and not recap.tasks:
        out.append(f"  unreachable: {recap.error}")
    play = None
    for rec in recap.tasks:
        if rec.play != play:
            play = rec.play
            out.append(f" PLAY [{play}]")
        out += task_lines(rec, show_diff, color)
    return out


def recap_lines(recaps: list[HostRecap], color: bool, title: str = "PLAY RECAP") -> list[str]:
    width = max((len(r.host) for r in recaps), default=4)
    out = [title]
    for r in recaps:
        counts = (f"ok={r.ok} changed={r.changed} unreachable={r.unreachable} failed={r.failed} "
                  f"skipped={r.skipped} ignored={r.ignored}")
        name = r.host.ljust(width)
        if color:
            fg = "red" if (r.failed or r.unreachable) else "yellow" if r.changed else "green"
            name = click.style(name, fg=fg)
        out.append(f"{name} : {counts}")
        if r.error:
            out.append(f"{' ' * width}   stopped: {redact(r.error)}")
    return out
