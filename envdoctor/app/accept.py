"""The accept use case: targets in, typed results out. Per host, over one transport: the GPU counters read (the
probe, without torch), the acceptance script run (the proof script with --accept: its workers, watchdog and
budget), the counters read again; the figures judged against the per-SKU bars and, across a fleet, against the
fleet's median for each SKU (grey failures). Slurm nodes take the same three readings as three srun steps, a
task per node, each node's answer read by the same code as over SSH. The CLI parses options, calls `run_accept`
and renders."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import envdoctor.probe
import envdoctor.proof
from envdoctor import __version__
from envdoctor.accept.allreduce import best_busbw
from envdoctor.accept.fleet import FleetFigure, fleet_medians, grey_failures
from envdoctor.accept.models import Metric
from envdoctor.accept.result import (acceptance_of, counter_checks, figure_check, sampled_reasons_of)
from envdoctor.app.reach import Reach, SlurmNodes
from envdoctor.diagnosis.gather import gather
from envdoctor.diagnosis.host_facts import facts_from_bundle
from envdoctor.errors import UserError
from envdoctor.facts import HostFacts
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport import Transport, TransportError, transport_for
from envdoctor.models import (Acceptance, CheckResult, Fleet, HostReport, MultiNode, NotJoined, Report, Status,
                              host_status)
from envdoctor.proof.script.contract import ACCEPT_BUDGET_S, ACCEPT_QUICK_BUDGET_S
from envdoctor.proof.stage import TRANSPORT_SLACK_S, build_argv, parse_lines
from envdoctor.slurm.fleet import select_nodes
from envdoctor.slurm.steps import replayed

CPU_PROCS = 2  # on the CPU: two processes, so the all_reduce path (gloo) runs too
COUNTER_TIMEOUT_S = 60.0  # one probe without torch, before and after the run


@dataclass
class AcceptOptions:
    device: str | None = None  # None: cuda where nvidia-smi lists a GPU, else cpu
    quick: bool = False
    time_budget: float | None = None
    extra_args: tuple[str, ...] = ()  # more of the script's options (the tests' simulation hooks)
    multi_node: MultiNodeJob | None = None

    @property
    def budget(self) -> float:
        if self.time_budget is not None:
            return self.time_budget
        return ACCEPT_QUICK_BUDGET_S if self.quick else ACCEPT_BUDGET_S


@dataclass
class MultiNodeJob:
    """--multi-node: one job across every target (the first is the rendezvous), its all_reduce sweep measured
    between the nodes as well as within them."""

    nodes: list[str]  # the targets' names, in node-rank order
    master_addr: str
    master_port: int = 29500
    iface: str | None = None

    def args(self, target: Target) -> list[str]:
        out = ["--nnodes", str(len(self.nodes)), "--node-rank", str(self.nodes.index(target.name)),
               "--master-addr", self.master_addr, "--master-port", str(self.master_port)]
        return out + (["--iface", self.iface] if self.iface else [])


@dataclass
class AcceptRun:
    report: Report
    exit_code: int
    hosts: list[HostReport] = field(default_factory=list)


def _facts(tr: Transport, target: Target, python: str | None) -> tuple[HostFacts | None, str | None]:
    try:
        bundle = gather(tr, python=target.interpreter(python), host=target.name,
                        argv=target.interpreter_argv(python), no_torch=True, timeout=COUNTER_TIMEOUT_S)
    except TransportError as e:
        return None, e.message
    return facts_from_bundle(bundle), None


def _device(opts: AcceptOptions, facts: HostFacts | None) -> str:
    if opts.device:
        return opts.device
    return "cuda" if facts is not None and facts.gpu.gpus else "cpu"


def script_argv(python: str | list[str], device: str, opts: AcceptOptions, target: Target | None = None) -> list[str]:
    """The acceptance script's command line (`target`: this node's place in a multi-node job)."""
    extra = ["--accept"] + (["--quick"] if opts.quick else []) + (["--procs", str(CPU_PROCS)] if device == "cpu" else []) + list(opts.extra_args)
    extra += opts.multi_node.args(target) if opts.multi_node and target else []
    return build_argv(python, device=device, arch=None, time_budget=opts.budget, extra_args=extra)


def run_script(tr: Transport, target: Target, python: str | None, device: str, opts: AcceptOptions,
               on_progress: Callable[[dict], None] | None = None) -> tuple[dict | None, str | None]:
    """The acceptance script on one host: its result line, or why there is none."""
    argv = script_argv(target.interpreter_argv(python), device, opts, target)
    limit = opts.budget + TRANSPORT_SLACK_S

    def on_line(line: str) -> None:
        if on_progress is not None and line.startswith("{"):
            try:
                ev = json.loads(line)
            except ValueError:
                return
            if ev.get("event") == "progress":
                on_progress(ev)

    try:
        res = tr.run(argv, stdin=envdoctor.proof.STDIN, timeout=limit, on_line=on_line)
    except TransportError as e:
        return None, f"could not run the acceptance script: {e.message}"
    result, _ = parse_lines(res.stdout)
    if result is None:
        tail = (res.stderr.strip() or res.stdout.strip())[-300:]
        return None, (f"no result within {limit:g} s: the controller cut the acceptance script" if res.timed_out
                      else f"the acceptance script gave no result (exit {res.rc}): {tail}")
    return result, None


def accept_host(target: Target, reach: Reach, opts: AcceptOptions,
                on_progress: Callable[[str, dict], None] | None = None) -> HostReport:
    """One host: counters, the script, counters again; its checks and its Acceptance. Never raises for the host's
    problems: an unreachable host is a report with that status."""
    t0 = time.monotonic()
    try:
        with transport_for(target, **reach.ssh) as tr:
            connect = getattr(tr, "connect", None)
            if connect is not None:
                connect()
            before, why_before = _facts(tr, target, reach.python)
            device = _device(opts, before)
            result, error = run_script(tr, target, reach.python, device, opts,
                                       (lambda ev: on_progress(target.name, ev)) if on_progress else None)
            after, _ = _facts(tr, target, reach.python) if before is not None else (None, None)
    except TransportError as e:
        return HostReport(host=target.name, local=target.local, status=e.status, error=e.message,
                          gather_secs=round(time.monotonic() - t0, 3))
    return judged_host(target, opts, (before, why_before), device, (result, error), after, time.monotonic() - t0)


def judged_host(target: Target, opts: AcceptOptions, before: tuple[HostFacts | None, str | None], device: str,
                run: tuple[dict | None, str | None], after: HostFacts | None, secs: float) -> HostReport:
    """One host's readings, however they were taken: the counters before (or why not), the script's result (or
    why none), the counters after; its checks and its Acceptance."""
    (before, why_before), (result, error) = before, run
    acceptance = acceptance_of(result, quick=opts.quick, time_budget=opts.budget, facts=before, error=error)
    acceptance.secs = round(secs, 3)
    checks = [figure_check(f) for f in acceptance.figures]
    if device == "cuda" or before is None:
        checks += counter_checks(before, after, sampled_reasons_of(result))
        if before is None:
            checks[-1].evidence.append(f"the counters could not be read: {why_before}")
    else:
        checks.append(CheckResult(id="accept_counters", title="No new GPU faults under load", status=Status.SKIP,
                                  summary="does not apply: the run was on the CPU (no GPU counters)"))
    if result is None:
        checks.append(CheckResult(id="accept_run", title="The acceptance run completed", status=Status.ERROR,
                                  summary=error or "no result"))
    return HostReport(host=target.name, local=target.local, status=host_status(checks), checks=checks,
                      accept=acceptance, gather_secs=acceptance.secs)


def _fleet_figures(hosts: list[HostReport]) -> list[FleetFigure]:
    out = []
    for h in hosts:
        for f in (h.accept.figures if h.accept else []):
            if f.value is not None and f.gpu_index is not None and (h.accept.device or "cuda") == "cuda":
                out.append(FleetFigure(host=h.host, gpu_index=f.gpu_index, gpu_name=f.gpu_name,
                                       metric=Metric(f.metric), value=f.value))
    return out


def judge_fleet(hosts: list[HostReport]) -> Fleet | None:
    """Across several hosts: each figure's fleet median (per SKU) set on it, and each outlier a warning check on
    its host. None for a single host."""
    if len(hosts) < 2:
        return None
    figures = _fleet_figures(hosts)
    medians = fleet_medians(figures)
    for h in hosts:
        for f in (h.accept.figures if h.accept else []):
            m = medians.get((h.host, f.gpu_index, Metric(f.metric))) if f.gpu_index is not None else None
            if m is not None:
                f.fleet_median = m
    grey = grey_failures(figures)
    by_host = {h.host: h for h in hosts}
    for g in grey:
        h = by_host[g.host]
        where = f"_gpu{g.gpu_index}" if g.gpu_index is not None else ""
        h.checks.append(CheckResult(id=f"accept_grey_{g.metric}{where}", title="No GPU far below its peers", status=Status.WARN,
                                    summary=g.summary, evidence=[f"{g.value:,.1f} against the median {g.median:,.1f} "
                                                                 f"of {g.peers} {g.group} figures in this fleet"]))
        h.status = host_status(h.checks)
    # compared: the hosts that gave figures (not one Slurm could not start a step on, nor one not reached)
    return Fleet(grey_failures=grey, compared=sum(1 for h in hosts if h.accept and h.accept.figures))


def multi_node_summary(hosts: list[HostReport], job: MultiNodeJob) -> MultiNode:
    """The job across nodes: who took part in the sweep, and its plateau. Not judged: the published bars are
    for the 8 GPUs of one node."""
    joined = [h.host for h in hosts if h.accept and h.accept.allreduce]
    not_joined = [NotJoined(host=h.host, reason=h.error or (h.accept.error if h.accept else None)
                            or "no all_reduce across the nodes") for h in hosts if h.host not in joined]
    first = next((h for h in hosts if h.accept and h.accept.allreduce), None)
    best = best_busbw(first.accept.allreduce) if first else None
    if best is None:
        return MultiNode(status=Status.FAIL if not_joined else Status.UNKNOWN, nodes=len(hosts),
                         master=job.master_addr, joined=joined, not_joined=not_joined,
                         summary="no all_reduce across the nodes: " + "; ".join(
                             f"{n.host}: {n.reason}" for n in not_joined))
    return MultiNode(status=Status.FAIL if not_joined else Status.UNKNOWN, nodes=len(hosts), world_size=best.world,
                     master=job.master_addr, joined=joined, not_joined=not_joined, allreduce=best,
                     summary=f"all_reduce busbw {best.busbw_gbs:,.2f} GB/s across {best.world} ranks on "
                             f"{len(joined)} nodes (not judged: the published bars are for one node of 8 GPUs)"
                             + (f"; not joined: {', '.join(n.host for n in not_joined)}" if not_joined else ""))


def exit_code_of(hosts: list[HostReport]) -> int:
    """0: nothing failed; 1: a figure or counter failed on some host; 3: a host could not be reached, or its run
    judged nothing (every figure unknown, as on the CPU: an acceptance that proved nothing is no all-clear)."""
    if any(c.status == Status.FAIL for h in hosts for c in h.checks):
        return 1
    if any(h.error or not any(c.status in (Status.PASS, Status.WARN) for c in h.checks) for h in hosts):
        return 3
    return 0


def accept_slurm(nodes: SlurmNodes, opts: AcceptOptions) -> list[HostReport]:
    """Every Slurm node selected: the counters, the acceptance script and the counters again, each one srun step
    with a task per node (the script a step per device, where the counters chose cuda on some nodes and cpu on
    others). A node Slurm cannot run a step on is reported with its state and reason."""
    ready, skipped, order = select_nodes(nodes.partition, nodes.nodelist)
    python = nodes.python or "python3"
    targets = {s.name: Target(name=s.name, hostname=s.name) for s in ready}
    t0 = time.monotonic()

    def step(names: list[str], what: str, script: str, args: list[str], limit: float) -> dict[str, Transport]:
        return replayed(names, python, script, args, limit, partition=nodes.partition, say=nodes.say, what=what,
                        job_name="envdoctor-accept")

    def counters(names: list[str], when: str) -> dict[str, tuple[HostFacts | None, str | None]]:
        got = step(names, f"the GPU counters ({when})", envdoctor.probe.SOURCE, ["--no-torch"], COUNTER_TIMEOUT_S)
        return {n: _facts(tr, targets[n], python) for n, tr in got.items()}

    before = counters(list(targets), "before") if targets else {}
    devices = {n: _device(opts, before[n][0]) for n in targets}
    results = {}
    for device in sorted(set(devices.values())):
        group = [n for n in targets if devices[n] == device]
        got = step(group, f"the acceptance script (--device {device}, ~{opts.budget:g} s)",
                   envdoctor.proof.STDIN.decode(), script_argv(python, device, opts)[2:],
                   opts.budget + TRANSPORT_SLACK_S)
        results |= {n: run_script(tr, targets[n], python, device, opts) for n, tr in got.items()}
    read = [n for n in targets if before[n][0] is not None]
    after = counters(read, "after") if read else {}
    secs = time.monotonic() - t0
    by_name = {n: judged_host(t, opts, before[n], devices[n], results[n], after.get(n, (None, None))[0], secs)
               for n, t in targets.items()}
    by_name |= {r.host: r for r in skipped}
    return [by_name[n] for n in order]


def run_accept(reach: Reach | SlurmNodes, opts: AcceptOptions,
               on_progress: Callable[[str, dict], None] | None = None) -> AcceptRun:
    """Every host of `reach` accepted, judged against its bars and, across several, against the fleet."""
    def lost(target: Target, report: HostReport) -> HostReport:
        return report

    if isinstance(reach, SlurmNodes):
        if opts.multi_node:
            raise UserError("--multi-node is not available with --slurm: each node is accepted as its own task")
        hosts = accept_slurm(reach, opts)
        report = Report(envdoctor=__version__, hosts=hosts, fleet=judge_fleet(hosts))
        return AcceptRun(report=report, exit_code=exit_code_of(hosts), hosts=hosts)
    if opts.multi_node:  # every node must be running for the rendezvous: all at once
        reach = replace(reach, forks=max(reach.forks, len(reach.targets)))
    run = reach.fan_out(reach.targets, lambda t: accept_host(t, reach, opts, on_progress), lost)
    hosts = list(run.reports)
    fleet = judge_fleet(hosts)
    if opts.multi_node:
        fleet = fleet or Fleet()
        fleet.multi_node = multi_node_summary(hosts, opts.multi_node)
    report = Report(envdoctor=__version__, hosts=hosts, fleet=fleet, interrupted=run.interrupted)
    return AcceptRun(report=report, exit_code=exit_code_of(hosts), hosts=hosts)


__all__ = ["AcceptOptions", "AcceptRun", "Acceptance", "MultiNodeJob", "accept_host", "accept_slurm", "judge_fleet",
           "run_accept"]
