"""The proof stage: ship the proof script to a target over its transport (stdin, one round trip), stream its
progress, parse its result, and judge it. `run_proof` returns the Proof that goes into `HostReport.proof`
(`host_report` makes a host's report of it when the proof is all that was run)."""

from __future__ import annotations

import json
import threading
import time
from typing import Callable

import envdoctor.proof
from envdoctor.facts import HostFacts
from envdoctor.hosts.targets import Target
from envdoctor.hosts.transport import Transport, TransportError, transport_for
from envdoctor.models import AllReduce, HostReport, HostStatus, MultiNode, NotJoined, Proof, Status
from envdoctor.proof.script.contract import COMPILE_BUDGET_S, DEFAULT_BUDGET_S, GRACE_S
from envdoctor.proof.verdict import judge

# The script bounds itself: its result line comes by --time-budget + GRACE_S, counted from its own start. The
# controller waits that long plus the transport's own overhead (starting the command, the line's way back), then
# cuts the command and says so.
TRANSPORT_OVERHEAD_S = 5.0
TRANSPORT_SLACK_S = GRACE_S + TRANSPORT_OVERHEAD_S


def usable_gpu(facts: HostFacts | None) -> tuple[bool | None, str]:
    """Whether the probe's facts show a GPU torch can train on. (None, why) when the facts do not say."""
    if facts is None:
        return None, "no facts gathered"
    t = facts.torch
    if t.installed is False:
        return False, "torch is not installed in the diagnosed environment"
    if t.torchvision is None and t.torchvision_error:
        return False, f"torchvision cannot be imported: {t.torchvision_error}"
    if t.installed and t.cuda_build is None and t.hip_build is None and t.version:
        return False, f"torch {t.version} is a CPU-only build"
    if t.is_available is False:
        if t.is_available_error or t.warnings:
            why = t.is_available_error or t.warnings[0]
        elif facts.gpu.gpus == []:
            why = "no NVIDIA GPU visible"
        else:
            why = "the diagnosis checks say why"
        return False, f"torch.cuda.is_available() is False ({why})"
    if t.devices is not None:
        ok = [d for d in t.devices if d.kernel_ok]
        if not ok:
            errs = "; ".join(sorted({d.kernel_error for d in t.devices if d.kernel_error})) or "no device answered"
            return False, f"no GPU ran a test kernel ({errs})"
        return True, f"{len(ok)} GPU(s) ran a test kernel"
    if t.is_available:
        return True, "torch.cuda.is_available() is True"
    return None, "the facts do not say whether torch can use a GPU"


def build_argv(python: str | list[str], *, device: str, arch: str | None, time_budget: float,
               batch_size: int | None = None, compile: bool = False, ddp: bool = False, dataloader: bool = False,
               steps: int | None = None, warmup: int | None = None, image_size: int | None = None,
               precision: str | None = None, extra_args: list[str] | tuple[str, ...] = ()) -> list[str]:
    """`python`: one word, or the interpreter's argv words (["/usr/bin/env", "python3"])."""
    words = [python] if isinstance(python, str) else list(python)
    argv = [*words, "-", "--device", device, "--time-budget", f"{time_budget:g}"]
    for flag, val in (("--arch", arch), ("--batch-size", batch_size), ("--steps", steps), ("--warmup", warmup),
                      ("--image-size", image_size), ("--precision", precision)):
        if val is not None:
            argv += [flag, str(val)]
    argv += [f for f, on in (("--compile", compile), ("--ddp", ddp), ("--dataloader", dataloader)) if on]
    return argv + list(extra_args)


def parse_lines(stdout: str) -> tuple[dict | None, list[dict]]:
    """The result document (the last line with event "result") and the other events."""
    result, events = None, []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if obj.get("event") == "result":
            result = obj
        else:
            events.append(obj)
    return result, events


