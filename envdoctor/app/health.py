"""The health use case: this Slurm node diagnosed within a time bound (no proof-run), the checks that
would drain it picked out, and Slurm told: drain on a problem, resume once healthy, but only a node
envdoctor drained (its reason starts with `envdoctor: `). In two steps, as `fix`: `diagnose_node` finds,
`NodeHealth.plan` / `settle` act; the CLI writes the report's files in between and says what happened."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from envdoctor import __version__
from envdoctor.app import Phase, no_phase, redacted
from envdoctor.app.reach import Reach
from envdoctor.diagnosis.catalog import Check
from envdoctor.diagnosis.diagnose import report_from_bundle
from envdoctor.diagnosis.gather import gather
from envdoctor.hosts.transport import LocalTransport, TransportError
from envdoctor.models import CheckResult, HostReport, Report
from envdoctor.slurm import nodes as slurm

# slurmd kills its HealthCheckProgram after 60 s (slurm.conf(5)); leave room for sinfo and scontrol.
DEFAULT_BOUND_S = 45.0
SLURM_ROOM_S = 10.0
# Each Slurm call after the probe (read the state again, drain/resume) gets half the room; the first
# read's time is taken from the probe's share.
SLURM_CALL_S = SLURM_ROOM_S / 2


@dataclass
class NodeHealth:
    """What the health check found on `node`: the redacted report (None when nothing could be gathered,
    and `error` says why), the problems that drain it and those that do not (GPU checks on a CPU node)."""

    node: str
    report: Report | None = None
    problems: list[CheckResult] = field(default_factory=list)
    not_drained: list[CheckResult] = field(default_factory=list)
    error: str | None = None

    @property
    def host(self) -> HostReport:
        return self.report.hosts[0]

    @property
    def exit_code(self) -> int:
        """3: could not diagnose (the node is left as it is); 1: a problem; 0: healthy."""
        return 3 if self.error else (1 if self.problems else 0)

    def plan(self) -> slurm.Action:
        """Read the node's state again (an admin may have drained it while the probe ran, and that drain
        must stay) and say what to do about it."""
        return slurm.plan_health(slurm.node_state(self.node, timeout=SLURM_CALL_S), self.problems)


def settle(action: slurm.Action) -> None:
    """Drain or resume the node as planned (nothing for "none")."""
    if action.kind != "none":
        slurm.apply(action, timeout=SLURM_CALL_S)


def diagnose_node(reach: Reach, node: str | None, checks: list[Check], *, drain_on: str = "fail",
                  time_bound: float = DEFAULT_BOUND_S, require_gpu: bool = False, use_slurm: bool = True,
                  no_torch: bool = False, debug: bool = False, phase: Phase = no_phase) -> NodeHealth:
    """This machine (the Reach is this machine's) as Slurm node `node` (None: $SLURMD_NODENAME, else the
    short host name). With Slurm, its state is read first: without Slurm that fails at once, before the probe."""
    t0 = time.monotonic()
    node = node or slurm.this_node()
    if use_slurm:
        try:
            slurm.node_state(node, timeout=SLURM_CALL_S)
        except slurm.SlurmError as e:
            raise slurm.SlurmError(f"{e.message}; to diagnose this node without Slurm: envdoctor health --no-slurm") \
                from None
    probe_limit = max(5.0, time_bound - SLURM_ROOM_S - (time.monotonic() - t0))
    target = reach.targets[0]
    try:
        with phase(f"diagnosing {node}"):
            bundle = gather(LocalTransport(), python=target.interpreter(reach.python), timeout=probe_limit,
                            host=node, no_torch=no_torch)
    except TransportError as e:
        # Evidence that could not be collected is not a failure: report it, do not drain.
        return NodeHealth(node, error=e.message)
    host, facts = report_from_bundle(bundle, checks, debug)
    host.gather_secs = round(time.monotonic() - t0, 3)
    # Redacted before anything leaves: the files, the lines on stderr and the drain reason.
    report = redacted(Report(envdoctor=__version__, hosts=[host]))
    found = [r for r in report.hosts[0].checks if r.status in slurm.drain_statuses(drain_on)]
    problems = slurm.drained_problems(found, facts, require_gpu)
    return NodeHealth(node, report, problems, [r for r in found if r not in problems])
