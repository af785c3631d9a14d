"""envdoctor check: diagnose this machine, or a saved bundle / pasted output (--from)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from envdoctor.app.check import GoldenNotFound, check_evidence, known_golden, run_check
from envdoctor.app.reach import Reach, resolve_targets
from envdoctor.cli.common import checks_dir_option, debug_option, emit_report, exit_code, json_option, redacted
from envdoctor.cli.fleet_options import connect_options, ssh_options, target_options
from envdoctor.cli.output_options import output_options, write_outputs
from envdoctor.cli.progress import Phases
from envdoctor.cli.selection_options import select_checks, selection_options
from envdoctor.cli.slurm_options import refuse_mixed, slurm_nodes, slurm_options
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.proof.progress import PhaseLines, ProgressBoard


@click.command("check")
@click.argument("targets", nargs=-1)
@click.option("--from", "from_paths", multiple=True, type=click.Path(path_type=Path),
              help="Diagnose saved evidence instead of a machine: a bundle (dir or .tar.gz) or a text file "
                   "of pasted outputs (nvidia-smi, collect_env, ulimit, docker info, error messages...).")
@click.option("--python", "python", help="Interpreter whose environment (torch, venv, conda) to diagnose.")
@click.option("-v", "--verbose", is_flag=True, help="Show evidence for passing checks too.")
@selection_options
@target_options
@connect_options
@click.option("--golden", help="Measure fleet drift against this host instead of the majority.")
@click.option("--no-proof", is_flag=True, help="Skip the ResNet proof-run that ends the check on hosts with a usable GPU.")
@click.option("--proof-time-budget", type=click.FloatRange(min=5), default=60.0, show_default=True,
              help="Seconds the proof-run may take per host.")
@slurm_options
@json_option
@output_options
@checks_dir_option
@debug_option
def command(targets, from_paths, python, verbose, only, skip, no_torch, inventory, limit, ssh_config, forks, timeout,
            connect_timeout, known_hosts, accept_new_host_keys, become, golden, no_proof, proof_time_budget, use_slurm,
            partition, nodelist, as_json, junit_path, prometheus_path, html_path, checks_dirs, debug):
    """Diagnose the GPU deep-learning environment of this machine (no TARGET), or of remote hosts over
    SSH: TARGET is host, user@host[:port], an ssh_config alias, a range such as gpu[01-16], or @group
    of the inventory (-i). `localhost` given explicitly goes over SSH; `local` is this machine.
    With --slurm, the nodes of a Slurm cluster instead, as one srun step (-p, -w in Slurm's syntax)."""
    refuse_mixed(use_slurm, targets, inventory, partition, nodelist)
    checks = select_checks(load_catalog(checks_dirs), only, skip)
    proof_budget = None if no_proof or no_torch else proof_time_budget  # the proof-run imports torch
    if from_paths:
        report = check_evidence(list(from_paths), checks, debug,
                                phase=lambda path, what: phases_for(path, as_json).phase(what))
    else:
        phases = Phases.for_stderr(quiet=as_json)
        try:
            report = run_check(_reach(use_slurm, targets, inventory, limit, ssh_config, python, forks, timeout,
                                      connect_timeout, known_hosts, accept_new_host_keys, become, golden, partition,
                                      nodelist, as_json),
                               checks, proof_budget=proof_budget, golden=golden, debug=debug, no_torch=no_torch,
                               phase=phases.phase, board=lambda name: proof_board(phases, name))
        except GoldenNotFound as e:
            raise click.UsageError(e.message) from None
    report = redacted(report)
    emit_report(report, as_json, verbose)
    write_outputs(report, junit_path, prometheus_path, html_path, quiet=as_json)
    if report.interrupted:
        click.echo("envdoctor: interrupted; the hosts above that finished are reported", err=True)
        raise SystemExit(130)
    raise SystemExit(exit_code(report.hosts))


def _reach(use_slurm, targets, inventory, limit, ssh_config, python, forks, timeout, connect_timeout, known_hosts,
           accept_new_host_keys, become, golden, partition, nodelist, as_json):
    """The hosts to check and how: Slurm's nodes, this machine (no TARGET), or the TARGETs over SSH (the
    --golden host named among them before any key or password is asked for)."""
    if use_slurm:
        return slurm_nodes(partition, nodelist, python, timeout, as_json)
    if not targets and not inventory:
        return Reach.local(python=python, timeout=timeout, quiet=as_json)
    resolved = resolve_targets(targets, inventory, limit, ssh_config, python)
    known_golden(golden, [t.name for t in resolved], "targets")
    ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, become, targets=resolved)
    return Reach(resolved, timeout=timeout, ssh=ssh, forks=forks, quiet=as_json)


def proof_board(phases: Phases, name: str) -> ProgressBoard | PhaseLines | None:
    """The proof-run's display for this machine: live bars on a terminal, plain lines in a log."""
    if phases.terminal:
        return ProgressBoard([name], sys.stderr)
    if phases.stream is not None:
        return PhaseLines(phases.stream)
    return None


# Reading and recognising a paste this big takes seconds: say so even without a terminal.
BIG_INPUT_BYTES = 1 << 20


def phases_for(path: Path, as_json: bool) -> Phases:
    """Progress for --from PATH: live on a terminal; plain lines only when the input is big."""
    phases = Phases.for_stderr(quiet=as_json)
    if phases.terminal or phases.stream is None:
        return phases
    try:
        big = os.stat(path).st_size >= BIG_INPUT_BYTES and not os.path.isdir(path)
    except (OSError, ValueError):
        big = False  # Bundle.load says what is wrong with it
    return phases if big else Phases.off()