def run_proof(target: Target, facts: HostFacts | None = None, *, device: str = "cuda", arch: str | None = None,
              time_budget: float = 60.0, batch_size: int | None = None, compile: bool = False, ddp: bool = False,
              dataloader: bool = False, allow_cpu: bool = False, python: str | None = None,
              steps: int | None = None, warmup: int | None = None, image_size: int | None = None,
              precision: str | None = None, extra_args: list[str] | tuple[str, ...] = (),
              on_progress: Callable[[dict], None] | None = None, transport: Transport | None = None,
              **ssh_options) -> Proof:
    """Run the proof on one target and judge it. Never raises for the target's problems: an unreachable
    host, a crash or a timeout is a result with status "error" and the reason. On `device="cuda"`, facts
    that show no usable GPU give status "skip" with the reason, without running anything."""
    t0 = time.monotonic()
    base = {"host": target.name, "device": device, "time_budget_s": time_budget}
    if device == "cuda":
        usable, why = usable_gpu(facts)
        if usable is False:
            # Nothing ran: no device was used, so the document names none (the request stays visible).
            return Proof(**{**base, "device": None}, requested_device=device, status=Status.SKIP,
                         summary=f"proof-run skipped: {why}", reason=why, verdict=None, result=None, secs=0.0)
    interp = target.interpreter(python)
    argv = build_argv(target.interpreter_argv(python), device=device, arch=arch, time_budget=time_budget,
                      batch_size=batch_size, compile=compile, ddp=ddp, dataloader=dataloader, steps=steps,
                      warmup=warmup, image_size=image_size, precision=precision, extra_args=extra_args)

    limit = time_budget + TRANSPORT_SLACK_S

    def on_line(line: str) -> None:
        if on_progress is None or not line.startswith("{"):
            return
        try:
            ev = json.loads(line)
        except ValueError:
            return
        if ev.get("event") != "result":
            on_progress(ev)

    def run_on(tr: Transport):
        connect = getattr(tr, "connect", None)
        if connect is not None:
            connect()  # the connection first (SSH, hops): the limit is for the command alone
        return tr.run(argv, stdin=envdoctor.proof.STDIN, timeout=limit, on_line=on_line)

    try:
        if transport is None:
            with transport_for(target, **ssh_options) as tr:
                res = run_on(tr)
        else:
            res = run_on(transport)
    except TransportError as e:
        return Proof(**base, status=Status.ERROR, summary=f"could not run the proof: {e.message}", error=e.message,
                     host_status=e.status, verdict=None, result=None, secs=round(time.monotonic() - t0, 3))
    result, _events = parse_lines(res.stdout)
    if result is None:
        tail = (res.stderr.strip() or res.stdout.strip())[-500:]
        why = (f"no result within {limit:g} s (the {time_budget:g} s budget, the script's {GRACE_S:g} s grace and "
               f"{TRANSPORT_OVERHEAD_S:g} s for the transport): the controller cut the proof script" if res.timed_out
               else f"the proof script gave no result (exit {res.rc})")
        if res.rc == 127 or "No such file" in res.stderr:
            why = f"{interp} not found on the target"
        return Proof(**base, status=Status.ERROR, summary=why, error=why, stderr_tail=tail, verdict=None, result=None,
                     secs=round(time.monotonic() - t0, 3))
    verdict = judge(result, allow_cpu=allow_cpu)
    out = Proof(**base, status=verdict.status, summary=verdict.summary, verdict=verdict, result=result,
                secs=round(time.monotonic() - t0, 3))
    if res.timed_out:  # the line came, the command did not end in time (a child holding its output open)
        out.controller_cut = f"the proof script had not ended {limit:g} s after it started; the controller cut it"
        out.summary += f" ({out.controller_cut})"
    return out


# A proof's status as the host's: a skipped run leaves the host unknown, not passed.
_HOST_STATUS = {Status.PASS: HostStatus.PASS, Status.WARN: HostStatus.WARN, Status.FAIL: HostStatus.FAIL,
                Status.UNKNOWN: HostStatus.UNKNOWN, Status.SKIP: HostStatus.UNKNOWN, Status.ERROR: HostStatus.ERROR}


def host_report(target: Target, proof: Proof) -> HostReport:
    """The host's report of `proof`: a proof's status, or the transport's (unreachable, auth-failed,
    timeout...) when the host could not run it."""
    return HostReport(host=target.name, status=proof.host_status or _HOST_STATUS[proof.status], error=proof.error,
                      proof=proof, gather_secs=proof.secs)


def default_budget(time_budget: float | None, compile: bool) -> float:
    """--time-budget when given; else the script's default, larger for a cold torch.compile."""
    if time_budget is not None:
        return time_budget
    return COMPILE_BUDGET_S if compile else DEFAULT_BUDGET_S


