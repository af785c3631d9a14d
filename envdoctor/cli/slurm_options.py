"""--slurm and its node selection (Slurm's own -p/--partition and -w/--nodelist syntax) for check,
proof and accept: the options as the app layer's SlurmNodes, the way those commands reach Slurm's nodes."""

from __future__ import annotations

import click

from envdoctor.app.reach import SlurmNodes
from envdoctor.printable import printable


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


def slurm_nodes(partition: str | None, nodelist: str | None, python: str | None, timeout: float | None = None,
                as_json: bool = False) -> SlurmNodes:
    return SlurmNodes(partition=partition, nodelist=nodelist, python=python, timeout=timeout, say=say_for(as_json))


def say_for(as_json: bool):
    """Phase lines on stderr (one per srun step), none with --json."""
    return (lambda s: None) if as_json else (lambda s: click.echo(printable(s), err=True))  # may name nodes
