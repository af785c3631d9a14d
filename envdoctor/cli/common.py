"""Options and helpers shared by several commands."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from envdoctor.app import redacted
from envdoctor.models import HostReport, HostStatus, Report
from envdoctor.report.text import render


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout, nothing else.")(f)


def checks_dir_option(f):
    return click.option("--checks-dir", "checks_dirs", multiple=True, type=click.Path(path_type=Path),
                        help="Also load checks from this directory (a site's own catalog).")(f)


def debug_option(f):
    return click.option("--debug", is_flag=True, help="Print tracebacks of checks that did not complete.")(f)


def use_color() -> bool:
    return sys.stdout.isatty()


def exit_code(hosts: list[HostReport]) -> int:
    """0 all pass or warn; 1 any fail; 3 a target could not be reached or evaluated (1 wins over 3)."""
    if any(h.status == HostStatus.FAIL for h in hosts):
        return 1
    if any(not h.status.evaluated for h in hosts):
        return 3
    return 0


def emit_report(report: Report, as_json: bool, verbose: bool = False) -> None:
    report = redacted(report)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        click.echo(render(report, use_color(), verbose))


def close_names(word: str, names: list[str], limit: int = 3) -> list[str]:
    """Names that contain `word` (`shm` -> shm_size), then difflib's close spellings (`driver_laoded`)."""
    w = word.lower()
    found = [n for n in names if w and w in n.lower()] if len(w) >= 3 else []
    found += [n for n in difflib.get_close_matches(w, names, n=limit) if n not in found]
    return found[:limit]
