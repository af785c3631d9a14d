"""The proof use case: train a real ResNet on the hosts of a Reach (this machine or SSH targets, `forks`
at a time) or on Slurm nodes, one proof per host or one multi-node job across them; a typed Report out,
each host's proof in it and the job's summary in its fleet."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from envdoctor import __version__
from envdoctor.app.reach import Reach, SlurmNodes
from envdoctor.errors import UserError
from envdoctor.hosts.targets import Target
from envdoctor.models import Fleet, HostReport, NotStarted, Report
from envdoctor.proof.progress import PhaseLines, ProgressBoard
from envdoctor.proof.stage import host_report, run_multinode, run_proof
from envdoctor.redact import redact
from envdoctor.slurm.fleet import proof_through_slurm

# The runner's own deadline is a last resort beyond the budget and three SSH connects: the script and the
# transport bound each host already.
RUNNER_SLACK_S = 120.0

Board = ProgressBoard | PhaseLines


@dataclass
class ProofRun:
    """What each host runs (the script's options)."""

    device: str = "cuda"
    arch: str | None = None
    time_budget: float = 60.0
    batch_size: int | None = None
    compile: bool = False
    dataloader: bool = False
    allow_cpu: bool = False
    ddp: bool = False
    precision: str | None = None

    def common(self) -> dict:
        """The options every way of running passes on (ddp and precision are the per-host run's own)."""
        return {k: v for k, v in asdict(self).items() if k not in ("ddp", "precision")}


@dataclass
class MultiNodeJob:
    """--multi-node: one torch.distributed job across the hosts, the first the rendezvous."""

    per_node: int | None = None
    master_addr: str | None = None
    master_port: int = 29500
    iface: str | None = None


def run_proofs(reach: Reach | SlurmNodes, run: ProofRun, multi: MultiNodeJob | None = None,
               board: Board | None = None) -> Report:
    """The proof on every host of `reach`: each its own (`multi` None), or one job across them all.
    `board`: the live display of the hosts (SSH and this machine; Slurm says one line per step)."""
    if isinstance(reach, SlurmNodes):
        job = multi or MultiNodeJob()
        hosts, summary = proof_through_slurm(partition=reach.partition, nodelist=reach.nodelist,
                                             multi_node=multi is not None, say=reach.say, python=reach.python,
                                             per_node=job.per_node, master_port=job.master_port, iface=job.iface,
                                             **run.common(), **({} if multi else {"ddp": run.ddp}))
        return Report(envdoctor=__version__, hosts=hosts, fleet=Fleet(multi_node=summary) if summary else None)
    if multi is not None:
        return _multi_node(reach.targets, board, reach.ssh, multi, run)
    return _per_host(reach, board, run)


def _per_host(reach: Reach, board: Board | None, run: ProofRun) -> Report:
    """A proof on each host, `forks` at a time."""
    def work(t: Target) -> HostReport:
        proof = run_proof(t, None, python=reach.python if t.local else None,
                          on_progress=(lambda ev: board.update(t.name, ev)) if board else None,
                          ddp=run.ddp, precision=run.precision, **run.common(), **reach.ssh)
        if board:
            board.finish(t.name, redact(f"{proof.status.value}: {proof.summary}"))
        return host_report(t, proof)

    result = reach.fan_out(reach.targets, work, deadline_s=run.time_budget + RUNNER_SLACK_S
                           + 3 * reach.connect_timeout, progress=False)
    if board:
        board.close()
    not_started = NotStarted(count=len(result.not_started), hosts=result.not_started) if result.not_started else None
    return Report(envdoctor=__version__, hosts=result.reports, interrupted=result.interrupted, not_started=not_started)


def _multi_node(targets: list[Target], board: Board | None, ssh: dict, multi: MultiNodeJob, run: ProofRun) -> Report:
    """One torch.distributed job across the hosts: each host's proof, and the job's summary."""
    if len(targets) < 2:
        raise UserError("--multi-node needs at least two TARGETs")
    if run.device == "cuda" and not multi.per_node:
        raise UserError("--multi-node on GPUs needs --gpus-per-node N (every host runs N processes)")
    proofs, job = run_multinode(targets, on_progress=(lambda h, ev: board.update(h, ev)) if board else None,
                                **asdict(multi), **run.common(), **ssh)
    if board:
        for t, p in zip(targets, proofs):
            board.finish(t.name, redact(f"{p.status.value}: {p.summary}"))
        board.close()
    return Report(envdoctor=__version__, hosts=[host_report(t, p) for t, p in zip(targets, proofs)],
                  fleet=Fleet(multi_node=job))