def run_multinode(targets: list[Target], *, device: str = "cuda", per_node: int | None = None,
                  master_addr: str | None = None, master_port: int = 29500, iface: str | None = None,
                  time_budget: float = 60.0, on_progress: Callable[[str, dict], None] | None = None,
                  **kw) -> tuple[list[Proof], MultiNode]:
    """One torch.distributed job across hosts: the first target is the rendezvous (its address as the
    controller reaches it, or `master_addr`). Each host runs the proof script with its node rank; the job
    measures all-reduce bus bandwidth and trains DDP across all of them. Returns each host's proof (as
    run_proof) and the job's summary, which names any host that could not join."""
    n = len(targets)
    addr = master_addr or targets[0].hostname or "127.0.0.1"
    local = ["--procs", str(per_node or 1)] if device == "cpu" else (
        ["--gpus", ",".join(str(i) for i in range(per_node))] if per_node else [])
    joined: dict[str, bool] = {t.name: False for t in targets}
    reached: dict[str, bool] = {t.name: False for t in targets}  # its script got as far as the rendezvous
    proofs: list[Proof | None] = [None] * n

    def one(i: int, t: Target) -> None:
        def progress(ev: dict) -> None:
            if ev.get("phase") == "joined":
                joined[t.name] = True
            if ev.get("phase") == "rendezvous":
                reached[t.name] = True
            if on_progress:
                on_progress(t.name, ev)

        extra = ["--nnodes", str(n), "--node-rank", str(i), "--master-addr", addr, "--master-port", str(master_port)]
        extra += (["--iface", iface] if iface else []) + local
        proofs[i] = run_proof(t, None, device=device, ddp=True, time_budget=time_budget, extra_args=extra,
                              on_progress=progress, **kw)

    threads = [threading.Thread(target=one, args=(i, t), daemon=True) for i, t in enumerate(targets)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(time_budget + TRANSPORT_SLACK_S + 30)
    done = [p or Proof(host=t.name, status=Status.ERROR, summary="no result", verdict=None, result=None)
            for p, t in zip(proofs, targets)]
    for p, t in zip(done, targets):
        if not joined[t.name] and p.status not in (Status.ERROR, Status.SKIP):
            # Its own verdict speaks of the run, not of the job it failed to join: say that first.
            p.status = Status.FAIL
            where = f"{addr}:{master_port}"
            head = (f"reached the rendezvous {where} but the multi-node job did not form" if reached.get(t.name)
                    else f"did not reach the multi-node job at {where}")
            p.summary = f"{head}; {p.summary}"
    return done, multinode_summary(targets, done, joined, f"{addr}:{master_port}", reached)


def multinode_summary(targets: list[Target], proofs: list[Proof], joined: dict[str, bool], master: str,
                      reached: dict[str, bool] | None = None) -> MultiNode:
    """Pure: the job across hosts from each host's proof, whether its script reached the rendezvous and
    whether its processes joined the group. A host that never reached it is the one named; when all
    reached it and the group still did not form, they are all named (the network between them)."""
    reached = reached if reached is not None else joined
    missing = [NotJoined(host=t.name, reason=p.summary or p.status.value)
               for t, p in zip(targets, proofs) if not reached.get(t.name)]
    if not missing:
        missing = [NotJoined(host=t.name, reason=f"reached the rendezvous {master} but the group did not form "
                                                  "(a firewall, or the wrong interface: --iface)")
                   for t in targets if not joined.get(t.name)]
    allreduce = None
    for p in proofs:
        for w in ((p.result or {}).get("workers") or []):
            if w.get("global_rank") == 0 and w.get("allreduce"):
                allreduce = AllReduce(**w["allreduce"])
    world = sum(((p.result or {}).get("local_world_size") or 0) for p in proofs)
    total = sum((p.verdict.img_s_total or 0) for p in proofs if p.verdict) or None
    if missing:
        names = ", ".join(m.host for m in missing)
        status = Status.FAIL
        summary = f"{len(missing)} of {len(targets)} hosts could not join the job at {master}: {names}"
        if len(missing) < len(targets):
            summary += " (the others waited for them until their time budget ran out)"
    else:
        order = [Status.PASS, Status.UNKNOWN, Status.WARN, Status.ERROR, Status.FAIL]
        status = max((p.status for p in proofs), key=lambda s: order.index(s) if s in order else 4)
        summary = f"{len(targets)} hosts, {world} processes joined at {master}"
        if allreduce:
            summary += f"; all-reduce bus bandwidth {allreduce.busbw_gbs:.2f} GB/s"
        if total:
            summary += f"; {total:,.0f} img/s across hosts"
    return MultiNode(status=status, summary=summary, nodes=len(targets), world_size=world or None, master=master,
                     joined=[h for h, ok in joined.items() if ok], not_joined=missing, allreduce=allreduce,
                     img_s_total=round(total, 1) if total else None)
