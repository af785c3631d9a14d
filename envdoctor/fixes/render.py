"""Text output of fix/play: task lines, diffs, and the PLAY RECAP."""

from __future__ import annotations

import click

from envdoctor.fixes.executor import HostRecap, TaskRecord
from envdoctor.printable import printable
from envdoctor.redact import redact

_COLORS = {"ok": "green", "changed": "yellow", "failed": "red", "skipped": "cyan", "unreachable": "red"}


def task_lines(rec: TaskRecord, show_diff: bool, color: bool) -> list[str]:
    status = rec.status + (" (ignored)" if rec.ignored else "")
    mark = click.style(status.ljust(9), fg=_COLORS.get(rec.status)) if color else status.ljust(9)
    kind = "handler " if rec.handler else ""
    # task names, messages and diffs quote playbooks, hosts and the files changed: escaped at the edge
    lines = [f"  {mark} {kind}{printable(rec.task)}: {printable(redact(rec.msg))}"]
    if show_diff:
        for d in rec.diffs:
            # split on newlines only: a file's \x85 or \x0c is shown as such, not taken as a line break
            # redacted whole (a key block spans lines), then escaped line by line: redact first, then printable
            for ln in redact(d.unified()).split("\n")[:-1]:
                ln = printable(ln)  # a file's own escape sequences are shown, not played
                if color and ln.startswith("+") and not ln.startswith("+++"):
                    ln = click.style(ln, fg="green")
                elif color and ln.startswith("-") and not ln.startswith("---"):
                    ln = click.style(ln, fg="red")
                lines.append("      " + ln)
    return lines


def host_block(recap: HostRecap, show_diff: bool, color: bool, title: str = "") -> list[str]:
    out = [f"HOST [{printable(recap.host)}]" + (f" {printable(title)}" if title else "")]
    if recap.unreachable and not recap.tasks:
        out.append(f"  unreachable: {printable(recap.error)}")
    play = None
    for rec in recap.tasks:
        if rec.play != play:
            play = rec.play
            out.append(f" PLAY [{printable(play)}]")
        out += task_lines(rec, show_diff, color)
    return out


def recap_lines(recaps: list[HostRecap], color: bool, title: str = "PLAY RECAP") -> list[str]:
    width = max((len(printable(r.host)) for r in recaps), default=4)
    out = [title]
    for r in recaps:
        counts = (f"ok={r.ok} changed={r.changed} unreachable={r.unreachable} failed={r.failed} "
                  f"skipped={r.skipped} ignored={r.ignored}")
        name = printable(r.host).ljust(width)
        if color:
            fg = "red" if (r.failed or r.unreachable) else "yellow" if r.changed else "green"
            name = click.style(name, fg=fg)
        out.append(f"{name} : {counts}")
        if r.error:
            out.append(f"{' ' * width}   stopped: {printable(redact(r.error))}")
    return out
