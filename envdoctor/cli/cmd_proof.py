"""envdoctor proof: train a real ResNet on each target's GPUs and judge what it saw."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from envdoctor import __version__
from envdoctor.cli.common import exit_code, json_option, redacted, use_color
from envdoctor.cli.fleet_options import ssh_options, target_options
from envdoctor.cli.output_options import output_options, write_outputs
from envdoctor.cli.slurm_options import refuse_mixed, say_for, slurm_options
from envdoctor.errors import UserError
from envdoctor.hosts.inventory import resolve
from envdoctor.hosts.runner import DEFAULT_FORKS, run_hosts
from envdoctor.hosts.targets import LOCAL, Target
from envdoctor.models import Fleet, HostReport, HostStatus, NotStarted, Proof, Report, Status
from envdoctor.printable import printable
from envdoctor.proof.progress import PhaseLines, ProgressBoard
from envdoctor.proof.script.contract import COMPILE_BUDGET_S, DEFAULT_BUDGET_S, GRACE_S
from envdoctor.proof.stage import default_budget, host_report, run_multinode, run_proof
from envdoctor.redact import redact
from envdoctor.report.text import render_proof
from envdoctor.slurm.fleet import proof_through_slurm


@click.command("proof")
@click.argument("targets", nargs=-1)
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True,
              help="cpu: the same script on the CPU (resnet18, small images): proves the path, not a GPU.")
@click.option("--arch", help="torchvision model  [default: resnet50; resnet18 with --device cpu]")
@click.option("--batch-size", type=click.IntRange(1), help="Per GPU  [default: from free GPU memory]")
@click.option("--time-budget", type=click.FloatRange(5), default=None,
              help=f"Seconds per host for the whole run, start to verdict; the verdict comes within it plus a "
                   f"{GRACE_S:g} s grace.  [default: {DEFAULT_BUDGET_S:g}; {COMPILE_BUDGET_S:g} with --compile]")
@click.option("--compile", "use_compile", is_flag=True,
              help=f"Add torch.compile (raises the default --time-budget to {COMPILE_BUDGET_S:g} s; a compile that "
                   "does not fit is reported unknown, not as a failed GPU). On CUDA it needs gcc and the Python "
                   "headers on the target; without them the proof is unknown and nothing runs.")
@click.option("--precision", type=click.Choice(["fp16", "bf16", "fp32"]),
              help="Autocast precision  [default: fp16 with a GradScaler on cuda, as the published figures; fp32 on "
                   "cpu]")
@click.option("--ddp", is_flag=True, help="One DDP job over all GPUs of a host (NCCL) instead of one process per GPU.")
@click.option("--dataloader", is_flag=True,
              help="Also feed the step from a DataLoader with workers and pinned memory: does the host keep up?")
@click.option("--allow-cpu", is_flag=True, help="A run without a GPU is a warning, not a failure.")
@click.option("--multi-node", is_flag=True,
              help="One torch.distributed job across all TARGETs (the first is the rendezvous): all-reduce "
                   "bandwidth and DDP training between hosts; a host that cannot join is named.")
@click.option("--master-addr", help="Rendezvous address the hosts reach the first TARGET at  [default: its address]")
@click.option("--master-port", type=click.IntRange(1, 65535), default=29500, show_default=True)
@click.option("--iface", help="Network interface for NCCL/gloo between hosts (NCCL_SOCKET_IFNAME).")
@click.option("--gpus-per-node", type=click.IntRange(1),
              help="Processes per host in --multi-node (GPUs 0..N-1; with --device cpu: CPU processes)  "
                   "[default: 1 with --device cpu]")
@click.option("--python", "python", help="Interpreter whose torch to use on the target(s).")
@click.option("-v", "--verbose", is_flag=True, help="Show evidence for passing judgements too.")
@target_options
@click.option("-f", "--forks", type=click.IntRange(1, 1024), default=DEFAULT_FORKS, show_default=True,
              help="Hosts run in parallel.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds to connect and authenticate over SSH.")
@click.option("--known-hosts", type=click.Path(path_type=Path), help="known_hosts file (default ~/.ssh/known_hosts).")
@click.option("--accept-new-host-keys", is_flag=True, help="Trust hosts not yet in known_hosts.")
@slurm_options
@json_option
@output_options
def command(targets, device, arch, batch_size, time_budget, use_compile, precision, ddp, dataloader, allow_cpu,
            multi_node, master_addr, master_port, iface, gpus_per_node, python, verbose, inventory, limit, ssh_config,
            forks, connect_timeout, known_hosts, accept_new_host_keys,
            use_slurm, partition, nodelist, as_json, junit_path, prometheus_path, html_path):
    """Prove that the GPUs train: a ResNet-50 on synthetic data with mixed precision on every GPU of each
    TARGET (this machine when none; same TARGET forms as `check`), judged for GPU use, correctness, speed
    against published figures, and health under load."""
    refuse_mixed(use_slurm, targets, inventory, partition, nodelist)
    time_budget = default_budget(time_budget, use_compile)
    run = dict(device=device, arch=arch, time_budget=time_budget, batch_size=batch_size, compile=use_compile,
               dataloader=dataloader, allow_cpu=allow_cpu)
    if use_slurm:
        hosts, job = proof_through_slurm(partition=partition, nodelist=nodelist, multi_node=multi_node,
                                         say=say_for(as_json), python=python, per_node=gpus_per_node,
                                         master_port=master_port, iface=iface, **run,
                                         **({} if multi_node else {"ddp": ddp}))
        report = Report(envdoctor=__version__, hosts=hosts, fleet=Fleet(multi_node=job) if job else None)
    else:
        if targets or inventory:
            resolved = resolve(list(targets), inventory=inventory, limit=limit, ssh_config=ssh_config, python=python)
            ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, False)
        else:
            resolved, ssh = [LOCAL], {}
        board = None
        if not as_json:  # --json: stdout is the document and stderr stays quiet
            board = (ProgressBoard([t.name for t in resolved], sys.stderr, dataloader=dataloader)
                     if sys.stderr.isatty() else PhaseLines(sys.stderr))
        if multi_node:
            report = _multi_node(resolved, board, ssh, per_node=gpus_per_node, master_addr=master_addr,
                                 master_port=master_port, iface=iface, **run)
        else:
            report = _per_host(resolved, board, ssh, forks=forks, connect_timeout=connect_timeout, ddp=ddp,
                               precision=precision, python=python, **run)
    _emit(redacted(report), as_json, verbose, (junit_path, prometheus_path, html_path))


def _per_host(resolved: list[Target], board, ssh: dict, *, forks: int, connect_timeout: float, python: str | None,
              **run) -> Report:
    """A proof on each host, `forks` at a time."""
    def work(t: Target) -> HostReport:
        proof = run_proof(t, None, python=python if t.local else None,
                          on_progress=(lambda ev: board.update(t.name, ev)) if board else None, **run, **ssh)
        if board:
            board.finish(t.name, redact(f"{proof.status.value}: {proof.summary}"))
        return host_report(t, proof)

    # The runner's own deadline is a last resort: the script and the transport bound each host already.
    result = run_hosts(resolved, work, forks=forks, deadline_s=run["time_budget"] + 120 + 3 * connect_timeout,
                       progress=False)
    if board:
        board.close()
    not_started = NotStarted(count=len(result.not_started), hosts=result.not_started) if result.not_started else None
    return Report(envdoctor=__version__, hosts=result.reports, interrupted=result.interrupted, not_started=not_started)


def _multi_node(resolved: list[Target], board, ssh: dict, **kw) -> Report:
    """One torch.distributed job across the hosts: each host's proof, and the job's summary."""
    if len(resolved) < 2:
        raise UserError("--multi-node needs at least two TARGETs")
    if kw["device"] == "cuda" and not kw["per_node"]:
        raise UserError("--multi-node on GPUs needs --gpus-per-node N (every host runs N processes)")
    proofs, job = run_multinode(resolved, on_progress=(lambda h, ev: board.update(h, ev)) if board else None,
                                **kw, **ssh)
    if board:
        for t, p in zip(resolved, proofs):
            board.finish(t.name, redact(f"{p.status.value}: {p.summary}"))
        board.close()
    return Report(envdoctor=__version__, hosts=[host_report(t, p) for t, p in zip(resolved, proofs)],
                  fleet=Fleet(multi_node=job))


def _emit(report: Report, as_json: bool, verbose: bool, outputs: tuple) -> None:
    """The one way out, whichever way the hosts were reached: the document or the text, the output files,
    and the exit status (130 after an interrupt; 1 when the multi-node job failed; else as for `check`, but 3
    where a host's proof is unknown)."""
    job = report.fleet.multi_node if report.fleet else None
    if as_json:
        click.echo(report.model_dump_json(indent=2))
    else:
        color = use_color()
        for h in report.hosts:
            proof = h.proof or Proof(status=Status.ERROR, summary=h.error or h.status.value)  # never started
            click.echo(render_proof(h.host, proof, color, verbose))
        if job:
            click.echo(printable(f"multi-node job: {job.status.value}: {job.summary}"))
    write_outputs(report, *outputs, quiet=as_json)
    if report.interrupted:
        click.echo("envdoctor: interrupted; the hosts above that finished are reported", err=True)
        raise SystemExit(130)
    code = 1 if job and job.status == Status.FAIL else exit_code(report.hosts)
    if code == 0 and any(h.status == HostStatus.UNKNOWN for h in report.hosts):
        code = 3  # a proof-run that proved nothing (cut before any timed step, say) is no all-clear
    raise SystemExit(code)
