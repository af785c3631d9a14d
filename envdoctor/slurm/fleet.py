"""A fleet through Slurm instead of SSH: the probe (or the proof script) runs on every node as one srun
step, one task per node, and each node's output is read by the same code that reads it over SSH
(gather, report_from_bundle, run_proof, run_multinode) through a transport that replays it.

Nodes Slurm cannot run a step on (drained, down, not responding) are reported with their state and
reason instead of being waited for."""

from __future__ import annotations

import json
import os
from typing import Callable

import envdoctor.probe
import envdoctor.proof
from envdoctor.diagnosis.catalog import Check
from envdoctor.diagnosis.conclusion import judge_proof
from envdoctor.diagnosis.diagnose import report_from_bundle
from envdoctor.diagnosis.gather import DEFAULT_TIMEOUT, gather
from envdoctor.errors import UserError
from envdoctor.facts import HostFacts
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport.base import CommandResult, Transport, TransportError
from envdoctor.models import HostReport, HostStatus, MultiNode, Proof
from envdoctor.proof.stage import TRANSPORT_SLACK_S, build_argv, host_report, run_multinode, run_proof, usable_gpu
from envdoctor.slurm import nodes as slurm

RANKS_ENV = "ENVDOCTOR_NODE_RANKS"


def select_nodes(partition: str | None, nodelist: str | None
                 ) -> tuple[list[slurm.NodeState], list[HostReport], list[str]]:
    """The nodes to work on, in Slurm's syntax (-p/--partition, -w/--nodelist; neither: the current
    allocation's nodes, else every node): those that can run a step, a report for each that cannot, and
    all their names in Slurm's order (the report's order)."""
    if not nodelist and not partition:
        nodelist = os.environ.get("SLURM_JOB_NODELIST")  # inside salloc/sbatch: the allocation
    states = slurm.node_states(nodelist, partition)
    if nodelist:
        wanted = slurm.expand_hostlist(nodelist)
        unknown = [n for n in wanted if n not in {s.name for s in states}]
        if unknown:
            where = f" in partition {partition}" if partition else ""
            raise slurm.SlurmError(f"Slurm knows no node {', '.join(unknown)}{where}")
    if not states:
        raise slurm.SlurmError("no Slurm nodes match" + (f" partition {partition}" if partition else ""))
    ready = [s for s in states if s.available]
    skipped = [HostReport(host=s.name, status=HostStatus.UNREACHABLE,
                          error=f"Slurm node is {s.state}" + (f": {s.reason}" if s.reason else "")
                                + " (no step can run there)")
               for s in states if not s.available]
    return ready, skipped, [s.name for s in states]


def _missing(node: str, step: slurm.StepResult) -> str:
    tail = " ".join(step.stderr.strip().splitlines()[-2:])[:300]
    return f"no result from its srun task (srun exit {step.rc})" + (f": {tail}" if tail else "")


def probe_nodes(nodes: list[str], checks: list[Check], *, python: str = "python3", timeout: float | None = None,
                partition: str | None = None, debug: bool = False,
                say: Callable[[str], None] = lambda s: None,
                no_torch: bool = False) -> list[tuple[HostReport, HostFacts | None]]:
    """Diagnose every node: one srun step runs the probe on all of them at once."""
    limit = timeout or DEFAULT_TIMEOUT
    say(f"envdoctor: running the probe on {len(nodes)} node(s) as one srun step")
    step = slurm.run_step(nodes, python, envdoctor.probe.SOURCE, ["--no-torch"] if no_torch else [], limit,
                          partition=partition, job_name="envdoctor-check")
    say(f"envdoctor: {len(step.results)}/{len(nodes)} node(s) answered in {step.secs:.1f} s")
    out = []
    for node in nodes:
        res = step.results.get(node)
        if res is None:
            out.append((HostReport(host=node, status=HostStatus.ERROR, error=_missing(node, step)), None))
            continue
        try:
            bundle = gather(slurm.Replay(node, res), python=python, timeout=limit, host=node)
        except TransportError as e:
            out.append((HostReport(host=node, status=e.status, error=e.message, gather_secs=round(res.secs, 3)), None))
            continue
        report, facts = report_from_bundle(bundle, checks, debug)
        report.gather_secs = round(res.secs, 3)
        out.append((report, facts))
    return out


