"""envdoctor check: diagnose this machine, or a saved bundle / pasted output (--from)."""

from __future__ import annotations

from pathlib import Path

import click

from envdoctor import __version__
from envdoctor.bundle import Bundle
from envdoctor.catalog import load_catalog
from envdoctor.cli.common import checks_dir_option, debug_option, emit_report, exit_code, json_option
from envdoctor.diagnose import diagnose_target, report_from_bundle
from envdoctor.models import Report
from envdoctor.targets import LOCAL


@click.command("check")
@click.argument("targets", nargs=-1)
@click.option("--from", "from_paths", multiple=True, type=click.Path(path_type=Path),
              help="Diagnose saved evidence instead of a machine: a bundle (dir or .tar.gz) or a text file "
                   "of pasted outputs (nvidia-smi, collect_env, ulimit, docker info, error messages...).")
@click.option("--python", "python", help="Interpreter whose environment (torch, venv, conda) to diagnose.")
@click.option("-v", "--verbose", is_flag=True, help="Show evidence for passing checks too.")
@json_option
@checks_dir_option
@debug_option
def command(targets, from_paths, python, verbose, as_json, checks_dirs, debug):
    """Diagnose the GPU deep-learning environment of this machine (no TARGET)."""
    checks = load_catalog(checks_dirs)
    hosts = []
    if from_paths:
        for p in from_paths:
            hosts.append(report_from_bundle(Bundle.load(p), checks, debug)[0])
    else:
        report, _facts, _bundle = diagnose_target(LOCAL, checks, python=python, debug=debug)
        hosts.append(report)
    report = Report(envdoctor=__version__, hosts=hosts)
    emit_report(report, as_json, verbose)
    raise SystemExit(exit_code(hosts))
