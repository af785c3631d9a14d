"""The check use case: hosts (this machine, SSH targets, a fleet, Slurm nodes) or saved evidence in, one
typed Report out. Each host is gathered and checked, then, with a proof budget, proven by the proof-run
(skipped, with the reason, where the facts show no usable GPU). The CLI renders the Report and exits."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from envdoctor import __version__
from envdoctor.app import Phase, no_phase
from envdoctor.app.reach import Reach, SlurmNodes
from envdoctor.diagnosis.bundle import Bundle, no_surrogates
from envdoctor.diagnosis.catalog import Check
from envdoctor.diagnosis.conclusion import judge_proof
from envdoctor.diagnosis.diagnose import diagnose_target, report_from_bundle
from envdoctor.diagnosis.gather import DEFAULT_TIMEOUT
from envdoctor.errors import UserError
from envdoctor.hosts.fleet import fleet_summary
from envdoctor.hosts.targets import Target
from envdoctor.models import HostReport, NotStarted, Report
from envdoctor.printable import printable
from envdoctor.proof.progress import PhaseLines, ProgressBoard
from envdoctor.proof.stage import run_proof
from envdoctor.slurm.fleet import check_through_slurm

# The proof-run's live display for one host, made only when the proof runs (None: no display).
ProofBoard = Callable[[str], "ProgressBoard | PhaseLines | None"]

# The runner's last-resort deadline per host, beyond the probe's limit and three SSH connects; the
# proof-run's budget plus this when it runs.
FLEET_SLACK_S = 10.0
PROOF_SLACK_S = 60.0


class GoldenNotFound(UserError):
    """--golden names a host that is not among those checked."""


def known_golden(golden: str | None, names: list[str], what: str) -> None:
    if golden and golden not in set(names):
        raise GoldenNotFound(f"--golden {golden!r} is not one of the {what}")


def check_host(target: Target, checks: list[Check], python: str | None = None, debug: bool = False,
               timeout: float | None = None, proof_budget: float | None = None, no_torch: bool = False,
               phase: Phase = no_phase, board: ProofBoard | None = None, **ssh) -> HostReport:
    """Everything `check` does for one host, from connecting to its HostReport (runs in a worker thread
    for fleets): gather and check, then, with a `proof_budget`, the proof-run. `phase` and `board`: the
    progress of one host (a fleet has the runner's)."""
    with phase("gathering the facts of this machine" if target.local else
               f"gathering the facts of {printable(target.name)}"):
        report, facts, _bundle = diagnose_target(target, checks, python=python, debug=debug, timeout=timeout,
                                                 no_torch=no_torch, **ssh)
    if proof_budget is None or facts is None:
        return report
    shown = board(target.name) if board else None
    try:
        report.proof = run_proof(target, facts, python=python, time_budget=proof_budget,
                                 on_progress=(lambda ev: shown.update(target.name, ev)) if shown else None, **ssh)
    finally:
        if shown:
            shown.close()
    judge_proof(report)
    return report


def run_check(reach: Reach | SlurmNodes, checks: list[Check], *, proof_budget: float | None = None,
              golden: str | None = None, debug: bool = False, no_torch: bool = False, phase: Phase = no_phase,
              board: ProofBoard | None = None) -> Report:
    """`check` on the hosts of `reach`. This machine alone (no TARGET) is worked on directly, with its
    phases shown; SSH targets are fanned out by the runner, Slurm nodes run as srun steps. Two hosts or
    more (or a `golden` one) make a fleet, measured for drift."""
    if isinstance(reach, SlurmNodes):
        hosts = check_through_slurm(checks, partition=reach.partition, nodelist=reach.nodelist, python=reach.python,
                                    timeout=reach.timeout, debug=debug, say=reach.say, no_torch=no_torch,
                                    proof=None if proof_budget is None else {"time_budget": proof_budget})
        known_golden(golden, [h.host for h in hosts], "nodes")
        return _fleet_report(hosts, golden)
    if reach.this_machine:
        return Report(envdoctor=__version__, hosts=[
            check_host(reach.targets[0], checks, python=reach.python, debug=debug, timeout=reach.timeout,
                       proof_budget=proof_budget, no_torch=no_torch, phase=phase, board=board)])
    known_golden(golden, [t.name for t in reach.targets], "targets")
    deadline = ((reach.timeout or DEFAULT_TIMEOUT) + 3 * reach.connect_timeout + FLEET_SLACK_S
                + (proof_budget + PROOF_SLACK_S if proof_budget is not None else 0))
    result = reach.fan_out(reach.targets, lambda t: check_host(t, checks, python=reach.python, debug=debug,
                                                               timeout=reach.timeout, proof_budget=proof_budget,
                                                               no_torch=no_torch, **reach.ssh),
                           deadline_s=deadline, what="gathering facts")
    not_started = NotStarted(count=len(result.not_started), hosts=result.not_started) if result.not_started else None
    return _fleet_report(result.reports, golden, interrupted=result.interrupted, not_started=not_started)


def _fleet_report(hosts: list[HostReport], golden: str | None, **kw) -> Report:
    fleet = fleet_summary(hosts, golden) if len(hosts) > 1 or golden else None
    return Report(envdoctor=__version__, hosts=hosts, fleet=fleet, **kw)


# The phase of reading or recognising one input file (the CLI decides whether it is shown: by its size).
EvidencePhase = Callable[[Path, str], AbstractContextManager]


def check_evidence(paths: list[Path], checks: list[Check], debug: bool = False,
                   phase: EvidencePhase = lambda path, what: no_phase(what)) -> Report:
    """`check --from`: saved bundles and pasted outputs instead of hosts, one host report each."""
    bundles = []
    for p in paths:
        with phase(p, f"reading {printable(str(p))}"):
            bundles.append(Bundle.load(p))
    names = [b.host for b in bundles]
    hosts = []
    for p, b in zip(paths, bundles):
        if names.count(b.host) > 1 and b.pastes and not b.sections:
            # two pastes called nvidia.txt from two folders: name each by the path given
            b.host = no_surrogates(os.fsencode(str(p)).decode("utf-8", "backslashreplace"))
        with phase(p, f"recognising what {printable(str(p))} shows"):
            hosts.append(report_from_bundle(b, checks, debug)[0])
    return Report(envdoctor=__version__, hosts=hosts)
