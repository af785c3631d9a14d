"""envdoctor accept [TARGET...]: accept a node the way cluster operators do: matmul, memory and copy bandwidth per
GPU and NCCL all_reduce across them, against published per-SKU bars; faults under load; grey failures across a
fleet."""

from __future__ import annotations

import sys
import threading

import click

from envdoctor.app.accept import AcceptOptions, MultiNodeJob, run_accept
from envdoctor.app.reach import Reach, resolve_targets
from envdoctor.cli.common import json_option, redacted, use_color
from envdoctor.cli.fleet_options import connect_options, ssh_options, target_options
from envdoctor.cli.output_options import output_options, write_outputs
from envdoctor.cli.slurm_options import refuse_mixed, slurm_nodes, slurm_options
from envdoctor.errors import UserError
from envdoctor.printable import printable
from envdoctor.proof.script.contract import ACCEPT_BUDGET_S, ACCEPT_QUICK_BUDGET_S, GRACE_S
from envdoctor.report.accept_text import render_accept


def _phase_lines(lock: threading.Lock):
    """One line on stderr per phase a worker enters (not per step of it)."""
    def say(host: str, ev: dict) -> None:
        if ev.get("step") and ev.get("phase") != "all_reduce sweep":
            return
        where = f"{host} rank {ev['rank']}" if ev.get("rank") is not None else host
        with lock:
            click.echo(printable(f"  {where}: {ev.get('phase')}" + (f" ({ev['msg']})" if ev.get("msg") else "")),
                       err=True)
    return say


@click.command("accept")
@click.argument("targets", nargs=-1)
@click.option("--device", type=click.Choice(["cuda", "cpu"]),
              help="cpu: the same measurements on the CPU (two processes, gloo all_reduce), every figure unknown "
                   "(no CPU bar).  [default: cuda where nvidia-smi lists a GPU, else cpu]")
@click.option("--quick", is_flag=True,
              help=f"A subset (bf16 matmul, memory copy, host-to-device, a short all_reduce sweep) in "
                   f"{ACCEPT_QUICK_BUDGET_S:g} s, for health checks.")
@click.option("--time-budget", type=click.FloatRange(5), default=None,
              help=f"Seconds per host for the measurements; each part gets its share, and what the budget cuts is "
                   f"unknown (results within it plus a {GRACE_S:g} s grace).  "
                   f"[default: {ACCEPT_BUDGET_S:g}; {ACCEPT_QUICK_BUDGET_S:g} with --quick]")
@click.option("--multi-node", is_flag=True,
              help="One job across all TARGETs (the first is the rendezvous): the all_reduce sweep between hosts too.")
@click.option("--master-addr", help="Rendezvous address the hosts reach the first TARGET at  [default: its address]")
@click.option("--master-port", type=click.IntRange(1, 65535), default=29500, show_default=True)
@click.option("--iface", help="Network interface for NCCL/gloo between hosts (NCCL_SOCKET_IFNAME).")
@click.option("--python", "python", help="Interpreter whose torch to use on the target(s).")
@click.option("-v", "--verbose", is_flag=True, help="Show the evidence of passing figures too.")
@target_options
@connect_options
@slurm_options
@json_option
@output_options
def command(targets, device, quick, time_budget, multi_node, master_addr, master_port, iface, python, verbose, inventory, limit, ssh_config, forks, timeout,
            connect_timeout, known_hosts, accept_new_host_keys, become, use_slurm, partition, nodelist, as_json,
            junit_path, prometheus_path, html_path):
    """Accept TARGETs (this machine when none) as cluster operators do: per GPU, sustained dense matmul (bf16,
    TF32), device memory bandwidth and pinned host<->device bandwidth; across its GPUs, NCCL all_reduce bus
    bandwidth over a message-size sweep; each figure against its SKU's published bar (envdoctor/data/
    gpu_skus.yaml, with its source); the GPUs' error counters before and after (a new Xid, ECC error, remapped
    row or slowdown fails); across a fleet, a GPU more than 10 % below its SKU's fleet median is a warning.
    With --slurm, the nodes' readings are srun steps, a task per node."""
    refuse_mixed(use_slurm, targets, inventory, partition, nodelist)
    if use_slurm and multi_node:
        raise click.UsageError("--multi-node is not available with --slurm: each node is accepted as its own task")
    job = None
    if use_slurm:
        reach = slurm_nodes(partition, nodelist, python, timeout, as_json=as_json)
    else:
        resolved = resolve_targets(list(targets), inventory, limit, ssh_config, python)
        ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, become) if targets or inventory else {}
        reach = Reach(resolved, python=python, timeout=timeout, ssh=ssh, forks=forks, quiet=True)
    if multi_node:
        if len(resolved) < 2:
            raise UserError("--multi-node needs two or more TARGETs")
        job = MultiNodeJob([t.name for t in resolved], master_addr or resolved[0].hostname or "127.0.0.1",
                           master_port, iface)
    opts = AcceptOptions(device=device, quick=quick, time_budget=time_budget, multi_node=job)
    run = run_accept(reach, opts, None if as_json else _phase_lines(threading.Lock()))
    report = redacted(run.report)
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        click.echo(render_accept(report, use_color(), verbose))
        job_ = report.fleet.multi_node if report.fleet else None
        if job_:
            click.echo(printable(f"multi-node job: {job_.status.value}: {job_.summary}"))
    write_outputs(report, junit_path, prometheus_path, html_path, quiet=as_json)
    if report.interrupted:
        click.echo("envdoctor: interrupted; the hosts above that finished are reported", err=True)
        raise SystemExit(130)
    failed_job = report.fleet and report.fleet.multi_node and report.fleet.multi_node.status.value == "fail"
    sys.exit(1 if failed_job else run.exit_code)
