"""envdoctor health: the Slurm node health check (slurmd's HealthCheckProgram, or a prolog/epilog).

Fast and silent when healthy. It diagnoses this node (no proof-run), drains it when a check fails, and
returns it to service once healthy, but only when envdoctor drained it (its reason starts with
`envdoctor: `): a node an admin drained stays drained."""

from __future__ import annotations

import sys

import click

from envdoctor.app.health import DEFAULT_BOUND_S, diagnose_node, settle
from envdoctor.app.reach import Reach
from envdoctor.cli.common import checks_dir_option, debug_option
from envdoctor.cli.output_options import output_options, write_outputs
from envdoctor.cli.progress import Phases
from envdoctor.cli.selection_options import select_checks, selection_options
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.printable import printable as P


@click.command("health")
@click.option("--node", help="Slurm node name of this machine  [default: $SLURMD_NODENAME, else the short host name]")
@click.option("--drain-on", type=click.Choice(["fail", "warn"]), default="fail", show_default=True,
              help="fail: only failed checks drain the node; warn: warnings drain it too.")
@click.option("--check", "check_mode", is_flag=True,
              help="Change nothing: print what it would do (drain, resume, nothing) and why; with --no-slurm, "
                   "what it found and the exit status it would give.")
@click.option("--time-bound", type=click.FloatRange(min=10), default=DEFAULT_BOUND_S, show_default=True,
              help="Seconds the whole run may take (slurmd allows its HealthCheckProgram 60 s).")
@selection_options
@click.option("--python", "python", help="Interpreter whose environment (torch) to diagnose.")
@click.option("--require-gpu", is_flag=True,
              help="For GPU partitions: GPU checks drain the node even when it has no NVIDIA device at all. "
                   "Without it, a node with no NVIDIA device on the PCI bus and no NVIDIA driver is a CPU node: "
                   "its GPU checks do not drain it (the other checks still do).")
@click.option("--no-slurm", is_flag=True, help="Only diagnose and exit 1 on a problem; do not ask or change Slurm.")
@output_options
@checks_dir_option
@debug_option
def command(node, drain_on, check_mode, time_bound, only, skip, no_torch, python, require_gpu, no_slurm, junit_path,
            prometheus_path, html_path, checks_dirs, debug):
    """Health check for a Slurm node: silent and exit 0 when healthy; on a failed check, drain this node
    with reason "envdoctor: <check id>: <summary>" and exit 1. No proof-run; bounded by --time-bound.
    On a node with no NVIDIA device at all the GPU checks do not drain it, unless --require-gpu.

    slurm.conf:  HealthCheckProgram=/usr/local/bin/envdoctor-health  (a script running `envdoctor health`)"""
    checks = select_checks(load_catalog(checks_dirs), only, skip)
    # slurmd's HealthCheckProgram has no terminal and must stay silent: progress only for a person at one
    phases = Phases.for_stderr() if sys.stderr.isatty() else Phases.off()
    health = diagnose_node(Reach.local(python=python), node, checks, drain_on=drain_on, time_bound=time_bound,
                           require_gpu=require_gpu, use_slurm=not no_slurm, no_torch=no_torch, debug=debug,
                           phase=phases.phase)
    node, problems = health.node, health.problems
    if health.error:
        click.echo(P(f"envdoctor health: {node}: could not diagnose ({health.error}); node left as it is"), err=True)
        raise SystemExit(health.exit_code)
    write_outputs(health.report, junit_path, prometheus_path, html_path, quiet=True)
    if no_slurm and check_mode:
        click.echo(P(f"would exit 1 on {node}: {len(problems)} check(s) found a problem (--no-slurm: Slurm is "
                     f"neither asked nor changed)" if problems else
                     f"nothing to do on {node}: healthy, {len(health.host.checks)} check(s) judged (--no-slurm: "
                     f"Slurm is neither asked nor changed); exit 0"))
        _show_found(problems, health.not_drained)
        raise SystemExit(health.exit_code)
    if no_slurm:
        for r in problems:
            click.echo(P(f"envdoctor health: {node}: {r.id}: {r.summary}"), err=True)
        raise SystemExit(health.exit_code)
    action = health.plan()
    if check_mode:
        # an admin's reason is read back from sinfo: escaped, one line
        click.echo(P(action.describe()))
        _show_found(problems, health.not_drained)
        raise SystemExit(health.exit_code)
    settle(action)
    if action.kind != "none":
        click.echo(P(f"envdoctor health: {action.kind} {node}: {action.reason or action.why}"), err=True)
    elif problems:
        click.echo(P(f"envdoctor health: {node}: {action.why}"), err=True)
    raise SystemExit(health.exit_code)


def _show_found(problems, not_drained) -> None:
    """--check: what would drain the node and what would not. Summaries quote the node's evidence: escaped,
    one line each."""
    for r in problems:
        click.echo(P(f"  {r.status.value}: {r.id}: {r.summary}"))
    for r in not_drained:
        click.echo(P(f"  not drained on (no NVIDIA device: a CPU node; --require-gpu for GPU partitions): "
                     f"{r.status.value}: {r.id}: {r.summary}"))
