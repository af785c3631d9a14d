"""envdoctor check: diagnose this machine, or a saved bundle / pasted output (--from)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from envdoctor import __version__
from envdoctor.cli.common import checks_dir_option, debug_option, emit_report, exit_code, json_option, redacted
from envdoctor.cli.fleet_options import connect_options, ssh_options, target_options
from envdoctor.cli.output_options import output_options, write_outputs
from envdoctor.cli.progress import Phases
from envdoctor.cli.selection_options import select_checks, selection_options
from envdoctor.cli.slurm_options import refuse_mixed, say_for, slurm_options
from envdoctor.diagnosis.bundle import Bundle, no_surrogates
from envdoctor.diagnosis.catalog import load_catalog
from envdoctor.diagnosis.conclusion import judge_proof
from envdoctor.diagnosis.diagnose import diagnose_target, report_from_bundle
from envdoctor.diagnosis.gather import DEFAULT_TIMEOUT
from envdoctor.hosts.fleet import fleet_summary
from envdoctor.hosts.inventory import resolve
from envdoctor.hosts.runner import run_hosts
from envdoctor.hosts.targets import LOCAL, Target
from envdoctor.models import HostReport, NotStarted, Report
from envdoctor.printable import printable
from envdoctor.proof.progress import PhaseLines, ProgressBoard
from envdoctor.proof.stage import run_proof
from envdoctor.slurm.fleet import check_through_slurm


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
    proof = None if no_proof or no_torch else {"time_budget": proof_time_budget}  # the proof-run imports torch
    hosts = []
    fleet = None
    interrupted = False
    not_started = None
    if from_paths:
        bundles = [load_evidence(p, as_json) for p in from_paths]
        names = [b.host for b in bundles]
        for p, b in zip(from_paths, bundles):
            if names.count(b.host) > 1 and b.pastes and not b.sections:
                # two pastes called nvidia.txt from two folders: name each by the path given
                b.host = no_surrogates(os.fsencode(str(p)).decode("utf-8", "backslashreplace"))
            with phases_for(p, as_json).phase(f"recognising what {printable(str(p))} shows"):
                hosts.append(report_from_bundle(b, checks, debug)[0])
    elif use_slurm:
        hosts = check_through_slurm(checks, partition=partition, nodelist=nodelist, python=python, timeout=timeout,
                                    proof=proof, debug=debug, say=say_for(as_json), no_torch=no_torch)
        if golden and golden not in {h.host for h in hosts}:
            raise click.UsageError(f"--golden {golden!r} is not one of the nodes")
        if len(hosts) > 1 or golden:
            fleet = fleet_summary(hosts, golden)
    elif not targets and not inventory:
        hosts.append(check_host(LOCAL, checks, python=python, debug=debug, timeout=timeout, proof=proof,
                                no_torch=no_torch, phases=Phases.for_stderr(quiet=as_json)))
    else:
        resolved = resolve(list(targets), inventory=inventory, limit=limit, ssh_config=ssh_config, python=python)
        if golden and golden not in {t.name for t in resolved}:
            raise click.UsageError(f"--golden {golden!r} is not one of the targets")
        ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, become, targets=resolved)
        probe_limit = timeout or DEFAULT_TIMEOUT
        result = run_hosts(resolved, lambda t: check_host(t, checks, python=None, debug=debug, timeout=timeout,
                                                         proof=proof, no_torch=no_torch, **ssh),
                           forks=forks, deadline_s=probe_limit + 3 * connect_timeout + 10
                           + (proof_time_budget + 60 if proof else 0),
                           progress=None if not as_json else False)
        hosts, interrupted = result.reports, result.interrupted
        if result.not_started:
            not_started = NotStarted(count=len(result.not_started), hosts=result.not_started)
        if len(hosts) > 1 or golden:
            fleet = fleet_summary(hosts, golden)
    report = redacted(Report(envdoctor=__version__, hosts=hosts, fleet=fleet, interrupted=interrupted,
                             not_started=not_started))
    emit_report(report, as_json, verbose)
    write_outputs(report, junit_path, prometheus_path, html_path, quiet=as_json)
    if interrupted:
        click.echo("envdoctor: interrupted; the hosts above that finished are reported", err=True)
        raise SystemExit(130)
    raise SystemExit(exit_code(hosts))


def check_host(target: Target, checks, python: str | None = None, debug: bool = False,
               timeout: float | None = None, proof: dict | None = None, no_torch: bool = False,
               phases: Phases | None = None, **ssh) -> HostReport:
    """Everything `check` does for one host, from connecting to its HostReport (runs in a worker thread
    for fleets): gather and check, then, unless `proof` is None, the proof-run (skipped, with the reason,
    where the facts show no usable GPU). `phases`: progress on stderr (one host; a fleet has the runner's)."""
    phases = phases or Phases.off()
    with phases.phase("gathering the facts of this machine" if target.local else
                      f"gathering the facts of {printable(target.name)}"):
        report, facts, _bundle = diagnose_target(target, checks, python=python, debug=debug, timeout=timeout,
                                                 no_torch=no_torch, **ssh)
    if proof is None or facts is None:
        return report
    board = None
    if phases.terminal:
        board = ProgressBoard([target.name], sys.stderr)
    elif phases.stream is not None:
        board = PhaseLines(phases.stream)
    try:
        report.proof = run_proof(target, facts, python=python, time_budget=proof["time_budget"],
                                 on_progress=(lambda ev: board.update(target.name, ev)) if board else None, **ssh)
    finally:
        if board:
            board.close()
    judge_proof(report)
    return report


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


def load_evidence(path: Path, as_json: bool) -> Bundle:
    with phases_for(path, as_json).phase(f"reading {printable(str(path))}"):
        return Bundle.load(path)
