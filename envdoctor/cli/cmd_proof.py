"""envdoctor proof: train a real ResNet on each target's GPUs and judge what it saw."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from envdoctor.app.proof import MultiNodeJob, ProofRun, run_proofs
from envdoctor.app.reach import DEFAULT_CONNECT_TIMEOUT, Reach, resolve_targets
from envdoctor.cli.common import exit_code, json_option, redacted, use_color
from envdoctor.cli.fleet_options import ssh_options, target_options
from envdoctor.cli.output_options import output_options, write_outputs
from envdoctor.cli.slurm_options import refuse_mixed, slurm_nodes, slurm_options
from envdoctor.hosts.runner import DEFAULT_FORKS
from envdoctor.models import HostStatus, Proof, Report, Status
from envdoctor.printable import printable
from envdoctor.proof.progress import PhaseLines, ProgressBoard
from envdoctor.proof.script.contract import COMPILE_BUDGET_S, DEFAULT_BUDGET_S, GRACE_S
from envdoctor.proof.stage import default_budget
from envdoctor.report.text import render_proof


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
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), default=DEFAULT_CONNECT_TIMEOUT,
              show_default=True, help="Seconds to connect and authenticate over SSH.")
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
    run = ProofRun(device=device, arch=arch, time_budget=default_budget(time_budget, use_compile),
                   batch_size=batch_size, compile=use_compile, dataloader=dataloader, allow_cpu=allow_cpu, ddp=ddp,
                   precision=precision)
    multi = MultiNodeJob(per_node=gpus_per_node, master_addr=master_addr, master_port=master_port,
                         iface=iface) if multi_node else None
    board = None
    if use_slurm:
        reach = slurm_nodes(partition, nodelist, python, as_json=as_json)
    else:
        resolved = resolve_targets(targets, inventory, limit, ssh_config, python)
        ssh = ssh_options(connect_timeout, known_hosts, accept_new_host_keys, False) if targets or inventory else {}
        reach = Reach(resolved, python=python, ssh=ssh, forks=forks, quiet=True)
        if not as_json:  # --json: stdout is the document and stderr stays quiet
            board = (ProgressBoard([t.name for t in resolved], sys.stderr, dataloader=dataloader)
                     if sys.stderr.isatty() else PhaseLines(sys.stderr))
    _emit(redacted(run_proofs(reach, run, multi, board)), as_json, verbose, (junit_path, prometheus_path, html_path))


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
