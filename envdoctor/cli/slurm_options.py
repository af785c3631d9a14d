"""--slurm and its node selection (Slurm's own -p/--partition and -w/--nodelist syntax) for check and
proof, and the check through Slurm: the probe as one srun step, then the proof-run as another."""

from __future__ import annotations

import click

from envdoctor.models import HostReport, MultiNode
from envdoctor.report.printable import printable


def slurm_options(f):
    for opt in reversed([
        click.option("--slurm", "use_slurm", is_flag=True,
                     help="Run on Slurm nodes as one srun step, one task per node, instead of over SSH."),
        click.option("-p", "--partition", help="With --slurm: the partition(s), as srun -p takes them."),
        click.option("-w", "--nodelist", help="With --slurm: the nodes, as srun -w takes them (n[01-64],gpu7)  "
                                              "[default: the current allocation, else every node]"),
    ]):
        f = opt(f)
    return f


def refuse_mixed(use_slurm: bool, targets, inventory, partition, nodelist) -> None:
    if use_slurm and (targets or inventory):
        raise click.UsageError("--slurm selects nodes with -p/--partition and -w/--nodelist, not TARGETs or -i")
    if not use_slurm and (partition or nodelist):
        raise click.UsageError("-p/--partition and -w/--nodelist need --slurm")


def say_for(as_json: bool):
    """Phase lines on stderr (one per srun step), none with --json."""
    return (lambda s: None) if as_json else (lambda s: click.echo(printable(s), err=True))  # may name nodes


def check_through_slurm(checks, *, partition, nodelist, python, timeout, proof, debug, as_json,
                        no_torch=False) -> list[HostReport]:
    from envdoctor.cli.cmd_check import judge_proof
    from envdoctor.slurm.fleet import probe_nodes, proof_nodes, select_nodes

    say = say_for(as_json)
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


def proof_through_slurm(*, partition, nodelist, multi_node, as_json, python, device, per_node, master_port, iface,
                        time_budget, **kw) -> tuple[list[HostReport], MultiNode | None]:
    """`proof --slurm`: one task per node (each its own proof), or with --multi-node one job across the
    nodes. Returns the hosts' reports and the multi-node job's summary (None without --multi-node)."""
    from envdoctor.errors import UserError
    from envdoctor.hosts.targets import Target
    from envdoctor.proof.stage import host_report
    from envdoctor.slurm.fleet import multinode_nodes, proof_nodes, select_nodes

    say = say_for(as_json)
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