def _proof_args(python: str, **kw) -> list[str]:
    return build_argv(python, **kw)[2:]  # what follows "python -"


def proof_nodes(nodes: list[str], facts: dict[str, HostFacts | None], *, python: str = "python3",
                partition: str | None = None, say: Callable[[str], None] = lambda s: None,
                device: str = "cuda", arch: str | None = None, time_budget: float = 60.0,
                batch_size: int | None = None, compile: bool = False, ddp: bool = False, dataloader: bool = False,
                allow_cpu: bool = False) -> dict[str, Proof]:
    """The proof-run on every node, one srun step (nodes whose facts show no usable GPU are skipped with
    the reason, as `check` does over SSH). Returns each node's proof document, as run_proof makes it."""
    # the script with its source line (it copies itself to a file for its workers)
    PROOF_SOURCE = envdoctor.proof.STDIN.decode()
    kw = dict(device=device, arch=arch, time_budget=time_budget, batch_size=batch_size, compile=compile, ddp=ddp,
              dataloader=dataloader)
    runs = [n for n in nodes if device != "cuda" or usable_gpu(facts.get(n))[0] is not False]
    step = None
    if runs:
        say(f"envdoctor: running the proof on {len(runs)} node(s) as one srun step (~{time_budget:.0f} s)")
        step = slurm.run_step(runs, python, PROOF_SOURCE, _proof_args(python, **kw), time_budget + TRANSPORT_SLACK_S,
                              partition=partition, job_name="envdoctor-proof")
    proofs = {}
    for n in nodes:
        res = step.results.get(n) if step else None
        transport = slurm.Replay(n, res) if res else _Unanswered(n, step)
        proofs[n] = run_proof(Target(name=n, hostname=n), facts.get(n), allow_cpu=allow_cpu, python=python,
                              transport=transport, **kw)
    return proofs


def multinode_nodes(nodes: list[str], *, python: str = "python3", partition: str | None = None,
                    say: Callable[[str], None] = lambda s: None, device: str = "cuda", per_node: int | None = None,
                    master_port: int = 29500, iface: str | None = None, time_budget: float = 60.0,
                    **kw) -> tuple[list[Proof], MultiNode]:
    """One torch.distributed job across the nodes, started as one srun step: the first node is the
    rendezvous (at its Slurm NodeAddr), each task takes its node rank from its node's name. The results
    are judged by the proof's own multi-node code."""
    # the script with its source line (it copies itself to a file for its workers)
    PROOF_SOURCE = envdoctor.proof.STDIN.decode()
    addr = slurm.node_address(nodes[0])
    local = ["--procs", str(per_node or 1)] if device == "cpu" else (
        ["--gpus", ",".join(str(i) for i in range(per_node))] if per_node else [])
    extra = ["--nnodes", str(len(nodes)), "--node-rank", "{NODE_RANK}", "--master-addr", addr,
             "--master-port", str(master_port)] + (["--iface", iface] if iface else []) + local
    args = _proof_args(python, device=device, arch=kw.get("arch"), time_budget=time_budget, ddp=True,
                       batch_size=kw.get("batch_size"), compile=kw.get("compile", False),
                       dataloader=kw.get("dataloader", False)) + extra
    say(f"envdoctor: one multi-node job on {len(nodes)} node(s) as one srun step, rendezvous {addr}:{master_port}")
    step = slurm.run_step(nodes, python, PROOF_SOURCE, args, time_budget + TRANSPORT_SLACK_S, partition=partition,
                          job_name="envdoctor-proof-multinode",
                          env={RANKS_ENV: json.dumps({n: i for i, n in enumerate(nodes)})})
    targets = [Target(name=n, hostname=addr if i == 0 else n) for i, n in enumerate(nodes)]
    return run_multinode(targets, device=device, per_node=per_node, master_addr=addr, master_port=master_port,
                         iface=iface, time_budget=time_budget, python=python, transport=_ByNodeRank(nodes, step),
                         **{k: v for k, v in kw.items() if k in ("arch", "batch_size", "compile", "dataloader",
                                                                  "allow_cpu")})


class _Unanswered(Transport):
    """A node whose task printed nothing back: the proof reads it as a host that could not run it."""

    def __init__(self, name: str, step: slurm.StepResult | None):
        self.name, self.step = name, step

    def run(self, argv, stdin=None, timeout=60.0, on_line=None) -> CommandResult:
        why = _missing(self.name, self.step) if self.step else "no srun step ran"
        raise TransportError(HostStatus.ERROR, why)


class _ByNodeRank(Transport):
    """run_multinode runs one script per host with `--node-rank I`: hand each its node's replayed output."""

    def __init__(self, nodes: list[str], step: slurm.StepResult):
        self.nodes, self.step = nodes, step

    def run(self, argv, stdin=None, timeout=60.0, on_line=None) -> CommandResult:
        node = self.nodes[int(argv[argv.index("--node-rank") + 1])]
        res = self.step.results.get(node)
        if res is None:
            return _Unanswered(node, self.step).run(argv)
        return slurm.Replay(node, res).run(argv, stdin, timeout, on_line)


def check_through_slurm(checks, *, partition, nodelist, python, timeout, proof, debug, say: Callable[[str], None],
                        no_torch=False) -> list[HostReport]:
    """`check --slurm`: the probe on the nodes as one srun step, then, unless `proof` is None, the proof-run
    as another; a node Slurm cannot run a step on is reported with its state. `say`: one line per step."""
    ready, skipped, order = select_nodes(partition, nodelist)
    names = [s.name for s in ready]
    interp = python or "python3"
    done = probe_nodes(names, checks, python=interp, timeout=timeout, partition=partition, debug=debug,
                       say=say, no_torch=no_torch) if names else []
    if proof is not None:
        facts = {r.host: f for r, f in done if f is not None}
        proofs = proof_nodes(list(facts), facts, python=interp, partition=partition, say=say,
                             time_budget=proof["time_budget"])
        for r, _ in done:
            if r.host in proofs:
                r.proof = proofs[r.host]
                judge_proof(r)
    by_name = {r.host: r for r, _ in done} | {r.host: r for r in skipped}
    return [by_name[n] for n in order]


def proof_through_slurm(*, partition, nodelist, multi_node, say: Callable[[str], None], python, device, per_node,
                        master_port, iface, time_budget, **kw) -> tuple[list[HostReport], MultiNode | None]:
    """`proof --slurm`: one task per node (each its own proof), or with --multi-node one job across the
    nodes. Returns the hosts' reports and the multi-node job's summary (None without --multi-node)."""
    ready, skipped, order = select_nodes(partition, nodelist)
    names = [s.name for s in ready]
    interp = python or "python3"
    job = None
    if multi_node:
        if skipped:
            raise UserError("--multi-node needs every node able to run a step; not: "
                            + ", ".join(f"{r.host} ({r.error})" for r in skipped))
        if len(names) < 2:
            raise UserError("--multi-node needs at least two nodes")
        if device == "cuda" and not per_node:
            raise UserError("--multi-node on GPUs needs --gpus-per-node N (every node runs N processes)")
        proofs, job = multinode_nodes(names, python=interp, partition=partition, say=say, device=device,
                                      per_node=per_node, master_port=master_port, iface=iface,
                                      time_budget=time_budget, **kw)
        by_node = dict(zip(names, proofs))
    else:
        by_node = proof_nodes(names, {}, python=interp, partition=partition, say=say, device=device,
                              time_budget=time_budget, **kw) if names else {}
    by_name = {n: host_report(Target(name=n, hostname=n), p) for n, p in by_node.items()} | {r.host: r for r in skipped}
    return [by_name[n] for n in order], job
